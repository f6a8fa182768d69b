"""What the spider does besides reading sources: failures (retries at the canonical
spelling, per-kind counts, blocked outlets) and, once the crawl runs dry, what earlier crawls
left and backfill (old sitemaps, numeric ids)."""
from __future__ import annotations

import logging
import time

from scrapy import Request
from scrapy.exceptions import DontCloseSpider

from crawler.discovery.backfill import id_walk
from crawler.discovery.planner import Fetch
from crawler.engine.blocked import BlockedOutlets
from crawler.engine.guard import is_storage_fault, stop_crawl
from crawler.engine.middlewares import RobotsUnreachable
from crawler.engine.spider_base import BACKFILL_PRIORITY, IDWALK_BATCH, PENDING_BATCH, SpiderCore
from crawler.errors import RETRYABLE, classify_failure
from crawler.items import request_info
from crawler.state.store import DISALLOWED, FAILED, GONE, REJECTED
from pipelines.outlets import Outlet

logger = logging.getLogger("crawler.engine.spider")


class Failures(SpiderCore):
    """A failed request: counted by kind, recorded in the frontier; a block stops the outlet."""

    def errback(self, failure):
        if is_storage_fault(failure.value):     # the fleet's Redis failed under a download middleware
            stop_crawl(self.crawler, failure.value)
            return None
        request = failure.request
        info = request_info(request)
        outlet = self.outlets.get(info.get("outlet"))
        if outlet is None:
            return
        kind = classify_failure(failure)
        what = info.get("kind")
        message = str(failure.value) or type(failure.value).__name__
        if what == "article" and kind == "http_404" and info.get("fallback"):
            # The outlet does not serve the spelling its source gave (a feed's tracking
            # parameters it no longer accepts, say): the canonical one is tried, once.
            self.ostats.inc(outlet.key, "scheduled/canonical_fallback")
            fetch = Fetch(url=request.url, key=info["key"], channel=info.get("channel") or "section",
                          lastmod=info.get("lastmod"), reason=info.get("reason") or "new", before=None)
            return [self._article_request(outlet, fetch, url=info["fallback"])]
        if kind == "skipped_blocked":
            self.ostats.inc(outlet.key, "skipped/outlet_blocked")
        elif what == "article" and info.get("channel") == "idwalk" and kind == "http_404":
            self.ostats.inc(outlet.key, "skipped/idwalk_missing")
        elif what == "sitemap" and info.get("probe") and kind in ("http_404", "http_4xx"):
            self.ostats.inc(outlet.key, "skipped/no_sitemap_xml")
        else:
            self.ostats.error(outlet.key, kind)
            logger.debug("%s: %s %s failed: %s: %s", outlet.key, what, request.url, kind, message)
        if what == "article":
            status = (DISALLOWED if kind == "robots" else GONE if kind == "http_404"
                      else FAILED if kind in RETRYABLE else REJECTED)
            if kind != "skipped_blocked":
                self.article_failed(info["key"], outlet.key, kind, message, status)
        elif what in ("feed", "sitemap", "section") and kind not in ("skipped_blocked", "robots", "offsite", "private_address") \
                and not isinstance(failure.value, RobotsUnreachable):
            response = getattr(failure.value, "response", None)
            self.state.source_failed(request.url, outlet.key, what, status=getattr(response, "status", None), error=f"{kind}: {message}")
        if info.get("home"):
            return list(self._after_home(outlet))
        return None

    def mark_blocked(self, outlet: str, reason: str) -> None:
        BlockedOutlets.of(self.crawler).block(outlet, reason)

    def _outlet_blocked(self, outlet: str, reason: str) -> None:
        """crawler/blocked.outlet_blocked: a new block, recorded once."""
        if outlet in self.planners:
            self.planners[outlet].blocked = True
        self.ostats.set(outlet, "blocked", reason)
        self.state.save_outlet(outlet, blocked_at=time.time(), blocked_reason=reason)
        if self.ctx.fleet is not None:
            self.ctx.fleet.block(outlet, reason)      # every member leaves it alone
        logger.warning("%s blocks or challenges the crawler (%s); its remaining requests are dropped for this crawl",
                       outlet, reason)


class Leftovers(SpiderCore):
    """When discovery is done: what earlier crawls left, then backfill."""

    def _pending(self, outlet: Outlet) -> list[Request]:
        """Articles earlier crawls found but did not finish (crawler/discovery/planner.py)."""
        fetches = self.planners[outlet.key].leftovers(self.budget or PENDING_BATCH)
        return [self._article_request(outlet, f) for f in fetches]

    def _on_idle(self, spider=None):
        """Each time the crawl runs dry: first the articles earlier crawls left, then (with
        --backfill) one more old sitemap or a batch of ids per outlet, until the budget is
        spent or nothing is left.

        In a fleet a worker never closes by itself, and a coordinator goes on to the next step
        only once the fleet has finished every article of its crawl."""
        fleet = self.ctx.fleet
        if fleet is not None and fleet.keep_open(self.ctx.worker):
            raise DontCloseSpider
        requests: list[Request] = []
        for outlet in self.outlets.values():
            if outlet.key in self.blocked_outlets:
                continue
            mine: list[Request] = []
            if outlet.key not in self._pending_done:
                self._pending_done.add(outlet.key)
                mine = self._pending(outlet)
            if not mine and self.ctx.backfill and self._has_budget(outlet):
                queue = self._backfill_sitemaps[outlet.key]
                while queue and not mine:
                    url = queue.popleft()
                    if url not in self._sources:
                        mine.extend(self._source(outlet, url, "sitemap", conditional=False, backoff=False,
                                                 priority=BACKFILL_PRIORITY, depth=1, backfill=True))
                if not mine:
                    mine = self._idwalk(outlet)
            requests.extend(mine)
        for request in requests:
            self.crawler.engine.crawl(request)
        if requests:
            raise DontCloseSpider
        if fleet is not None:
            fleet.draining = True     # done: take no more of the fleet's work, close

    def _idwalk(self, outlet: Outlet) -> list[Request]:
        template = self._id_templates.get(outlet.key)
        if template is None:
            return []
        planner = self.planners[outlet.key]
        if outlet.key not in self._idwalk_next:
            planner.numbers |= self.state.numbers(outlet.key)
            self._idwalk_next[outlet.key] = max(planner.numbers) if planner.numbers else None
        top = self._idwalk_next[outlet.key]
        if top is None:
            return []
        room = IDWALK_BATCH if self.budget is None else min(IDWALK_BATCH, self.budget - planner.scheduled)
        ids = id_walk(planner.numbers, int(outlet.backfill.get("id_min", 1)), room, below=top)
        if not ids:
            self._idwalk_next[outlet.key] = None
            return []
        self._idwalk_next[outlet.key] = ids[-1]
        out: list[Request] = []
        for number in ids:
            planner.numbers.add(number)
            out.extend(self._consider(outlet, template.url(number), "idwalk", trust_pattern=True))
        return out
