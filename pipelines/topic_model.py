"""The learned half of topic tagging: per topic, a small logistic regression over the evidence
the rules of `config/topics.yaml` produce.

The rules say *what* counts as evidence (a clue firing in a sentence, a negative concept, the
title, the lead); how much each kind of evidence weighs, and where the bar is, is fitted to the
labelled corpus (`raqib tag train`) and stored in `config/topic_weights.json` with the date, the
data and the cross-validated figures it came from. A dozen readable numbers per topic, not an
opaque model: a decision is the sum of its features' contributions, each of which `raqib tag
--explain` prints, against the topic's threshold.

A feature is a count squashed by log1p (the fifth sentence about Syria says less than the
second), a share, or a 0/1 flag. They are standardised with the training data's mean and
spread, so a contribution reads as "this article has more (or less) of this evidence than the
average labelled article, and that moves the log-odds by so much". L2 regularisation keeps the
coefficients small and stable: 585 articles, ~20 features.

Plain Python on purpose: no numpy in the runtime dependencies for a 20 x 20 system.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import mul
from pathlib import Path
from typing import Any

WEIGHTS_FILE = "topic_weights.json"
FORMAT = 1


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True)
class TopicWeights:
    """The fitted model of one topic. `features` must be the names the rules produce, in order."""
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    bias: float
    threshold: float          # on the probability: the topic passes at or above it

    def contributions(self, values: Sequence[float]) -> list[float]:
        """Each feature's share of the log-odds (the bias is the rest)."""
        return [c * (v - m) / s for c, v, m, s in zip(self.coef, values, self.mean, self.scale)]

    def logit(self, values: Sequence[float]) -> float:
        return self.bias + sum(self.contributions(values))

    def probability(self, values: Sequence[float]) -> float:
        return sigmoid(self.logit(values))

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": round(self.threshold, 4), "bias": round(self.bias, 6),
            "features": {name: {"coef": round(c, 6), "mean": round(m, 6), "scale": round(s, 6)}
                         for name, c, m, s in zip(self.features, self.coef, self.mean, self.scale)},
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> TopicWeights:
        if not isinstance(data, dict) or not isinstance(data.get("features"), dict):
            raise ValueError(f"{where}: expected {{threshold, bias, features: {{name: {{coef, mean, scale}}}}}}")
        names, mean, scale, coef = [], [], [], []
        for name, f in data["features"].items():
            try:
                c, m, s = float(f["coef"]), float(f["mean"]), float(f["scale"])
            except (TypeError, KeyError, ValueError):
                raise ValueError(f"{where}.features.{name}: expected numbers coef, mean and scale") from None
            if s <= 0:
                raise ValueError(f"{where}.features.{name}: scale must be above 0")
            names.append(name)
            coef.append(c)
            mean.append(m)
            scale.append(s)
        try:
            bias, threshold = float(data["bias"]), float(data["threshold"])
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"{where}: expected numbers bias and threshold") from None
        if not 0 < threshold < 1:
            raise ValueError(f"{where}.threshold: a probability between 0 and 1, got {threshold}")
        return cls(tuple(names), tuple(mean), tuple(scale), tuple(coef), bias, threshold)


@dataclass
class Weights:
    """The whole file: one model per topic, and where it came from."""
    topics: dict[str, TopicWeights]
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "provenance": self.provenance,
                "topics": {name: w.to_json() for name, w in self.topics.items()}}

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)


