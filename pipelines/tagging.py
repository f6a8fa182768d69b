"""Topic tagging with explainable weighted rules (`config/topics.yaml`).

In the spirit of the Europe Media Monitor's category definitions, a topic is decided by
*clues* rather than keywords. A clue is a concept (a named term list, an actor, a place) or a
co-occurrence of concepts — all of several groups within a sentence, a paragraph or a number
of words — that fires in a sentence unless a disambiguating concept is there too. Each
sentence counts once, with the weight of the strongest clue firing in it, multiplied by its
zone's weight (title, lead, body): the topic's clue mass.

The rules find the evidence; how much it weighs is learned from labelled articles. The
evidence becomes a dozen or two features per topic (`topic_features`: the mass, sentences and
paragraphs with evidence, the best paragraph or passage, evidence that opens its sentence, the
share of the text, title and lead, each clue and signal, the other topics), and a logistic regression per topic
(`pipelines.topic_model`, weights in `config/topic_weights.json`) turns them into a
probability held against the topic's fitted threshold. Where a topic has no weights, the rule
decides alone: the mass must reach `threshold` *and* `min_sentences` sentences contribute.

Everything a decision rests on is returned (`TopicEvidence`): each feature's contribution,
the bias and the threshold, and the sentences that carried evidence with the terms that fired,
as written in the article, so an analyst can see why a tag is there.
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypedDict

from pipelines import entities as entities_mod
from pipelines import topic_model
from pipelines.configfile import Checker, ConfigError, Problem, config_dir_from_env, load_yaml, resolve
from pipelines.normalize import normalize_text
from pipelines.terms import Concept, Hit, Lexicon, Nearby, Text, Within, check_concept, check_within

TOPIC_FILE = "topics.yaml"
ZONES = ("title", "lead", "body")
TOPIC_KEYS = ("description", "threshold", "min_sentences", "requires_any", "clues", "signals")
CLUE_KEYS = ("name", "any", "all", "within", "unless", "weight")
SETTINGS_KEYS = ("zones", "lead_words", "max_matches")
TOPIC_NAME_RE = r"[a-z][a-z0-9_]*"


# The indexed `matches` field (pipelines/mapping.json: `matches.<topic>` is a keyword list):
# per topic that had any evidence, the terms that fired, as written in the article, once
# each, in text order, at most `settings.max_matches`. The web UI highlights these.
Matches = dict[str, list[str]]


class EvidenceSentence(TypedDict):
    """A sentence that carried evidence for a topic."""
    sentence: int          # 0 is the title; the text's sentences count from 1
    zone: str              # title, lead or body
    start: int             # character offsets of the sentence in the title (zone title) or the text
    end: int
    clue: str              # the strongest clue that fired in it
    weight: float          # that clue's rule weight (times the zone's gives its share of `mass`)
    terms: list[str]       # the terms that fired in it, as written
    context: list[str]     # the clue's other terms, in the sentences around it (a co-occurrence
                           # within a paragraph or N sentences)


class Contribution(TypedDict):
    feature: str           # a name from `feature_names` (mass, clue:..., signal:..., topic:...)
    value: float           # the feature on this article
    contribution: float    # its share of the log-odds: coefficient x (value - mean) / scale


class TopicEvidence(TypedDict):
    """Why a topic was (or was not) given: the indexed `topic_evidence.<topic>` and the
    `explain` of `raqib tag --explain`. The decision is `bias + sum(contributions)` turned
    into a probability, against `threshold`."""
    passed: bool
    decided_by: str                    # "weights" (topic_weights.json) or "rules" (no weights: the rule threshold)
    value: float                       # the probability (weights) or the rule score (rules)
    threshold: float
    needs: str | None                  # passed its bar but needs this other topic, which did not pass
    bias: float
    contributions: list[Contribution]  # largest effect first; features with no effect left out
    sentences: list[EvidenceSentence]


class TagResult(TypedDict):
    """What tagging adds to a document (the index fields of the same names)."""
    topics: list[str]                    # the topics that passed
    topic_scores: dict[str, float]       # every topic: its value over its bar, >= 1.0 passes
    matches: Matches
    matched_terms: list[str]             # the passed topics' terms, once each
    topic_evidence: dict[str, TopicEvidence]   # every topic with any evidence (not indexed for search)
    entities: dict[str, list[str]]       # actors, places (canonical names)
    locations: list[dict[str, float]]    # geo points of the places named


@dataclass(frozen=True)
class Clue:
    name: str
    groups: tuple[tuple[str, ...], ...]   # concept names: one group for `any`, several for `all`
    within: Within
    unless: tuple[str, ...]
    weight: float


@dataclass(frozen=True)
class Topic:
    name: str
    description: str
    threshold: float
    min_sentences: int
    requires_any: tuple[str, ...]
    clues: tuple[Clue, ...]
    # Concepts whose sentences are counted as features of their own, for or against the topic
    # as the weights learn (refugees abroad for syria, Yemen for us_presence).
    signals: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Settings:
    zones: dict[str, float]
    lead_words: int
    max_matches: int


@dataclass
class TopicResult:
    """How one topic came out on one text; `sentences` maps a sentence to (value, clue, hits)."""
    topic: Topic
    score: float = 0.0
    passed: bool = False
    sentences: dict[int, tuple[float, str, list[Hit]]] = field(default_factory=dict)
    blocked_by: str | None = None   # a required topic that did not pass
    clue_sentences: dict[str, set[int]] = field(default_factory=dict)   # every clue, where it fired
    features: dict[str, float] = field(default_factory=dict)
    contributions: dict[str, float] = field(default_factory=dict)   # share of the log-odds, per feature
    bias: float = 0.0
    probability: float | None = None   # None: no learned weights for this topic, the rule decided
    threshold: float = 0.0             # the bar: on the probability, or (no weights) on `score`

    @property
    def rule_passes(self) -> bool:
        """The hand-set rule's verdict: the mass reaches `threshold` with `min_sentences` sentences."""
        return self.score >= self.topic.threshold and len(self.sentences) >= self.topic.min_sentences

    @property
    def relative(self) -> float:
        """The decisive value over its bar, as stored in `topic_scores`: 1.0 or more passes."""
        value = self.score if self.probability is None else self.probability
        return value / self.threshold if self.threshold else 0.0


