"""The Scrapy item pipelines of a crawl: thin wrappers around the plain functions, one step
each, in this order:

  ExtractPipeline (100)  pipelines.extract.extract_article → title, text, dates, author…;
                         the canonical URL (rel=canonical, AMP) and the document id
  EnrichPipeline  (200)  pipelines.document.enrich → language, topics, entities, hashes
  DedupePipeline  (300)  pipelines.dedupe → `duplicate_of` for copies of an indexed article
  IndexPipeline   (400)  pipelines.index.bulk_index in batches, through a durable spool

CPU-bound steps run on one worker thread so the downloads go on meanwhile; cluster calls run
on their own threads. A page that yields no article is dropped and counted, never indexed.

Nothing fetched is lost: a document is written to the spool (crawl state) before the bulk
request, and removed only once Elasticsearch has answered for it. If the cluster is down,
documents stay spooled and are written at the next flush or by the next crawl; their
article ids are stable, so a repeat write is an update, never a second copy. A document the
cluster refuses (a mapping error) leaves the spool for the dead-letter file
(pipelines/deadletters.py), with the reason; one it cannot take *now* (429, a shard not
ready) stays queued. If the spool itself cannot be written, the crawl stops (crawler/engine/guard.py).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from scrapy.exceptions import DropItem

from crawler.engine.guard import stop_crawl
from crawler.errors import RETRYABLE, extraction_kind
from crawler.items import FetchedPage
from crawler.report.stats import CPU_PREFIX
from crawler.state.store import FAILED, INDEXED, REJECTED, SPOOLED
from pipelines import dedupe, document
from pipelines.alerts import evaluate as alerts
from pipelines.backoff import backoff
from pipelines.deadletters import DeadLetters, path_in
from pipelines.es import ClusterError
from pipelines.extract import ExtractionError, extract_article
from pipelines.index import BulkResult, bulk_index, mapping
from pipelines.storage import StateWriteError, doc_json, storage_fault
from pipelines.urls import article_identity, canonicalize, safe_url

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 2.0        # seconds: alerts should leave within seconds of a page's arrival
LOOKUP_BATCH = 20           # duplicate look-ups sent to the cluster together ...
LOOKUP_WAIT = 0.05          # ... or after this many seconds, whichever comes first
RETRY_MAX = 15.0            # seconds between bulk attempts while the cluster is unreachable (each is one refused connection)
INDEX_STATS = "raqib-index"  # crawl-wide counts of the index step: outages, dead letters

# What extract_article returns that is stored as is.
ARTICLE_FIELDS = (
    "title", "text", "summary", "author", "published_at", "modified_at", "date_source",
    "extraction_method", "keywords", "section", "country",
)


def _timed(call: Callable[[], Any]) -> tuple[Any, Exception | None, float]:
    """`call()` on the CPU thread, with the CPU time it took there, whether it returned or raised."""
    start = time.thread_time()
    try:
        return call(), None, time.thread_time() - start
    except Exception as exc:  # noqa: BLE001 - raised again in the reactor thread, by `_Step.cpu`
        return None, exc, time.thread_time() - start


class _Step:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    @property
    def spider(self):
        return self.crawler.spider

    @property
    def ctx(self):
        return self.crawler.spider.ctx

    @property
    def ostats(self):
        return self.crawler.spider.ostats

    async def cpu(self, fn, *args, **kwargs):
        executor = self.ctx.cpu
        if executor is None:
            return fn(*args, **kwargs)
        result, error, spent = await asyncio.wrap_future(executor.submit(_timed, partial(fn, *args, **kwargs)))
        self.crawler.stats.inc_value(f"{CPU_PREFIX}/{fn.__name__}", spent)   # the crawl report's `cpu`
        if error is not None:
            raise error
        return result

    async def io(self, fn, *args, **kwargs):
        executor = self.ctx.io
        if executor is None:
            return fn(*args, **kwargs)
        return await asyncio.wrap_future(executor.submit(partial(fn, *args, **kwargs)))

    def drop(self, item: FetchedPage, kind: str, message: str, *, status: str = REJECTED) -> DropItem:
        self.ostats.error(item.outlet, kind)
        self.spider.article_failed(item.key, item.outlet, kind, message, status)
        return DropItem(f"{item.outlet}: {kind}: {message}", log_level="INFO")


class ExtractPipeline(_Step):
    """The article in the page, its canonical URL and document id."""

    async def process_item(self, item: FetchedPage, spider=None):
        outlet = self.spider.outlets[item.outlet]
        try:
            article = await self.cpu(extract_article, item.body, item.final_url, outlet=outlet, headers=item.headers)
        except ExtractionError as exc:
            kind = extraction_kind(exc.kind)
            # a challenge page may be gone next time; a page without an article stays one
            raise self.drop(item, kind, exc.reason,
                            status=FAILED if kind in RETRYABLE else REJECTED) from None
        except Exception as exc:  # noqa: BLE001 - one odd page must not stop the crawl
            logger.warning("%s: extraction failed on %s: %s: %s", item.outlet, item.final_url, type(exc).__name__, exc)
            raise self.drop(item, "extraction", f"{type(exc).__name__}: {exc}") from None
        if not (article.get("title") or "").strip() or not (article.get("text") or "").strip():
            raise self.drop(item, "extraction", "no title or no text")
        item.article = article
        hint = article.get("canonical_url_hint")
        item.canonical_url = article_identity(item.final_url, hint, outlet)
        item.doc_id = document.doc_id_for(item.canonical_url)
        item.extras["public_url"] = (safe_url(hint, item.final_url) if hint and canonicalize(hint, item.final_url) == item.canonical_url
                                     else item.final_url)
        self.ostats.inc(item.outlet, "extracted")
        return item


class EnrichPipeline(_Step):
    """Language, topics and the other fields every stored article carries; only ArticleDoc's
    fields are kept (the index mapping is strict; the two are checked equal at start-up)."""

    def open_spider(self, spider=None):
        document.check_mapping(mapping()["properties"])
        self.fields = document.ARTICLE_DOC_FIELDS

    async def process_item(self, item: FetchedPage, spider=None):
        outlet = self.spider.outlets[item.outlet]
        article = item.article or {}
        fields: dict[str, Any] = {k: article.get(k) for k in ARTICLE_FIELDS if article.get(k) not in (None, "", [])}
        fields.update(
            url=item.extras.get("public_url") or item.final_url, canonical_url=item.canonical_url,
            fetched_url=item.final_url, outlet=outlet.key, outlet_name=outlet.name,
            discovered_via=item.channel, crawled_at=item.fetched_at,
        )
        hint = article.get("declared_lang") or outlet.language
        doc = await self.cpu(document.enrich, fields, lang_hint=hint, tagger=self.ctx.tagger)
        item.doc = {k: v for k, v in doc.items() if k in self.fields}
        return item


class DedupePipeline(_Step):
    """Marks a copy of an already indexed article (same text elsewhere) with `duplicate_of`.

    This crawl's own articles are looked up in memory; the cluster is asked about the
    others in batches (LOOKUP_BATCH searches in one _msearch, or what LOOKUP_WAIT gathered):
    one search per article cost the node three times the CPU."""

    # Set before open_spider runs: Scrapy closes every pipeline even when another one's
    # open_spider failed, and closing must not hide that failure behind an AttributeError.
    _timer: asyncio.TimerHandle | None = None
    _waiting: list[tuple[dedupe.Fingerprint, str, asyncio.Future]] = []

    def open_spider(self, spider=None):
        self.recent = dedupe.RecentIndex()
        self._waiting: list[tuple[dedupe.Fingerprint, str, asyncio.Future]] = []
        self._timer: asyncio.TimerHandle | None = None

    async def process_item(self, item: FetchedPage, spider=None):
        doc_id, doc = item.document()
        fp = await self.cpu(dedupe.fingerprint, doc)
        doc.update(fp.fields())
        match = dedupe.best_match(fp, self.recent.candidates(fp), exclude=doc_id)
        # known at once to the articles behind it, before the cluster has answered
        self.recent.add(doc_id, fp, match.doc_id if match is not None else None)
        if match is None and self.ctx.client is not None:
            match = dedupe.best_match(fp, await self._stored(fp, doc_id), exclude=doc_id)
            if match is not None:
                self.recent.add(doc_id, fp, match.doc_id)
        if match is not None:
            doc["duplicate_of"] = match.doc_id
            item.duplicate_of = match.doc_id
            self.ostats.inc(item.outlet, "duplicates")
        else:
            doc.pop("duplicate_of", None)
        return item

    def _stored(self, fp: dedupe.Fingerprint, exclude: str) -> asyncio.Future:
        """The stored candidates for `fp`, from the next batch of look-ups."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((fp, exclude, future))
        if len(self._waiting) >= LOOKUP_BATCH:
            self._send()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(LOOKUP_WAIT, self._send)
        return future

    def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting = self._waiting, []
        if batch:
            asyncio.ensure_future(self._lookup(batch))

    async def _lookup(self, batch: list[tuple[dedupe.Fingerprint, str, asyncio.Future]]) -> None:
        try:
            found = await self.io(dedupe.cluster_candidates_many, self.ctx.client, self.ctx.alias,
                                  [(fp, exclude) for fp, exclude, _ in batch])
        except Exception as exc:  # noqa: BLE001 - the index step reports an unreachable cluster
            logger.debug("duplicate lookup failed: %s", exc)
            found = [[] for _ in batch]
        for (_, _, future), stored in zip(batch, found):
            if not future.done():
                future.set_result(stored)

    def close_spider(self, spider=None):
        self._send()


