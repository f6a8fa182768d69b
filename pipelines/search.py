"""Searching the article index the way an Arabic reader expects.

The query is rewritten with the same normaliser that filled the `*_norm` fields, so
«الامريكية» finds «الأمريكية» on any cluster; the raw query also runs against the analysed
fields, which on a full cluster use the `arabic` analyzer. Both go through
`simple_query_string`, which accepts anything a user can type (quotes, +, -, |, *) and never
fails on a syntax error. Highlights are computed here, on the original text, with the same
normaliser, so they mark exactly what matched.
"""
from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from elasticsearch import Elasticsearch

from pipelines import normalize
from pipelines.es import ClusterError, explain
from pipelines.index import DEFAULT_ALIAS
from pipelines.safetext import clean_value, one_line
from pipelines.tagging import default_tagger

_QUERY_WORD_RE = re.compile(r"(?:[^\W_]|[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640])+")
_SOURCE_FIELDS = ["url", "canonical_url", "outlet", "outlet_name", "title", "text", "summary", "author",
                  "published_at", "lang", "topics", "topic_scores", "seed", "discovered_via", "duplicate_of"]


def normalize_query(query: str) -> str:
    """Rewrite each word of a query to its index form, keeping the operators around it."""
    folded = query.translate(normalize._CHAR_MAP)

    def one(m: re.Match) -> str:
        return normalize.stem(normalize.normalize_token(m.group()))

    return _QUERY_WORD_RE.sub(one, folded)


def query_keys(query: str) -> tuple[set[str], list[str]]:
    """Stems a hit should be highlighted for (excluding negated words), and prefixes from `word*`."""
    keys: set[str] = set()
    prefixes: list[str] = []
    for m in re.finditer(r"(-?)(" + _QUERY_WORD_RE.pattern + r")(\*?)", query.translate(normalize._CHAR_MAP)):
        if m.group(1) == "-":
            continue
        key = normalize.stem(normalize.normalize_token(m.group(2)))
        if m.group(3):
            prefixes.append(normalize.normalize_token(m.group(2)))
        keys.add(key)
    return keys, prefixes


def parse_since(value: str | None) -> str | None:
    """An ISO date, or a span back from now: 7d, 12h, 2w."""
    if not value:
        return None
    m = re.fullmatch(r"(\d+)\s*([hdw])", value.strip())
    if m:
        n, unit = int(m.group(1)), m.group(2)
        delta = {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
        return (datetime.now(UTC) - delta).isoformat(timespec="seconds")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"--since expects a date (2024-05-01) or a span (7d, 12h, 2w), got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat(timespec="seconds")


_OPERATOR_RE = re.compile(r'["+|*()~\\]|(^|\s)-')

# Bounds checked before a search is sent, so that a mistake gets a message that says the
# limit instead of the cluster's "400: all shards failed" (after seconds of work).
MAX_QUERY_WORDS = 100           # all words must match: a longer query finds nothing useful anyway
MAX_QUERY_CHARS = 1000
MAX_SIZE = 10_000               # Elasticsearch's index.max_result_window: hits one search may return


class QueryError(ValueError):
    """A query or size raqib refuses to send; the message says the limit."""


@dataclass(frozen=True)
class TidyQuery:
    """The query as sent, and what was changed in what the user typed (to tell them)."""

    text: str
    notes: tuple[str, ...] = ()


def tidy_query(query: str) -> TidyQuery:
    """Drops what a copy-paste leaves behind and `simple_query_string` would read as an
    operator, silently losing documents: an unmatched bracket or quote, and an asterisk that
    follows no word (`word*` stays a prefix search). Without the entity expansion a stray «(»
    disables, «(داعش» found fewer articles than «داعش», and «**» none at all."""
    notes: list[str] = []
    chars = list(query)
    quotes = [i for i, c in enumerate(chars) if c == '"' and (i == 0 or chars[i - 1] != "\\")]
    if len(quotes) % 2:
        chars[quotes[-1]] = " "
        notes.append('an unmatched «"»')
        quotes = quotes[:-1]
    inside: set[int] = set()
    for a, b in zip(quotes[::2], quotes[1::2]):
        inside.update(range(a, b + 1))
    opened: list[int] = []
    stray: list[str] = []
    for i, c in enumerate(chars):
        if i in inside or (i and chars[i - 1] == "\\"):
            continue
        if c == "(":
            opened.append(i)
        elif c == ")":
            if opened:
                opened.pop()
            else:
                chars[i] = " "
                stray.append("«)»")
        elif c == "*" and not (i and _QUERY_WORD_RE.fullmatch(chars[i - 1])):
            chars[i] = " "
            stray.append("«*»")
    for i in opened:
        chars[i] = " "
        stray.append("«(»")
    if stray:
        notes.append("a stray " + ", ".join(dict.fromkeys(stray)))
    text = " ".join("".join(chars).split())
    if text and not _QUERY_WORD_RE.search(text):
        notes.append(f"no word to search for in {query.strip()!r}, so the newest articles are shown")
        text = ""
    return TidyQuery(text, tuple(notes))


def check_request(query: str, size: int) -> None:
    """QueryError when the query or the number of hits is beyond what raqib sends."""
    words = len(query.split())
    if words > MAX_QUERY_WORDS or len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is too long ({words:,} words, {len(query):,} characters); a search takes at most "
                         f"{MAX_QUERY_WORDS} words and {MAX_QUERY_CHARS:,} characters (every word must match, so a few "
                         f"distinctive ones find more)")
    if not 1 <= size <= MAX_SIZE:
        raise QueryError(f"-n must be between 1 and {MAX_SIZE:,} (Elasticsearch returns at most {MAX_SIZE:,} hits "
                         f"per search), got {size:,}")


