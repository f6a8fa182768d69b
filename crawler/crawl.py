"""Running one crawl in this process: `run_crawl(outlets, settings, config_dir) -> report`.

Scrapy's reactor cannot be started twice in one process, so a process runs one crawl:
`raqib crawl` does, the service starts `raqib crawl` as a child, and `make demo` calls
`run_crawl` once. Before anything is fetched the cluster is checked and the index made
ready, so a wrong URL or a missing privilege stops the crawl with one clear message.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable

from crawler.guard import FATAL_STAT, FINISH_REASON
from crawler.outlets import Outlet
from crawler.settings import Settings
from crawler.state import StateWriteError
from crawler.stats import build_report, write_json

log = logging.getLogger(__name__)


class CrawlError(RuntimeError):
    """The crawl itself could not run, or had to stop (not an outlet failing: those are in
    the report). `report` is what the crawl did before it stopped, when it started at all."""

    def __init__(self, message: str, report: dict[str, Any] | None = None):
        super().__init__(message)
        self.report = report


def run_crawl(outlets: Iterable[Outlet], settings: Settings, config_dir: Path | None = None, *,
              backfill: bool = False, max_pages: int | None = None, stats_json: Path | None = None,
              client=None, state=None, verbosity: int = 0) -> dict[str, Any]:
    """Crawl `outlets` once and return the report (crawler.stats.build_report's shape):

        {"started_at", "finished_at", "duration_s", "finish_reason",
         "outlets": {key: {"discovered": {feed, sitemap, section, idwalk, total, new},
                           "requests": {kind: n}, "fetched": {kind: n}, "not_modified": {kind: n},
                           "scheduled": {reason: n}, "skipped": {why: n}, "deferred": n,
                           "extracted": n, "indexed": {new, updated, unchanged}, "duplicates": n,
                           "errors": {kind: n}, "bytes": n, "duration_s": s,
                           "blocked": reason or None, "status": "ok" | "ok with errors" | "failed" | "blocked"}},
         "totals": {requests, articles_fetched, indexed_new, indexed_updated, errors, bytes, pages_per_s},
         "alerts": {matched, new, sent, failed},   (alerts sent while indexing, before the final sweep)
         "index": pipelines.item_pipelines.index_report (cluster outages, the spool, dead letters),
         "dead_letters": {added, waiting, file}}

    `client` defaults to a client for `[elasticsearch] url`; `state` to the local crawl state.
    `stats_json` also writes the report there. Raises ClusterError (unreachable cluster) or
    ConfigError before any request is sent, and CrawlError (with the report so far) when the
    crawl state cannot be written (crawler/guard.py): the crawl stops rather than drop articles.
    """
    from scrapy.crawler import CrawlerProcess

    from crawler.scrapy_config import scrapy_settings
    from crawler.spider import CrawlContext, OutletSpider
    from crawler.state import open_state
    from pipelines import document
    from pipelines.deadletters import summary as dead_letter_summary
    from pipelines.item_pipelines import index_report
    from pipelines.es import connect
    from pipelines.index import ensure_index

    outlets = list(outlets)
    alias = settings.get("elasticsearch", "alias")
    if client is None:
        client = connect(settings.get("elasticsearch", "url"), request_timeout=settings.get("elasticsearch", "request_timeout"))
    ensure_index(client, alias, replicas=settings.get("elasticsearch", "replicas"))
    own_state = state is None
    try:
        state = state or open_state(settings)
        for outlet in outlets:           # a full disk is found here, before anything is fetched
            state.save_outlet(outlet.key, last_crawl_at=time.time())
    except StateWriteError as exc:
        raise CrawlError(str(exc)) from None
    cpu = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raqib-cpu")
    io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="raqib-io")
    ctx = CrawlContext(outlets=outlets, settings=settings, state=state, client=client, alias=alias,
                       config_dir=config_dir, backfill=backfill, max_pages=max_pages,
                       tagger=document.default_tagger(config_dir), cpu=cpu, io=io)
    scrapy_cfg = scrapy_settings(settings, log_level="DEBUG" if verbosity >= 2 else "WARNING")
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
    # Oversized, truncated and undecodable responses are counted per outlet in the report;
    # Scrapy's own warnings about them (with advice about its settings) would only confuse.
    for name in ("scrapy.core.downloader.handlers.http11", "scrapy.downloadermiddlewares.httpcompression",
                 "scrapy.core.scraper", "scrapy.core.engine"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 2 else logging.ERROR)
    crawler = process.create_crawler(OutletSpider)
    started = time.time()
    failures: list = []
    try:
        process.crawl(crawler, context=ctx).addErrback(failures.append)
        process.start()
    finally:
        cpu.shutdown(wait=True)
        io.shutdown(wait=True)
    finished = time.time()
    if failures:
        raise CrawlError(f"the crawl stopped with an internal error: {failures[0].getErrorMessage()}")
    spider = getattr(crawler, "spider", None)
    blocked = getattr(spider, "blocked_outlets", {}) if spider is not None else {}
    stats = crawler.stats.get_stats()
    report = build_report(stats, [o.key for o in outlets], started_at=started, finished_at=finished,
                          finish_reason=stats.get("finish_reason"),
                          outlet_status={k: {"blocked": v} for k, v in blocked.items()})
    report["alerts"] = dict(ctx.alerts)
    fatal = stats.get(FATAL_STAT)
    report["index"] = index_report(stats)
    report["dead_letters"] = dead_letter_summary(settings.state_dir, report["index"]["dead_letters"])
    if fatal:
        report["finish_reason"], report["error"] = FINISH_REASON, fatal
    try:
        for outlet in outlets:
            entry = report["outlets"][outlet.key]
            state.save_outlet(outlet.key, last_status=entry["status"], last_finished_at=finished,
                              last_new=entry["indexed"]["new"], last_errors=sum(entry["errors"].values()))
    except StateWriteError as exc:
        fatal = fatal or str(exc)
    if own_state:
        state.close()
    if stats_json:
        try:
            write_json(report, Path(stats_json))
        except OSError as exc:
            if not fatal:
                raise
            log.error("the crawl report could not be written to %s either: %s", stats_json, exc)
    if fatal:
        raise CrawlError(fatal, report)
    return report
