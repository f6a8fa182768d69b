"""Fitting the topic weights and measuring them honestly: grouped, stratified, repeated
k-fold cross-validation over labelled articles.

Shared by `raqib tag train` (refit, compare, write `config/topic_weights.json`) and
`bench/tagging_eval.py` (the published figures). A figure fitted and scored on the same
articles is never reported as quality: every number here is out-of-fold.

* Folds are grouped: syndicated near-copies of one story (MinHash resemblance of
  `dedupe.MIN_RESEMBLANCE` or more, the crawl's own duplicate test, or the same title) always
  sit in one fold, or the test fold would hold the training fold's text.
* Folds are stratified on the three labels together, so each holds its share of every topic.
* Everything that is fitted is fitted on the training folds only: the coefficients, the
  standardisation, the probability threshold, and the keyword baseline's count threshold.
"""
from __future__ import annotations

import hashlib
import json
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines import dedupe, topic_model
from pipelines.tagging import feature_names
from pipelines.terms import Text

FOLDS, REPEATS = 5, 5
# The penalties tried, and the inner folds that choose among them and set the threshold.
PENALTIES = (2.0, 8.0, 32.0, 128.0)
INNER_FOLDS, INNER_SEED = 4, 1009
# us_presence drives the most alerts: its bar is the best F1 among bars with this precision
# on the training folds (when one exists).
MIN_PRECISION = {"us_presence": 0.9}
# The keyword baseline: a topic's core names counted (with the tagger's own normalisation),
# the count threshold (2 or more) the best on the training folds.
BASELINE_CONCEPTS = {
    "isis": ("actor:ISIS",),
    "syria": ("places:SY",),
    "us_presence": ("actor:United States", "actor:US-led coalition", "coalition_word"),
}


class LabelError(ValueError):
    """A labels or articles file that cannot be used; the message says what to fix."""


@dataclass
class Example:
    """One labelled article, reduced to what fitting and scoring need."""
    id: str
    lang: str
    labels: dict[str, int]
    features: dict[str, list[float]]        # per topic, in the rules' feature order
    rule_passed: dict[str, bool]            # the rule thresholds' decision (no weights)
    keyword_count: dict[str, int]
    title: str = ""


# --- data ------------------------------------------------------------------------------------

