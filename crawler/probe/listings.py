"""Feeds and sitemaps: which exist (configured, linked from home, named in robots.txt, or at
a usual address), what they list, whether it looks current, and what to configure instead of
one that fails."""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urlsplit

from crawler.discovery import DiscoveryError, Link
from crawler.discovery.feeds import Feed, parse_feed
from crawler.discovery.sitemaps import INDEX, Sitemap, parse_sitemap
from crawler.probe.context import Step
from crawler.probe.http import Response, origin_of
from crawler.probe.patterns import suggest_pattern
from crawler.probe.report import ORIGIN_TEXT, Source, age_days, iso
from pipelines.urls import canonicalize, host_of, safe_url

MAX_FEEDS = 4
MAX_SITEMAPS = 4           # top-level sitemaps read ...
MAX_CHILDREN = 2           # ... and children opened per sitemap index (the newest)
STALE_DAYS = 30            # a feed or sitemap whose newest entry is older looks abandoned
# Where feeds and sitemaps usually are, tried only when nothing names one (the crawl itself
# probes /sitemap.xml in that case, and reads no guessed feed: a found one must be configured).
GUESSED_FEEDS = ("/feed/", "/rss", "/rss.xml", "/feed")
GUESSED_SITEMAPS = ("/sitemap.xml", "/sitemap_index.xml", "/wp-sitemap.xml")

Parsed = TypeVar("Parsed", Feed, Sitemap)


class ListingCheck(Step):
    """What feeds and sitemaps share: reading one, and judging what it lists."""

    def _read(self, source: Source, parse: Callable[[bytes, str], Parsed], guessed: bool) \
            -> tuple[Response, Parsed | None] | None:
        """Fetch and parse one feed or sitemap. None: a guessed address with nothing there
        (not reported); otherwise the source is in the report, and the parsed listing is None
        when it failed (the source says why)."""
        response = self.fetch.get(source.url, source.kind)
        if guessed and not response.ok:
            return None
        parsed = None
        if not response.ok:
            self.state.failed_source(source, response)
        else:
            source.status, source.final_url = response.status, response.final_url
            try:
                parsed = parse(response.body, response.final_url)
            except DiscoveryError as exc:
                if guessed:
                    return None
                block = self.state.block(response)
                source.error = f"blocked: {block}" if block else f"the {source.kind} {exc}"
        self.report.sources.append(source)
        self.state.transient_failure(source, response)
        return response, parsed

    def _source_failed(self, source: Source, kind: str, replacement: Source | None) -> None:
        """The finding for a feed or sitemap that gave nothing, with the fix when one is known."""
        if (source.error or "").startswith("blocked"):
            return     # counted with the other blocks
        if "configured" in source.origin and id(source) not in self.state.transient:
            fix = (f"{kind} found at {replacement.url} ({ORIGIN_TEXT[replacement.origin[0]]}): put it in {kind}s "
                   f"instead of {source.url}" if replacement else f"remove {source.url} from {kind}s")
            self.report.add("config", f"configured {kind} {source.url} failed: {source.error}", fix, f"{kind}s")
        elif "home" in source.origin:
            self.report.add("warning", f"home links a feed at {source.url} that failed: {source.error}; each crawl "
                                       "will count it as an error")
        elif "robots.txt" in source.origin:
            self.report.add("warning", f"robots.txt names a sitemap at {source.url} that failed: {source.error}")
        else:
            self.report.add("warning", f"{kind} {source.url} failed: {source.error}")

    def _markup(self, source: Source, problems: list[str]) -> None:
        if problems:
            self.report.add("warning", f"{source.kind} {source.url} is broken XML, read only as far as it goes "
                                       f"({problems[0]})")

    def _judge_listing(self, source: Source, kind: str) -> None:
        """A feed or sitemap that looks abandoned, or lists articles the pattern misses."""
        age = age_days(source.newest, self.now)
        if age is not None and age > STALE_DAYS:
            self.report.add("warning", f"{kind} {source.url}: its newest entry is {age:.0f} days old "
                                       f"({(source.newest or '')[:10]}); it looks abandoned",
                            f"look for a current {kind} on the site" + (f" and replace it in {kind}s" if
                                                                         "configured" in source.origin else ""))
        if source.entries and not source.on_domains:
            example = self.state.source_offsite.get(id(source), "")
            self.report.add("warning", f"{kind} {source.url} lists {source.entries} URLs, none on the outlet's "
                                       f"domains (e.g. {example}); the crawl never leaves them",
                            f"if {host_of(example)} belongs to the outlet, add it to domains", "domains")
        if kind == "feed":
            self._judge_feed_items(source)

    def _judge_feed_items(self, source: Source) -> None:
        """Feed items are articles almost by definition (sitemaps also list sections and
        tags): every item `article_pattern` refuses is reported, since the crawl does not
        fetch it; when most are, with the pattern that takes them."""
        missed = source.on_domains - source.matched
        if not missed:
            return
        refused = self.state.source_unmatched.get(id(source), [])
        message = (f"{missed} of {source.on_domains} items of feed {source.url} do not match article_pattern "
                   f"(the crawl does not fetch them), e.g. {source.unmatched_examples[0]}")
        if source.on_domains < 3 or missed * 2 <= source.on_domains:
            self.report.add("note", message, None, "article_pattern")
            return
        # The shape of the links as a reader sees them: without tracking parameters or AMP wrappers.
        shape = suggest_pattern([canonicalize(u) for u in refused])
        fix = None
        if shape is not None:
            widened = f"{self.outlet.article_pattern.pattern}|{shape['pattern']}"
            fix = (f"{shape['count']} of them look like {shape['examples'][0]}; widen article_pattern to match "
                   f"them too: article_pattern: '{widened}' (alone they match '{shape['pattern']}')")
            if self.report.pattern_suggestion is None:
                self.report.pattern_suggestion = {**shape, "widened": widened}
        self.report.add("warning", message, fix, "article_pattern")


