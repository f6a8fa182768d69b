"""Running one crawl in this process: `run_crawl(outlets, settings, config_dir) -> report`.

Scrapy's reactor cannot be started twice in one process, so a process runs one crawl:
`raqib crawl` does, the service starts `raqib crawl` as a child, and `make demo` calls
`run_crawl` once. Before anything is fetched the cluster is checked and the index made
ready, so a wrong URL or a missing privilege stops the crawl with one clear message.
"""
from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess

from crawler.engine.context import CrawlContext, attach
from crawler.engine.guard import FATAL_STAT, FINISH_REASON, describe, is_storage_fault
from crawler.engine.item_pipelines import index_report
from crawler.engine.scrapy_config import scrapy_settings
from crawler.engine.spider import OutletSpider
from crawler.report.stats import CpuSpent, CrawlReport, build_report, write_json
from crawler.run.modes import CrawlError as CrawlError  # re-exported: what callers catch
from crawler.run.modes import Mode, select_mode
from crawler.state.factory import open_state
from crawler.state.store import CrawlState
from pipelines import document
from pipelines.deadletters import summary as dead_letter_summary
from pipelines.es import client_for
from pipelines.index import ensure_index
from pipelines.outlets import Outlet
from pipelines.settings import Settings
from pipelines.storage import StateWriteError

log = logging.getLogger(__name__)

# Oversized, truncated and undecodable responses are counted per outlet in the report;
# Scrapy's own warnings about them (with advice about its settings) would only confuse.
_QUIET_LOGGERS = ("scrapy.core.downloader.handlers.http11", "scrapy.downloadermiddlewares.httpcompression",
                  "scrapy.core.scraper", "scrapy.core.engine")


def _tune_gc() -> None:
    """A crawl allocates millions of short-lived objects (parse trees, tokens, requests), and
    Python's cyclic collector kept walking the long-lived ones (modules, the tagger's tables,
    the client) over and over: 9% of a crawl's CPU (bench/results/crawl.json). What exists
    before the crawl starts is frozen out of collection, and the youngest generation is
    collected after 5,000 allocations instead of 700 (20,000 saved no more CPU and kept 30 MB
    more of cyclic garbage, responses among it, waiting). Reference counting still frees
    almost everything at once."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(5_000, 10, 10)


@dataclass
class _Prepared:
    """A crawl ready to be configured: its mode, and the state it reads and writes."""
    mode: Mode
    state: CrawlState
    own_state: bool


@dataclass
class _Ran:
    """What Scrapy left once the reactor stopped."""
    crawler: Crawler
    started: float
    finished: float
    cpu: CpuSpent


def run_crawl(outlets: Iterable[Outlet], settings: Settings, config_dir: Path | None = None, *,
              backfill: bool = False, max_pages: int | None = None, stats_json: Path | None = None,
              client: Any = None, state: CrawlState | None = None, verbosity: int = 0, dry_run: bool = False,
              worker: bool = False) -> CrawlReport:
    """Crawl `outlets` once and return the report (crawler.report.stats.build_report's shape):

        {"started_at", "finished_at", "duration_s", "finish_reason",
         "outlets": {key: {"discovered": {feed, sitemap, section, idwalk, total, new},
                           "requests": {kind: n}, "fetched": {kind: n}, "not_modified": {kind: n},
                           "scheduled": {reason: n}, "skipped": {why: n}, "deferred": n,
                           "extracted": n, "indexed": {new, updated, unchanged}, "duplicates": n,
                           "errors": {kind: n}, "bytes": n, "duration_s": s,
                           "blocked": reason or None, "status": "ok" | "ok with errors" | "failed" | "blocked",
                           "health": crawler.report.health.Health as a dict (not in dry runs)}},
         "totals": {requests, articles_fetched, indexed_new, indexed_updated, errors, bytes, pages_per_s},
         "alerts": {matched, new, copies, sent, articles_sent, failed},   (while indexing, before the final sweep)
         "index": crawler.engine.item_pipelines.index_report (cluster outages, the spool, dead letters),
         "dead_letters": {added, waiting, file},
         "crawl_id": id of the crawl's documents in `[elasticsearch] crawls_index`,
         "metrics": {written, spooled, rejected, error}}   (crawler.report.crawls.write)

    `client` defaults to a client for `[elasticsearch] url`; `state` to the local crawl state.
    `stats_json` also writes the report there. Raises ClusterError (unreachable cluster) or
    ConfigError before any request is sent, and CrawlError (with the report so far) when the
    crawl state cannot be written (crawler/engine/guard.py): the crawl stops rather than drop articles.

    After a real crawl each outlet's health is recorded in the crawl state (crawler/report/health.py)
    and its metrics are written to `[elasticsearch] crawls_index` (crawler/report/crawls.py).

    `dry_run` (crawler/run/dryrun.py): nothing is written (no index, spool, metrics, health; the
    crawl state is read but not changed); `client` may then be None (no duplicate lookups in
    the cluster), and the report has `"dry_run": true` and `"articles"`: what would be indexed.

    With a shared state in Redis (`[state] redis_url`, crawler/fleet/members.py) this process is a
    member of a fleet: it coordinates the crawl of `outlets` (their discovery; the articles go
    to the shared frontier, crawler/fleet/frontier.py, fetched by any member) and returns when the
    fleet has finished them, with what the whole fleet did for them in the report. With
    `worker`, it coordinates nothing and serves the frontier until it is stopped (SIGTERM or
    Ctrl-C); its report is then what it did itself.
    """
    outlets = list(outlets)
    if client is None and not dry_run:
        client = client_for(settings)
    prepared = prepare(outlets, settings, client, state, dry_run=dry_run, worker=worker)
    mode = prepared.mode
    ctx = CrawlContext(outlets=outlets, settings=settings, state=prepared.state, client=client,
                       alias=settings.get("elasticsearch", "alias"), config_dir=config_dir, backfill=backfill,
                       max_pages=max_pages, tagger=document.default_tagger(config_dir),
                       cpu=ThreadPoolExecutor(max_workers=1, thread_name_prefix="raqib-cpu"),
                       io=ThreadPoolExecutor(max_workers=2, thread_name_prefix="raqib-io"),
                       dry_run=not mode.writes, fleet=mode.fleet, worker=not mode.discovers)
    process, crawler = configure(mode, ctx, verbosity)
    ran = run(process, crawler, ctx)
    return finalise(prepared, ctx, ran, stats_json)


def prepare(outlets: list[Outlet], settings: Settings, client: Any, state: CrawlState | None, *,
            dry_run: bool, worker: bool) -> _Prepared:
    """Before any request: the index is ready, the state open, the mode chosen and begun."""
    if not dry_run:
        ensure_index(client, settings.get("elasticsearch", "alias"),
                     replicas=settings.get("elasticsearch", "replicas"))
    own_state = state is None
    try:
        state = state or open_state(settings)
        mode = select_mode(state, dry_run=dry_run, worker=worker)
        mode.begin(state, outlets)
    except (StateWriteError, CrawlError) as exc:
        if own_state and state is not None:
            state.close()
        raise CrawlError(str(exc)) from None
    return _Prepared(mode=mode, state=mode.crawl_state(state, own_state), own_state=own_state)


def configure(mode: Mode, ctx: CrawlContext, verbosity: int) -> tuple[CrawlerProcess, Crawler]:
    """Scrapy's process and crawler for this mode, with the context hung on the crawler."""
    scrapy_cfg = scrapy_settings(ctx.settings, log_level="DEBUG" if verbosity >= 2 else "WARNING")
    mode.configure(scrapy_cfg)
    scrapy_cfg["LOG_INSTALL_ROOT_HANDLER"] = False
    logging.disable(logging.INFO)        # Scrapy's start-up banner is not for analysts
    try:
        process = CrawlerProcess(scrapy_cfg)
    finally:
        logging.disable(logging.NOTSET)
    # Scrapy's logging set-up resets its loggers to DEBUG; raqib's report says what matters.
    logging.getLogger("scrapy").setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger("twisted").setLevel(logging.DEBUG if verbosity >= 2 else logging.ERROR)
    logging.getLogger("protego").setLevel(logging.ERROR)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 2 else logging.ERROR)
    crawler = process.create_crawler(OutletSpider)
    attach(crawler, ctx)
    return process, crawler