@dataclass
class _Queued:
    doc_id: str
    outlet: str
    keys: list[str]
    doc: dict[str, Any]
    lastmod: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    data: str | None = None       # doc as the spool stored it (doc_json), sent as is by the bulk request


class IndexPipeline(_Step):
    """Bulk writes in batches of `bulk_size`, at least every FLUSH_INTERVAL seconds, and the
    alerting hook after each write."""

    def open_spider(self, spider=None):
        self.queue: dict[str, _Queued] = {}
        self.lock = asyncio.Lock()
        self.bulk_size = int(self.ctx.settings.get("elasticsearch", "bulk_size")) if self.ctx.settings else 200
        self.failures = 0
        self.next_try = 0.0
        self.dead_letters = _dead_letters(self.ctx)
        self.outage_since: float | None = None       # monotonic time of the first failed write of an outage
        self.waiting: set[str] = set()               # doc ids held in the spool by the current outage
        self.waited: set[str] = set()                # ... by any outage of this crawl
        # Documents a previous crawl spooled but could not write go first.
        for doc_id, outlet, key, doc in self.ctx.state.spooled(limit=100_000):
            self.queue[doc_id] = _Queued(doc_id, outlet, [key], doc)
        if self.queue:
            logger.info("%d documents left by an earlier crawl are written first", len(self.queue))
            self._stat("from_earlier_crawls", len(self.queue))
        self.task = asyncio.ensure_future(self._every_interval())

    def _stat(self, name: str, n: float = 1) -> None:
        self.crawler.stats.inc_value(f"{INDEX_STATS}/{name}", n)

    def _take_adopted(self) -> None:
        """Documents a fleet member that died left in its spool, now in this process's."""
        adopted = getattr(self.ctx.state, "take_adopted", None)
        for doc_id, outlet, key, doc in (adopted() if adopted is not None else ()):
            self.queue.setdefault(doc_id, _Queued(doc_id, outlet, [key], doc))

    async def _every_interval(self):
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                self._take_adopted()
                await self.flush()
            except StateWriteError as exc:
                stop_crawl(self.crawler, exc)
            except Exception:  # noqa: BLE001
                logger.exception("periodic index flush failed")

    async def process_item(self, item: FetchedPage, spider=None):
        if self.ctx.client is None:
            return item
        state = self.ctx.state
        doc_id, doc = item.document()
        data = doc_json(doc)           # once, for the spool and the bulk request
        rec = state.article(item.key)
        if rec is not None:      # fetched and extracted: from now on the spool owns it
            rec.status, rec.fetched_at = SPOOLED, time.time()
        state.spool_put(doc_id, item.outlet, item.key, doc, data, article=rec)   # StateWriteError stops the crawl
        if self.outage_since is not None:
            self.waiting.add(doc_id)
        queued = self.queue.get(doc_id)
        keys = ([*queued.keys, item.key] if queued is not None else [item.key])
        self.queue[doc_id] = _Queued(doc_id, item.outlet, keys, doc, item.lastmod,
                                     item.headers.get("etag"), item.headers.get("last-modified"), data=data)
        if len(self.queue) >= self.bulk_size:
            await self.flush()
        return item

    async def flush(self, *, final: bool = False) -> None:
        async with self.lock:
            while self.queue and (final or time.monotonic() >= self.next_try):
                batch = list(self.queue.values())[: self.bulk_size]
                if not await self._write(batch):
                    break

    async def _write(self, batch: list[_Queued]) -> bool:
        try:
            result = await self.io(bulk_index, self.ctx.client, [(q.doc_id, q.doc) for q in batch], self.ctx.alias,
                                   serialized={q.doc_id: q.data for q in batch if q.data is not None})
        except ClusterError as exc:
            if exc.status == 413:
                return await self._too_large(batch, exc)
            self.failures += 1
            wait = backoff(self.failures, FLUSH_INTERVAL, RETRY_MAX)
            self.next_try = time.monotonic() + wait
            self.waiting.update(self.queue)
            if self.outage_since is None:
                self.outage_since = time.monotonic()
                self._stat("outages")
            if self.failures == 1:
                logger.warning("cannot write to Elasticsearch (%s); %d documents are kept in the spool and "
                               "retried (next in %.0fs, and by the next crawl)", exc, len(self.queue), wait)
            return False
        if self.outage_since is not None:
            down = time.monotonic() - self.outage_since
            self._stat("unavailable_s", round(down, 1))
            self.outage_since = None
            logger.warning("Elasticsearch is reachable again after %.0fs; writing the %d spooled documents",
                           down, len(self.waiting))
        self.failures, self.next_try = 0, 0.0
        by_id = {q.doc_id: q for q in batch}
        now = time.time()
        held = set(self.waiting) & set(by_id)
        if held:
            self._stat("written_after_outage", len(held) - len({i for i, _ in result.retry} & held))
            self.waited |= held
            self.waiting -= held - {i for i, _ in result.retry}
        try:
            return await self._settle(batch, by_id, result, now)
        except StateWriteError as exc:
            # Written to the cluster, but the spool cannot forget it: the next crawl writes it
            # again, which changes nothing (same id, same content hash).
            stop_crawl(self.crawler, exc)
            for q in batch:
                if self.queue.get(q.doc_id) is q:
                    del self.queue[q.doc_id]
            return False

    async def _too_large(self, batch: list[_Queued], exc) -> bool:
        """A request the cluster (or a proxy before it, such as a web server's body size limit)
        refuses for its size, 413: the batch is written in halves, and later batches are made
        smaller too. A single document too large to send is a dead letter: sent again, it
        would be refused again."""
        if len(batch) > 1:
            half = len(batch) // 2
            if self.bulk_size > half:
                self.bulk_size = half
                logger.warning("Elasticsearch refused a bulk request of %d documents as too large (413); "
                               "writing at most %d at a time from now on", len(batch), half)
            first = await self._write(batch[:half])
            second = await self._write(batch[half:])
            return first and second
        q = batch[0]
        result = BulkResult(rejected=[(q.doc_id, f"too large to send: {exc}"[:1000])])
        try:
            return await self._settle(batch, {q.doc_id: q}, result, time.time())
        except StateWriteError as fault:
            stop_crawl(self.crawler, fault)
            return False

    async def _settle(self, batch: list[_Queued], by_id: dict[str, _Queued], result, now: float) -> bool:
        """Record what the cluster answered: indexed, dead letters, what to try again."""
        for doc_id, kind in [(i, "new") for i in result.created] + [(i, "updated") for i in result.updated] + \
                            [(i, "unchanged") for i in result.unchanged]:
            q = by_id[doc_id]
            self.ostats.inc(q.outlet, f"indexed/{kind}")
            self._mark(q, INDEXED, now)
        if result.rejected:
            self._set_aside([(by_id[doc_id], reason) for doc_id, reason in result.rejected])
        for doc_id, reason in result.rejected:
            q = by_id[doc_id]
            self.ostats.error(q.outlet, "index_rejected")
            self.ostats.inc(q.outlet, "dead_letters")
            logger.warning("%s: Elasticsearch rejected %s: %s; set aside in %s", q.outlet, q.doc.get("url"), reason,
                           self.dead_letters.path)
            self._mark(q, REJECTED, now, error=f"index_rejected: {reason}"[:500])
        again = {doc_id for doc_id, _ in result.retry}
        if again:
            self._stat("retried", len(again))
            self.next_try = time.monotonic() + FLUSH_INTERVAL
            logger.warning("Elasticsearch could not take %d documents now (%s); they stay queued and are retried",
                           len(again), result.retry[0][1])
        done = []
        for q in batch:
            if q.doc_id not in again and self.queue.get(q.doc_id) is q:     # not replaced by a newer copy while writing
                del self.queue[q.doc_id]
                done.append(q.doc_id)
        self.ctx.state.spool_remove(done)
        # Copies go to the rules too: a rule skips the copy of an article it already matched
        # (pipelines.alerts.evaluate.first_copies), but a copy may be the first of its story
        # that a rule sees (the original at an outlet the rule does not name).
        fresh = result.created
        if fresh:
            try:
                outcome = await self.io(alerts.on_indexed, self.ctx.client, self.ctx.alias, fresh, self.ctx.config_dir,
                                        settings=self.ctx.settings)
            except Exception as exc:  # noqa: BLE001 - alerting never stops the crawl
                logger.warning("alert evaluation after indexing failed: %s", exc)
            else:
                for name in ("matched", "new", "copies", "sent", "articles_sent", "failed"):
                    value = getattr(outcome, name, 0)
                    if isinstance(value, int):
                        self.ctx.alerts[name] = self.ctx.alerts.get(name, 0) + value
        return not again

    def _set_aside(self, rejected: list[tuple[_Queued, str]]) -> None:
        """Dead letters, synced to disk before the documents leave the spool."""
        letters = [{"doc_id": q.doc_id, "outlet": q.outlet, "key": q.keys[0] if q.keys else None,
                    "url": q.doc.get("url"), "alias": self.ctx.alias, "reason": reason, "doc": q.doc}
                   for q, reason in rejected]
        try:
            self.dead_letters.add(letters)
        except OSError as exc:
            raise (storage_fault(exc, self.dead_letters.path) or StateWriteError(
                f"cannot write the dead-letter file {self.dead_letters.path}: {exc}")) from None
        self._stat("dead_letters", len(letters))

    def _mark(self, q: _Queued, status: str, now: float, error: str | None = None) -> None:
        state = self.ctx.state
        for key in q.keys:
            rec = state.article(key)
            if rec is None:
                continue
            rec.status = status
            rec.fetched_at = rec.fetched_at if status != INDEXED else now
            rec.fetched_lastmod = max(filter(None, (q.lastmod, rec.lastmod)), default=None)
            rec.error = error
            if status == INDEXED:
                rec.indexed_at = now
                rec.doc_id = q.doc_id
                rec.content_hash = q.doc.get("content_hash")
                rec.etag, rec.last_modified = q.etag, q.last_modified
                rec.attempts = 0
            state.save_article(rec)

    async def close_spider(self, spider=None):
        # A periodic flush under way has sent its bulk request: it hears the answer first.
        # Cancelled mid-write, its batch went out again, was found stored and counted
        # "unchanged": no "new" in the report, and no alert for those articles.
        async with self.lock:
            self.task.cancel()
        if self.ctx.client is None:
            return
        try:
            self._take_adopted()
            await self.flush(final=True)
        except StateWriteError as exc:
            stop_crawl(self.crawler, exc)
        if self.outage_since is not None:       # still unreachable as the crawl ends
            self._stat("unavailable_s", round(time.monotonic() - self.outage_since, 1))
        self.waited |= self.waiting
        self._stat("waited", len(self.waited))
        self._stat("left_in_spool", len(self.queue))
        if self.queue:
            for q in self.queue.values():
                self.ostats.error(q.outlet, "index_unavailable")
            logger.warning("%d documents could not be written to Elasticsearch; they stay in the spool and the "
                           "next crawl writes them first", len(self.queue))


INDEX_FIELDS = ("outages", "unavailable_s", "waited", "written_after_outage", "left_in_spool",
                "from_earlier_crawls", "retried", "dead_letters")


def index_report(stats: dict[str, Any]) -> dict[str, Any]:
    """What the index step met during a crawl, from its stats: cluster outages (how many, for
    how many seconds in all), the documents that waited in the spool meanwhile and how many
    of them were written when it returned or are left for the next crawl, documents the
    cluster asked to retry, and dead letters."""
    out: dict[str, Any] = {}
    for name in INDEX_FIELDS:
        value = stats.get(f"{INDEX_STATS}/{name}", 0) or 0
        out[name] = round(float(value), 1) if name == "unavailable_s" else int(value)
    return out


def _dead_letters(ctx):
    if ctx.settings is not None:
        return DeadLetters(path_in(ctx.settings.state_dir))
    return DeadLetters(path_in(Path(getattr(ctx.state, "path", "crawl.sqlite3")).parent))
