"""The four ways a process runs a crawl, one object each (crawler/run/crawl.py drives them).

- `LocalCrawl`: this process discovers and fetches its outlets with its own crawl state;
  afterwards each outlet's health and metrics are recorded.
- `FleetCoordinator`: the state is shared through Redis (crawler/fleet/members.py); this process
  discovers its outlets into the shared frontier, any member fetches them, and the report
  counts what the whole fleet did for them.
- `FleetWorker`: serves the fleet's frontier until stopped; discovers nothing, records no
  health, and its report is what it fetched itself.
- `DryRun` (crawler/run/dryrun.py): reads the state through an overlay and writes nothing
  anywhere; the report lists the articles that would be indexed.

A mode answers the questions on which the crawl differs (what to record before, which Scrapy
components, whose stats, what to add to the report, what to release), so the driver has no
mode flags of its own.
"""
from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from crawler.discovery.planner import COMPLETE_MARK
from crawler.engine.context import CrawlContext
from crawler.engine.guard import FATAL_STAT
from crawler.fleet.members import Fleet, FleetBusy, settle
from crawler.report import crawls, health
from crawler.report.stats import CrawlReport
from crawler.run.dryrun import OverlayState
from crawler.state.store import CrawlState
from pipelines.outlets import Outlet
from pipelines.settings import Settings
from pipelines.storage import StateWriteError

log = logging.getLogger(__name__)


class CrawlError(RuntimeError):
    """The crawl itself could not run, or had to stop (not an outlet failing: those are in
    the report). `report` is what the crawl did before it stopped, when it started at all."""

    def __init__(self, message: str, report: CrawlReport | None = None):
        super().__init__(message)
        self.report = report


class LocalCrawl:
    """Discover and fetch the outlets in this process; record health and metrics after."""
    name = "local"
    writes = True                   # index, spool, dead letters, metrics, health
    discovers = True                # reads the outlets' sources; the report covers the outlets
    fleet: Fleet | None = None

    def begin(self, state: CrawlState, outlets: list[Outlet]) -> None:
        """Before anything is fetched (a full disk is found here, not half-way)."""
        for outlet in outlets:
            state.save_outlet(outlet.key, last_crawl_at=time.time())

    def crawl_state(self, state: CrawlState, own_state: bool) -> CrawlState:
        """The state the crawl reads and writes."""
        return state

    def closes_state(self, own_state: bool) -> bool:
        """Whether the driver closes the state afterwards (a caller's state is the caller's)."""
        return own_state

    def configure(self, scrapy_cfg: dict[str, Any]) -> None:
        """Scrapy components this mode swaps in."""

    def stats(self, crawler: Any, state: CrawlState, outlets: list[Outlet]) -> dict[str, Any]:
        """The counts the report is built from."""
        return dict(crawler.stats.get_stats())

    def complete(self, report: CrawlReport, ctx: CrawlContext, finished: float) -> str | None:
        """What the mode records and adds to the report after the crawl; returns a fault that
        must stop the crawl (the state could not be written)."""
        fatal: str | None = None
        try:
            record_health(ctx.state, ctx.outlets, report, ctx.settings, finished)
        except StateWriteError as exc:
            fatal = str(exc)
        write_metrics(ctx.client, ctx.settings, ctx.outlets, report)
        return fatal

    def end(self, fatal: str | None) -> None:
        """Release what `begin` took (a fleet's job)."""


class FleetCoordinator(LocalCrawl):
    """Discover the outlets into the fleet's shared frontier; wait until the fleet has
    fetched them; report what the whole fleet did for them."""
    name = "fleet coordinator"
    fleet: Fleet                    # always set in the fleet's modes

    def __init__(self, fleet: Fleet):
        self.fleet = fleet

    def begin(self, state: CrawlState, outlets: list[Outlet]) -> None:
        self.fleet.check_writable()
        try:
            self.fleet.start_job(o.key for o in outlets)
        except FleetBusy as exc:
            raise CrawlError(str(exc)) from None
        super().begin(state, outlets)

    def configure(self, scrapy_cfg: dict[str, Any]) -> None:
        scrapy_cfg["SCHEDULER"] = "crawler.fleet.frontier.FleetScheduler"
        scrapy_cfg["STATS_CLASS"] = "crawler.fleet.frontier.FleetStats"

    def stats(self, crawler: Any, state: CrawlState, outlets: list[Outlet]) -> dict[str, Any]:
        from redis.exceptions import RedisError

        try:
            return settle(self.fleet, state, crawler.stats, [o.key for o in outlets])
        except RedisError as exc:
            if not crawler.stats.get_value(FATAL_STAT):
                raise
            log.warning("the fleet's counts could not be gathered (%s); this report counts this process only", exc)
            return dict(crawler.stats.get_stats())

    def end(self, fatal: str | None) -> None:
        try:
            self.fleet.finish_job()
        except Exception:  # noqa: BLE001 - after a fatal fault the job's bookkeeping expires by itself (JOB_TTL)
            if not fatal:
                raise


