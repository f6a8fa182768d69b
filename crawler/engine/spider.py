"""The one spider: every outlet is crawled by this class, driven by its entry in outlets.yaml.

Per outlet, a crawl:
1. scans `home` (and the configured sections) for article links and pagination, reads the
   feeds the home page links to, and the sitemaps robots.txt lists (robots.txt itself is
   read by `crawler.engine.middlewares.RobotsMiddleware` before the first request to a host);
2. reads the configured feeds and sitemaps (sitemap indexes, gzip, news sitemaps);
3. with `--backfill`, once that is done, walks older monthly sitemaps and numeric ids
   (`backfill:` in the outlet's entry), within `--max-pages`.

Feeds, sitemaps and section pages are fetched with conditional GETs (ETag, Last-Modified),
and a source whose list of links is unchanged is not read further, because servers do not
always honour validators. Whether an article URL is fetched is decided by the planner
(crawler/discovery/planner.py: the article patterns on the raw or canonical link, the sitemap
window, first contact, then the frontier's `crawler.state.store.fetch_reason`: never seen, left
pending by an earlier crawl, failed and worth retrying, or shown with a newer lastmod than
when it was fetched). A page is fetched at the link its source gave, and at its canonical
spelling when that answers 404.

Fetched article pages leave as `FetchedPage` items for the pipelines; everything else is
counted per outlet in the stats (crawler/report/stats.py).
"""
from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime

from scrapy import Request, signals
from scrapy.http import TextResponse

from crawler.discovery.backfill import IdTemplate, sitemap_months
from crawler.discovery.planner import Planner, Window, choose_window
from crawler.engine.blocked import BlockedOutlets, outlet_blocked
from crawler.engine.context import CrawlContext, context_of
from crawler.engine.middlewares import RobotsMiddleware
from crawler.engine.spider_base import (
    _HTML_TYPES,
    ARTICLE_PRIORITY,
    BACKFILL_PRIORITY,
    MAX_SITEMAP_DEPTH,
    SOURCE_PRIORITY,
    _header,
)
from crawler.engine.spider_channels import FeedChannel, SectionChannel, SitemapChannel
from crawler.engine.spider_followup import Failures, Leftovers
from crawler.items import FetchedPage
from crawler.state.store import INDEXED, REJECTED
from pipelines.outlets import Outlet
from pipelines.urls import safe_url

logger = logging.getLogger(__name__)

__all__ = ["ARTICLE_PRIORITY", "BACKFILL_PRIORITY", "MAX_SITEMAP_DEPTH", "SOURCE_PRIORITY", "OutletSpider"]