class Tagger:
    """Built once from the rules, the gazetteer and the learned weights; calling it is cheap and
    thread-safe. A topic without weights (a rule file's new topic, before `raqib tag train`) is
    decided by its rule threshold alone."""

    def __init__(self, topics: list[Topic], settings: Settings, gazetteer: entities_mod.Gazetteer,
                 concepts: list[Concept], weights: topic_model.Weights | None = None):
        self.topics = topics
        self.settings = settings
        self.gazetteer = gazetteer
        self.lexicon = Lexicon([*gazetteer.concepts(), *concepts])
        self.weights = weights
        self.models: dict[str, topic_model.TopicWeights] = {}
        if weights is not None:
            self.use_weights(weights)

    def use_weights(self, weights: topic_model.Weights | None) -> None:
        """Decide with these weights from now on (None: by the rule thresholds). ValueError when
        they were fitted to other rules (a clue renamed, a topic added since)."""
        models: dict[str, topic_model.TopicWeights] = {}
        problems = []
        for topic in self.topics:
            model = weights.topics.get(topic.name) if weights else None
            if model is None:
                continue
            expected = feature_names(topic, self.topics)
            if list(model.features) != expected:
                missing = [f for f in expected if f not in model.features]
                extra = [f for f in model.features if f not in expected]
                problems.append(f"{topic.name}: fitted to other rules (features not in the weights: "
                                f"{missing or 'none'}; weights for features the rules no longer make: {extra or 'none'})")
            models[topic.name] = model
        if problems:
            raise ValueError("; ".join(problems) + "; refit them with `raqib tag train LABELS`")
        self.weights, self.models = weights, models

    def __call__(self, title: str | None, text: str | None, lang: str | None = None) -> TagResult:
        return self.tag(self.text(title, text))

    def text(self, title: str | None, text: str | None) -> Text:
        """The article as the tagger reads it (tokens, zones, sentences)."""
        return Text(title or "", text or "", lead_tokens=self.settings.lead_words)

    def tag(self, doc: Text) -> TagResult:
        """Topics, evidence and entities of an article made into `text(title, text)`."""
        found = self.lexicon.find(doc)
        results = self.evaluate(doc, found)
        entities, locations = self.gazetteer.extract(found)
        matches: Matches = {r.topic.name: self._terms(doc, r) for r in results if r.sentences}
        passed = [r.topic.name for r in results if r.passed]
        matched_terms: list[str] = []
        for name in passed:
            for term in matches[name]:
                if term not in matched_terms:
                    matched_terms.append(term)
        return {
            "topics": passed,
            "topic_scores": {r.topic.name: round(r.relative, 3) for r in results},
            "matches": matches,
            "matched_terms": matched_terms,
            "topic_evidence": {r.topic.name: evidence(doc, r) for r in results if r.sentences or r.passed},
            "entities": entities,
            "locations": locations,
        }

    def entities(self, text: str | None) -> dict[str, list[str]]:
        """The actors and places a short text names, by canonical name: how a search can treat
        «تنظيم الدولة», «داعش» and "ISIL" as one actor (match `entities.actors: ISIS`)."""
        entities, _ = self.gazetteer.extract(self.lexicon.find(Text("", text or "")))
        return entities

    def query_entities(self, query: str | None) -> dict[str, list[str]] | None:
        """The actors and places a search query consists of, or None when it says anything
        else: «تنظيم الدولة» and «داعش» are then one search, `entities.actors: ISIS`, while
        «داعش هجوم» stays a text search (the entity alone would not say «هجوم»)."""
        doc = Text("", query or "")
        if not doc.tokens:
            return None
        found = self.lexicon.find(doc)
        covered: set[int] = set()
        for key, hits in found.items():
            if isinstance(key, str) and key.startswith(("actor:", "place:")):
                for hit in hits:
                    covered.update(range(hit.first, hit.last + 1))
        if len(covered) < len(doc.tokens):
            return None
        entities, _ = self.gazetteer.extract(found)
        return entities if entities["actors"] or entities["places"] else None

    def explain(self, title: str | None, text: str | None) -> tuple[Text, list[TopicResult]]:
        """The full reasoning, sentence by sentence and feature by feature (for `raqib tag
        --explain`, `raqib tag train` and the bench)."""
        doc = Text(title or "", text or "", lead_tokens=self.settings.lead_words)
        return doc, self.evaluate(doc, self.lexicon.find(doc))

    def evaluate(self, doc: Text, found: dict[str, list[Hit]]) -> list[TopicResult]:
        results = {t.name: self._score(t, doc, found) for t in self.topics}
        for result in results.values():
            topic = result.topic
            result.features = topic_features(doc, found, result, results, self.settings.zones)
            model = self.models.get(topic.name)
            if model is None:
                result.threshold = topic.threshold
                result.passed = result.rule_passes
                continue
            values = [result.features[name] for name in model.features]
            result.contributions = dict(zip(model.features, model.contributions(values)))
            result.bias = model.bias
            result.probability = topic_model.sigmoid(model.bias + sum(result.contributions.values()))
            result.threshold = model.threshold
            result.passed = result.probability >= model.threshold
        for result in results.values():
            required = result.topic.requires_any
            if result.passed and required and not any(results[r].passed for r in required):
                result.passed = False
                result.blocked_by = " or ".join(required)
        return list(results.values())

    def _score(self, topic: Topic, doc: Text, found: dict[str, list[Hit]]) -> TopicResult:
        result = TopicResult(topic)
        for clue in topic.clues:
            fired = result.clue_sentences.setdefault(clue.name, set())
            for sentence, hits in _fire(clue, doc, found):
                fired.add(sentence)
                if sentence not in result.sentences or result.sentences[sentence][0] < clue.weight:
                    result.sentences[sentence] = (clue.weight, clue.name, hits)
        zones = self.settings.zones
        result.score = sum(value * zones[doc.tokens[hits[0].first].zone]
                           for value, _, hits in result.sentences.values())
        return result

    def _terms(self, doc: Text, result: TopicResult) -> list[str]:
        """The terms that fired for a topic, as written, once each, in text order."""
        spans = sorted({(h.first, h.last) for _, _, hits in result.sentences.values() for h in hits},
                       key=lambda span: (span[0], -span[1]))
        out, seen, reach = [], set(), -1
        for first, last in spans:
            if last <= reach:
                continue   # inside a longer term that also fired («التحالف» in «التحالف الدولي»)
            reach = last
            surface = doc.span_text(first, last)
            key = normalize_text(surface)
            if key not in seen:
                seen.add(key)
                out.append(surface)
            if len(out) >= self.settings.max_matches:
                break
        return out


