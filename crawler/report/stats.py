"""Per-outlet crawl statistics: counted in Scrapy's stats collector under `raqib/<outlet>/…`,
turned into one report (printed, and written as JSON with `raqib crawl --stats-json`).

Keys (all per outlet):
  discovered/<channel>, discovered/total, discovered/new    unique article URLs found
  requests/<kind>, fetched/<kind>, not_modified/<kind>       kind: robots feed sitemap section article
  scheduled/<reason>, skipped/<why>, deferred               what the frontier decided
  extracted, indexed/{new,updated,unchanged}, duplicates
  errors/<kind>                                              see crawler/errors.py
  bytes, first_at, last_at
and, for the whole crawl, `raqib_cpu/<step>`: CPU seconds of each step run on the CPU thread.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from scrapy import signals

from crawler.errors import ERROR_KINDS, NOT_IN_TOTAL
from crawler.items import request_info
from crawler.report.health import Health, describe

PREFIX = "raqib"
CPU_PREFIX = "raqib_cpu"
CHANNELS = ("feed", "sitemap", "section", "idwalk")
KINDS = ("robots", "feed", "sitemap", "section", "article")


class OutletReport(TypedDict, total=False):
    """One outlet's part of the crawl report (`build_report`; `health` is added by the crawl)."""
    discovered: dict[str, int]        # per channel (feed, sitemap, section, idwalk), total, new
    requests: dict[str, int]          # per kind (robots, feed, sitemap, section, article)
    fetched: dict[str, int]
    not_modified: dict[str, int]
    scheduled: dict[str, int]         # per reason (new, pending, retry, changed, refetch)
    skipped: dict[str, int]
    deferred: int
    extracted: int
    indexed: dict[str, int]           # new, updated, unchanged
    would_index: int                  # dry runs
    duplicates: int
    errors: dict[str, int]            # per ErrorKind (crawler/errors.py), only those that occurred
    bytes: int
    duration_s: float
    blocked: str | None
    window: dict[str, Any]            # crawler.discovery.planner.Window: which window applied
    status: str                       # ok, ok with errors, failed, blocked
    health: dict[str, Any]            # crawler.report.health.Health.to_dict() (not in dry runs)


class CrawlTotals(TypedDict):
    requests: int
    articles_fetched: int
    indexed_new: int
    indexed_updated: int
    errors: int
    robots_refused: int    # robots.txt refusals: the site's wish, not counted in `errors`
    bytes: int
    pages_per_s: float


class CpuReport(TypedDict):
    """Where this crawl process spent its CPU, in seconds, so an operator (and bench/crawl.py)
    can tell extraction from the rest without a profiler."""
    process_s: float             # every thread of the process, from the crawl's start to its end
    reactor_s: float             # the thread running Scrapy: HTTP, middlewares, callbacks, pipelines' glue
    steps_s: dict[str, float]    # each step run on the CPU thread: extract_article, enrich, fingerprint
    other_s: float               # the rest: the cluster and state threads, the garbage collector


@dataclass
class CpuSpent:
    """CPU time of the process and of the calling thread between `start()` and `stop()`."""
    process_s: float
    reactor_s: float

    @classmethod
    def start(cls) -> CpuSpent:
        return cls(-time.process_time(), -time.thread_time())

    def stop(self) -> None:
        self.process_s += time.process_time()
        self.reactor_s += time.thread_time()

    def report(self, stats: dict[str, Any]) -> CpuReport:
        steps = {k[len(CPU_PREFIX) + 1:]: round(v, 3) for k, v in sorted(stats.items()) if k.startswith(f"{CPU_PREFIX}/")}
        other = self.process_s - self.reactor_s - sum(steps.values())
        return {"process_s": round(self.process_s, 3), "reactor_s": round(self.reactor_s, 3),
                "steps_s": steps, "other_s": round(max(other, 0.0), 3)}


