"""What the pages ask Elasticsearch, built from raqib's own search (pipelines/search.py):
the same query parser, normalisation, entity expansion and highlighter as `raqib search`,
plus the facets, the date histogram and paging a page needs."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from pipelines import search as rsearch
from pipelines.es import ClusterError, explain
from pipelines.normalize import index_form
from pipelines.safetext import clean_value, one_line

PAGE_SIZE = 20
MAX_PAGE = 50               # deep paging is what the filters are for (from + size ≤ 1000)
FACETS = {"topic": "topics", "outlet": "outlet", "lang": "lang"}
LIST_FIELDS = ["url", "canonical_url", "outlet", "outlet_name", "title", "text", "summary", "author",
               "published_at", "lang", "topics", "seed", "duplicate_of", "first_indexed_at"]
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


class BadRequest(ValueError):
    """A parameter a person can fix; shown on the page, never a traceback."""


@dataclass(frozen=True)
class SearchParams:
    """The whole search, as the URL holds it (so it can be bookmarked and shared)."""
    q: str = ""
    topic: tuple[str, ...] = ()
    outlet: tuple[str, ...] = ()
    lang: tuple[str, ...] = ()
    seed: str = ""                 # "" any, "1" only seeds, "0" no seeds
    since: str = ""                # YYYY-MM-DD, inclusive
    until: str = ""                # YYYY-MM-DD, inclusive
    sort: str = "relevance"
    page: int = 1

    @classmethod
    def from_query(cls, params) -> SearchParams:
        """From Starlette's QueryParams (or any multi-dict with getlist)."""
        def many(name: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(v.strip() for v in params.getlist(name) if v.strip()))[:20]

        q = (params.get("q") or "").strip()[:500]
        since, until = (params.get("since") or "").strip(), (params.get("until") or "").strip()
        for name, value in (("since", since), ("until", until)):
            if value and not (_DATE_RE.fullmatch(value) and _valid_date(value)):
                raise BadRequest(f"{name} must be a date written 2024-05-01, got {value[:40]!r}")
        sort = params.get("sort") or "relevance"
        if sort not in ("relevance", "date"):
            raise BadRequest(f"sort must be relevance or date, got {sort[:20]!r}")
        seed = params.get("seed") or ""
        if seed not in ("", "0", "1"):
            raise BadRequest("seed must be 1 (only seeds), 0 (no seeds) or absent")
        try:
            page = int(params.get("page") or 1)
        except ValueError:
            raise BadRequest("page must be a number") from None
        return cls(q=q, topic=many("topic"), outlet=many("outlet"), lang=many("lang"), seed=seed,
                   since=since, until=until, sort=sort, page=min(max(page, 1), MAX_PAGE))

    def pairs(self, **changes) -> list[tuple[str, str]]:
        p = replace(self, **changes) if changes else self
        out: list[tuple[str, str]] = []
        if p.q:
            out.append(("q", p.q))
        for name in ("topic", "outlet", "lang"):
            out += [(name, v) for v in getattr(p, name)]
        for name in ("seed", "since", "until"):
            if getattr(p, name):
                out.append((name, getattr(p, name)))
        if p.sort != "relevance":
            out.append(("sort", p.sort))
        if p.page != 1:
            out.append(("page", str(p.page)))
        return out

    def url(self, path: str = "/", **changes: Any) -> str:
        pairs = self.pairs(**changes)
        return path + ("?" + urlencode(pairs) if pairs else "")

    def export_url(self, fmt: str) -> str:
        """The search's articles as a file (crawler/web/export.py), newest first whatever the sort."""
        return "/export?" + urlencode([*self.pairs(page=1, sort="relevance"), ("format", fmt)])

    def toggle(self, facet: str, value: str) -> str:
        """The URL with one facet value added or removed (and paging reset)."""
        current = getattr(self, facet)
        new = tuple(v for v in current if v != value) if value in current else (*current, value)
        changes: dict[str, Any] = {facet: new, "page": 1}
        return self.url(**changes)

    @property
    def empty(self) -> bool:
        return not self.pairs(page=1, sort="relevance")


def _valid_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
        return True
    except ValueError:
        return False