def evidence(doc: Text, result: TopicResult, *, min_effect: float = 0.005) -> TopicEvidence:
    """The explanation of one topic's decision, as stored and as `raqib tag --explain` prints it."""
    sentences: list[EvidenceSentence] = []
    tokens = doc.tokens
    for number in sorted(result.sentences):
        value, clue, hits = result.sentences[number]
        first, last = doc.sentence_tokens(number)
        sentences.append({
            "sentence": number, "zone": tokens[hits[0].first].zone,
            "start": tokens[first].start, "end": tokens[last].end, "clue": clue, "weight": value,
            "terms": list(dict.fromkeys(doc.span_text(h.first, h.last) for h in hits if tokens[h.first].sentence == number)),
            "context": list(dict.fromkeys(doc.span_text(h.first, h.last) for h in hits if tokens[h.first].sentence != number)),
        })
    contributions: list[Contribution] = [
        {"feature": name, "value": round(result.features[name], 4), "contribution": round(c, 4)}
        for name, c in sorted(result.contributions.items(), key=lambda kv: -abs(kv[1])) if abs(c) >= min_effect]
    value = result.score if result.probability is None else result.probability
    return {
        "passed": result.passed, "decided_by": "rules" if result.probability is None else "weights",
        "value": round(value, 4),
        "threshold": round(result.threshold, 4), "needs": result.blocked_by,
        "bias": round(result.bias, 4), "contributions": contributions, "sentences": sentences,
    }


