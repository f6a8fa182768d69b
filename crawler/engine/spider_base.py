"""What every part of the spider shares: requests for sources and articles, the per-outlet
counts, and what is stored about each source (crawler/engine/spider.py composes the parts)."""
from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, cast

import scrapy
from scrapy import Request

from crawler.discovery.backfill import IdTemplate
from crawler.discovery.planner import Fetch, Planner, Window
from crawler.engine.context import CrawlContext
from crawler.items import RequestInfo
from crawler.report.stats import OutletStats
from crawler.state.store import GONE, REJECTED, CrawlState, SourceRecord
from pipelines.outlets import Outlet
from pipelines.urls import host_of, safe_url

logger = logging.getLogger("crawler.engine.spider")     # one logger for the whole spider, as before the split

SOURCE_PRIORITY = 10        # discovery before articles: the frontier fills before it drains
ARTICLE_PRIORITY = 0
BACKFILL_PRIORITY = -10
MAX_SITEMAP_DEPTH = 3       # index → index → urlset is the deepest seen in the wild
IDWALK_BATCH = 50
NEXT_PAGE = "next"          # a section page's stored child that is its next page (the others are its feeds)
PENDING_BATCH = 1000
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def _links_hash(items: Iterable[Any]) -> str:
    return hashlib.sha256("\n".join(sorted(str(i) for i in items)).encode("utf-8")).hexdigest()


