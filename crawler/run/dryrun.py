"""`raqib crawl --dry-run`: a crawl that discovers, fetches and extracts like a real one but
writes nothing, so a new or changed outlet entry can be tuned safely.

What a dry run does not touch:
* the index: `DryRunPipeline` takes the index step's place and only records what would be
  written (no spool either, and no alerts);
* the crawl state: `OverlayState` reads the real state, so the dry run sees what the next real
  crawl would see (conditional requests with the stored validators, articles already indexed
  not fetched again, articles earlier crawls left pending fetched), but keeps every write in
  memory and drops it at the end. The next real crawl therefore never skips an article the
  dry run fetched but did not index, and outlet health and back-off are left as they were;
* crawl metrics (`raqib-crawls`) and the outlet's health record.

Duplicates are looked up in the cluster when it is reachable (read only); without it, only
among the dry run's own articles.
"""
from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from crawler.engine.item_pipelines import _Step
from crawler.report.stats import CrawlReport
from crawler.state.store import FAILED, MAX_ATTEMPTS, PENDING, ArticleRecord, CrawlState, SourceRecord

log = logging.getLogger(__name__)


class OverlayState(CrawlState):
    """Reads from `base`, writes to memory: a crawl over it leaves `base` as it was."""

    def __init__(self, base: CrawlState | None):
        self.base = base
        self._lock = threading.Lock()
        self._sources: dict[str, SourceRecord] = {}
        self._articles: dict[str, ArticleRecord] = {}
        self._outlets: dict[str, dict[str, Any]] = {}

    def source(self, url: str) -> SourceRecord | None:
        with self._lock:
            if url in self._sources:
                return copy.deepcopy(self._sources[url])
        return self.base.source(url) if self.base is not None else None

    def save_source(self, rec: SourceRecord) -> None:
        with self._lock:
            self._sources[rec.url] = copy.deepcopy(rec)

    def article(self, key: str) -> ArticleRecord | None:
        with self._lock:
            if key in self._articles:
                return copy.deepcopy(self._articles[key])
        return self.base.article(key) if self.base is not None else None

    def save_article(self, rec: ArticleRecord) -> None:
        with self._lock:
            self._articles[rec.key] = copy.deepcopy(rec)

    def pending(self, outlet: str, limit: int, *, max_attempts: int = MAX_ATTEMPTS) -> list[ArticleRecord]:
        base = self.base.pending(outlet, limit, max_attempts=max_attempts) if self.base is not None else []
        out: dict[str, ArticleRecord] = {}
        with self._lock:
            for rec in base:
                out[rec.key] = self._articles.get(rec.key, rec)
            for rec in self._articles.values():
                if rec.outlet == outlet:
                    out[rec.key] = rec
        todo = [r for r in out.values() if r.status == PENDING or (r.status == FAILED and r.attempts < max_attempts)]
        todo.sort(key=lambda r: r.discovered_at or 0.0)
        return [copy.deepcopy(r) for r in todo[:limit]]

    def numbers(self, outlet: str) -> set[int]:
        found = set(self.base.numbers(outlet)) if self.base is not None else set()
        with self._lock:
            found |= {r.number for r in self._articles.values() if r.outlet == outlet and r.number is not None}
        return found

    # A dry run neither writes documents nor picks up what earlier crawls left in the spool.
    def spool_put(self, doc_id: str, outlet: str, key: str, doc: dict[str, Any], data: str | None = None, *,
                  article: ArticleRecord | None = None) -> None:
        raise RuntimeError("a dry run must not spool documents")

    def spooled(self, limit: int = 1000) -> list[tuple[str, str, str, dict[str, Any]]]:
        return []

    def spool_remove(self, doc_ids: Iterable[str]) -> None:
        pass

    def outlet(self, outlet: str) -> dict[str, Any]:
        data = dict(self.base.outlet(outlet)) if self.base is not None else {}
        with self._lock:
            data.update(self._outlets.get(outlet, {}))
        return data

    def save_outlet(self, outlet: str, **values: Any) -> None:
        with self._lock:
            self._outlets.setdefault(outlet, {}).update(values)

    def close(self) -> None:
        if self.base is not None:
            self.base.close()