class CrawlReport(TypedDict, total=False):
    """What `raqib crawl --stats-json` writes and `raqib run` reads back: `build_report`'s
    keys, and those crawler/run/crawl.py adds after the crawl (alerts, index, dead_letters,
    crawl_id, metrics; dry_run and articles in a dry run; error when it stopped)."""
    started_at: str
    finished_at: str
    duration_s: float
    finish_reason: str | None
    outlets: dict[str, OutletReport]
    totals: CrawlTotals
    cpu: CpuReport
    alerts: dict[str, int]
    index: dict[str, Any]             # crawler.engine.item_pipelines.index_report
    dead_letters: dict[str, Any]
    crawl_id: str
    metrics: dict[str, Any]           # crawler.report.crawls.write
    error: str
    dry_run: bool
    articles: list[dict[str, Any]]


class OutletStats:
    """A thin, typed front to the stats collector, so every count lands under one scheme."""

    def __init__(self, stats):
        self.stats = stats

    def inc(self, outlet: str, name: str, n: int = 1) -> None:
        self.stats.inc_value(f"{PREFIX}/{outlet}/{name}", n)

    def error(self, outlet: str, kind: str, n: int = 1) -> None:
        self.inc(outlet, f"errors/{kind if kind in ERROR_KINDS else 'other'}", n)

    def seen(self, outlet: str) -> None:
        now = time.time()
        self.stats.min_value(f"{PREFIX}/{outlet}/first_at", now)
        self.stats.max_value(f"{PREFIX}/{outlet}/last_at", now)

    def set(self, outlet: str, name: str, value: Any) -> None:
        self.stats.set_value(f"{PREFIX}/{outlet}/{name}", value)

    def get(self, outlet: str, name: str, default: Any = 0) -> Any:
        return self.stats.get_value(f"{PREFIX}/{outlet}/{name}", default)


class StatsExtension:
    """Counts every response per outlet and kind (bytes, 304s) from Scrapy's signals, so no
    callback can forget to."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.ostats = OutletStats(crawler.stats)
        crawler.signals.connect(self.request_scheduled, signal=signals.request_reached_downloader)
        crawler.signals.connect(self.response_received, signal=signals.response_received)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def request_scheduled(self, request, spider=None) -> None:
        info = request_info(request)
        if info:
            self.ostats.inc(info["outlet"], f"requests/{info['kind']}")
            self.ostats.seen(info["outlet"])

    def response_received(self, response, request, spider=None) -> None:
        info = request_info(request)
        if not info:
            return
        outlet = info["outlet"]
        self.ostats.seen(outlet)
        self.ostats.inc(outlet, "bytes", len(response.body))
        if response.status == 304:
            self.ostats.inc(outlet, f"not_modified/{info['kind']}")
        elif 200 <= response.status < 300:
            self.ostats.inc(outlet, f"fetched/{info['kind']}")


def _tree(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        parts = key.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return out


def build_report(stats: dict[str, Any], outlets: Iterable[str], *, started_at: float, finished_at: float,
                 finish_reason: str | None = None, outlet_status: dict[str, dict[str, Any]] | None = None) -> CrawlReport:
    """The report of one crawl, from the stats collector's flat dict."""
    per: dict[str, OutletReport] = {}
    for outlet in outlets:
        prefix = f"{PREFIX}/{outlet}/"
        flat = {k[len(prefix):]: v for k, v in stats.items() if k.startswith(prefix)}
        t = _tree(flat)
        discovered = {c: int(t.get("discovered", {}).get(c, 0)) for c in CHANNELS}
        discovered["total"] = int(t.get("discovered", {}).get("total", 0))
        discovered["new"] = int(t.get("discovered", {}).get("new", 0))
        indexed = {k: int(t.get("indexed", {}).get(k, 0)) for k in ("new", "updated", "unchanged")}
        first, last = flat.get("first_at"), flat.get("last_at")
        entry: OutletReport = {
            "discovered": discovered,
            "requests": {k: int(v) for k, v in sorted(t.get("requests", {}).items())},
            "fetched": {k: int(v) for k, v in sorted(t.get("fetched", {}).items())},
            "not_modified": {k: int(v) for k, v in sorted(t.get("not_modified", {}).items())},
            "scheduled": {k: int(v) for k, v in sorted(t.get("scheduled", {}).items())},
            "skipped": {k: int(v) for k, v in sorted(t.get("skipped", {}).items()) if v},
            "deferred": int(flat.get("deferred", 0)),
            "extracted": int(flat.get("extracted", 0)),
            "indexed": indexed,
            "would_index": int(flat.get("would_index", 0)),     # dry runs (crawler/run/dryrun.py)
            "duplicates": int(flat.get("duplicates", 0)),
            "errors": {k: int(v) for k, v in sorted(t.get("errors", {}).items()) if v},
            "bytes": int(flat.get("bytes", 0)),
            "duration_s": round(last - first, 2) if first is not None and last is not None else 0.0,
        }
        status = (outlet_status or {}).get(outlet, {})
        entry["blocked"] = status.get("blocked")
        entry["status"] = _status(entry, status)
        per[outlet] = entry
    totals: CrawlTotals = {
        "requests": sum(sum(o["requests"].values()) for o in per.values()),
        "articles_fetched": sum(o["fetched"].get("article", 0) for o in per.values()),
        "indexed_new": sum(o["indexed"]["new"] for o in per.values()),
        "indexed_updated": sum(o["indexed"]["updated"] for o in per.values()),
        # a robots.txt refusal is the site's wish, counted on its own, not as an error
        "errors": sum(v for o in per.values() for k, v in o["errors"].items() if k not in NOT_IN_TOTAL),
        "robots_refused": sum(o["errors"].get("robots", 0) for o in per.values()),
        "bytes": sum(o["bytes"] for o in per.values()),
        "pages_per_s": 0.0,
    }
    duration = max(finished_at - started_at, 1e-9)
    totals["pages_per_s"] = round(sum(sum(o["fetched"].values()) + sum(o["not_modified"].values()) for o in per.values()) / duration, 2)
    return {
        "started_at": _iso(started_at), "finished_at": _iso(finished_at),
        "duration_s": round(finished_at - started_at, 2), "finish_reason": finish_reason,
        "outlets": per, "totals": totals,
    }