class FleetWorker(FleetCoordinator):
    """Serve the fleet's frontier until stopped (SIGTERM, Ctrl-C): no discovery, no health;
    the report is what this process fetched itself, not a crawl of the outlets."""
    name = "fleet worker"
    discovers = False

    def begin(self, state: CrawlState, outlets: list[Outlet]) -> None:
        self.fleet.check_writable()

    def stats(self, crawler: Any, state: CrawlState, outlets: list[Outlet]) -> dict[str, Any]:
        return dict(crawler.stats.get_stats())

    def complete(self, report: CrawlReport, ctx: CrawlContext, finished: float) -> str | None:
        return None


class DryRun(LocalCrawl):
    """Read the crawl state through an overlay and write nothing anywhere (no index, spool,
    metrics, health); the report lists what would be indexed."""
    name = "dry run"
    writes = False

    def begin(self, state: CrawlState, outlets: list[Outlet]) -> None:
        pass

    def crawl_state(self, state: CrawlState, own_state: bool) -> CrawlState:
        return OverlayState(state if own_state else cast(CrawlState, _Unclosed(state)))

    def closes_state(self, own_state: bool) -> bool:
        return True                 # the overlay; it closes a caller's state only through _Unclosed

    def configure(self, scrapy_cfg: dict[str, Any]) -> None:
        pipelines = dict(scrapy_cfg["ITEM_PIPELINES"])
        order = pipelines.pop("crawler.engine.item_pipelines.IndexPipeline")
        pipelines["crawler.run.dryrun.DryRunPipeline"] = order
        scrapy_cfg["ITEM_PIPELINES"] = pipelines

    def complete(self, report: CrawlReport, ctx: CrawlContext, finished: float) -> str | None:
        report["dry_run"] = True
        report["articles"] = list(ctx.would_index)
        return None


Mode = LocalCrawl            # every mode is one of these (the base is the local crawl)


def select_mode(state: CrawlState, *, dry_run: bool, worker: bool) -> Mode:
    """The mode for these flags and this state (a state shared through Redis has a fleet)."""
    fleet: Fleet | None = None if dry_run else getattr(state, "fleet", None)
    if worker and fleet is None:
        raise CrawlError("a worker serves a fleet's shared frontier: set [state] redis_url or $RAQIB_REDIS_URL")
    if dry_run:
        return DryRun()
    if fleet is None:
        return LocalCrawl()
    return FleetWorker(fleet) if worker else FleetCoordinator(fleet)


class _Unclosed:
    """A caller's state under a dry run's overlay: the caller closes it, not the overlay."""

    def __init__(self, state: CrawlState):
        self._state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)

    def close(self) -> None:
        pass


def record_health(state: CrawlState, outlets: list[Outlet], report: CrawlReport, settings: Settings,
                  finished: float) -> None:
    """Each outlet's verdict, failure points and back-off, in the crawl state and the report."""
    hi = float(settings.get("service", "max_interval"))
    cut_short = report.get("finish_reason") not in (None, "finished")
    for outlet in outlets:
        entry: Any = report["outlets"][outlet.key]
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


def write_metrics(client: Any, settings: Settings, outlets: list[Outlet], report: CrawlReport) -> None:
    """One document per outlet in `[elasticsearch] crawls_index`; spooled when the cluster is away."""
    report["crawl_id"] = crawl_id = uuid.uuid4().hex
    docs = crawls.documents(cast(dict[str, Any], report), crawl_id=crawl_id, names={o.key: o.name for o in outlets})
    report["metrics"] = crawls.write(client, settings.get("elasticsearch", "crawls_index"), docs,
                                     settings.state_dir / crawls.SPOOL_FILE,
                                     replicas=settings.get("elasticsearch", "replicas"))


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds") if epoch else None
