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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable

from crawler.guard import FATAL_STAT, FINISH_REASON, describe, is_storage_fault
from pipelines.storage import StateWriteError
from pipelines.outlets import Outlet
from pipelines.settings import Settings
from crawler.stats import build_report, write_json

log = logging.getLogger(__name__)


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


class CrawlError(RuntimeError):
    """The crawl itself could not run, or had to stop (not an outlet failing: those are in
    the report). `report` is what the crawl did before it stopped, when it started at all."""

    def __init__(self, message: str, report: dict[str, Any] | None = None):
        super().__init__(message)
        self.report = report


def run_crawl(outlets: Iterable[Outlet], settings: Settings, config_dir: Path | None = None, *,
              backfill: bool = False, max_pages: int | None = None, stats_json: Path | None = None,
              client=None, state=None, verbosity: int = 0, dry_run: bool = False,
              worker: bool = False) -> dict[str, Any]:
    """Crawl `outlets` once and return the report (crawler.stats.build_report's shape):

        {"started_at", "finished_at", "duration_s", "finish_reason",
         "outlets": {key: {"discovered": {feed, sitemap, section, idwalk, total, new},
                           "requests": {kind: n}, "fetched": {kind: n}, "not_modified": {kind: n},
                           "scheduled": {reason: n}, "skipped": {why: n}, "deferred": n,
                           "extracted": n, "indexed": {new, updated, unchanged}, "duplicates": n,
                           "errors": {kind: n}, "bytes": n, "duration_s": s,
                           "blocked": reason or None, "status": "ok" | "ok with errors" | "failed" | "blocked",
                           "health": crawler.health.Health as a dict (not in dry runs)}},
         "totals": {requests, articles_fetched, indexed_new, indexed_updated, errors, bytes, pages_per_s},
         "alerts": {matched, new, sent, articles_sent, failed},   (alerts sent while indexing, before the final sweep)
         "index": crawler.item_pipelines.index_report (cluster outages, the spool, dead letters),
         "dead_letters": {added, waiting, file},
         "crawl_id": id of the crawl's documents in `[elasticsearch] crawls_index`,
         "metrics": {written, spooled, rejected, error}}   (crawler.crawls.write)

    `client` defaults to a client for `[elasticsearch] url`; `state` to the local crawl state.
    `stats_json` also writes the report there. Raises ClusterError (unreachable cluster) or
    ConfigError before any request is sent, and CrawlError (with the report so far) when the
    crawl state cannot be written (crawler/guard.py): the crawl stops rather than drop articles.

    After a real crawl each outlet's health is recorded in the crawl state (crawler/health.py)
    and its metrics are written to `[elasticsearch] crawls_index` (crawler/crawls.py).

    `dry_run` (crawler/dryrun.py): nothing is written (no index, spool, metrics, health; the
    crawl state is read but not changed); `client` may then be None (no duplicate lookups in
    the cluster), and the report has `"dry_run": true` and `"articles"`: what would be indexed.

    With a shared state in Redis (`[state] redis_url`, crawler/fleet.py) this process is a
    member of a fleet: it coordinates the crawl of `outlets` (their discovery; the articles go
    to the shared frontier, crawler/frontier.py, fetched by any member) and returns when the
    fleet has finished them, with what the whole fleet did for them in the report. With
    `worker`, it coordinates nothing and serves the frontier until it is stopped (SIGTERM or
    Ctrl-C); its report is then what it did itself.
    """
    from scrapy.crawler import CrawlerProcess

    from crawler.scrapy_config import scrapy_settings
    from crawler.spider import CrawlContext, OutletSpider
    from crawler.state_factory import open_state
    from pipelines import document
    from pipelines.deadletters import summary as dead_letter_summary
    from crawler.item_pipelines import index_report
    from pipelines.es import client_for
    from pipelines.index import ensure_index

    outlets = list(outlets)
    alias = settings.get("elasticsearch", "alias")
    if client is None and not dry_run:
        client = client_for(settings)
    if not dry_run:
        ensure_index(client, alias, replicas=settings.get("elasticsearch", "replicas"))
    own_state = state is None
    fleet = None
    try:
        state = state or open_state(settings)
        fleet = None if dry_run else getattr(state, "fleet", None)
        if worker and fleet is None:
            raise CrawlError("a worker serves a fleet's shared frontier: set [state] redis_url or $RAQIB_REDIS_URL")
        if fleet is not None:
            fleet.check_writable()
        if fleet is not None and not worker:
            from crawler.fleet import FleetBusy

            try:
                fleet.start_job(o.key for o in outlets)
            except FleetBusy as exc:
                raise CrawlError(str(exc)) from None
        if not dry_run and not worker:
            for outlet in outlets:       # a full disk is found here, before anything is fetched
                state.save_outlet(outlet.key, last_crawl_at=time.time())
    except (StateWriteError, CrawlError) as exc:
        if own_state and state is not None:
            state.close()
        raise CrawlError(str(exc)) from None
    if dry_run:
        from crawler.dryrun import OverlayState

        state = OverlayState(state if own_state else _Unclosed(state))
    cpu = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raqib-cpu")
    io = ThreadPoolExecutor(max_workers=2, thread_name_prefix="raqib-io")
    ctx = CrawlContext(outlets=outlets, settings=settings, state=state, client=client, alias=alias,
                       config_dir=config_dir, backfill=backfill, max_pages=max_pages,
                       tagger=document.default_tagger(config_dir), cpu=cpu, io=io, dry_run=dry_run,
                       fleet=fleet, worker=worker)
    scrapy_cfg = scrapy_settings(settings, log_level="DEBUG" if verbosity >= 2 else "WARNING")
    if fleet is not None:
        scrapy_cfg["SCHEDULER"] = "crawler.frontier.FleetScheduler"
        scrapy_cfg["STATS_CLASS"] = "crawler.frontier.FleetStats"
    if dry_run:
        pipelines = dict(scrapy_cfg["ITEM_PIPELINES"])
        order = pipelines.pop("crawler.item_pipelines.IndexPipeline")
        pipelines["crawler.dryrun.DryRunPipeline"] = order
        scrapy_cfg["ITEM_PIPELINES"] = pipelines
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
    _tune_gc()
    try:
        process.crawl(crawler, context=ctx).addErrback(failures.append)
        process.start()
    finally:
        cpu.shutdown(wait=True)
        io.shutdown(wait=True)
    finished = time.time()
    if failures:
        if is_storage_fault(failures[0].value):
            raise CrawlError(describe(crawler, failures[0].value))
        raise CrawlError(f"the crawl stopped with an internal error: {failures[0].getErrorMessage()}")
    spider = getattr(crawler, "spider", None)
    blocked = getattr(spider, "blocked_outlets", {}) if spider is not None else {}
    stats = crawler.stats.get_stats()
    if fleet is not None and not worker:
        from crawler.fleet import settle

        from redis.exceptions import RedisError

        try:
            stats = settle(fleet, state, crawler.stats, [o.key for o in outlets])
        except RedisError as exc:
            if not crawler.stats.get_value(FATAL_STAT):
                raise
            log.warning("the fleet's counts could not be gathered (%s); this report counts this process only", exc)
    report = build_report(stats, [o.key for o in outlets], started_at=started, finished_at=finished,
                          finish_reason=stats.get("finish_reason"),
                          outlet_status={k: {"blocked": v} for k, v in blocked.items()})
    report["alerts"] = dict(ctx.alerts)
    windows = getattr(spider, "windows", {}) if spider is not None and not worker else {}
    for key, window in windows.items():
        report["outlets"][key]["window"] = window.to_dict()
    fatal = stats.get(FATAL_STAT)
    if not dry_run:
        report["index"] = index_report(stats)
        report["dead_letters"] = dead_letter_summary(settings.state_dir, report["index"]["dead_letters"])
    if fatal:
        report["finish_reason"], report["error"] = FINISH_REASON, fatal
    if dry_run:
        report["dry_run"] = True
        report["articles"] = list(ctx.would_index)
    elif not worker:             # a worker's report is what it did, not a crawl of the outlets
        try:
            _record_health(state, outlets, report, settings, finished)
        except StateWriteError as exc:
            fatal = fatal or str(exc)
        _write_metrics(client, settings, outlets, report)
    if fleet is not None:
        try:
            fleet.finish_job()
        except Exception:  # noqa: BLE001 - after a fatal fault the job's bookkeeping expires by itself (JOB_TTL)
            if not fatal:
                raise
    if own_state or dry_run:
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