# --- features: what the weights see ---------------------------------------------------------

BASE_FEATURES = ("mass", "sentences", "paragraphs", "share", "best_paragraph", "best_passage", "up_front",
                 "title", "lead", "length", "strongest", "rule_bar")
# A passage is this many consecutive sentences: about what a reader calls "a paragraph on it",
# whatever the outlet's markup (some give every sentence a line, some none to a whole story).
PASSAGE_SENTENCES = 3
# A clue's first term within this many words of its sentence's start: the topic's actor is
# the sentence's subject («أعلنت واشنطن…», "US jets struck…"), not a name in its tail.
SUBJECT_TOKENS = 6


def feature_names(topic: Topic, topics: list[Topic]) -> list[str]:
    """The features of one topic, in the order the weights file lists them."""
    return [*BASE_FEATURES, *(f"clue:{c.name}" for c in topic.clues),
            *(f"signal:{name}" for name, _ in topic.signals),
            *(f"in_evidence:{name}" for name, _ in topic.signals),
            *(f"topic:{t.name}" for t in topics if t.name != topic.name)]


def topic_features(doc: Text, found: dict[str, list[Hit]], result: TopicResult,
                   results: dict[str, TopicResult], zones: dict[str, float]) -> dict[str, float]:
    """The evidence for one topic as numbers. Counts are log1p-squashed: the tenth sentence on
    Syria adds less than the second. `best_paragraph` is what a substantive single paragraph
    has and a scattered passing mention has not, and `best_passage` the same over a few
    consecutive sentences, for outlets that give every sentence its own line; `up_front` counts
    the evidence whose topic term opens its sentence (the subject, not background in its tail);
    `share` is how much of the text the evidence covers; `signal:*` count the sentences holding a concept the rules name as a signal (for or
    against: the weights decide), and `in_evidence:*` the share of the topic's evidence
    sentences that hold it (Syria named only beside refugees, ISIS only beside the PKK);
    `topic:*` are the other topics' rule scores (the US in an article that is about ISIS)."""
    tokens = doc.tokens
    log1p = math.log1p
    sentences = result.sentences
    paragraphs: dict[int, int] = {}
    title = lead = 0.0
    for _, _, hits in sentences.values():
        token = tokens[hits[0].first]
        paragraphs[token.paragraph] = paragraphs.get(token.paragraph, 0) + 1
        if token.zone == "title":
            title = 1.0
        elif token.zone == "lead":
            lead = 1.0
    n_sentences = max(doc.n_sentences, 1)
    up_front = sum(1 for number, (_, _, hits) in sentences.items()
                   if hits[0].first - doc.sentence_tokens(number)[0] < SUBJECT_TOKENS)
    out = {
        "mass": log1p(result.score),
        "sentences": log1p(len(sentences)),
        "paragraphs": log1p(len(paragraphs)),
        "share": len(sentences) / n_sentences,
        "best_paragraph": log1p(max(paragraphs.values(), default=0)),
        "best_passage": log1p(_best_passage(sentences)),
        "up_front": log1p(up_front),
        "title": title,
        "lead": lead,
        "length": math.log(n_sentences),
        "strongest": max((v * zones[tokens[h[0].first].zone] for v, _, h in sentences.values()), default=0.0),
        "rule_bar": 1.0 if result.rule_passes else 0.0,
    }
    for clue in result.topic.clues:
        out[f"clue:{clue.name}"] = log1p(len(result.clue_sentences.get(clue.name, ())))
    for name, concepts in result.topic.signals:
        holding = {tokens[h.first].sentence for c in concepts for h in found.get(c, ())}
        out[f"signal:{name}"] = log1p(len(holding))
        out[f"in_evidence:{name}"] = len(holding.intersection(sentences)) / len(sentences) if sentences else 0.0
    for other in results.values():
        if other is not result:
            out[f"topic:{other.topic.name}"] = log1p(other.score)
    return out