def _status(entry: OutletReport, status: dict[str, Any]) -> str:
    if status.get("blocked"):
        return "blocked"
    fetched = sum(entry["fetched"].values()) + sum(entry["not_modified"].values())
    # a refusal by the outlet's own robots.txt is its wish, not a failure (crawler/errors.POLICY)
    failures = {k: v for k, v in entry["errors"].items() if k not in NOT_IN_TOTAL}
    if fetched == 0 and entry["errors"]:
        return "failed"
    if failures:
        return "ok with errors"
    return "ok"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _fmt_counts(counts: dict[str, int]) -> str:
    items = [f"{k} {v}" for k, v in counts.items() if v]
    return ", ".join(items) if items else "0"


def format_report(report: CrawlReport) -> str:
    """The report as text for a terminal: one block per outlet."""
    lines = [f"crawl finished in {report['duration_s']:.1f}s ({report.get('finish_reason') or 'finished'})"]
    for name, o in report["outlets"].items():
        d = o["discovered"]
        lines.append(f"\n{name}: {o['status']}" + (f" — {o['blocked']}" if o.get("blocked") else ""))
        lines.append(f"  discovered   {d['total']} article URLs ({d['new']} new): "
                     + ", ".join(f"{c} {d[c]}" for c in CHANNELS))
        lines.append(f"  requests     {_fmt_counts(o['requests'])}")
        lines.append(f"  fetched      {_fmt_counts(o['fetched'])}")
        lines.append(f"  not modified {_fmt_counts(o['not_modified'])}")
        skipped = dict(o["skipped"])
        if o["deferred"]:
            skipped["deferred to next crawl"] = o["deferred"]
        lines.append(f"  not fetched  {_fmt_counts(skipped)}")
        if o.get("window"):
            lines.append(f"  window       {_fmt_window(o['window'])}")
        i = o["indexed"]
        if report.get("dry_run"):
            lines.append(f"  extracted    {o['extracted']}; would index {o.get('would_index', 0)} (dry run); "
                         f"duplicates {o['duplicates']}")
        else:
            lines.append(f"  extracted    {o['extracted']}; indexed {i['new']} new, {i['updated']} updated, "
                         f"{i['unchanged']} unchanged; duplicates {o['duplicates']}")
        lines.append(f"  errors       {_fmt_counts({k: v for k, v in o['errors'].items() if k not in NOT_IN_TOTAL})}")
        if o["errors"].get("robots"):
            lines.append(f"  robots.txt   {o['errors']['robots']} URL(s) the site disallows, not fetched")
        lines.append(f"  bytes        {o['bytes']:,}; {o['duration_s']:.1f}s")
        if (o.get("health") or {}).get("consecutive_failures"):
            lines.append(f"  health       {describe(Health.from_state(name, o['health']))}")
    t = report["totals"]
    written = ("nothing written (dry run)" if report.get("dry_run") else
               f"{t['indexed_new']} new and {t['indexed_updated']} updated in the index")
    lines.append(f"\ntotal: {t['requests']} requests, {t['articles_fetched']} articles fetched, "
                 f"{written}, {t['errors']} errors"
                 + (f", {t['robots_refused']} disallowed by robots.txt" if t.get("robots_refused") else "")
                 + f", {t['pages_per_s']} pages/s")
    lines.extend(_index_lines(report))
    if report.get("cpu"):
        lines.append(_cpu_line(report["cpu"], t["articles_fetched"]))
    metrics = report.get("metrics") or {}
    if metrics.get("spooled"):
        lines.append(f"crawl metrics: not written ({metrics.get('error')}); {metrics['spooled']} kept for the next crawl")
    return "\n".join(lines)