class DryRunPipeline(_Step):
    """The index step of a dry run: records each article that would be indexed in
    `ctx.would_index` (one entry per document id: an AMP copy and its article are one)."""

    def open_spider(self, spider=None):
        self.by_id: dict[str, dict[str, Any]] = {}

    async def process_item(self, item, spider=None):
        doc = item.doc or {}
        if item.doc_id in self.by_id:
            self.by_id[item.doc_id].setdefault("also_at", []).append(item.final_url)
            return item
        entry = {
            "outlet": item.outlet, "url": doc.get("url") or item.final_url, "title": doc.get("title"),
            "published_at": doc.get("published_at"), "date_source": doc.get("date_source"),
            "lang": doc.get("lang"), "topics": list(doc.get("topics") or []),
            "duplicate_of": item.duplicate_of, "author": doc.get("author"),
            "text_chars": len(doc.get("text") or ""), "discovered_via": item.channel, "why": item.reason,
            "id": item.doc_id,
        }
        if item.duplicate_of:
            entry["duplicate_of_url"] = await self._url_of(item.duplicate_of)
        self.by_id[item.doc_id] = entry
        self.ctx.would_index.append(entry)
        self.ostats.inc(item.outlet, "would_index")
        return item

    async def _url_of(self, doc_id: str) -> str | None:
        if doc_id in self.by_id:
            return self.by_id[doc_id]["url"]
        if self.ctx.client is None:
            return None
        try:
            resp = await self.io(self.ctx.client.options(ignore_status=404).get, index=self.ctx.alias, id=doc_id,
                                 source_includes=["url"])
        except Exception as exc:  # noqa: BLE001 - the URL is a courtesy; the id is printed anyway
            log.debug("looking up %s failed: %s", doc_id, exc)
            return None
        return ((resp.body or {}).get("_source") or {}).get("url")


# --- output ----------------------------------------------------------------------------

def json_lines(articles: list[dict[str, Any]]) -> str:
    """One JSON object per article and line (`raqib crawl --dry-run --json`)."""
    return "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles)


def format_articles(report: CrawlReport) -> str:
    """What a dry run would index, per outlet, for a person tuning an outlet's entry."""
    articles = report.get("articles") or []
    by_outlet: dict[str, list[dict]] = {}
    for a in articles:
        by_outlet.setdefault(a["outlet"], []).append(a)
    lines = [f"dry run: nothing was written to the index or the crawl state; {len(articles)} article(s) "
             f"would be indexed"]
    for outlet, o in report["outlets"].items():
        mine = by_outlet.get(outlet, [])
        head = f"\n{outlet}: {len(mine)} article(s) would be indexed"
        if o.get("deferred"):
            head += f"; {o['deferred']} more found but not fetched (raise --max-pages to see them)"
        if o.get("status") not in ("ok", None):
            head += f" [{o['status']}" + (f": {o['blocked']}" if o.get("blocked") else "") + "]"
        lines.append(head)
        for a in mine:
            lines.append(f"  {_readable(a['url'])}")
            lines.append(f"    title   {a.get('title') or '(none)'}")
            date = a.get("published_at") or "(no date found)"
            if a.get("date_source"):
                date += f"  (from {a['date_source']})"
            lines.append(f"    date    {date}")
            lines.append(f"    lang    {a.get('lang') or '?'}   topics {', '.join(a['topics']) or '(none)'}   "
                         f"text {a.get('text_chars', 0):,} chars   via {a.get('discovered_via')} ({a.get('why')})")
            if a.get("duplicate_of"):
                lines.append(f"    duplicate of {_readable(a.get('duplicate_of_url') or a['duplicate_of'])}")
    return "\n".join(lines)


def _readable(url: str) -> str:
    """A URL as a person reads it: percent-encoded Arabic shown as Arabic (--json keeps the
    exact URL)."""
    return unquote(url, errors="replace")
