"""Turning an indexed article into safe HTML: paragraphs with their own direction, and the
tagger's evidence marked where it is in the text. Everything from a page is escaped here;
the only markup is the `<p>`, `<span>` and `<mark>` this module writes."""
from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup


def direction(text: str) -> str:
    """rtl or ltr by the majority of strong letters, so an English paragraph quoted in an
    Arabic article reads left to right (the first-strong rule of dir=auto fails on a
    paragraph that opens with a Latin name)."""
    rtl = ltr = 0
    for ch in text[:600]:
        bidi = unicodedata.bidirectional(ch)
        if bidi in ("R", "AL"):
            rtl += 1
        elif bidi == "L":
            ltr += 1
    return "rtl" if rtl >= ltr and rtl else "ltr"


@dataclass
class Evidence:
    """One sentence that counted for a topic, where it is in its zone's text."""
    topic: str
    zone: str            # title, lead or body
    start: int
    end: int
    clue: str
    weight: float
    terms: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class TopicExplanation:
    topic: str
    score: float
    threshold: float
    passed: bool
    needs: str | None
    evidence: list[Evidence]
    stored_terms: list[str]          # the indexed `matches` field for the topic
    stored_ratio: float | None       # the indexed topic_scores (score / threshold)


def explain(tagger, doc: dict[str, Any]) -> list[TopicExplanation]:
    """The tagger's own reasoning on the stored title and text, next to what indexing stored
    (`matches`, `topic_scores`): the same rules on the same text give the same sentences."""
    text, results = tagger.explain(doc.get("title"), doc.get("text"))
    matches = doc.get("matches") or {}
    ratios = doc.get("topic_scores") or {}
    out = []
    for r in results:
        if not r.sentences and r.topic.name not in matches:
            continue
        evidence = []
        for sentence in sorted(r.sentences):
            weight, clue, hits = r.sentences[sentence]
            toks = [t for t in text.tokens if t.sentence == sentence]
            if not toks:
                continue
            zone = "title" if toks[0].zone == "title" else "body"
            ev = Evidence(r.topic.name, toks[0].zone, toks[0].start, toks[-1].end, clue, weight)
            ev.zone = zone
            ev.terms = [(text.tokens[h.first].start, text.tokens[h.last].end) for h in hits]
            evidence.append(ev)
        out.append(TopicExplanation(r.topic.name, round(r.score, 3), r.topic.threshold, r.passed, r.blocked_by,
                                    evidence, list(matches.get(r.topic.name) or []), ratios.get(r.topic.name)))
    out.sort(key=lambda e: (not e.passed, -e.score))
    return out


def _marked(text: str, base: int, spans: list[tuple[int, int, str, str]], terms: list[tuple[int, int]]) -> str:
    """`text` (which starts at offset `base` of its zone) with evidence spans and terms marked."""
    cuts = {0, len(text)}
    for s, e, _, _ in spans:
        cuts.update((min(max(s - base, 0), len(text)), min(max(e - base, 0), len(text))))
    for s, e in terms:
        cuts.update((min(max(s - base, 0), len(text)), min(max(e - base, 0), len(text))))
    points = sorted(cuts)
    runs: list[tuple[tuple, list[str]]] = []        # (owners, pieces): one <span> per run of one sentence
    for a, b in zip(points, points[1:]):
        piece = html.escape(text[a:b])
        ga, gb = a + base, b + base
        if any(s <= ga and gb <= e for s, e in terms):
            piece = f"<mark>{piece}</mark>"
        owners = tuple(sorted({(topic, label) for s, e, topic, label in spans if s <= ga and gb <= e}))
        if runs and runs[-1][0] == owners:
            runs[-1][1].append(piece)
        else:
            runs.append((owners, [piece]))
    out = []
    for owners, pieces in runs:
        inner = "".join(pieces)
        if owners:
            topics = " ".join(sorted({t for t, _ in owners}))
            label = "; ".join(dict.fromkeys(lbl for _, lbl in owners))
            inner = (f'<span class="evidence" data-topics="{html.escape(topics)}" '
                     f'title="{html.escape(label)}">{inner}</span>')
        out.append(inner)
    return "".join(out)


def paragraphs(text: str, evidence: Sequence[Evidence] = ()) -> list[dict[str, Any]]:
    """The stored text's paragraphs (one per line), each with its direction and its HTML."""
    spans = [(e.start, e.end, e.topic, f"{e.topic}: {e.clue} (weight {e.weight:g})") for e in evidence if e.zone != "title"]
    terms = [t for e in evidence if e.zone != "title" for t in e.terms]
    out, pos = [], 0
    for line in (text or "").split("\n"):
        start = pos
        pos += len(line) + 1
        if not line.strip():
            continue
        mine = [s for s in spans if s[0] < start + len(line) and s[1] > start]
        out.append({"dir": direction(line), "html": Markup(_marked(line, start, mine, terms)),
                    "evidence": bool(mine)})
    return out


def title_html(title: str, evidence: Sequence[Evidence] = ()) -> Markup:
    spans = [(e.start, e.end, e.topic, f"{e.topic}: {e.clue} (weight {e.weight:g})") for e in evidence if e.zone == "title"]
    terms = [t for e in evidence if e.zone == "title" for t in e.terms]
    return Markup(_marked(title or "", 0, spans, terms))


_SAFE_URL = re.compile(r"https?://", re.I)


def safe_url(url: str | None) -> str | None:
    """Only http(s) links reach an href (a stored javascript: URL would run on click)."""
    return url if url and _SAFE_URL.match(url) else None