def _best_passage(sentences: dict[int, tuple[float, str, list[Hit]]]) -> float:
    """The most rule weight in any PASSAGE_SENTENCES consecutive sentences of the text (the
    title apart): one substantive passage has it, scattered passing mentions have not."""
    numbers = sorted(n for n in sentences if n > 0)
    best = total = 0.0
    start = 0
    for number in numbers:
        total += sentences[number][0]
        while number - numbers[start] >= PASSAGE_SENTENCES:
            total -= sentences[numbers[start]][0]
            start += 1
        best = max(best, total)
    return best


def _hits(groups: tuple[str, ...], found: dict[str, list[Hit]]) -> list[Hit]:
    out: list[Hit] = []
    for name in groups:
        out.extend(found.get(name, ()))
    return sorted(out, key=lambda h: h.first)


def _fire(clue: Clue, doc: Text, found: dict[str, list[Hit]]) -> Iterator[tuple[int, list[Hit]]]:
    """(sentence, hits) for every sentence where the clue fires."""
    groups = [_hits(g, found) for g in clue.groups]
    if not all(groups):
        return
    unless = _hits(clue.unless, found) if clue.unless else []
    tokens = doc.tokens
    within = clue.within
    if within not in ("sentence", "paragraph"):
        # Anchored on each hit of the first group: the other groups within N words (or N
        # sentences) of it, and no `unless` concept that close to any of them.
        others = [Nearby(doc, g) for g in groups[1:]]
        blockers = Nearby(doc, unless)
        for anchor in groups[0]:
            partners = []
            for nearby in others:
                close = nearby.around(anchor, within)
                if not close:
                    break
                partners.append(min(close, key=lambda h: abs(h.first - anchor.first)))
            else:
                involved = [anchor, *partners]
                if blockers and any(blockers.any_near(h, within) for h in involved):
                    continue
                yield tokens[anchor.first].sentence, involved
        return
    # Sentence or paragraph: every group present in the unit, no `unless` concept in it; the
    # clue fires in each sentence of the unit that holds a hit of the first group.
    key = "paragraph" if within == "paragraph" else "sentence"
    by_unit: list[dict[int, list[Hit]]] = []
    for group in groups:
        d: dict[int, list[Hit]] = {}
        for h in group:
            d.setdefault(getattr(tokens[h.first], key), []).append(h)
        by_unit.append(d)
    blocked = {getattr(tokens[h.first], key) for h in unless}
    for unit, anchors in by_unit[0].items():
        if unit in blocked or not all(unit in d for d in by_unit[1:]):
            continue
        in_unit = [h for d in by_unit[1:] for h in d[unit]]
        for sentence in sorted({tokens[h.first].sentence for h in anchors}):
            yield sentence, [h for h in anchors if tokens[h.first].sentence == sentence] + in_unit


