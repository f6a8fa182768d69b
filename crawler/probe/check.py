"""`raqib outlets check`: a live look at each outlet, before the first crawl and whenever one
goes quiet: what robots.txt allows, which feeds and sitemaps exist, whether `article_pattern`
matches what they list, what a sample article extracts to, and a verdict with the config fix.

`check_outlet(outlet, options) -> OutletReport` is the whole probe; `check_outlets` runs it
for several outlets at once (one thread per outlet: they are different hosts, and within an
outlet requests stay sequential with the crawl's delay).

Plain HTTP (`crawler.probe.http`, on `http.client`), not Scrapy: Scrapy's reactor runs once
per process, and a probe must report what every single request answered, not only what
survived the middlewares. The rules are the crawl's own, imported from where the crawl keeps
them: the User-Agent (`crawler.scrapy_config`), robots.txt (RFC 9309), the address guard and
block detection (`crawler.middlewares`), the feed, sitemap and listing parsers
(`crawler.discovery`), and the extraction, language and tagging of the pipelines, so what the
probe says about an outlet is what the crawl will meet.
"""
from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qsl, urlsplit

from crawler.discovery import DiscoveryError, Link
from crawler.discovery.feeds import feed_links, parse_feed
from crawler.discovery.sections import page_links
from crawler.discovery.sitemaps import INDEX, parse_sitemap
from pipelines.outlets import Outlet
from crawler.probe.http import Fetcher, Response, origin_of, refusal
from crawler.scrapy_config import SITEMAP_MAX_BYTES
from pipelines.urls import article_identity, canonicalize, host_of, safe_url

# Verdicts, least to most severe; the last three make `raqib outlets check` exit non-zero.
OK, WARNINGS, CONFIG_WRONG, UNREACHABLE, BLOCKED = "ok", "warnings", "config_wrong", "unreachable", "blocked"
VERDICTS = (OK, WARNINGS, CONFIG_WRONG, UNREACHABLE, BLOCKED)
FAILING = frozenset({CONFIG_WRONG, UNREACHABLE, BLOCKED})
# A finding's level decides the verdict it leads to; a note is a suggestion that leaves it ok.
LEVEL_VERDICT = {"note": OK, "warning": WARNINGS, "config": CONFIG_WRONG, "unreachable": UNREACHABLE,
                 "blocked": BLOCKED}

MAX_REQUESTS = 30          # per outlet, redirects and robots.txt included
MAX_SECTIONS = 4           # configured sections read (first page only)
MAX_FEEDS = 4
MAX_SITEMAPS = 4           # top-level sitemaps read ...
MAX_CHILDREN = 2           # ... and children opened per sitemap index (the newest)
EXAMPLES = 3
# Failures that say nothing about the config: the same request may work on the next run.
TRANSIENT = ("timeout", "connection", "truncated", "budget", "stopped")
STALE_DAYS = 30            # a feed or sitemap whose newest entry is older looks abandoned
SHORT_TEXT = 300           # a sample with less text than this was probably cut
MAX_CANDIDATES = 1000      # newest article URLs considered for samples (and checked against robots.txt)
# Where feeds and sitemaps usually are, tried only when nothing names one (the crawl itself
# probes /sitemap.xml in that case, and reads no guessed feed: a found one must be configured).
GUESSED_FEEDS = ("/feed/", "/rss", "/rss.xml", "/feed")
GUESSED_SITEMAPS = ("/sitemap.xml", "/sitemap_index.xml", "/wp-sitemap.xml")

BLOCKED_ADVICE = ("open the home page in a browser on this machine: if it loads there, the site refuses crawlers; "
                  "ask the outlet to allow raqib's User-Agent, or crawl through another network (crawl.proxy in "
                  "settings.toml); meanwhile set enabled: false")
_ORIGIN_TEXT = {"configured": "configured", "home": "linked from home", "robots.txt": "named in robots.txt",
                "guessed": "at a usual address, linked from nowhere", "index": "in a sitemap index"}


@dataclass
class ProbeOptions:
    user_agent: str
    timeout: float = 30.0              # whole exchange of one request (connect, headers, body)
    delay: float = 2.0                 # between two requests to one host
    max_delay: float = 60.0            # cap on robots.txt Crawl-delay
    samples: int = 2                   # sample articles to extract
    max_requests: int = MAX_REQUESTS
    max_page_bytes: int = 8 * 1024 * 1024
    max_sitemap_bytes: int = SITEMAP_MAX_BYTES
    max_decompressed: int = 32 * 1024 * 1024
    proxy: str = ""                    # http://[user:password@]host:port, as the crawl's `crawl.proxy`
    tagger: Callable | None = None     # pipelines.tagging.Tagger; None: no topics
    stop: threading.Event | None = None   # set: no further request is sent (Ctrl-C)

    @classmethod
    def from_settings(cls, cfg, **overrides: Any) -> "ProbeOptions":
        """The crawl's politeness and limits, from settings.toml."""
        from crawler.scrapy_config import user_agent

        crawl = cfg["crawl"]
        values = dict(user_agent=user_agent(cfg), timeout=float(crawl["timeout"]),
                      delay=float(crawl["download_delay"]), max_delay=float(crawl["autothrottle_max_delay"]),
                      max_page_bytes=int(crawl["max_page_bytes"]),
                      max_sitemap_bytes=max(SITEMAP_MAX_BYTES, int(crawl["max_page_bytes"])),
                      max_decompressed=int(crawl["max_decompressed_bytes"]), proxy=crawl.get("proxy") or "")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# --- the report ---------------------------------------------------------------------------------