def es_query(p: SearchParams, config_dir=None) -> dict:
    """The search's query: `raqib search`'s own (pipelines.search.build_query) plus the date range's end."""
    entities = rsearch.query_entities(p.q, config_dir)
    query = rsearch.build_query(p.q, topics=p.topic, outlets=p.outlet, langs=p.lang,
                                since=p.since or None, seed={"1": True, "0": False}.get(p.seed),
                                entities=entities)
    if p.until:
        end = (date.fromisoformat(p.until) + timedelta(days=1)).isoformat()
        query["bool"]["filter"].append({"range": {"published_at": {"lt": end}}})
    return query


@dataclass
class Result:
    id: str
    source: dict[str, Any]
    title_html: str
    snippets: list[str]
    copies: list[rsearch.Copy] = field(default_factory=list)      # the story's other articles


@dataclass
class SearchPage:
    params: SearchParams
    total: int = 0
    results: list[Result] = field(default_factory=list)
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    histogram: list[tuple[int, int]] = field(default_factory=list)      # (epoch ms, count)
    took_ms: int = 0

    @property
    def pages(self) -> int:
        return min(MAX_PAGE, max(1, -(-self.total // PAGE_SIZE)))


def run_search(client, alias: str, p: SearchParams, config_dir=None) -> SearchPage:
    """One request: hits, facet counts and the histogram of the filtered results."""
    query = es_query(p, config_dir)
    by_date = p.sort == "date" or not p.q.strip()
    aggs: dict[str, Any] = {name: {"terms": {"field": f, "size": 30}} for name, f in FACETS.items()}
    aggs["seed"] = {"terms": {"field": "seed", "size": 2}}
    aggs["dates"] = date_histogram(client, alias, p.since, p.until)
    # Two searches in one round trip: the page of hits, and the counts with size 0, which the
    # node's request cache keeps (paging, sorting and re-visits reuse them).
    head = {"index": alias}
    hits_body = {"query": query, "size": PAGE_SIZE, "from": (p.page - 1) * PAGE_SIZE, "_source": LIST_FIELDS,
                 "track_total_hits": True}
    if by_date:
        hits_body["sort"] = [{"published_at": {"order": "desc", "missing": "_last"}}]
    try:
        found = client.msearch(searches=[head, hits_body, {**head, "request_cache": True},
                                         {"query": query, "size": 0, "aggs": aggs}]).body["responses"]
    except Exception as exc:  # noqa: BLE001

        raise explain(exc, "the configured cluster") from None
    for r in found:
        if "error" in r:
            raise ClusterError(f"the search failed: {str(r['error'])[:300]}")
    resp, counts = found
    resp["aggregations"] = counts.get("aggregations") or {}
    resp["took"] = max(resp.get("took", 0), counts.get("took", 0))
    keys, prefixes = rsearch.query_keys(p.q)
    page = SearchPage(params=p, total=resp["hits"]["total"]["value"], took_ms=resp.get("took", 0))
    for h in resp["hits"]["hits"]:
        src = clean_value(h["_source"])
        snippets = rsearch.highlight(_window(src.get("text") or ""), keys, prefixes, marks=("<mark>", "</mark>"))
        if not snippets:
            opening = " ".join((src.get("summary") or src.get("text") or "").split())
            snippets = [rsearch.mark(opening[:220] + ("…" if len(opening) > 220 else ""), set())] if opening else []
        page.results.append(Result(h["_id"], src, rsearch.mark(one_line(src.get("title")) or "", keys, prefixes,
                                                                   marks=("<mark>", "</mark>")), snippets))
    kept, copies = rsearch.fold_copies(client, alias, [(r.id, r.source) for r in page.results])
    page.results = [replace(page.results[i], copies=copies.get(i, [])) for i in kept]
    aggr = resp.get("aggregations") or {}
    for name in (*FACETS, "seed"):
        page.facets[name] = [(str(b.get("key_as_string", b["key"])), b["doc_count"])
                             for b in aggr.get(name, {}).get("buckets", [])]
    page.histogram = [(b["key"], b["doc_count"]) for b in aggr.get("dates", {}).get("buckets", [])]
    return page


_SPAN_CACHE: dict[str, tuple[float, tuple[float, float] | None]] = {}


def _span(client, alias: str) -> tuple[float, float] | None:
    """The index's first and last publication date (epoch s), cached for a minute: it moves
    slowly and sets only the histogram's bucket size. (The minimal distribution has no
    auto_date_histogram.)"""

    hit = _SPAN_CACHE.get(alias)
    if hit and time.monotonic() - hit[0] < 60:
        return hit[1]
    resp = client.search(index=alias, size=0, aggs={"lo": {"min": {"field": "published_at"}},
                                                    "hi": {"max": {"field": "published_at"}}}).body
    lo, hi = resp["aggregations"]["lo"]["value"], resp["aggregations"]["hi"]["value"]
    span = (lo / 1000, hi / 1000) if lo is not None and hi is not None else None
    _SPAN_CACHE[alias] = (time.monotonic(), span)
    return span


def date_histogram(client, alias: str, since: str = "", until: str = "") -> dict:
    """A date_histogram whose bucket fits the span shown: days up to four months, then weeks,
    months, years."""
    known = _span(client, alias) or (0.0, 0.0)
    lo = datetime.fromisoformat(since).replace(tzinfo=UTC).timestamp() if since else known[0]
    hi = datetime.fromisoformat(until).replace(tzinfo=UTC).timestamp() if until else known[1]
    days = max(0.0, hi - lo) / 86400
    interval = "day" if days <= 120 else "week" if days <= 730 else "month" if days <= 3650 else "year"
    return {"date_histogram": {"field": "published_at", "calendar_interval": interval, "min_doc_count": 0}}


SNIPPET_WINDOW = 2500


def _window(text: str) -> str:
    """The part of a hit's text its snippets are looked for in: raqib's highlighter folds
    every word (hamza forms, proclitics) in Python, ~8 µs a word, so twenty long articles
    would cost the page a third of a second; a news story names what it is about early.
    A hit whose match lies further in shows its opening instead."""
    if len(text) <= SNIPPET_WINDOW:
        return text
    cut = text.rfind(" ", 0, SNIPPET_WINDOW)
    return text[:cut if cut > 0 else SNIPPET_WINDOW]


# --- one article ---------------------------------------------------------------------------

def get_article(client, alias: str, doc_id: str) -> dict[str, Any] | None:
    """By id through the alias: a search, because after a rollover the alias spans indices."""
    resp = client.search(index=alias, query={"ids": {"values": [doc_id]}}, size=1).body
    hits = resp["hits"]["hits"]
    return clean_value(hits[0]["_source"]) if hits else None


RELATED_WINDOW_DAYS = 3


def related(client, alias: str, doc_id: str, doc: dict[str, Any], size: int = 8) -> dict[str, list[dict]]:
    """Other coverage of the same story: the article's duplicates (either direction of
    `duplicate_of`) and, from other outlets within a few days of it, the articles most like
    it by `more_like_this` on the normalised text (the same folded words the search uses, so
    spelling variants count as one word on any cluster). README: Web says why not MinHash."""
    dup_ids = [d for d in [doc.get("duplicate_of")] if d]
    dup_query = rsearch.story_query(list(dict.fromkeys([rsearch.story_of(doc_id, doc), doc_id])))
    dup_query["bool"]["must_not"] = [{"ids": {"values": [doc_id]}}]
    filters: list[dict] = []
    when = doc.get("published_at")
    if when:
        t = datetime.fromisoformat(when)
        filters.append({"range": {"published_at": {"gte": (t - timedelta(days=RELATED_WINDOW_DAYS)).isoformat(),
                                                   "lte": (t + timedelta(days=RELATED_WINDOW_DAYS)).isoformat()}}})
    must_not: list[dict] = [{"ids": {"values": [doc_id, *dup_ids]}}, {"term": {"duplicate_of": doc_id}}]
    if doc.get("outlet"):
        must_not.append({"term": {"outlet": doc["outlet"]}})
    mlt_query = {"bool": {
        "must": [{"more_like_this": {"fields": ["title_norm", "text_norm"], "like": [_norm_text(doc)],
                                     "min_term_freq": 1, "min_doc_freq": 2, "max_query_terms": 25,
                                     "minimum_should_match": "30%"}}],
        "filter": filters, "must_not": must_not}}
    # one round trip for both
    head = {"index": alias}
    found = client.msearch(searches=[head, {"size": size, "_source": LIST_FIELDS, "query": dup_query},
                                     head, {"size": size, "_source": LIST_FIELDS, "query": mlt_query}]).body["responses"]
    for r in found:
        if "error" in r:
            raise ClusterError(f"the other-coverage search failed: {str(r['error'])[:300]}")
    dups, mlt = found

    def rows(resp):
        return [{"id": h["_id"], **clean_value(h["_source"]), "score": h.get("_score")} for h in resp["hits"]["hits"]]

    duplicates = rows(dups)
    seen = {d["id"] for d in duplicates}
    return {"duplicates": duplicates, "related": [r for r in rows(mlt) if r["id"] not in seen]}


def _norm_text(doc: dict[str, Any]) -> str:
    """What `more_like_this` compares: the index form of the title and the opening of the text
    (the start of a news story says what it is about, and a shorter "like" is faster)."""

    title = doc.get("title_norm") or index_form(doc.get("title") or "")
    body = doc.get("text_norm") or index_form(doc.get("text") or "")
    return f"{title} {title} " + " ".join(body.split()[:150])


# --- overview ------------------------------------------------------------------------------

def overview(client, alias: str, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    week = (now - timedelta(days=7)).isoformat(timespec="seconds")
    hist = date_histogram(client, alias)
    resp = client.search(index=alias, size=0, track_total_hits=True, aggs={
        "by_topic": {"terms": {"field": "topics", "size": 8}, "aggs": {"t": hist}},
        "by_outlet": {"terms": {"field": "outlet", "size": 12}, "aggs": {"t": hist}},
        "all": hist,
        "week": {"filter": {"range": {"published_at": {"gte": week}}}, "aggs": {
            "actors": {"terms": {"field": "entities.actors", "size": 12}},
            "places": {"terms": {"field": "entities.places", "size": 12}}}},
        "actors": {"terms": {"field": "entities.actors", "size": 12}},
        "places": {"terms": {"field": "entities.places", "size": 12}},
        "cells": {"geotile_grid": {"field": "locations", "precision": 8, "size": 400},
                  "aggs": {"c": {"geo_centroid": {"field": "locations"}}}},
    }).body
    a = resp["aggregations"]

    def series(buckets):
        return [[b["key"], b["doc_count"]] for b in buckets]

    week_actors = [(b["key"], b["doc_count"]) for b in a["week"]["actors"]["buckets"]]
    week_places = [(b["key"], b["doc_count"]) for b in a["week"]["places"]["buckets"]]
    return {
        "total": resp["hits"]["total"]["value"],
        "week_total": a["week"]["doc_count"],
        "all": series(a["all"]["buckets"]),
        "topics": {b["key"]: series(b["t"]["buckets"]) for b in a["by_topic"]["buckets"]},
        "topic_counts": [(b["key"], b["doc_count"]) for b in a["by_topic"]["buckets"]],
        "outlets": {b["key"]: series(b["t"]["buckets"]) for b in a["by_outlet"]["buckets"]},
        "outlet_counts": [(b["key"], b["doc_count"]) for b in a["by_outlet"]["buckets"]],
        "actors": week_actors, "places": week_places,
        "actors_all": [(b["key"], b["doc_count"]) for b in a["actors"]["buckets"]],
        "places_all": [(b["key"], b["doc_count"]) for b in a["places"]["buckets"]],
        "cells": [(b["c"]["location"]["lon"], b["c"]["location"]["lat"], b["doc_count"])
                  for b in a["cells"]["buckets"] if b.get("c", {}).get("location")],
    }


def new_since(client, alias: str, query: dict, since: str, size: int = 50) -> list[dict]:
    """Articles first indexed at or after `since` that match `query`, oldest first (the live page)."""
    q = {"bool": {"must": [query], "filter": [{"range": {"first_indexed_at": {"gte": since}}}]}}
    resp = client.search(index=alias, query=q, size=size, source_includes=LIST_FIELDS,
                         sort=[{"first_indexed_at": {"order": "asc"}}], request_cache=False).body
    return [{"id": h["_id"], **clean_value(h["_source"])} for h in resp["hits"]["hits"]]