def run(process: CrawlerProcess, crawler: Crawler, ctx: CrawlContext) -> _Ran:
    """The crawl itself, until the reactor stops; a fault that stopped it is raised."""
    started = time.time()
    cpu = CpuSpent.start()
    failures: list[Any] = []
    _tune_gc()
    try:
        process.crawl(crawler, context=ctx).addErrback(failures.append)
        process.start()
    finally:
        for pool in (ctx.cpu, ctx.io):
            if pool is not None:
                pool.shutdown(wait=True)
    finished = time.time()
    cpu.stop()
    if failures:
        if is_storage_fault(failures[0].value):
            raise CrawlError(describe(crawler, failures[0].value))
        raise CrawlError(f"the crawl stopped with an internal error: {failures[0].getErrorMessage()}")
    return _Ran(crawler=crawler, started=started, finished=finished, cpu=cpu)


def finalise(prepared: _Prepared, ctx: CrawlContext, ran: _Ran, stats_json: Path | None) -> CrawlReport:
    """The report, what the mode records after the crawl, and the state closed."""
    mode, crawler, outlets = prepared.mode, ran.crawler, ctx.outlets
    spider = getattr(crawler, "spider", None)
    blocked = spider.blocked_outlets if isinstance(spider, OutletSpider) else {}
    stats = mode.stats(crawler, ctx.state, outlets)
    report = build_report(stats, [o.key for o in outlets], started_at=ran.started, finished_at=ran.finished,
                          finish_reason=stats.get("finish_reason"),
                          outlet_status={k: {"blocked": v} for k, v in blocked.items()})
    report["alerts"] = dict(ctx.alerts)
    report["cpu"] = ran.cpu.report(stats)
    if isinstance(spider, OutletSpider) and mode.discovers:
        for key, window in spider.windows.items():
            report["outlets"][key]["window"] = window.to_dict()
    fatal: str | None = stats.get(FATAL_STAT)
    if mode.writes:
        report["index"] = index_report(stats)
        report["dead_letters"] = dead_letter_summary(ctx.settings.state_dir, report["index"]["dead_letters"])
    if fatal:
        report["finish_reason"], report["error"] = FINISH_REASON, fatal
    recorded = mode.complete(report, ctx, ran.finished)     # runs after a fault too
    fatal = fatal or recorded
    mode.end(fatal)
    if mode.closes_state(prepared.own_state):
        ctx.state.close()
    if stats_json:
        try:
            write_json(dict(report), Path(stats_json))
        except OSError as exc:
            if not fatal:
                raise
            log.error("the crawl report could not be written to %s either: %s", stats_json, exc)
    if fatal:
        raise CrawlError(fatal, report)
    return report