def query_entities(query: str, config_dir=None) -> dict[str, list[str]] | None:
    """The actors and places a plain query (no search operators) consists of, resolved by the
    tagger's gazetteer, so a search for «داعش» also finds articles that only say «تنظيم الدولة»
    or "ISIL". None for anything else."""
    if "|" not in query and not re.search(r"(^|\s)-", query):
        query = query.replace("(", " ").replace(")", " ")   # grouping alone changes nothing when all words must match
    if not query.strip() or _OPERATOR_RE.search(query):
        return None
    return default_tagger(config_dir).query_entities(query)


def build_query(query: str, *, topics=(), outlets=(), langs=(), since: str | None = None,
                seed: bool | None = None, entities: dict[str, list[str]] | None = None) -> dict:
    """`entities` (from `query_entities`) adds one more way to match: an article tagged with
    every actor and place the query names."""
    filters: list[dict] = []
    if topics:
        filters.append({"terms": {"topics": list(topics)}})
    if outlets:
        filters.append({"terms": {"outlet": list(outlets)}})
    if langs:
        filters.append({"terms": {"lang": list(langs)}})
    if since:
        filters.append({"range": {"published_at": {"gte": since}}})
    if seed is not None:
        filters.append({"term": {"seed": seed}})
    if query.strip():
        should = [
            {"simple_query_string": {"query": normalize_query(query), "fields": ["title_norm^3", "text_norm"],
                                     "default_operator": "and", "lenient": True}},
            {"simple_query_string": {"query": query, "fields": ["title^3", "text", "summary"],
                                     "default_operator": "and", "lenient": True}},
        ]
        if entities:
            terms = [{"term": {"entities.actors": a}} for a in entities.get("actors", [])]
            terms += [{"term": {"entities.places": p}} for p in entities.get("places", [])]
            should.append({"constant_score": {"filter": {"bool": {"filter": terms}}, "boost": 1.0}})
        must = [{"bool": {"should": should, "minimum_should_match": 1}}]
    else:
        must = [{"match_all": {}}]
    return {"bool": {"must": must, "filter": filters}}


# --- one story, one hit ----------------------------------------------------------------------