# --- loading -----------------------------------------------------------------------------

def load_tagger(config_dir: Path | None = None, *, topics_path: Path | None = None,
                entities_path: Path | None = None, use_weights: bool = True) -> Tagger:
    """Read, validate and compile the rules and their weights; every problem in the files is
    reported at once. The weights are `topic_weights.json` beside the topics file: a config
    dir's own topics.yaml without one is decided by its rule thresholds alone."""
    topics_path = topics_path or resolve(TOPIC_FILE, config_dir)
    gazetteer = entities_mod.load_gazetteer(config_dir, path=entities_path)
    tagger = parse_tagger(load_yaml(topics_path), gazetteer, str(topics_path))
    weights_path = weights_path_for(topics_path)
    if use_weights and weights_path.exists():
        try:
            tagger.use_weights(topic_model.read_weights(weights_path))
        except ValueError as exc:
            raise ConfigError(Problem(str(weights_path), "", str(exc))) from None
    return tagger


def weights_path_for(topics_path: Path) -> Path:
    return topics_path.parent / topic_model.WEIGHTS_FILE


def parse_tagger(data: Any, gazetteer: entities_mod.Gazetteer, source: str = TOPIC_FILE) -> Tagger:
    check = Checker(source)
    data = check.mapping(data, "", allowed=("settings", "sets", "concepts", "topics"), required=("topics",))
    settings = _settings(check, data.get("settings"))
    known: set[str] = {a.key for a in gazetteer.actors.values()} | {p.key for p in gazetteer.places.values()}
    raw_concepts = _mapping_of(check, data.get("concepts"), "concepts", "expected a mapping of concept names to terms")
    concepts = _parse_concepts(check, raw_concepts, known)
    raw_sets = _mapping_of(check, data.get("sets"), "sets", "expected a mapping of set names to lists of references")
    refs = _References(check, gazetteer, known, raw_concepts, raw_sets)
    refs.resolve_sets()
    raw_topics = _mapping_of(check, data.get("topics"), "topics", "expected a mapping of topic names to rules")
    topics: list[Topic] = []
    for name, raw in raw_topics.items():
        topic = _parse_topic(check, name, raw, raw_topics, refs)
        if topic is not None:
            topics.append(topic)
    check.raise_if_any()
    return Tagger(topics, settings, gazetteer, concepts)


def _mapping_of(check: Checker, value: Any, path: str, problem: str) -> dict[Any, Any]:
    """A top-level section that must be a mapping (absent: empty)."""
    value = value or {}
    if not isinstance(value, dict):
        check.add(path, problem)
        return {}
    return value


def _parse_concepts(check: Checker, raw_concepts: dict[Any, Any], known: set[str]) -> list[Concept]:
    """The concepts (each name also becomes a known reference)."""
    concepts: list[Concept] = []
    for name, raw in raw_concepts.items():
        if not isinstance(name, str) or ":" in name:
            check.add(f"concepts.{name}", "a concept name is a plain word (actor:, place: and places: are the gazetteer's)")
            continue
        known.add(name)
        concepts.extend(check_concept(check, name, raw, f"concepts.{name}"))
    return concepts