def _cpu_line(cpu: CpuReport, articles: int) -> str:
    parts = [f"{name} {seconds:.1f}s" for name, seconds in cpu["steps_s"].items()]
    parts += [f"Scrapy's thread {cpu['reactor_s']:.1f}s", f"other {cpu['other_s']:.1f}s"]
    per = f" ({1000 * cpu['process_s'] / articles:.1f} ms an article)" if articles else ""
    return f"cpu: {cpu['process_s']:.1f}s{per}: " + ", ".join(parts)


def _fmt_window(window: dict[str, Any]) -> str:
    """The sitemap window a crawl applied to an outlet (crawler/discovery/planner.Window.to_dict)."""
    span = f"sitemap entries of the last {window['days']:g} days" if window.get("days") else "every sitemap entry"
    why = "first crawl of the outlet" if window.get("kind") == "first_crawl" else "sitemap_window"
    return f"{span} ({why})"


def _index_lines(report: CrawlReport) -> list[str]:
    """Outages of the cluster during the crawl, and dead letters: said whenever there were any."""
    lines = []
    ix = report.get("index") or {}
    if ix.get("outages") or ix.get("left_in_spool") or ix.get("from_earlier_crawls"):
        text = (f"index: Elasticsearch was unreachable {ix.get('outages', 0)} time(s), {ix.get('unavailable_s', 0):g}s "
                f"in all; {ix.get('waited', 0)} article(s) waited in the spool, {ix.get('written_after_outage', 0)} "
                f"written when it returned")
        if ix.get("from_earlier_crawls"):
            text += f", {ix['from_earlier_crawls']} left by an earlier crawl written first"
        text += (f"; {ix['left_in_spool']} still in the spool: the next crawl writes them first"
                 if ix.get("left_in_spool") else "; nothing left in the spool")
        lines.append(text)
    dead = report.get("dead_letters") or {}
    if dead.get("added") or dead.get("waiting"):
        lines.append(f"dead letters: {dead.get('added', 0)} article(s) refused by Elasticsearch in this crawl, "
                     f"{dead.get('waiting', 0)} waiting in {dead.get('file')}; fix the cause (see each `reason`), "
                     f"then `raqib dead-letters replay`")
    return lines


def write_json(report: dict[str, Any], path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)