@dataclass
class Finding:
    level: str                         # note | warning | config | unreachable | blocked
    message: str
    suggestion: str | None = None      # the config change that fixes it, when there is one
    key: str | None = None             # the outlets.yaml key concerned


@dataclass
class Source:
    """One page the probe read to find articles: home, a section, a feed or a sitemap."""
    url: str
    kind: str                          # home | section | feed | sitemap
    origin: list[str]                  # configured, home (linked from), robots.txt, guessed, index
    status: int | None = None
    error: str | None = None           # why it gave nothing (HTTP status, parse error, robots, …)
    final_url: str | None = None
    format: str | None = None          # feeds: rss/atom/json; sitemaps: index/urlset; pages: html
    entries: int = 0                   # links, items or <loc>s read
    on_domains: int = 0                # ... of them on the outlet's domains
    matched: int = 0                   # ... of those matching article_pattern
    newest: str | None = None          # newest item date / lastmod (ISO, UTC)
    children: int = 0                  # sitemap index: child sitemaps listed
    parent: str | None = None          # sitemap child: the index that lists it
    feeds_linked: list[str] = field(default_factory=list)
    matched_examples: list[str] = field(default_factory=list)
    unmatched_examples: list[str] = field(default_factory=list)


@dataclass
class Sample:
    url: str
    channel: str                       # where it was found: home, section, feed, sitemap
    matches_pattern: bool = True
    status: int | None = None
    final_url: str | None = None
    error: str | None = None
    title: str | None = None
    published_at: str | None = None
    date_source: str | None = None
    modified_at: str | None = None
    author: str | None = None
    lang: str | None = None
    lang_prob: float | None = None
    declared_lang: str | None = None
    text_chars: int = 0
    words: int = 0
    topics: list[str] = field(default_factory=list)
    extraction_method: str | None = None
    canonical_url: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class OutletReport:
    outlet: str
    name: str
    home: str
    verdict: str = OK
    findings: list[Finding] = field(default_factory=list)
    robots: dict[str, Any] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)
    channels: dict[str, dict[str, int]] = field(default_factory=dict)
    pattern_suggestion: dict[str, Any] | None = None
    samples: list[Sample] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0
    checked_at: str = ""

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING

    def add(self, level: str, message: str, suggestion: str | None = None, key: str | None = None) -> None:
        self.findings.append(Finding(level, message, suggestion, key))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _age_days(iso: str | None, now: datetime) -> float | None:
    if not iso:
        return None
    return (now - datetime.fromisoformat(iso.replace("Z", "+00:00"))).total_seconds() / 86400


# --- URL shapes: what a pattern should have matched -------------------------------------------------

def _escape(text: str) -> str:
    """re.escape, minus the escapes a reader of outlets.yaml would trip on (- _ : are literal
    outside a character class)."""
    return re.sub(r"\\([-_:])", r"\1", re.escape(text))


def _segment_shape(segment: str) -> str:
    if not segment:
        return ""
    stem, dot, ext = segment.rpartition(".")
    if dot and stem and ext.lower() in ("html", "htm", "php", "aspx", "asp", "shtml"):
        return _segment_shape(stem) + _escape("." + ext)
    if segment.isdigit():
        return r"\d+"
    m = re.fullmatch(r"\d+([-_])[^/]+", segment)
    if m:
        return r"\d+" + _escape(m.group(1)) + "[^/]+"
    if len(segment) > 20 or not segment.isascii() or "%" in segment or segment.count("-") >= 2 \
            or segment.count("_") >= 2 or any(c.isdigit() for c in segment):
        return "[^/]+"
    return _escape(segment)


def url_shape(url: str) -> tuple[str, str]:
    """(host without www., regex of path and query) shared by URLs of one kind: numbers become
    \\d+, slugs [^/]+, other path words stay literal."""
    parts = urlsplit(url)
    host = host_of(url)
    host = host[4:] if host.startswith("www.") and host.count(".") >= 2 else host
    if parts.port:
        host += f":{parts.port}"
    segments = parts.path.split("/")
    path = "/".join(_segment_shape(s) for s in segments)
    if path.endswith("/") and path != "/":
        path = path[:-1] + "/?"
    query = ""
    if parts.query:
        pairs = sorted(parse_qsl(parts.query, keep_blank_values=True))
        query = r"\?" + "&".join(_escape(k) + "=" + (r"\d+" if v.isdigit() else "[^&]*") for k, v in pairs)
    return host, path + query


