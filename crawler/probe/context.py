"""What the steps of one outlet's probe share: its options, its HTTP client, the report being
written, and the tally of every URL the sources listed (crawler/probe/check.py runs the steps)."""
from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from crawler.discovery import Link
from crawler.probe.http import MAX_REQUESTS, Fetcher, Response, refusal
from crawler.probe.report import OutletReport, Source
from pipelines.encoding import decode_html
from pipelines.fetchrules import FetchRules
from pipelines.outlets import Outlet
from pipelines.settings import Settings
from pipelines.urls import canonicalize, host_of

if TYPE_CHECKING:
    from pipelines.tagging import Tagger

EXAMPLES = 3
# Failures that say nothing about the config: the same request may work on the next run.
TRANSIENT = ("timeout", "connection", "truncated", "budget", "stopped")


@dataclass
class ProbeOptions:
    rules: FetchRules                  # the crawl's own: User-Agent, timeout, delay, size limits, proxy
    samples: int = 2                   # sample articles to extract
    max_requests: int = MAX_REQUESTS
    tagger: Tagger | None = None       # None: no topics
    stop: threading.Event | None = None   # set: no further request is sent (Ctrl-C)

    @classmethod
    def from_settings(cls, cfg: Settings, *, timeout: float | None = None, samples: int = 2,
                      tagger: Tagger | None = None) -> ProbeOptions:
        """The crawl's politeness and limits, from settings.toml."""
        return cls(FetchRules.from_settings(cfg, timeout=timeout), samples=samples, tagger=tagger)


class ProbeState:
    """One outlet's probe in progress: the report, and per channel what was listed."""

    def __init__(self, outlet: Outlet, options: ProbeOptions, fetcher: Fetcher | None = None):
        self.outlet = outlet
        self.options = options
        self.fetch = fetcher or Fetcher(outlet, options.rules, max_requests=options.max_requests, stop=options.stop)
        self.now = datetime.now(UTC)
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

    def block(self, response: Response) -> str | None:
        """The block `response` is, if it is one (and then it is counted)."""
        if response.error or response.status is None:
            return None
        reason = refusal(response, self.fetch.markers)
        if reason:
            self.blocks.append((response.final_url, reason))
        return reason

    def collect(self, source: Source, channel: str, links: Iterable[Link | str]) -> None:
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

    def failed_source(self, source: Source, response: Response) -> str:
        """Record why `source` gave nothing; returns that reason."""
        source.status = response.status
        source.final_url = response.final_url
        block = self.block(response)
        source.error = f"blocked: {block}" if block else response.describe()
        return source.error

    def transient_failure(self, source: Source, response: Response) -> None:
        if source.error and (response.error in TRANSIENT or (response.status or 0) >= 500):
            self.transient.add(id(source))


class Step:
    """One part of the probe (robots and home, feeds, sitemaps, samples, …), on the shared state."""

    def __init__(self, state: ProbeState):
        self.state = state
        self.outlet = state.outlet
        self.options = state.options
        self.fetch = state.fetch
        self.report = state.report
        self.now = state.now


def page_text(response: Response) -> str:
    """A listing page's text, decoded as the crawl decodes listings and articles
    (pipelines.encoding checks the declared charset against the bytes)."""
    return decode_html(response.body, response.headers.get("content-type")).text