class FeedCheck(ListingCheck):
    """Configured feeds, those home and the sections link, or one at a usual address."""

    def check_feeds(self) -> None:
        configured = [safe_url(u) for u in self.outlet.feeds]
        linked = [u for u in self.state.home_links_feeds if u not in configured]
        wanted = [(u, ["configured"] + (["home"] if u in self.state.home_links_feeds else [])) for u in configured] \
            + [(u, ["home"]) for u in linked]
        read = [s for url, origin in wanted[:MAX_FEEDS] if (s := self._feed(url, origin)) is not None]
        if len(wanted) > MAX_FEEDS:
            self.report.add("note", f"only {MAX_FEEDS} of {len(wanted)} feeds were read")
        # A feed that lists pages of the outlet (whether or not the pattern matches them yet).
        useful = [s for s in read if not s.error and s.on_domains]
        broken = [s for s in read if s.error and "configured" in s.origin and id(s) not in self.state.transient]
        if not useful and (not configured or broken):
            # Nothing usable: look where feeds usually are, to name a replacement.
            home = origin_of(self.report.sources[0].final_url or self.outlet.home)
            for path in GUESSED_FEEDS:
                source = self._feed(home + path, ["guessed"], guessed=True)
                if source is not None and source.on_domains:
                    useful.append(source)
                    break
        replacement = next((s for s in useful if "configured" not in s.origin), None)
        for source in read:
            if source.error:
                self._source_failed(source, "feed", replacement)
        for source in useful:
            if "configured" in source.origin or (broken and source is replacement):
                continue
            if "home" in source.origin:
                why = "the crawl reads it while home links it; "
            else:
                why = "the crawl reads no feed that is neither configured nor linked from home; "
            self.report.add("note", f"feed {source.url} ({ORIGIN_TEXT[source.origin[0]]}) is not in feeds",
                            why + f"add it to feeds: [{source.url}]", "feeds")
        if not wanted and not useful:
            self.report.add("note", "no feed: none configured, none linked from home, none at "
                                    + ", ".join(GUESSED_FEEDS), None, "feeds")

    def _feed(self, url: str, origin: list[str], *, guessed: bool = False) -> Source | None:
        """Read one feed into a Source (None: a guessed address where there is no feed)."""
        source = Source(url, "feed", origin)
        read = self._read(source, parse_feed, guessed)
        if read is None:
            return None
        response, feed = read
        if feed is not None:
            self._markup(source, feed.problems)
            source.format = _feed_format(response.body)
            self.state.collect(source, "feed", feed.links)
            dated = [e.lastmod for e in feed.links if e.lastmod]
            source.newest = iso(max(dated)) if dated else None
            self._judge_listing(source, "feed")
        return source