def suggest_pattern(urls: Iterable[str], *, min_count: int = 2) -> dict[str, Any] | None:
    """The most common URL shape among `urls` as an `article_pattern`, with its count and
    examples; None when no shape repeats or the commonest is a fixed address."""
    groups: dict[tuple[str, str], list[str]] = {}
    for url in urls:
        groups.setdefault(url_shape(url), []).append(url)
    ranked = sorted(((k, v) for k, v in groups.items() if "\\d+" in k[1] or "[^/]+" in k[1] or "[^&]*" in k[1]),
                    key=lambda kv: -len(kv[1]))
    if not ranked or len(ranked[0][1]) < min_count:
        return None
    (host, shape), members = ranked[0]
    www = "" if re.fullmatch(r"[\d.]+(:\d+)?|\[.*", host) else r"(www\.)?"    # no www. before an address
    pattern = rf"^https?://{www}{_escape(host)}{shape}$"
    compiled = re.compile(pattern)
    if not all(compiled.search(u) for u in members):   # a shape always matches its own URLs
        return None
    return {"pattern": pattern, "count": len(members), "examples": members[:EXAMPLES]}


# --- the probe ---------------------------------------------------------------------------------------

class _Probe:
    def __init__(self, outlet: Outlet, options: ProbeOptions, fetcher: Fetcher | None = None):
        self.outlet = outlet
        self.options = options
        self.fetch = fetcher or Fetcher(outlet, options)
        self.now = datetime.now(timezone.utc)
        self.report = OutletReport(outlet.key, outlet.name, outlet.home,
                                   checked_at=self.now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        # per channel: canonical URL -> (url, newest date given) of article URLs, and -> url of the others
        self.matched: dict[str, dict[str, tuple[str, datetime | None]]] = {}
        self.unmatched: dict[str, dict[str, str]] = {}
        self.blocks: list[tuple[str, str]] = []          # (url, reason)
        self.home_links_feeds: list[str] = []
        self.source_unmatched: dict[int, list[str]] = {}  # id(source) -> its URLs not matching the pattern
        self.source_offsite: dict[int, str] = {}          # id(source) -> its first URL off the domains
        self.transient: set[int] = set()                  # id(source) of sources that failed for now (5xx, timeout)
        self.articles_allowed: tuple[int, int] | None = None   # (allowed, found) of the article URLs found

    # helpers ---------------------------------------------------------------------------------
    def _block(self, response: Response) -> str | None:
        if response.error or response.status is None:
            return None
        reason = refusal(response, self.fetch.markers)
        if reason:
            self.blocks.append((response.final_url, reason))
        return reason

    def _collect(self, source: Source, channel: str, links: Iterable[Link | str]) -> None:
        """Count what a source lists: on the domains, matching the pattern; keep examples."""
        matched = self.matched.setdefault(channel, {})
        unmatched = self.unmatched.setdefault(channel, {})
        for link in links:
            url, date = (link.url, link.lastmod) if isinstance(link, Link) else (link, None)
            source.entries += 1
            if not self.outlet.allows_host(host_of(url)):
                self.source_offsite.setdefault(id(source), url)
                continue
            source.on_domains += 1
            key = canonicalize(url)
            if self.outlet.is_article(url):
                source.matched += 1
                if len(source.matched_examples) < EXAMPLES:
                    source.matched_examples.append(url)
                old = matched.get(key)
                if old is None or (date and (old[1] is None or date > old[1])):
                    matched[key] = (url, date)
            else:
                if len(source.unmatched_examples) < EXAMPLES:
                    source.unmatched_examples.append(url)
                self.source_unmatched.setdefault(id(source), []).append(url)
                unmatched.setdefault(key, url)

    def _failed_source(self, source: Source, response: Response) -> None:
        source.status = response.status
        source.final_url = response.final_url
        block = self._block(response)
        source.error = f"blocked: {block}" if block else response.describe()

    # steps -------------------------------------------------------------------------------------
    def run(self) -> OutletReport:
        started = time.monotonic()
        try:
            if self.check_robots() and self.check_home():
                self.check_sections()
                self.check_feeds()
                self.check_sitemaps()
                self.check_pattern()
                self.check_samples()
            self.check_blocks()
            for host, why in self.fetch.unverified.items():
                self.report.add("warning", f"the TLS certificate of {host} cannot be verified ({why}); the crawl "
                                           "reads the site anyway, as Scrapy does not verify certificates",
                                "if a browser shows no warning, the server leaves out an intermediate certificate; "
                                "otherwise someone may be intercepting this machine's connections")
        finally:
            self.report.requests = self.fetch.log
            self.report.duration_s = round(time.monotonic() - started, 2)
            self.report.channels = self._channels()
            if self.report.robots:
                self.report.robots["allows"] = self._allows()
            self.report.verdict = max((LEVEL_VERDICT[f.level] for f in self.report.findings),
                                      key=VERDICTS.index, default=OK)
        return self.report

    def check_robots(self) -> bool:
        """robots.txt of home's host; False when nothing may be fetched there."""
        robots = self.fetch.robots(self.outlet.home)
        token = self.fetch.token
        info: dict[str, Any] = {"url": robots.url, "state": robots.state, "status": robots.status,
                                "token": token, "message": robots.message,
                                "sitemaps": robots.robots.sitemaps(self.outlet.home),
                                "crawl_delay": robots.robots.crawl_delay(token),
                                "allows_home": robots.robots.allowed(self.outlet.home, token),
                                "allows_site": robots.robots.allowed(origin_of(self.outlet.home) + "/", token),
                                "disallowed": []}
        self.report.robots = info
        if robots.block and robots.state == "unreachable":
            self.blocks.append((robots.url, robots.block))
            self.report.add("blocked", f"robots.txt was refused to raqib: {robots.block}; nothing else was requested",
                            BLOCKED_ADVICE)
            return False
        if robots.state == "unreachable":
            kind = self.fetch.log[-1].get("error") if self.fetch.log else None
            self.report.add("unreachable", f"robots.txt could not be read ({robots.message}); the crawl treats the "
                                           "host as disallowed until it can (RFC 9309), so nothing else was requested",
                            "check the address in `home` and that this machine reaches the site"
                            if kind in ("dns", "connection", "tls") else "try again later")
            return False
        if robots.block:
            self.report.add("warning", f"robots.txt was refused ({robots.block}); the crawl reads that as no rules, "
                                       "but the site may refuse the pages too")
        if robots.state == "missing":
            self.report.add("note", f"no robots.txt ({robots.message}): everything is allowed, no Sitemap: lines")
        if robots.html:
            self.report.add("note", "robots.txt is an HTML page, not robots rules: the crawl reads it as no rules")
        if not info["allows_site"]:
            self.report.add("blocked", f"robots.txt disallows the whole site for {token} (raqib's User-Agent): the "
                                       "crawl fetches nothing from it",
                            "ask the outlet to allow raqib, or disable the outlet (enabled: false)")
        elif not info["allows_home"]:
            self.report.add("warning", f"robots.txt disallows home for {token}: the crawl cannot scan it for links",
                            "set home to a page robots.txt allows", "home")
        delay = info["crawl_delay"]
        if delay and delay > self.options.delay:
            self.report.add("note", f"robots.txt asks for {delay:g} s between requests (Crawl-delay); the crawl "
                                    f"waits {min(delay, self.options.max_delay):g} s")
        return bool(info["allows_site"])

    def check_home(self) -> bool:
        source = Source(self.outlet.home, "home", ["configured"])
        self.report.sources.append(source)
        if not self.fetch.robots(self.outlet.home).robots.allowed(self.outlet.home, self.fetch.token):
            source.error = "disallowed by robots.txt"
            return True
        response = self.fetch.get(self.outlet.home, "home")
        if not response.ok:
            self._failed_source(source, response)
            if source.error.startswith("blocked"):
                self.report.add("blocked", f"home was refused to raqib: {source.error[9:]}", BLOCKED_ADVICE)
                return False
            if response.error == "offsite" and response.redirects:
                target = response.final_url
                self.report.add("config", f"home redirects to {target}, outside the outlet's domains "
                                          f"({', '.join(self.outlet.domains)}); the crawl does not follow it",
                                f"if the outlet moved, set home: {target} and add {host_of(target)} to domains",
                                "home")
                return True
            if response.error in ("robots", "robots_unreachable", "private_address", "offsite", "redirect_loop"):
                self.report.add("config", f"home {self.outlet.home} cannot be read: {source.error}",
                                "set home to the outlet's front page", "home")
                return True
            if response.error or response.status >= 500 or response.status == 429:
                self.report.add("unreachable", f"home {self.outlet.home} failed: {source.error}",
                                "check the address and this machine's connection, or try again later")
                return False
            self.report.add("config", f"home {self.outlet.home} answered {source.error}",
                            "set home to the outlet's front page", "home")
            return True
        source.status, source.final_url, source.format = response.status, response.final_url, "html"
        if self._block(response):
            source.error = f"blocked: {self.blocks[-1][1]}"
            self.report.add("blocked", f"home was refused to raqib: {self.blocks[-1][1]}", BLOCKED_ADVICE)
            return False
        if response.redirects and canonicalize(response.final_url) != canonicalize(self.outlet.home):
            self.report.add("note", f"home redirects to {response.final_url}",
                            f"set home: {response.final_url} (one request less per crawl)", "home")
        html = _text(response)
        self._collect(source, "home", page_links(html, response.final_url))
        self.home_links_feeds = feed_links(html, response.final_url)
        source.feeds_linked = list(self.home_links_feeds)
        if source.entries == 0:
            self.report.add("warning", "home has no links at all: it may be built by JavaScript, which the crawl "
                                       "does not run", "configure feeds or sitemaps for this outlet", "feeds")
        return True

    def check_sections(self) -> None:
        for url in self.outlet.sections[:MAX_SECTIONS]:
            source = Source(url, "section", ["configured"])
            self.report.sources.append(source)
            response = self.fetch.get(url, "section")
            if response.error in ("robots", "robots_unreachable"):
                source.error = response.message
                self.report.add("warning", f"section {url}: {response.message}; the crawl skips it",
                                "remove it from sections", "sections")
                continue
            if not response.ok:
                self._failed_source(source, response)
                level = "warning" if (response.error in TRANSIENT or (response.status or 0) >= 500) \
                    else "config"
                if not source.error.startswith("blocked"):
                    self.report.add(level, f"section {url} failed: {source.error}",
                                    "fix or remove it in sections" if level == "config" else None, "sections")
                continue
            source.status, source.final_url, source.format = response.status, response.final_url, "html"
            if self._block(response):
                source.error = f"blocked: {self.blocks[-1][1]}"
                continue
            html = _text(response)
            self._collect(source, "section", page_links(html, response.final_url))
            for feed in feed_links(html, response.final_url):
                if feed not in self.home_links_feeds:
                    self.home_links_feeds.append(feed)
            if source.on_domains and not source.matched:
                self.report.add("warning", f"section {url} lists {source.on_domains} links on the domains, none "
                                           "matching article_pattern", None, "sections")
        if len(self.outlet.sections) > MAX_SECTIONS:
            self.report.add("note", f"only the first {MAX_SECTIONS} of {len(self.outlet.sections)} sections were read")

    def check_feeds(self) -> None:
        configured = [safe_url(u) for u in self.outlet.feeds]
        linked = [u for u in self.home_links_feeds if u not in configured]
        wanted = [(u, ["configured"] + (["home"] if u in self.home_links_feeds else [])) for u in configured] \
            + [(u, ["home"]) for u in linked]
        read = [self._feed(url, origin) for url, origin in wanted[:MAX_FEEDS]]
        if len(wanted) > MAX_FEEDS:
            self.report.add("note", f"only {MAX_FEEDS} of {len(wanted)} feeds were read")
        # A feed that lists pages of the outlet (whether or not the pattern matches them yet).
        useful = [s for s in read if not s.error and s.on_domains]
        broken = [s for s in read if s.error and "configured" in s.origin and id(s) not in self.transient]
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
            self.report.add("note", f"feed {source.url} ({_ORIGIN_TEXT[source.origin[0]]}) is not in feeds",
                            why + f"add it to feeds: [{source.url}]", "feeds")
        if not wanted and not useful:
            self.report.add("note", "no feed: none configured, none linked from home, none at "
                                    + ", ".join(GUESSED_FEEDS), None, "feeds")

    def _feed(self, url: str, origin: list[str], *, guessed: bool = False) -> Source | None:
        """Read one feed into a Source (None: a guessed address where there is no feed)."""
        source = Source(url, "feed", origin)
        response = self.fetch.get(url, "feed")
        if guessed and not response.ok:
            return None
        if not response.ok:
            self._failed_source(source, response)
        else:
            source.status, source.final_url = response.status, response.final_url
            try:
                entries, problems = _links_and_problems(parse_feed(response.body, response.final_url))
            except DiscoveryError as exc:
                if guessed:
                    return None
                block = self._block(response)
                source.error = f"blocked: {block}" if block else f"the feed {exc}"
            else:
                self._markup(source, problems)
                source.format = _feed_format(response.body)
                self._collect(source, "feed", entries)
                dated = [e.lastmod for e in entries if e.lastmod]
                source.newest = _iso(max(dated)) if dated else None
                self._judge_listing(source, "feed")
        self.report.sources.append(source)
        if source.error and (response.error in TRANSIENT or (response.status or 0) >= 500):
            self.transient.add(id(source))
        return source

    def _source_failed(self, source: Source, kind: str, replacement: Source | None) -> None:
        """The finding for a feed or sitemap that gave nothing, with the fix when one is known."""
        if (source.error or "").startswith("blocked"):
            return     # counted with the other blocks
        if "configured" in source.origin and id(source) not in self.transient:
            fix = (f"{kind} found at {replacement.url} ({_ORIGIN_TEXT[replacement.origin[0]]}): put it in {kind}s "
                   f"instead of {source.url}" if replacement else f"remove {source.url} from {kind}s")
            self.report.add("config", f"configured {kind} {source.url} failed: {source.error}", fix, f"{kind}s")
        elif "home" in source.origin:
            self.report.add("warning", f"home links a feed at {source.url} that failed: {source.error}; each crawl "
                                       "will count it as an error")
        elif "robots.txt" in source.origin:
            self.report.add("warning", f"robots.txt names a sitemap at {source.url} that failed: {source.error}")
        else:
            self.report.add("warning", f"{kind} {source.url} failed: {source.error}")

    def check_sitemaps(self) -> None:
        robots_listed = list(self.report.robots.get("sitemaps") or [])
        configured = [safe_url(u) for u in self.outlet.sitemaps]
        wanted: list[tuple[str, list[str]]] = []
        for url in dict.fromkeys(robots_listed + configured):
            wanted.append((url, [o for o, group in (("configured", configured), ("robots.txt", robots_listed))
                                 if url in group]))
        read = [self._sitemap(url, origin) for url, origin in wanted[:MAX_SITEMAPS]]
        if len(wanted) > MAX_SITEMAPS:
            self.report.add("note", f"only {MAX_SITEMAPS} of {len(wanted)} sitemaps were read")
        useful = [s for s in read if s is not None and not s.error]
        broken = [s for s in read if s.error and "configured" in s.origin and id(s) not in self.transient]
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
        response = self.fetch.get(url, "sitemap")
        if guessed and not response.ok:
            return None
        sitemap = None
        if not response.ok:
            self._failed_source(source, response)
        else:
            source.status, source.final_url = response.status, response.final_url
            try:
                sitemap = parse_sitemap(response.body, response.final_url)
            except DiscoveryError as exc:
                if guessed:
                    return None
                block = self._block(response)
                source.error = f"blocked: {block}" if block else f"the sitemap {exc}"
        self.report.sources.append(source)
        if source.error:
            if response.error in TRANSIENT or (response.status or 0) >= 500:
                self.transient.add(id(source))
            if parent is not None:
                self._source_failed(source, "sitemap", None)
            return source
        self._markup(source, getattr(sitemap, "problems", None) or [])
        dated = [link.lastmod for link in sitemap.links if link.lastmod]
        source.newest = _iso(max(dated)) if dated else None
        if sitemap.kind == INDEX:
            source.format, source.children, source.entries = "index", len(sitemap.links), len(sitemap.links)
            if parent is None:     # the crawl follows deeper indexes; the probe opens one level
                for child in _newest_children(sitemap.links)[:MAX_CHILDREN]:
                    self._sitemap(child.url, ["index"], parent=url)
            return source
        source.format = "urlset"
        self._collect(source, "sitemap", sitemap.links)
        self._judge_listing(source, "sitemap")
        return source

    def _markup(self, source: Source, problems: list[str]) -> None:
        if problems:
            self.report.add("warning", f"{source.kind} {source.url} is broken XML, read only as far as it goes "
                                       f"({problems[0]})")

    def _judge_listing(self, source: Source, kind: str) -> None:
        """A feed or sitemap that looks abandoned, or lists articles the pattern misses."""
        age = _age_days(source.newest, self.now)
        if age is not None and age > STALE_DAYS:
            self.report.add("warning", f"{kind} {source.url}: its newest entry is {age:.0f} days old "
                                       f"({source.newest[:10]}); it looks abandoned",
                            f"look for a current {kind} on the site" + (f" and replace it in {kind}s" if
                                                                         "configured" in source.origin else ""))
        if source.entries and not source.on_domains:
            example = self.source_offsite.get(id(source), "")
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
        refused = self.source_unmatched.get(id(source), [])
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

    def check_pattern(self) -> None:
        matched = {k for channel in self.matched.values() for k in channel}
        if matched:
            return
        listed = [canonicalize(u) for channel in ("feed", "sitemap") for u in self.unmatched.get(channel, {}).values()]
        pages = [canonicalize(u) for channel in ("home", "section") for u in self.unmatched.get(channel, {}).values()]
        everything = list(dict.fromkeys(listed + pages))
        if not everything:
            self.report.add("config", "no URL on the outlet's domains was found: home links none, and no feed or "
                                      "sitemap that answered lists any",
                            "check home and domains, and configure a feed or a sitemap (see what answered below)",
                            "domains")
            return
        shape = suggest_pattern(listed) or suggest_pattern(pages, min_count=3)
        self.report.pattern_suggestion = shape
        fix = (f"{shape['count']} of them look like {shape['examples'][0]}: "
               f"article_pattern: '{shape['pattern']}' matches those") if shape else \
            "write article_pattern to match the outlet's article addresses (see the examples)"
        self.report.add("config", f"no URL matched article_pattern; {len(everything)} URLs on the outlet's domains "
                                  f"were found, like {everything[0]}", fix, "article_pattern")

    def _candidates(self) -> list[tuple[str, str, bool]]:
        """Sample candidates: the newest dated article (feed, sitemap), then one from a page,
        alternating; (url, channel, matches_pattern)."""
        dated: list[tuple[datetime, str, str]] = []
        undated: list[tuple[str, str]] = []
        seen: set[str] = set()
        for channel in ("feed", "sitemap", "home", "section"):
            for key, (url, date) in self.matched.get(channel, {}).items():
                if key in seen:
                    continue
                seen.add(key)
                (dated.append((date, url, channel)) if date else undated.append((url, channel)))
        dated.sort(key=lambda d: d[0], reverse=True)
        ordered: list[tuple[str, str, bool]] = []
        a, b = [(u, c, True) for _, u, c in dated], [(u, c, True) for u, c in undated]
        while a or b:
            for queue in (a, b):
                if queue:
                    ordered.append(queue.pop(0))
        if not ordered and self.report.pattern_suggestion:
            # Nothing matches: try one URL of the suggested shape, to show whether it is an article.
            shape = re.compile(self.report.pattern_suggestion["pattern"])
            for channel in ("feed", "sitemap", "home", "section"):
                url = next((u for u in self.unmatched.get(channel, {}).values() if shape.search(canonicalize(u))), None)
                if url:
                    return [(url, channel, False)]
        return ordered[:MAX_CANDIDATES]

    def check_samples(self) -> None:
        wanted = max(0, self.options.samples)
        if not wanted:
            return
        candidates = self._candidates()
        disallowed = {url for url, _, _ in candidates if not self.fetch.allowed(url)}
        if disallowed:
            examples = [url for url, _, _ in candidates if url in disallowed][:EXAMPLES]
            self.report.robots["disallowed"] = examples
            newest = "newest " if len(candidates) == MAX_CANDIDATES else ""
            self.report.add("note", f"{len(disallowed)} of the {len(candidates)} {newest}article URLs found are "
                                    f"disallowed by robots.txt (the crawl skips them), e.g. {examples[0]}")
        found = len(candidates)
        self.articles_allowed = (found - len(disallowed), found)
        candidates = [c for c in candidates if c[0] not in disallowed]
        attempts = wanted + 2
        good = 0
        for url, channel, matches in candidates:
            if good >= wanted or attempts <= 0 or self.fetch.remaining <= 0:
                break
            attempts -= 1
            sample = self._sample(url, channel, matches)
            self.report.samples.append(sample)
            if sample.error is None:
                good += 1
        self._judge_samples(found, len(candidates))

    def _sample(self, url: str, channel: str, matches: bool) -> Sample:
        from pipelines.document import enrich
        from pipelines.extract import ExtractionError, extract_article

        sample = Sample(url, channel, matches)
        response = self.fetch.get(url, "article")
        canonical = canonicalize(url)
        if response.status in (404, 410) and canonical != safe_url(url):
            # as the crawl does (crawler/discovery/planner.Fetch.fallback): the canonical
            # spelling when the outlet does not serve the one its source gave
            response = self.fetch.get(canonical, "article")
        sample.status, sample.final_url = response.status, response.final_url
        block = self._block(response)
        if block:
            sample.error = f"blocked: {block}"
            return sample
        if not response.ok:
            sample.error = response.describe()
            return sample
        try:
            article = extract_article(response.body, response.final_url, outlet=self.outlet, headers=response.headers)
        except ExtractionError as exc:
            sample.error = f"{exc.kind}: {exc.reason}"
            if exc.kind == "blocked":
                self.blocks.append((response.final_url, exc.reason))
                sample.error = f"blocked: {exc.reason}"
            return sample
        except Exception as exc:  # noqa: BLE001 - a page that breaks the extractor must not stop the check
            sample.error = f"extraction failed unexpectedly ({type(exc).__name__}: {exc}); please report this page"
            return sample
        hint = article.get("declared_lang") or self.outlet.language
        doc = enrich({"title": article.get("title"), "text": article.get("text")}, lang_hint=hint,
                     tagger=self.options.tagger)
        sample.title, sample.published_at = article.get("title"), article.get("published_at")
        sample.date_source, sample.modified_at = article.get("date_source"), article.get("modified_at")
        sample.author, sample.declared_lang = article.get("author"), article.get("declared_lang")
        sample.extraction_method, sample.warnings = article.get("extraction_method"), list(article.get("warnings") or [])
        sample.lang, sample.lang_prob = doc.get("lang"), doc.get("lang_prob")
        sample.text_chars, sample.words = len(article.get("text") or ""), int(doc.get("word_count") or 0)
        sample.topics = list(doc.get("topics") or [])
        sample.canonical_url = article_identity(response.final_url, article.get("canonical_url_hint"), self.outlet)
        return sample

    def _judge_samples(self, found: int, allowed: int) -> None:
        samples = self.report.samples
        if not samples:
            if found and not allowed:
                self.report.add("blocked", f"robots.txt disallows all {found} article URLs found: the crawl will "
                                           "index nothing from this outlet")
            elif allowed:
                self.report.add("warning", "no sample article was fetched: the request budget was spent on discovery")
            return
        good = [s for s in samples if s.error is None]
        failed = [s for s in samples if s.error is not None and not s.error.startswith("blocked")]
        content = [s for s in failed if s.error.split(":")[0] in ("no_text", "not_html", "empty", "unparseable")]
        if failed and not good:
            level = "config" if len(content) == len(failed) else "warning"
            fix = ("check that article_pattern matches article pages only, or set extraction.body_selector"
                   if level == "config" else None)
            self.report.add(level, f"no sample article could be extracted: {failed[0].url}: {failed[0].error}", fix,
                            "article_pattern" if level == "config" else None)
        elif failed:
            self.report.add("warning", f"{len(failed)} of {len(samples)} sample articles failed: {failed[0].url}: "
                                       f"{failed[0].error}")
        for s in good:
            if not s.matches_pattern:
                continue
            if s.published_at is None:
                self.report.add("warning", f"no publication date found in {s.url}",
                                "set extraction.date_selector (and date_convention) for this outlet", "extraction")
            if self.outlet.language and s.lang and s.lang != self.outlet.language:
                self.report.add("warning", f"{s.url} reads as {s.lang}, the outlet's language is "
                                           f"{self.outlet.language}", "check language, or the page's text extraction")
            if s.text_chars < SHORT_TEXT:
                self.report.add("warning", f"only {s.text_chars} characters of text extracted from {s.url}",
                                "the body may be cut: check extraction.body_selector", "extraction")
            for w in s.warnings:
                if "selector" in w or "metadata" in w or "JSON" in w:
                    self.report.add("warning", f"{s.url}: {w}", "the page layout may have changed; update the "
                                                                "outlet's extraction hints", "extraction")

    def check_blocks(self) -> None:
        """Blocks met after home (sections, feeds, articles): the crawl gives an outlet up after
        a few in a row, so more than one is a blocked outlet."""
        if any(f.level == "blocked" for f in self.report.findings) or not self.blocks:
            return
        url, reason = self.blocks[-1]
        blocked_samples = [s for s in self.report.samples if (s.error or "").startswith("blocked")]
        if len(self.blocks) >= 2 or (blocked_samples and not any(s.error is None for s in self.report.samples)):
            self.report.add("blocked", f"{len(self.blocks)} requests were refused to raqib (last {url}: {reason}); "
                                       "the crawl gives an outlet up after a few in a row", BLOCKED_ADVICE)
        else:
            self.report.add("warning", f"{url} was refused to raqib: {reason}")

    def _allows(self) -> dict[str, list[int]]:
        """What robots.txt allows raqib, per kind of URL: [allowed, checked]."""
        out: dict[str, list[int]] = {}
        for source in self.report.sources:
            if source.parent is not None:
                continue
            verdict = self.fetch.allowed_as_read(source.url)
            if verdict is not None:
                counts = out.setdefault(source.kind, [0, 0])
                counts[0] += int(verdict)
                counts[1] += 1
        if self.articles_allowed is not None:
            out["article"] = list(self.articles_allowed)
        return out

    def _channels(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        all_found: set[str] = set()
        all_matched: set[str] = set()
        for channel in ("home", "section", "feed", "sitemap"):
            matched = set(self.matched.get(channel, {}))
            found = matched | set(self.unmatched.get(channel, {}))
            if any(s.kind == channel for s in self.report.sources):
                out[channel] = {"urls": len(found), "matched": len(matched)}
            all_found |= found
            all_matched |= matched
        out["total"] = {"urls": len(all_found), "matched": len(all_matched)}
        return out


def _text(response: Response) -> str:
    """A listing page's text, decoded as extraction decodes pages (header, meta, detection)."""
    from pipelines.encoding import decode_html

    return decode_html(response.body, response.headers.get("content-type")).text


def _newest_children(links: list[Link]) -> list[Link]:
    """The children worth opening: newest lastmod first; undated ones that look like posts."""
    dated = sorted((link for link in links if link.lastmod), key=lambda link: link.lastmod, reverse=True)
    if dated:
        return dated
    posts = [link for link in links if re.search(r"post|news|article|خبر", link.url, re.I)]
    return posts + [link for link in links if link not in posts]


def _links_and_problems(parsed) -> tuple[list[Link], list[str]]:
    """parse_feed's result: a list of links, or an object with `links` and `problems`."""
    if isinstance(parsed, list):
        return parsed, []
    return list(parsed.links), list(getattr(parsed, "problems", None) or [])


def _feed_format(body: bytes) -> str:
    head = body.lstrip()[:400].lower()
    if head.startswith((b"{", b"[")):
        return "json"
    if b"<feed" in head:
        return "atom"
    if b"<rdf" in head:
        return "rss1"
    return "rss"


# --- entry points ----------------------------------------------------------------------------------------

def check_outlet(outlet: Outlet, options: ProbeOptions) -> OutletReport:
    """Probe one outlet live and judge it; never raises for anything the site does."""
    return _Probe(outlet, options).run()


def check_outlets(outlets: list[Outlet], options: ProbeOptions, *, workers: int = 8) -> Iterator[OutletReport]:
    """Reports in the order of `outlets`, each as soon as it and those before it are done."""
    if not outlets:
        return
    if options.stop is None:
        options.stop = threading.Event()
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(outlets))), thread_name_prefix="outlets-check") as pool:
        try:
            yield from pool.map(lambda o: check_outlet(o, options), outlets)
        except BaseException:   # Ctrl-C, or the reader stopped: the other outlets send nothing more
            options.stop.set()
            raise