def read_labels(path: Path, topics: Sequence[str]) -> dict[str, dict[str, int]]:
    """`{id, <topic>: 0|1, ...}` per line; every bad line is reported at once."""
    out: dict[str, dict[str, int]] = {}
    problems = []
    for lineno, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {lineno}: not JSON ({exc.msg})")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("id"), (str, int)) or isinstance(row.get("id"), bool):
            problems.append(f"line {lineno}: expected an object with an \"id\"")
            continue
        bad = [t for t in topics if row.get(t) not in (0, 1) or isinstance(row.get(t), bool)]
        if bad:
            problems.append(f"line {lineno}: {', '.join(bad)} must be 0 or 1")
            continue
        if str(row["id"]) in out:
            problems.append(f"line {lineno}: id {row['id']!r} is labelled twice")
            continue
        out[str(row["id"])] = {t: int(row[t]) for t in topics}
    if problems:
        raise LabelError(f"{path}: " + "; ".join(problems[:10]) + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
    if not out:
        raise LabelError(f"{path}: no labels; expected lines such as "
                         '{"id": "a1", ' + ", ".join(f'"{t}": 0' for t in topics) + "}")
    return out


def read_articles(path: Path, wanted: set[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for lineno, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LabelError(f"{path}: line {lineno}: not JSON ({exc.msg})") from None
        if isinstance(row, dict) and str(row.get("id")) in wanted:
            out[str(row["id"])] = row
    missing = sorted(wanted - set(out))
    if missing:
        raise LabelError(f"{path}: {len(missing)} labelled article(s) are not in it, e.g. {missing[:3]}; "
                         "give the articles file the labels refer to (--articles FILE)")
    return out


def _lines(path: Path):
    try:
        with path.open(encoding="utf-8") as fh:
            yield from fh
    except FileNotFoundError:
        raise LabelError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise LabelError(f"{path}: not UTF-8 text") from None


def data_digest(labels: dict[str, dict[str, int]]) -> str:
    """A short fingerprint of a label set: says whether two figures came from the same data."""
    blob = json.dumps(sorted(labels.items()), sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:12]


def examples(tagger, articles: dict[str, dict[str, Any]], labels: dict[str, dict[str, int]]) -> list[Example]:
    """Run the rules once over every labelled article (the features do not depend on the fold)."""
    order = {t.name: feature_names(t, tagger.topics) for t in tagger.topics}
    out = []
    for art_id in sorted(labels):
        a = articles[art_id]
        doc = Text(a.get("title") or "", a.get("text") or "", lead_tokens=tagger.settings.lead_words)
        found = tagger.lexicon.find(doc)
        results = tagger.evaluate(doc, found)
        by_name = {r.topic.name: r for r in results}
        rule_passed = {r.topic.name: r.rule_passes for r in results}
        for r in results:
            req = r.topic.requires_any
            if rule_passed[r.topic.name] and req and not any(rule_passed[q] for q in req):
                rule_passed[r.topic.name] = False
        counts = {}
        for topic, refs in BASELINE_CONCEPTS.items():
            names = [n for ref in refs for n in (tagger.gazetteer.places_in(ref[7:]) if ref.startswith("places:") else [ref])]
            counts[topic] = sum(len(found.get(n, ())) for n in names)
        out.append(Example(
            id=art_id, lang=a.get("lang") or "?", labels=labels[art_id],
            # by name, in the order the weights file lists them (tagging.feature_names)
            features={name: [r.features[f] for f in order[name]] for name, r in by_name.items()},
            rule_passed=rule_passed, keyword_count=counts, title=(a.get("title") or a.get("text", "")[:80]).strip(),
        ))
    return out


def duplicate_groups(articles: dict[str, dict[str, Any]], ids: Sequence[str]) -> dict[str, int]:
    """Group number per article: near-copies (MinHash, the crawl's duplicate test) and articles
    with the same title share one, transitively."""
    parent = {i: i for i in ids}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra

    signatures = {i: sig for i in ids if (sig := dedupe.minhash(articles[i].get("text"))) is not None}
    buckets: dict[str, list[str]] = {}
    for i, sig in signatures.items():
        for band in dedupe.bands(sig):
            buckets.setdefault(band, []).append(i)
    for members in buckets.values():
        for a_i, a in enumerate(members):
            for b in members[a_i + 1:]:
                if find(a) != find(b) and dedupe.resemblance(signatures[a], signatures[b]) >= dedupe.MIN_RESEMBLANCE:
                    union(a, b)
    by_title: dict[str, str] = {}
    for i in ids:
        title = " ".join((articles[i].get("title") or "").split())
        if len(title) >= 12:
            if title in by_title:
                union(by_title[title], i)
            else:
                by_title[title] = i
    roots: dict[str, int] = {}
    return {i: roots.setdefault(find(i), len(roots)) for i in ids}


def outlet_groups(articles: dict[str, dict[str, Any]], ids: Sequence[str]) -> dict[str, int]:
    """Group number per article: its outlet (an article without one is a group of its own).
    Folds on these hold whole outlets out, as a deployment meets outlets the weights were never
    fitted on (none of the crawled outlets is in the corpus); `cross_validate(..., copies=
    duplicate groups)` keeps a test article's copies at other outlets out of training too."""
    numbers: dict[str, int] = {}
    return {i: numbers.setdefault(articles[i].get("outlet") or f"no outlet: {i}", len(numbers)) for i in ids}


def folds(items: Sequence[Example], groups: dict[str, int], k: int, seed: int) -> list[list[int]]:
    """k folds of indices into `items`, each group whole, strata (the label combination)
    spread evenly: groups are dealt largest first, each to the fold that holds the fewest of
    its stratum so far (then the smallest fold), after a seeded shuffle."""
    rng = random.Random(seed)
    members: dict[int, list[int]] = {}
    for n, ex in enumerate(items):
        members.setdefault(groups[ex.id], []).append(n)
    order = list(members.values())
    rng.shuffle(order)
    order.sort(key=len, reverse=True)
    out: list[list[int]] = [[] for _ in range(k)]
    per_stratum: list[dict[tuple, int]] = [{} for _ in range(k)]
    for group in order:
        stratum = tuple(sorted(items[group[0]].labels.items()))
        ties = list(range(k))
        rng.shuffle(ties)
        best = min(ties, key=lambda f: (per_stratum[f].get(stratum, 0), len(out[f])))
        out[best].extend(group)
        per_stratum[best][stratum] = per_stratum[best].get(stratum, 0) + len(group)
    return out


# --- methods: fit on training examples, predict the rest -------------------------------------

Predictor = Callable[[Example], bool]


def fit_topic(train: Sequence[Example], topic: str, names: Sequence[str], groups: dict[str, int], *,
              penalties: Sequence[float] = PENALTIES) -> tuple[topic_model.TopicWeights, dict[str, Any]]:
    """The model of one topic from these examples alone. The L2 penalty and the probability
    threshold are chosen by an inner grouped cross-validation *within* them (the bar set where
    out-of-fold predictions give the best F1, at `MIN_PRECISION` where one is asked), then the
    coefficients are fitted on all of them: no choice ever sees the articles it is judged on."""
    ys = [ex.labels[topic] for ex in train]
    rows = [ex.features[topic] for ex in train]
    inner = folds(train, groups, INNER_FOLDS, INNER_SEED)
    best: tuple[float, float, float] | None = None    # (inner F1, penalty, threshold)
    for l2 in penalties:
        probs: list[float] = []
        golds: list[int] = []
        for test in inner:
            held = set(test)
            model = topic_model.fit([r for n, r in enumerate(rows) if n not in held],
                                    [y for n, y in enumerate(ys) if n not in held], names, l2=l2)
            probs.extend(model.probability(rows[n]) for n in test)
            golds.extend(ys[n] for n in test)
        threshold = topic_model.fit_threshold(probs, golds, min_precision=MIN_PRECISION.get(topic, 0.0))
        counts = Counts()
        for p, y in zip(probs, golds):
            counts.add(bool(y), p >= threshold)
        if best is None or counts.f1 > best[0]:
            best = (counts.f1, l2, threshold)
    assert best is not None
    inner_f1, l2, threshold = best
    model = topic_model.fit(rows, ys, names, l2=l2)
    fitted = topic_model.TopicWeights(model.features, model.mean, model.scale, model.coef, model.bias, threshold)
    return fitted, {"l2": l2, "inner_cv_f1": round(inner_f1, 4)}


def weights_method(names: dict[str, list[str]], groups: dict[str, int], penalties: Sequence[float] = PENALTIES):
    def fit(train: Sequence[Example], topic: str) -> Predictor:
        model, _ = fit_topic(train, topic, names[topic], groups, penalties=penalties)
        return lambda ex: model.probability(ex.features[topic]) >= model.threshold
    return fit


def rules_method(train: Sequence[Example], topic: str) -> Predictor:
    """The hand-set thresholds of topics.yaml: nothing is fitted."""
    return lambda ex: ex.rule_passed[topic]


def keyword_method(train: Sequence[Example], topic: str) -> Predictor:
    best_t, best_f1 = 2, -1.0
    for t in range(2, 31):
        tp = sum(1 for ex in train if ex.keyword_count[topic] >= t and ex.labels[topic])
        fp = sum(1 for ex in train if ex.keyword_count[topic] >= t and not ex.labels[topic])
        fn = sum(1 for ex in train if ex.keyword_count[topic] < t and ex.labels[topic])
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best_f1:
            best_t, best_f1 = t, f1
    return lambda ex: ex.keyword_count[topic] >= best_t


# --- cross-validation ------------------------------------------------------------------------

@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, gold: bool, pred: bool) -> None:
        if gold and pred:
            self.tp += 1
        elif pred:
            self.fp += 1
        elif gold:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0


@dataclass
class CVResult:
    """Out-of-fold figures of one method: per repeat (the 5 folds pooled) and per fold."""
    topics: Sequence[str]
    repeats: list[dict[str, Counts]] = field(default_factory=list)
    per_fold_f1: dict[str, list[float]] = field(default_factory=dict)
    by_lang: list[dict[str, dict[str, Counts]]] = field(default_factory=list)
    by_part: list[dict[str, dict[str, Counts]]] = field(default_factory=list)   # `parts` given to cross_validate
    errors: dict[str, dict[str, int]] = field(default_factory=dict)   # topic -> id -> times wrong

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for t in self.topics:
            row = {}
            for metric in ("precision", "recall", "f1"):
                values = [getattr(r[t], metric) for r in self.repeats]
                row[metric] = round(statistics.mean(values), 4)
                row[f"{metric}_sd"] = round(statistics.pstdev(values), 4)
                row[f"{metric}_min"] = round(min(values), 4)
                row[f"{metric}_max"] = round(max(values), 4)
            fold = self.per_fold_f1[t]
            row["fold_f1_sd"] = round(statistics.pstdev(fold), 4)
            row["fold_f1_min"] = round(min(fold), 4)
            row["fold_f1_max"] = round(max(fold), 4)
            row["by_lang"] = _breakdown(self.by_lang, t)
            if any(self.by_part):
                row["by_part"] = _breakdown(self.by_part, t)
            out[t] = row
        return out


def _breakdown(runs: list[dict[str, dict[str, Counts]]], topic: str) -> dict[str, dict[str, float]]:
    keys = sorted({key for r in runs for key in r})
    return {key: {m: round(statistics.mean(getattr(r[key][topic], m) for r in runs if key in r), 4)
                  for m in ("precision", "recall", "f1")}
            | {"positives": runs[0][key][topic].tp + runs[0][key][topic].fn} for key in keys}


def cross_validate(items: Sequence[Example], groups: dict[str, int], topics: Sequence[str], method, *,
                   k: int = FOLDS, repeats: int = REPEATS, seed: int = 0,
                   requires: dict[str, tuple[str, ...]] | None = None,
                   parts: dict[str, str] | None = None, copies: dict[str, int] | None = None) -> CVResult:
    """Out-of-fold predictions of `method`, decided as the tagger decides: a topic with
    `requires_any` passes only where one of those topics is predicted too. `parts` (id ->
    name) adds figures for parts of the data, pooled like the whole (the corpus's `set`).
    `copies` (id -> group), for folds that are not grouped by it: a training article that
    shares a group with a test article is left out of that fold's training."""
    requires = requires or {}
    parts = parts or {}
    result = CVResult(topics, per_fold_f1={t: [] for t in topics}, errors={t: {} for t in topics})
    for rep in range(repeats):
        split = folds(items, groups, k, seed + rep)
        pooled = {t: Counts() for t in topics}
        by_lang: dict[str, dict[str, Counts]] = {}
        by_part: dict[str, dict[str, Counts]] = {}
        for test in split:
            test_set = set(test)
            held = {copies[items[n].id] for n in test} if copies else set()
            train = [ex for n, ex in enumerate(items) if n not in test_set and not (copies and copies[ex.id] in held)]
            predictors = {t: method(train, t) for t in topics}
            fold = {t: Counts() for t in topics}
            for n in test:
                ex = items[n]
                predicted = {t: predictors[t](ex) for t in topics}
                for t in topics:
                    pred = predicted[t] and (not requires.get(t) or any(predicted.get(r) for r in requires[t]))
                    gold = bool(ex.labels[t])
                    fold[t].add(gold, pred)
                    pooled[t].add(gold, pred)
                    by_lang.setdefault(ex.lang, {x: Counts() for x in topics})[t].add(gold, pred)
                    if ex.id in parts:
                        by_part.setdefault(parts[ex.id], {x: Counts() for x in topics})[t].add(gold, pred)
                    if gold != pred:
                        result.errors[t][ex.id] = result.errors[t].get(ex.id, 0) + 1
            for t in topics:
                result.per_fold_f1[t].append(fold[t].f1)
        result.repeats.append(pooled)
        result.by_lang.append(by_lang)
        result.by_part.append(by_part)
    return result


def requirements(tagger) -> dict[str, tuple[str, ...]]:
    return {t.name: t.requires_any for t in tagger.topics if t.requires_any}


def train_weights(tagger, items: Sequence[Example], groups: dict[str, int], *, cv: dict[str, Any] | None = None,
                  data: dict[str, Any] | None = None) -> topic_model.Weights:
    """Weights fitted on every labelled example, with where they came from."""
    topics, chosen = {}, {}
    for topic in tagger.topics:
        if all(topic.name in ex.labels for ex in items):
            topics[topic.name], chosen[topic.name] = fit_topic(
                items, topic.name, feature_names(topic, tagger.topics), groups)
    provenance = {
        "fitted_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "method": "L2-regularised logistic regression per topic over standardised rule features; "
                  f"penalty (of {list(PENALTIES)}) and probability threshold chosen by a {INNER_FOLDS}-fold "
                  "grouped cross-validation inside the training data (best F1" + "".join(
                      f"; {t} at precision >= {p} where reachable" for t, p in MIN_PRECISION.items()) + ")",
        "chosen": chosen,
        "data": data or {},
        "cv": cv or {},
    }
    return topic_model.Weights(topics, provenance)


def cv_block(result: CVResult, groups: dict[str, int], *, k: int = FOLDS, repeats: int = REPEATS) -> dict[str, Any]:
    return {"folds": k, "repeats": repeats, "groups": len(set(groups.values())),
            "grouped_by": f"MinHash resemblance >= {dedupe.MIN_RESEMBLANCE} or the same title",
            "topics": result.summary()}



@dataclass
class TrainReport:
    weights: topic_model.Weights
    cv: dict[str, Any]              # the new weights' cross-validated figures (cv_block)
    baseline: dict[str, Any]        # the keyword baseline under the same folds
    data: dict[str, Any]
    worse: list[str]                # topics whose CV F1 fell below the current weights'


def train_and_compare(tagger, articles: dict[str, dict[str, Any]], labels: dict[str, dict[str, int]], *,
                      repeats: int = REPEATS, current: topic_model.Weights | None = None) -> TrainReport:
    """Cross-validate the fitting procedure on these labels, fit on all of them, and say which
    topics would get worse than the weights in use (by the CV figures they were written with)."""
    topics = [t.name for t in tagger.topics]
    items = examples(tagger, articles, labels)
    groups = duplicate_groups(articles, [ex.id for ex in items])
    names = {t.name: feature_names(t, tagger.topics) for t in tagger.topics}
    result = cross_validate(items, groups, topics, weights_method(names, groups), repeats=repeats,
                            requires=requirements(tagger))
    cv = cv_block(result, groups, repeats=repeats)
    baseline = cross_validate(items, groups, topics, keyword_method, repeats=repeats).summary()
    data = {"labels": len(labels), "digest": data_digest(labels),
            "positives": {t: sum(v[t] for v in labels.values()) for t in topics}}
    weights = train_weights(tagger, items, groups, cv=cv, data=data)
    before = (current.provenance.get("cv") or {}).get("topics", {}) if current else {}
    worse = [t for t in topics if t in before and round(cv["topics"][t]["f1"], 3) < round(before[t].get("f1", 0.0), 3)]
    return TrainReport(weights, cv, baseline, data, worse)