class SitemapCheck(ListingCheck):
    """Sitemaps robots.txt names or the outlet configures (one level of an index), or one at
    a usual address."""

    def check_sitemaps(self) -> None:
        robots_listed = list(self.report.robots.get("sitemaps") or [])
        configured = [safe_url(u) for u in self.outlet.sitemaps]
        wanted: list[tuple[str, list[str]]] = []
        for url in dict.fromkeys(robots_listed + configured):
            wanted.append((url, [o for o, group in (("configured", configured), ("robots.txt", robots_listed))
                                 if url in group]))
        read = [s for url, origin in wanted[:MAX_SITEMAPS] if (s := self._sitemap(url, origin)) is not None]
        if len(wanted) > MAX_SITEMAPS:
            self.report.add("note", f"only {MAX_SITEMAPS} of {len(wanted)} sitemaps were read")
        useful = [s for s in read if not s.error]
        broken = [s for s in read if s.error and "configured" in s.origin and id(s) not in self.state.transient]
        replacement = None
        if not useful and (not wanted or broken):
            home = origin_of(self.report.sources[0].final_url or self.outlet.home)
            for path in GUESSED_SITEMAPS:
                source = self._sitemap(home + path, ["guessed"], guessed=True)
                if source is not None:
                    replacement = source
                    break
        for source in read:
            if source.error:
                self._source_failed(source, "sitemap", replacement)
        if replacement is not None and not broken:
            how = ("the crawl probes /sitemap.xml by itself while nothing names a sitemap; "
                   if urlsplit(replacement.url).path == "/sitemap.xml" else "the crawl does not look there by itself; ")
            self.report.add("note", f"sitemap at {replacement.url} is not configured",
                            how + f"add it to sitemaps: [{replacement.url}]", "sitemaps")
        if not wanted and replacement is None:
            self.report.add("note", "no sitemap: robots.txt names none, none configured, none at "
                                    + ", ".join(GUESSED_SITEMAPS), None, "sitemaps")
        for source in useful:
            if source.origin == ["robots.txt"]:
                self.report.add("note", f"sitemap {source.url} (robots.txt) is not in sitemaps; the crawl reads "
                                        "robots.txt's Sitemap: lines by itself", None, "sitemaps")

    def _sitemap(self, url: str, origin: list[str], *, guessed: bool = False, parent: str | None = None) -> Source | None:
        """Read one sitemap (and the newest children of an index) into Sources; None: a
        guessed address where there is no sitemap."""
        source = Source(url, "sitemap", origin, parent=parent)
        read = self._read(source, self._parse_sitemap, guessed)
        if read is None:
            return None
        sitemap = read[1]
        if sitemap is None:
            if parent is not None:
                self._source_failed(source, "sitemap", None)
            return source
        self._markup(source, sitemap.problems)
        dated = [link.lastmod for link in sitemap.links if link.lastmod]
        source.newest = iso(max(dated)) if dated else None
        if sitemap.kind == INDEX:
            source.format, source.children, source.entries = "index", len(sitemap.links), len(sitemap.links)
            if parent is None:     # the crawl follows deeper indexes; the probe opens one level
                for child in _newest_children(sitemap.links)[:MAX_CHILDREN]:
                    self._sitemap(child.url, ["index"], parent=url)
            return source
        source.format = "urlset"
        self.state.collect(source, "sitemap", sitemap.links)
        self._judge_listing(source, "sitemap")
        return source

    def _parse_sitemap(self, body: bytes, url: str) -> Sitemap:
        """As the crawl parses one: a .xml.gz file inflates to at most the crawl's limit."""
        return parse_sitemap(body, url, max_bytes=self.options.rules.max_decompressed)


def _newest_children(links: list[Link]) -> list[Link]:
    """The children worth opening: newest lastmod first; undated ones that look like posts."""
    dated = sorted((link for link in links if link.lastmod),
                   key=lambda link: link.lastmod or datetime.min.replace(tzinfo=UTC), reverse=True)
    if dated:
        return dated
    posts = [link for link in links if re.search(r"post|news|article|خبر", link.url, re.I)]
    return posts + [link for link in links if link not in posts]


def _feed_format(body: bytes) -> str:
    head = body.lstrip()[:400].lower()
    if head.startswith((b"{", b"[")):
        return "json"
    if b"<feed" in head:
        return "atom"
    if b"<rdf" in head:
        return "rss1"
    return "rss"