def read_weights(path: Path) -> Weights:
    """The weights file; ValueError names what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read it ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON ({exc.msg} at line {exc.lineno}); rewrite it with `raqib tag train`") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("topics"), dict):
        raise ValueError(f"expected {{format: {FORMAT}, provenance, topics}} as `raqib tag train` writes it")
    topics = {name: TopicWeights.from_json(raw, f"topics.{name}") for name, raw in data["topics"].items()}
    return Weights(topics, data.get("provenance") or {})


# --- fitting ----------------------------------------------------------------------------

def fit(rows: Sequence[Sequence[float]], labels: Sequence[int], names: Sequence[str], *,
        l2: float = 1.0, iterations: int = 25) -> TopicWeights:
    """L2-regularised logistic regression by Newton's method (IRLS) on standardised features;
    the bias is not penalised. `l2` is the penalty on the sum of squared coefficients, in
    units of one article's log-likelihood. The threshold is left at 0.5 (`fit_threshold`)."""
    d = len(names)
    n = len(rows)
    mean = [sum(r[j] for r in rows) / n for j in range(d)]
    scale = []
    for j in range(d):
        var = sum((r[j] - mean[j]) ** 2 for r in rows) / n
        scale.append(math.sqrt(var) if var > 1e-12 else 1.0)
    xs = [[1.0] + [(r[j] - mean[j]) / scale[j] for j in range(d)] for r in rows]
    w = [0.0] * (d + 1)
    prior = sum(labels) / n
    w[0] = math.log(max(prior, 1e-6) / max(1 - prior, 1e-6))
    cols = [list(c) for c in zip(*xs)]          # column-wise: each sum below runs in C (map)
    loss = _loss(w, xs, labels, l2)
    for _ in range(iterations):
        probs = [sigmoid(sum(map(mul, w, x))) for x in xs]
        residual = [p - y for p, y in zip(probs, labels)]
        curvature = [p * (1 - p) for p in probs]
        grad = [sum(map(mul, residual, col)) for col in cols]
        weighted = [list(map(mul, curvature, col)) for col in cols]
        hess = [[0.0] * (d + 1) for _ in range(d + 1)]
        for a in range(d + 1):
            for b in range(a, d + 1):
                hess[a][b] = hess[b][a] = sum(map(mul, weighted[a], cols[b]))
        for a in range(1, d + 1):
            grad[a] += l2 * w[a]
            hess[a][a] += l2
        hess[0][0] += 1e-6
        step = _solve(hess, grad)
        # Damped: halve the step until the penalised loss goes down (a plain Newton step can
        # overshoot when a feature all but separates the classes).
        for _ in range(30):
            trial = [wi - si for wi, si in zip(w, step)]
            trial_loss = _loss(trial, xs, labels, l2)
            if trial_loss <= loss:
                break
            step = [si / 2 for si in step]
        else:
            break
        w, improvement, loss = trial, loss - trial_loss, trial_loss
        if improvement < 1e-9:
            break
    return TopicWeights(tuple(names), tuple(mean), tuple(scale), tuple(w[1:]), w[0], 0.5)


def _loss(w: list[float], xs: list[list[float]], labels: Sequence[int], l2: float) -> float:
    """Negative log-likelihood plus the L2 penalty (the bias unpenalised)."""
    total = 0.0
    for x, y in zip(xs, labels):
        z = sum(map(mul, w, x))
        # log(1 + e^z) - y z, computed without overflow
        total += (z if z > 0 else 0.0) + math.log1p(math.exp(-abs(z))) - y * z
    return total + 0.5 * l2 * sum(v * v for v in w[1:])


def fit_threshold(probabilities: Sequence[float], labels: Sequence[int], *, min_precision: float = 0.0) -> float:
    """The probability bar with the best F1 on these predictions (among bars whose precision
    is at least `min_precision`, when one exists); the middle of the gap it falls in."""
    pairs = sorted(zip(probabilities, labels), reverse=True)
    positives = sum(labels)
    best, best_key = 0.5, (-1.0, -1.0)
    tp = fp = 0
    for i, (p, y) in enumerate(pairs):
        tp += y
        fp += 1 - y
        nxt = pairs[i + 1][0] if i + 1 < len(pairs) else 0.0
        if nxt == p:
            continue
        precision = tp / (tp + fp)
        recall = tp / positives if positives else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        key = (1.0 if precision >= min_precision else 0.0, f1)
        if key > best_key:
            best_key, best = key, (p + nxt) / 2
    return min(max(best, 0.05), 0.95)


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """a x = b for a small symmetric positive definite a (Cholesky)."""
    n = len(b)
    low = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = a[i][j] - sum(low[i][k] * low[j][k] for k in range(j))
            if i == j:
                low[i][i] = math.sqrt(max(s, 1e-12))
            else:
                low[i][j] = s / low[j][j]
    y = [0.0] * n
    for i in range(n):
        y[i] = (b[i] - sum(low[i][k] * y[k] for k in range(i))) / low[i][i]
    x = [0.0] * n
    for i in reversed(range(n)):
        x[i] = (y[i] - sum(low[k][i] * x[k] for k in range(i + 1, n))) / low[i][i]
    return x