class _References:
    """What a clue, a signal or a set may name: a concept, a set, an actor or a place of the
    gazetteer, or every place of a country; each unknown name is reported where it is used."""

    def __init__(self, check: Checker, gazetteer: entities_mod.Gazetteer, known: set[str],
                 raw_concepts: dict[Any, Any], raw_sets: dict[Any, Any]):
        self.check, self.gazetteer, self.known = check, gazetteer, known
        self.raw_concepts, self.raw_sets = raw_concepts, raw_sets
        self.sets: dict[str, list[str]] = {}

    def resolve_sets(self) -> None:
        """Each set's members, resolved once (a set may not name another set)."""
        for name, members in self.raw_sets.items():
            if name in self.raw_concepts:
                self.check.add(f"sets.{name}", "a set and a concept cannot share a name")
            if not isinstance(members, list) or not members:
                self.check.add(f"sets.{name}", "expected a non-empty list of references")
                continue
            resolved = [n for i, m in enumerate(members) for n in self.resolve(m, f"sets.{name}[{i}]", True)]
            self.sets[name] = list(dict.fromkeys(resolved))

    def resolve(self, ref: Any, path: str, in_set: bool = False) -> list[str]:
        check, gazetteer = self.check, self.gazetteer
        if not isinstance(ref, str) or not ref.strip():
            check.add(path, f"expected a concept name, a set name, actor:NAME, place:NAME or places:CC, got {ref!r}")
            return []
        if ref in self.raw_sets:
            if in_set:
                check.add(path, f"{ref!r} is a set; a set lists concepts, actors and places, not other sets")
                return []
            return self.sets.get(ref, [])
        if ref.startswith("places:"):
            names = gazetteer.places_in(ref.split(":", 1)[1])
            if not names:
                check.add(path, f"no place in {gazetteer.source} has country {ref.split(':', 1)[1]!r}")
            return names
        if ref not in self.known:
            hint = "; actors: " + ", ".join(gazetteer.actors) if ref.startswith("actor:") else (
                "; places: " + ", ".join(gazetteer.places) if ref.startswith("place:") else
                "; concepts: " + ", ".join(sorted(self.raw_concepts)) + "; sets: " + ", ".join(sorted(self.raw_sets)))
            check.add(path, f"unknown reference {ref!r}{hint}")
            return []
        return [ref]

    def group(self, value: Any, path: str) -> tuple[str, ...]:
        """A clue's list of references (or one), resolved, without repeats."""
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            self.check.add(path, "expected a non-empty list of references")
            return ()
        out: list[str] = []
        for i, ref in enumerate(value):
            out.extend(self.resolve(ref, f"{path}[{i}]"))
        return tuple(dict.fromkeys(out))


def _parse_topic(check: Checker, name: Any, raw: Any, raw_topics: dict[Any, Any], refs: _References) -> Topic | None:
    where = f"topics.{name}"
    if not isinstance(name, str) or not _is_topic_name(name):
        check.add(where, "a topic name is lower-case letters, digits and _ (it is stored as a keyword)")
        return None
    raw = check.mapping(raw, where, allowed=TOPIC_KEYS, required=("threshold", "clues"))
    threshold = check.number(raw.get("threshold"), f"{where}.threshold", minimum=0.01)
    min_sentences = check.number(raw.get("min_sentences"), f"{where}.min_sentences", minimum=1, integer=True)
    requires = tuple(check.string_list(raw.get("requires_any"), f"{where}.requires_any"))
    for i, r in enumerate(requires):
        if r not in raw_topics or r == name:
            check.add(f"{where}.requires_any[{i}]", f"{r!r} is not another topic in this file")
        elif isinstance(raw_topics.get(r), dict) and raw_topics[r].get("requires_any"):
            check.add(f"{where}.requires_any[{i}]", f"{r!r} has requires_any itself; chains are not supported")
    raw_clues = raw.get("clues")
    if raw_clues is not None and not isinstance(raw_clues, list):
        check.add(f"{where}.clues", "expected a list of clues")
        raw_clues = []
    clues = [c for i, rc in enumerate(raw_clues or []) if (c := _parse_clue(check, rc, f"{where}.clues[{i}]", i, refs)) is not None]
    signals: list[tuple[str, tuple[str, ...]]] = []
    raw_signals = raw.get("signals")
    if raw_signals is not None and not isinstance(raw_signals, list):
        check.add(f"{where}.signals", "expected a list of concepts, sets, actors or places")
        raw_signals = []
    for i, ref in enumerate(raw_signals or []):
        resolved = refs.resolve(ref, f"{where}.signals[{i}]")
        if resolved:
            signals.append((ref, tuple(resolved)))
    if threshold is None:
        return None
    return Topic(name, str(raw.get("description") or "").strip(), float(threshold),
                 int(min_sentences or 2), requires, tuple(clues), tuple(signals))