def _header(response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


class SpiderCore(scrapy.Spider):
    """The spider's shared state and request helpers; the channels, the failure handling
    and the follow-up work are subclasses combined into crawler.engine.spider.OutletSpider."""

    ctx: CrawlContext
    state: CrawlState
    outlets: dict[str, Outlet]
    blocked_outlets: dict[str, str]
    proxy: str
    budget: int | None
    windows: dict[str, Window]
    planners: dict[str, Planner]
    _now: float
    _sources: set[str]
    _after_home_done: set[str]
    _pending_done: set[str]
    _backfill_sitemaps: dict[str, deque[str]]
    _idwalk_next: dict[str, int | None]
    _id_templates: dict[str, IdTemplate]
    # Defined by the parts OutletSpider combines; named here so each part can reach them.
    parse_section: Callable[..., Any]
    parse_feed: Callable[..., Any]
    parse_sitemap: Callable[..., Any]
    parse_article: Callable[..., Any]
    errback: Callable[..., Any]
    _after_home: Callable[[Outlet], Iterator[Request]]

    @property
    def ostats(self) -> OutletStats:
        return OutletStats(self.crawler.stats)

    def _request(self, outlet: Outlet, url: str, kind: str, callback, *, channel: str | None = None,
                 priority: int = SOURCE_PRIORITY, validators: Any = None, **info: Any) -> Request:
        raqib = cast(RequestInfo, {"outlet": outlet.key, "kind": kind, "channel": channel, **info})
        meta: dict[str, Any] = {"raqib": raqib}
        if self.ctx.fleet is not None and self.ctx.fleet.job:
            raqib["job"] = self.ctx.fleet.job      # crawler/fleet/frontier.py counts the job's articles
        if kind == "sitemap":
            meta["download_maxsize"] = self.crawler.settings.getint("RAQIB_SITEMAP_MAXSIZE")
        if self.proxy:
            meta["proxy"] = self.proxy
        headers = {}
        if validators is not None:
            if validators.etag:
                headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                headers["If-Modified-Since"] = validators.last_modified
        return Request(url, callback=callback, errback=self.errback, meta=meta, headers=headers,
                       priority=priority, dont_filter=True)

    def _source(self, outlet: Outlet, url: str, kind: str, *, conditional: bool = True, backoff: bool = True,
                priority: int = SOURCE_PRIORITY, **info: Any) -> Iterator[Request]:
        """A feed, sitemap or section request, once per crawl, conditional on what we stored."""
        url = safe_url(url)
        if url in self._sources:
            return
        if not outlet.allows_host(host_of(url)):
            self.ostats.error(outlet.key, "offsite")
            logger.info("%s: %s %s is outside the outlet's domains; not fetched", outlet.key, kind, url)
            return
        self._sources.add(url)
        stored = self.state.source(url)
        if backoff and stored is not None and stored.retry_at > self._now:
            self.ostats.inc(outlet.key, "skipped/source_backoff")
            return
        callback = {"feed": self.parse_feed, "sitemap": self.parse_sitemap, "section": self.parse_section}[kind]
        validators = stored if conditional and stored is not None and stored.fetched_at else None
        yield self._request(outlet, url, kind, callback, channel=kind, priority=priority,
                            validators=validators, **info)

    def _has_budget(self, outlet: Outlet) -> bool:
        return self.planners[outlet.key].has_budget()

    def _article_request(self, outlet: Outlet, fetch: Fetch, *, url: str | None = None) -> Request:
        """The request for a planner's decision; `url` instead of the given spelling for the
        fallback to the canonical one."""
        rec = fetch.before
        validators = rec if fetch.reason in ("changed", "refetch") and rec is not None else None
        priority = BACKFILL_PRIORITY if fetch.channel == "idwalk" else ARTICLE_PRIORITY
        spelling = {"fallback": fetch.fallback} if url is None else {"spelling": "canonical"}
        return self._request(outlet, url or fetch.url, "article", self.parse_article, channel=fetch.channel,
                             priority=priority, validators=validators, key=fetch.key, lastmod=fetch.lastmod,
                             reason=fetch.reason, **spelling)

    def _consider(self, outlet: Outlet, url: str, channel: str, lastmod: datetime | None = None, *,
                  windowed: bool = False, trust_pattern: bool = False) -> Iterator[Request]:
        """One article URL a source listed: the planner decides (crawler/discovery/planner.py)."""
        fetch = self.planners[outlet.key].consider(url, channel, lastmod, windowed=windowed, trust_pattern=trust_pattern)
        if fetch is not None:
            yield self._article_request(outlet, fetch)

    def _outlet(self, response) -> tuple[Outlet, dict[str, Any]]:
        info = response.meta["raqib"]
        return self.outlets[info["outlet"]], info

    def _listing_changed(self, response, digest: str | None) -> bool:
        """Whether what a source lists differs from what the last crawl that read it to the
        end stored. The hash is stored only once every link it lists is in the frontier
        (`_save_source` after the links): a crawl killed half-way leaves the source to be
        read again, so its unread links are not hidden behind an "unchanged"."""
        old = self.state.source(response.request.url)
        return old is None or digest is None or old.content_hash != digest

    def _save_source(self, outlet: Outlet, response, kind: str, digest: str | None, *,
                     children: list | None = None, newest: str | None = None) -> bool:
        """Store validators and the hash of what the source lists; True when that changed."""
        url = response.request.url
        old = self.state.source(url)
        changed = old is None or digest is None or old.content_hash != digest
        now = time.time()
        self.state.save_source(SourceRecord(
            url=url, outlet=outlet.key, kind=kind,
            etag=_header(response, "ETag"), last_modified=_header(response, "Last-Modified"),
            content_hash=digest, children=children if children is not None else (old.children if old else []),
            newest=newest, fetched_at=now, changed_at=now if changed else (old.changed_at if old else None),
            last_status=response.status,
        ))
        return changed

    def _not_modified(self, outlet: Outlet, response) -> None:
        old = self.state.source(response.request.url)
        if old is not None:
            old.fetched_at = time.time()
            old.failures, old.retry_at, old.last_status = 0, 0.0, 304
            self.state.save_source(old)

    def _broken_markup(self, outlet: Outlet, url: str, what: str, kind: str, problems: list[str], salvaged: int) -> None:
        """Counted as an error, but what could be read before the damage is still used."""
        self.ostats.error(outlet.key, kind)
        logger.warning("%s: the %s %s is broken XML (%s); %d entries read before the damage are used",
                       outlet.key, what, url, problems[0], salvaged)

    def _source_error(self, outlet: Outlet, url: str, what: str, kind: str, message: str, status: int | None) -> None:
        self.ostats.error(outlet.key, kind)
        logger.warning("%s: %s %s", outlet.key, url, message)
        self.state.source_failed(url, outlet.key, what, status=status, error=message)

    def article_failed(self, key: str, outlet: str, kind: str, message: str, status: str) -> None:
        """Record a failed article in the frontier (also called by the pipelines)."""
        rec = self.state.article(key)
        if rec is None:
            return
        rec.status = status
        rec.attempts += 1
        rec.error = f"{kind}: {message}"[:500]
        rec.fetched_at = time.time()
        if status in (GONE, REJECTED):
            rec.fetched_lastmod = rec.lastmod
        self.state.save_article(rec)