COPY_FIELDS = ["url", "outlet", "outlet_name", "title", "published_at", "duplicate_of"]
MAX_COPIES = 200          # of all the stories of one page of hits


class Copy(TypedDict):
    """Another article of a hit's story: the original it copies, or a copy of it."""
    id: str
    url: str | None
    outlet: str | None
    outlet_name: str | None
    title: str | None
    published_at: str | None


def story_of(doc_id: str, source: Mapping[str, Any]) -> str:
    """The article a copy was recognised as copying (pipelines.dedupe), else the article itself:
    what all the articles of one story have in common."""
    return str(source.get("duplicate_of") or doc_id)


def story_query(stories: Sequence[str]) -> dict[str, Any]:
    """Every article of these stories (`story_of`): the originals and the copies that name them."""
    return {"bool": {"should": [{"ids": {"values": list(stories)}}, {"terms": {"duplicate_of": list(stories)}}],
                     "minimum_should_match": 1}}


def fold_copies(client: Elasticsearch, alias: str,
                hits: Sequence[tuple[str, Mapping[str, Any]]]) -> tuple[list[int], dict[int, list[Copy]]]:
    """A wire story republished by five outlets is one story, not five hits: of the hits that
    belong to one story, only the best ranked is kept, and it names the story's other articles,
    whether they matched or not (a copy under another headline often does not). Only the page
    is folded: a copy whose original ranks on another page stays, marked as a copy. Returns
    the positions kept, in order, and each kept position's other articles, oldest first."""
    first: dict[str, int] = {}
    for i, (doc_id, src) in enumerate(hits):
        first.setdefault(story_of(doc_id, src), i)
    if not first:
        return [], {}
    try:
        found = client.search(index=alias, query=story_query(list(first)), size=MAX_COPIES, source_includes=COPY_FIELDS,
                              sort=[{"published_at": {"order": "asc", "missing": "_last"}}]).body["hits"]["hits"]
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, "the configured cluster") from None
    kept = {hits[i][0] for i in first.values()}
    others: dict[str, list[Copy]] = defaultdict(list)
    for h in found:
        if h["_id"] not in kept:
            src = clean_value(h["_source"])
            others[story_of(h["_id"], src)].append(Copy(
                id=h["_id"], url=src.get("url"), outlet=src.get("outlet"), outlet_name=src.get("outlet_name"),
                title=one_line(src.get("title")) or None, published_at=src.get("published_at")))
    return sorted(first.values()), {i: others[story] for story, i in first.items() if others.get(story)}


@dataclass
class Hit:
    id: str
    score: float | None
    source: dict[str, Any]
    snippets: list[str] = field(default_factory=list)
    title_marked: str = ""
    copies: list[Copy] = field(default_factory=list)      # the story's other articles (fold_copies)

    def as_json(self) -> dict[str, Any]:
        src = self.source
        return {
            "id": self.id, "score": self.score, "url": src.get("url") or src.get("canonical_url"),
            "title": src.get("title"), "outlet": src.get("outlet"), "outlet_name": src.get("outlet_name"),
            "published_at": src.get("published_at"), "lang": src.get("lang"), "topics": src.get("topics", []),
            "seed": src.get("seed", False), "author": src.get("author"),
            "highlights": self.snippets, "title_highlight": self.title_marked,
            "duplicate_of": src.get("duplicate_of"), "copies": self.copies,
        }