class OutletSpider(SectionChannel, FeedChannel, SitemapChannel, Failures, Leftovers):
    """One spider for every outlet: the channels read sources (crawler/engine/spider_channels.py),
    Failures and Leftovers handle what goes wrong and what remains (crawler/engine/spider_followup.py),
    the shared request helpers are in crawler/engine/spider_base.py; this class starts each outlet
    and turns article responses into items."""
    name = "raqib"

    def __init__(self, context: CrawlContext, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ctx = context              # the crawler's (crawler/engine/context.py), kept at hand
        self.state = context.state
        self.outlets: dict[str, Outlet] = {o.key: o for o in context.outlets}
        self.blocked_outlets: dict[str, str] = {}
        settings = context.settings
        self.proxy = (settings.get("crawl", "proxy") or "") if settings else ""
        cap = int(settings.get("crawl", "max_articles_per_outlet") or 0) if settings else 0
        limits = [n for n in (context.max_pages, cap or None) if n]
        self.budget: int | None = min(limits) if limits else None
        self._now = time.time()
        self._sources: set[str] = set()
        self._after_home_done: set[str] = set()
        self._pending_done: set[str] = set()
        self._backfill_sitemaps: dict[str, deque[str]] = {k: deque() for k in self.outlets}
        self._idwalk_next: dict[str, int | None] = {}
        self._id_templates = {k: IdTemplate(o.backfill["id_template"]) for k, o in self.outlets.items()
                              if o.backfill.get("id_template")}
        # Which sitemap window applies is decided before this crawl marks anything (crawler/discovery/planner.py).
        self.windows: dict[str, Window] = {k: self._window(o) for k, o in self.outlets.items()}
        self.planners: dict[str, Planner] = {k: self._planner(o) for k, o in self.outlets.items()}

    def _window(self, outlet: Outlet) -> Window:
        settings = self.ctx.settings
        sitemap = float(settings.get("crawl", "sitemap_window") or 0) if settings else 0.0
        first = float(settings.get("crawl", "first_crawl_window") or 0) if settings else 0.0
        return choose_window(outlet, sitemap, first, self.state.outlet(outlet.key) if not self.ctx.worker else {})

    def _planner(self, outlet: Outlet) -> Planner:
        settings = self.ctx.settings
        refetch_after = float(settings.get("crawl", "refetch_after") or 0) if settings else 0.0

        def count(name: str, n: int, key: str = outlet.key) -> None:
            self.ostats.inc(key, name, n)

        return Planner(outlet, self.state, count, window=self.windows[outlet.key], now=self._now,
                       refetch_after=refetch_after, budget=self.budget, id_template=self._id_templates.get(outlet.key))

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        if "context" not in kwargs and context_of(crawler) is not None:
            kwargs["context"] = context_of(crawler)
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._on_idle, signal=signals.spider_idle)
        spider.blocked_outlets = BlockedOutlets.of(crawler).reasons     # the registry's, shared with the middlewares
        crawler.signals.connect(spider._outlet_blocked, signal=outlet_blocked)
        return spider

    async def start(self):
        if self.ctx.worker:
            return              # a worker fetches what coordinators put in the shared frontier
        for outlet in self.outlets.values():
            self.state.save_outlet(outlet.key, last_crawl_at=self._now)
            for request in self._outlet_start(outlet):
                yield request

    def _outlet_start(self, outlet: Outlet) -> Iterator[Request]:
        yield from self._source(outlet, outlet.home, "section", backoff=False, depth=0, home=True)
        for url in outlet.sections:
            yield from self._source(outlet, url, "section", depth=0)
        for url in outlet.feeds:
            yield from self._source(outlet, url, "feed")
        for url in outlet.sitemaps:
            yield from self._source(outlet, url, "sitemap", depth=0)
        if self.ctx.backfill and outlet.backfill.get("sitemap_template"):
            today = datetime.now(UTC).date()
            start = outlet.backfill.get("sitemap_start") or f"{today.year}-{today.month}"
            self._backfill_sitemaps[outlet.key].extend(
                safe_url(u) for u in sitemap_months(outlet.backfill["sitemap_template"], start, today))

    def _after_home(self, outlet: Outlet) -> Iterator[Request]:
        """Sitemaps from robots.txt (read by then, before the home page was requested), or a
        probe of /sitemap.xml when nothing names one."""
        if outlet.key in self._after_home_done:
            return
        self._after_home_done.add(outlet.key)
        robots_mw = self.crawler.get_downloader_middleware(RobotsMiddleware)
        robots = robots_mw.robots(outlet.home) if robots_mw is not None else None
        if robots is not None and robots.status == "unreachable":
            return          # nothing on the host may be fetched in this crawl
        listed = robots.sitemaps(outlet.home) if robots is not None else []
        for url in listed:
            yield from self._source(outlet, url, "sitemap", depth=0)
        if not listed and not outlet.sitemaps:
            probe = RobotsMiddleware.origin(outlet.home) + "/sitemap.xml"
            yield from self._source(outlet, probe, "sitemap", depth=0, probe=True)

    def parse_article(self, response):
        outlet, info = self._outlet(response)
        key = info["key"]
        if info.get("spelling") == "canonical":
            self._served_at(key, response.request.url)
        if response.status == 304:
            rec = self.state.article(key)
            if rec is not None:
                rec.fetched_at = time.time()
                rec.fetched_lastmod = info.get("lastmod") or rec.lastmod
                if rec.doc_id:
                    rec.status = INDEXED
                self.state.save_article(rec)
            return
        content_type = (_header(response, "Content-Type") or "").split(";")[0].strip().lower()
        if content_type and content_type not in _HTML_TYPES and not isinstance(response, TextResponse):
            self.ostats.error(outlet.key, "not_html")
            self.article_failed(key, outlet.key, "not_html", f"not an HTML page ({content_type})", REJECTED)
            return
        headers = {k.decode("latin-1").lower(): v[0].decode("latin-1") for k, v in response.headers.items() if v}
        yield FetchedPage(
            outlet=outlet.key, key=key, url=response.request.meta.get("redirect_urls", [response.url])[0],
            final_url=response.url, status=response.status, headers=headers, body=response.body,
            channel=info.get("channel") or "section",
            fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
            lastmod=info.get("lastmod"), reason=info.get("reason") or "new",
        )

    def _served_at(self, key: str, url: str) -> None:
        """The outlet serves the article at its canonical spelling, not the one its source
        gave: later fetches (a change, a refetch) go there at once."""
        rec = self.state.article(key)
        if rec is not None and rec.url != url:
            rec.url = url
            self.state.save_article(rec)