class _Unclosed:
    """A caller's state under a dry run's overlay: the caller closes it, not the overlay."""

    def __init__(self, state):
        self._state = state

    def __getattr__(self, name):
        return getattr(self._state, name)

    def close(self) -> None:
        pass


def _record_health(state, outlets: list[Outlet], report: dict[str, Any], settings: Settings, finished: float) -> None:
    """Each outlet's verdict, failure points and back-off, in the crawl state and the report."""
    from crawler import health
    from crawler.discovery.planner import COMPLETE_MARK

    hi = float(settings.get("service", "max_interval"))
    cut_short = report.get("finish_reason") not in (None, "finished")
    for outlet in outlets:
        entry = report["outlets"][outlet.key]
        failure = health.failure_of(entry)
        if failure is not None and cut_short:
            # A crawl stopped early (SIGTERM, a full disk) says nothing against the outlet.
            entry["health"] = health.read(state, outlet.key).to_dict()
            continue
        h = health.record(state, outlet.key, failure=failure, finished_at=finished,
                          base=outlet.schedule, hi=hi, status=entry["status"], new=entry["indexed"]["new"],
                          errors=sum(entry["errors"].values()))
        if failure is None and not cut_short:
            # The end of first contact (crawler/discovery/planner.py): later crawls take sitemap_window.
            state.save_outlet(outlet.key, **{COMPLETE_MARK: finished})
        entry["health"] = h.to_dict()
        if h.failing:
            log.warning("%s: %s failure(s) in a row (%s: %s); backing off: `raqib run` crawls it again at %s",
                        outlet.key, h.consecutive_failures, h.last_failure_kind, h.last_failure,
                        _iso(h.backoff_until),
                        extra={"fields": {"event": "outlet_failing", "outlet": outlet.key,
                                          "consecutive_failures": h.consecutive_failures,
                                          "failure_points": h.failure_points, "failure_kind": h.last_failure_kind,
                                          "backoff_until": _iso(h.backoff_until)}})


def _write_metrics(client, settings: Settings, outlets: list[Outlet], report: dict[str, Any]) -> None:
    """One document per outlet in `[elasticsearch] crawls_index`; spooled when the cluster is away."""
    import uuid

    from crawler import crawls

    report["crawl_id"] = crawl_id = uuid.uuid4().hex
    docs = crawls.documents(report, crawl_id=crawl_id, names={o.key: o.name for o in outlets})
    report["metrics"] = crawls.write(client, settings.get("elasticsearch", "crawls_index"), docs,
                                     settings.state_dir / crawls.SPOOL_FILE,
                                     replicas=settings.get("elasticsearch", "replicas"))


def _iso(epoch: float | None) -> str | None:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds") if epoch else None