def search(client: Elasticsearch, query: str, *, alias: str = DEFAULT_ALIAS, size: int = 20,
           sort: str = "relevance", marks: tuple[str, str] = ("<em>", "</em>"), escape: bool = True,
           config_dir=None, fold: bool = True, **filters) -> tuple[int, list[Hit]]:
    """The number of matching articles, and the first `size` hits; `fold`: one hit per story
    (`fold_copies`), so fewer hits than `size` may come back."""
    check_request(query, size)
    entities = query_entities(query, config_dir)
    body_query = build_query(query, entities=entities, **filters)
    sort_spec = [{"published_at": {"order": "desc", "missing": "_last"}}] if sort == "date" or not query.strip() else None
    try:
        resp = client.search(index=alias, query=body_query, size=size, sort=sort_spec,
                             source_includes=_SOURCE_FIELDS, track_total_hits=True).body
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, "the configured cluster") from None
    keys, prefixes = query_keys(query)
    hits = []
    for h in resp["hits"]["hits"]:
        # What a hit shows was written by a page: no control sequences, bidi overrides or
        # lone surrogates reach a terminal or a page, whatever wrote the document.
        src = clean_value(h["_source"])
        snippets = highlight(src.get("text") or "", keys, prefixes, marks=marks, escape=escape)
        if not snippets and (src.get("summary") or src.get("text")):
            # found through its entities or the analysed fields: show how it begins instead
            opening = " ".join((src.get("summary") or src.get("text")).split())
            snippets = [(html.escape if escape else str)(opening[:200]) + ("…" if len(opening) > 200 else "")]
        hits.append(Hit(
            id=h["_id"], score=h.get("_score"), source=src,
            snippets=snippets,
            title_marked=mark(one_line(src.get("title")), keys, prefixes, marks=marks, escape=escape),
        ))
    if fold:
        kept, copies = fold_copies(client, alias, [(h.id, h.source) for h in hits])
        hits = [replace(hits[i], copies=copies.get(i, [])) for i in kept]
    return resp["hits"]["total"]["value"], hits


def _matches(token: normalize.Token, keys: set[str], prefixes: Sequence[str]) -> bool:
    return token.key in keys or any(token.norm.startswith(p) or token.key.startswith(p) for p in prefixes)


def mark(text: str, keys: set[str], prefixes: Sequence[str] = (), *, marks=("<em>", "</em>"), escape: bool = True) -> str:
    """The whole text with every matching word wrapped in `marks`."""
    esc = html.escape if escape else (lambda s: s)
    out, pos = [], 0
    for tok in normalize.iter_tokens(text):
        if _matches(tok, keys, list(prefixes)):
            out.append(esc(text[pos:tok.start]))
            out.append(marks[0] + esc(text[tok.start:tok.end]) + marks[1])
            pos = tok.end
    out.append(esc(text[pos:]))
    return "".join(out)


def highlight(text: str, keys: set[str], prefixes: Sequence[str] = (), *, width: int = 160, count: int = 2,
              marks=("<em>", "</em>"), escape: bool = True) -> list[str]:
    """Up to `count` snippets of about `width` characters around the densest runs of matches."""
    if not keys and not prefixes:
        return []
    toks = [t for t in normalize.iter_tokens(text) if _matches(t, keys, list(prefixes))]
    if not toks:
        return []
    # Score each match by how many distinct query words fall within one window after it.
    windows = []
    for i, t in enumerate(toks):
        inside = [u for u in toks[i:] if u.end - t.start <= width]
        windows.append((len({u.key for u in inside}), len(inside), -t.start, t))
    windows.sort(reverse=True)
    chosen: list[tuple[int, int]] = []
    for _, _, _, t in windows:
        start = max(0, t.start - width // 4)
        end = min(len(text), start + width)
        if any(not (end <= s or start >= e) for s, e in chosen):
            continue
        chosen.append((start, end))
        if len(chosen) == count:
            break
    snippets = []
    for start, end in sorted(chosen):
        # widen to word boundaries so no word is cut in half
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        while end < len(text) and not text[end].isspace():
            end += 1
        piece = " ".join(text[start:end].split())
        snippets.append(("…" if start > 0 else "") + mark(piece, keys, prefixes, marks=marks, escape=escape)
                        + ("…" if end < len(text) else ""))
    return snippets


__all__ = ["search", "tidy_query", "check_request", "QueryError", "build_query", "normalize_query", "highlight", "mark", "parse_since", "Hit", "ClusterError"]
