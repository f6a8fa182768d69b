"""Progress of a long crawl, per outlet, in the log: every `[crawl] progress_interval`
seconds (default 30s; 0 turns it off), one line for each outlet whose counts moved since the
last line. A crawl shorter than the interval logs none, so short crawls stay quiet.

With `--log-format json` each line carries the counts as fields (`event: crawl_progress`,
`outlet`, `discovered`, `fetched`, `not_modified`, `extracted`, `indexed`, `errors`,
`elapsed_s`), for a log shipper to chart.
"""
from __future__ import annotations

import logging
import time

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import task

from crawler.engine.context import context_of
from crawler.report.stats import PREFIX

log = logging.getLogger("raqib.progress")


def counts(stats: dict, outlet: str) -> dict[str, int]:
    """So-far counts of one outlet from the stats collector's flat dict."""
    prefix = f"{PREFIX}/{outlet}/"

    def total(group: str) -> int:
        start = prefix + group + "/"
        return int(sum(v for k, v in stats.items() if k.startswith(start) and isinstance(v, (int, float))))

    return {
        "discovered": int(stats.get(prefix + "discovered/total", 0)),
        "fetched": total("fetched"),
        "not_modified": total("not_modified"),
        "extracted": int(stats.get(prefix + "extracted", 0)),
        "indexed": int(stats.get(prefix + "indexed/new", 0)) + int(stats.get(prefix + "indexed/updated", 0)),
        "would_index": int(stats.get(prefix + "would_index", 0)),
        "errors": total("errors"),
    }


class ProgressExtension:
    def __init__(self, crawler, interval: float):
        self.crawler = crawler
        self.interval = interval
        self.task = None
        self.started = time.monotonic()
        self.last: dict[str, dict[str, int]] = {}
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        interval = crawler.settings.getfloat("RAQIB_PROGRESS_INTERVAL", 0.0)
        if interval <= 0:
            raise NotConfigured
        return cls(crawler, interval)

    def spider_opened(self, spider=None):
        self.started = time.monotonic()
        self.task = task.LoopingCall(self.report)
        self.task.start(self.interval, now=False)

    def spider_closed(self, spider=None, reason=None):
        if self.task is not None and self.task.running:
            self.task.stop()

    def report(self) -> None:
        ctx = context_of(self.crawler)
        outlets = [o.key for o in ctx.outlets] if ctx is not None else []
        stats = self.crawler.stats.get_stats()
        elapsed = time.monotonic() - self.started
        dry = ctx is not None and ctx.dry_run
        for outlet in outlets:
            now = counts(stats, outlet)
            if now == self.last.get(outlet) or not any(now.values()):
                continue
            self.last[outlet] = now
            written = (f"{now['would_index']} would be indexed" if dry else f"{now['indexed']} indexed")
            log.info("%s: %d discovered, %d fetched, %d not modified, %d extracted, %s, %d errors so far (%.0fs)",
                     outlet, now["discovered"], now["fetched"], now["not_modified"], now["extracted"], written,
                     now["errors"], elapsed,
                     extra={"fields": {"event": "crawl_progress", "outlet": outlet, **now,
                                       "elapsed_s": round(elapsed, 1)}})
