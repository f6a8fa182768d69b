"""The three kinds of source an outlet lists articles in, one class each: section pages
(with their chain of next pages), feeds, and sitemaps (indexes, their children, windows)."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from scrapy import Request
from scrapy.http import TextResponse

from crawler.discovery import DiscoveryError
from crawler.discovery.dates import iso_utc
from crawler.discovery.feeds import feed_links, parse_feed
from crawler.discovery.sections import next_pages, page_links
from crawler.discovery.sitemaps import INDEX, parse_sitemap
from crawler.engine.spider_base import MAX_SITEMAP_DEPTH, NEXT_PAGE, SpiderCore, _links_hash
from pipelines.encoding import decode_html
from pipelines.outlets import Outlet
from pipelines.urls import host_of, safe_url

logger = logging.getLogger("crawler.engine.spider")


class SectionChannel(SpiderCore):
    """Section and home pages: article links, announced feeds, the next page."""

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
        # decoded as article pages are (pipelines.encoding checks the declared charset against
        # the bytes): a listing in windows-1256 served as UTF-8 keeps its Arabic «next» links
        html = decode_html(response.body, response.headers.get("Content-Type")).text
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


class FeedChannel(SpiderCore):
    """RSS and Atom feeds."""

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


class SitemapChannel(SpiderCore):
    """Sitemaps and sitemap indexes, within the sitemap window unless backfilling."""

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
        links = sorted(sitemap.links, key=lambda link: link.lastmod or datetime.min.replace(tzinfo=UTC), reverse=True)
        for link in links:
            yield from self._consider(outlet, link.url, "sitemap", link.lastmod, windowed=not backfill)
        self._save_source(outlet, response, "sitemap", digest, newest=newest)

    def _children(self, outlet: Outlet, children: list, previous: list, depth: int, *, backfill: bool = False) -> Iterator[Request]:
        """Child sitemaps of an index worth a request in this crawl. A normal crawl skips a
        child whose lastmod in the index is unchanged since it was read, or older than the
        sitemap window, or (undated) whose newest entry is; those wait for --backfill."""
        before = {url: lastmod for url, lastmod in previous}
        window = self.windows[outlet.key].seconds
        window_start = iso_utc(datetime.fromtimestamp(self._now - window, UTC)) if window else None
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
            elif fetched and window_start and stored is not None and stored.newest and stored.newest < window_start:
                recent = False
            if not recent:
                self.ostats.inc(outlet.key, "skipped/sitemap_older_than_window")
                if self.ctx.backfill:
                    self._backfill_sitemaps[outlet.key].append(url)
                continue
            yield from self._source(outlet, url, "sitemap", depth=depth + 1)