def _parse_clue(check: Checker, rc: Any, cw: str, i: int, refs: _References) -> Clue | None:
    rc = check.mapping(rc, cw, allowed=CLUE_KEYS, required=("weight",))
    if ("any" in rc) == ("all" in rc):
        check.add(cw, "give exactly one of any: [concepts] or all: [[concepts], [concepts]]")
        return None
    groups: tuple[tuple[str, ...], ...]
    if "any" in rc:
        groups = (refs.group(rc["any"], f"{cw}.any"),)
    else:
        value = rc["all"]
        if not isinstance(value, list) or len(value) < 2:
            check.add(f"{cw}.all", "expected a list of at least two groups of concepts")
            return None
        groups = tuple(refs.group(g, f"{cw}.all[{j}]") for j, g in enumerate(value))
    weight = check.number(rc.get("weight"), f"{cw}.weight", minimum=0.01)
    within = check_within(check, rc.get("within"), f"{cw}.within")
    unless = refs.group(rc["unless"], f"{cw}.unless") if rc.get("unless") is not None else ()
    label = check.string(rc.get("name"), f"{cw}.name") or f"clue {i + 1}"
    if weight is not None and all(groups):
        return Clue(label, groups, within, unless, float(weight))
    return None


def _is_topic_name(name: str) -> bool:
    return re.fullmatch(TOPIC_NAME_RE, name) is not None


def _settings(check: Checker, value: Any) -> Settings:
    value = check.mapping(value, "settings", allowed=SETTINGS_KEYS)
    zones = {"title": 3.0, "lead": 1.5, "body": 1.0}
    raw_zones = check.mapping(value.get("zones"), "settings.zones", allowed=ZONES)
    for zone in ZONES:
        weight = check.number(raw_zones.get(zone), f"settings.zones.{zone}", minimum=0)
        if weight is not None:
            zones[zone] = float(weight)
    lead = check.number(value.get("lead_words"), "settings.lead_words", minimum=0, integer=True)
    max_matches = check.number(value.get("max_matches"), "settings.max_matches", minimum=1, integer=True)
    return Settings(zones, 40 if lead is None else lead, max_matches or 25)


@lru_cache(maxsize=8)
def _cached(topics_path: str, entities_path: str, _stamp: tuple[float, ...]) -> Tagger:
    return load_tagger(topics_path=Path(topics_path), entities_path=Path(entities_path))


def default_tagger(config_dir: Path | str | None = None) -> Tagger:
    """The tagger for the configured rules (`--config DIR` / RAQIB_CONFIG, else the shipped
    ones), compiled once and reused until a rule file changes."""
    config_dir = Path(config_dir) if config_dir else config_dir_from_env()
    topics_path = resolve(TOPIC_FILE, config_dir)
    entities_path = resolve(entities_mod.ENTITY_FILE, config_dir)
    stamp = tuple(_mtime(p) for p in (topics_path, entities_path, weights_path_for(topics_path)))
    return _cached(str(topics_path), str(entities_path), stamp)


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0
