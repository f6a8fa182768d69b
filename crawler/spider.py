"""The one spider: every outlet is crawled by this class, driven by its entry in outlets.yaml.

Per outlet, a crawl:
1. scans `home` (and the configured sections) for article links and pagination, reads the
   feeds the home page links to, and the sitemaps robots.txt lists (robots.txt itself is
   read by `crawler.middlewares.RobotsMiddleware` before the first request to a host);
2. reads the configured feeds and sitemaps (sitemap indexes, gzip, news sitemaps);
3. with `--backfill`, once that is done, walks older monthly sitemaps and numeric ids
   (`backfill:` in the outlet's entry), within `--max-pages`.

Feeds, sitemaps and section pages are fetched with conditional GETs (ETag, Last-Modified),
and a source whose list of links is unchanged is not read further, because servers do not
always honour validators. Whether an article URL is fetched is decided by the planner
(crawler/discovery/planner.py: the article patterns on the raw or canonical link, the sitemap
window, first contact, then the frontier's `crawler.state.fetch_reason`: never seen, left
pending by an earlier crawl, failed and worth retrying, or shown with a newer lastmod than
when it was fetched). A page is fetched at the link its source gave, and at its canonical
spelling when that answers 404.

Fetched article pages leave as `FetchedPage` items for the pipelines; everything else is
counted per outlet in the stats (crawler/stats.py).
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

import scrapy
from scrapy import Request, signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import TextResponse

from crawler.discovery import DiscoveryError
from crawler.discovery.backfill import IdTemplate, id_walk, sitemap_months
from crawler.discovery.dates import iso_utc
from crawler.discovery.feeds import feed_links, parse_feed
from crawler.discovery.planner import Fetch, Planner, Window, choose_window
from crawler.discovery.sections import next_pages, page_links
from crawler.discovery.sitemaps import INDEX, parse_sitemap
from crawler.blocked import BlockedOutlets, outlet_blocked
from crawler.context import CrawlContext, context_of
from crawler.guard import is_storage_fault, stop_crawl
from crawler.items import FetchedPage, RequestInfo, request_info
from crawler.errors import RETRYABLE, classify_failure
from crawler.middlewares import RobotsMiddleware, RobotsUnreachable
from pipelines.outlets import Outlet
from crawler.state import DISALLOWED, FAILED, GONE, INDEXED, REJECTED, SourceRecord
from crawler.stats import OutletStats
from pipelines.urls import host_of, safe_url

logger = logging.getLogger(__name__)

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


class OutletSpider(scrapy.Spider):
    name = "raqib"

    def __init__(self, context: CrawlContext, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ctx = context              # the crawler's (crawler/context.py), kept at hand
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

    @property
    def ostats(self) -> OutletStats:
        return OutletStats(self.crawler.stats)

    # --- requests ------------------------------------------------------------------------
    def _request(self, outlet: Outlet, url: str, kind: str, callback, *, channel: str | None = None,
                 priority: int = SOURCE_PRIORITY, validators: Any = None, **info: Any) -> Request:
        raqib = RequestInfo(outlet=outlet.key, kind=kind, channel=channel, **info)
        meta: dict[str, Any] = {"raqib": raqib}
        if self.ctx.fleet is not None and self.ctx.fleet.job:
            raqib["job"] = self.ctx.fleet.job      # crawler/frontier.py counts the job's articles
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
            today = datetime.now(timezone.utc).date()
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

    # --- callbacks ------------------------------------------------------------------------
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

    def _was_read(self, url: str) -> bool:
        stored = self.state.source(safe_url(url))
        return stored is not None and stored.fetched_at is not None

    def _unread_pages(self, outlet: Outlet, url: str, depth: int) -> Iterator[Request]:
        """Behind an unchanged section page, the first page of its stored chain of next pages
        that no crawl has read to the end (the crawl that read the ones before died): a
        walk through the crawl state, not a request per page."""
        seen = {url}
        while depth < outlet.section_depth:
            stored = self.state.source(safe_url(url))
            url = next((u for u, role in (stored.children if stored is not None else []) if role == NEXT_PAGE), "")
            depth += 1
            if not url or url in seen:
                return
            if not self._was_read(url):
                yield from self._source(outlet, url, "section", depth=depth)
                return
            seen.add(url)

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

    def parse_section(self, response):
        outlet, info = self._outlet(response)
        if info.get("home"):
            yield from self._after_home(outlet)
        depth = int(info.get("depth") or 0)
        if response.status == 304:
            self._not_modified(outlet, response)
            stored = self.state.source(response.request.url)
            for url, role in (stored.children if stored is not None else []):
                if role != NEXT_PAGE:
                    yield from self._source(outlet, url, "feed")
            yield from self._unread_pages(outlet, response.request.url, depth)
            return
        if not isinstance(response, TextResponse):
            self.ostats.error(outlet.key, "not_html")
            self.state.source_failed(response.request.url, outlet.key, "section", status=response.status,
                                     error="not an HTML page")
            return
        html = response.text
        links = page_links(html, response.url)
        articles = [u for u in links if outlet.allows_host(host_of(u)) and outlet.is_article(u)]
        nexts = [u for u in next_pages(html, response.url) if outlet.allows_host(host_of(u))] \
            if depth < outlet.section_depth else []
        feeds = feed_links(html, response.url)
        digest = _links_hash(articles + nexts)
        changed = self._listing_changed(response, digest)
        for feed in feeds:
            yield from self._source(outlet, feed, "feed")
        if changed:
            for url in articles:
                yield from self._consider(outlet, url, "section")
        else:
            self.ostats.inc(outlet.key, "skipped/source_unchanged")
        if changed:
            for url in nexts[:1]:
                yield from self._source(outlet, url, "section", depth=depth + 1)
        else:
            yield from self._unread_pages(outlet, response.request.url, depth)
        # The feeds a page announces and its next page are kept with it: a later 304 still leads to them.
        self._save_source(outlet, response, "section", digest,
                          children=[[feed, None] for feed in feeds] + [[url, NEXT_PAGE] for url in nexts[:1]])

    def parse_feed(self, response):
        outlet, _ = self._outlet(response)
        if response.status == 304:
            self._not_modified(outlet, response)
            return
        try:
            feed = parse_feed(response.body, response.url)
        except DiscoveryError as exc:
            self._source_error(outlet, response.request.url, "feed", "feed_parse", f"the feed {exc}", response.status)
            return
        entries = feed.links
        if feed.problems:
            self._broken_markup(outlet, response.url, "feed", "feed_parse", feed.problems, len(entries))
        digest = _links_hash(f"{e.url} {e.lastmod}" for e in entries)
        if not self._listing_changed(response, digest):
            self._save_source(outlet, response, "feed", digest)
            self.ostats.inc(outlet.key, "skipped/source_unchanged")
            return
        for entry in entries:
            yield from self._consider(outlet, entry.url, "feed", entry.lastmod)
        self._save_source(outlet, response, "feed", digest)

    def parse_sitemap(self, response):
        outlet, info = self._outlet(response)
        backfill = bool(info.get("backfill"))
        depth = int(info.get("depth") or 0)
        if response.status == 304:
            self._not_modified(outlet, response)
            stored = self.state.source(response.request.url)
            if stored is not None and stored.children:
                yield from self._children(outlet, stored.children, stored.children, depth)
            return
        try:
            sitemap = parse_sitemap(response.body, response.url,
                                    max_bytes=self.crawler.settings.getint("RAQIB_MAX_DECOMPRESSED"))
        except DiscoveryError as exc:
            self._source_error(outlet, response.request.url, "sitemap", "sitemap_parse", f"the sitemap {exc}",
                               response.status)
            return
        if sitemap.problems:
            self._broken_markup(outlet, response.url, "sitemap", "sitemap_parse", sitemap.problems, len(sitemap.links))
        if sitemap.kind == INDEX:
            children = [[link.url, iso_utc(link.lastmod)] for link in sitemap.links]
            old = self.state.source(response.request.url)
            self._save_source(outlet, response, "sitemap", _links_hash(map(tuple, children)), children=children)
            if depth >= MAX_SITEMAP_DEPTH:
                logger.info("%s: sitemap index %s nested deeper than %d; not followed", outlet.key, response.url, MAX_SITEMAP_DEPTH)
                return
            yield from self._children(outlet, children, old.children if old else [], depth, backfill=backfill)
            return
        dated = [link.lastmod for link in sitemap.links if link.lastmod is not None]
        newest = iso_utc(max(dated)) if dated else None
        digest = _links_hash(f"{link.url} {link.lastmod}" for link in sitemap.links)
        if not self._listing_changed(response, digest) and not backfill:
            self._save_source(outlet, response, "sitemap", digest, newest=newest)
            self.ostats.inc(outlet.key, "skipped/source_unchanged")
            return
        links = sorted(sitemap.links, key=lambda link: link.lastmod or datetime.min.replace(tzinfo=timezone.utc), reverse=True)
        for link in links:
            yield from self._consider(outlet, link.url, "sitemap", link.lastmod, windowed=not backfill)
        self._save_source(outlet, response, "sitemap", digest, newest=newest)

    def _children(self, outlet: Outlet, children: list, previous: list, depth: int, *, backfill: bool = False) -> Iterator[Request]:
        """Child sitemaps of an index worth a request in this crawl. A normal crawl skips a
        child whose lastmod in the index is unchanged since it was read, or older than the
        sitemap window, or (undated) whose newest entry is; those wait for --backfill."""
        before = {url: lastmod for url, lastmod in previous}
        window = self.windows[outlet.key].seconds
        window_start = iso_utc(datetime.fromtimestamp(self._now - window, timezone.utc)) if window else None
        for url, lastmod in children:
            url = safe_url(url)
            stored = self.state.source(url)
            fetched = stored is not None and stored.fetched_at is not None
            if backfill:
                self._backfill_sitemaps[outlet.key].append(url)
                continue
            recent = True
            if lastmod is not None:
                if window_start and lastmod < window_start:
                    recent = False
                elif fetched and before.get(url) == lastmod:
                    self.ostats.inc(outlet.key, "skipped/sitemap_unchanged")
                    continue
            elif fetched and window_start and stored.newest and stored.newest < window_start:
                recent = False
            if not recent:
                self.ostats.inc(outlet.key, "skipped/sitemap_older_than_window")
                if self.ctx.backfill:
                    self._backfill_sitemaps[outlet.key].append(url)
                continue
            yield from self._source(outlet, url, "sitemap", depth=depth + 1)

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
            fetched_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            lastmod=info.get("lastmod"), reason=info.get("reason") or "new",
        )

    def _served_at(self, key: str, url: str) -> None:
        """The outlet serves the article at its canonical spelling, not the one its source
        gave: later fetches (a change, a refetch) go there at once."""
        rec = self.state.article(key)
        if rec is not None and rec.url != url:
            rec.url = url
            self.state.save_article(rec)

    # --- failures -------------------------------------------------------------------------
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

    # --- when discovery is done: what earlier crawls left, then backfill ------------------
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
