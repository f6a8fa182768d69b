"""`raqib outlets check`: a live look at each outlet, before the first crawl and whenever one
goes quiet: what robots.txt allows, which feeds and sitemaps exist, whether `article_pattern`
matches what they list, what a sample article extracts to, and a verdict with the config fix.

`check_outlet(outlet, options) -> OutletReport` is the whole probe; `check_outlets` runs it
for several outlets at once (one thread per outlet: they are different hosts, and within an
outlet requests stay sequential with the crawl's delay). The steps, one class each, share one
`ProbeState` (crawler/probe/context.py): robots.txt, home and sections (`site`), feeds and
sitemaps (`listings`), the pattern (`patterns`), sample articles (`samples`), and here the
verdict.

Plain HTTP (`crawler.probe.http`, on `http.client`), not Scrapy: Scrapy's reactor runs once
per process, and a probe must report what every single request answered, not only what
survived the middlewares. The rules are the crawl's own, imported from where the crawl keeps
them: User-Agent, headers, timeout, delay, redirects and size limits (`pipelines.fetchrules`,
which `crawler.engine.scrapy_config` turns into Scrapy's settings), page decoding
(`pipelines.encoding`), robots.txt (RFC 9309), the address guard and block detection
(`crawler.engine.middlewares`), the feed, sitemap and listing parsers (`crawler.discovery`), and the
extraction, language and tagging of the pipelines, so what the probe says about an outlet is
what the crawl will meet.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from crawler.probe.context import ProbeOptions, ProbeState, Step
from crawler.probe.http import Fetcher
from crawler.probe.listings import FeedCheck, SitemapCheck
from crawler.probe.patterns import PatternCheck
from crawler.probe.report import BLOCKED_ADVICE, FAILING, VERDICTS, OutletReport
from crawler.probe.samples import SampleCheck
from crawler.probe.site import SiteCheck
from pipelines.outlets import Outlet

__all__ = ["FAILING", "VERDICTS", "OutletReport", "ProbeOptions", "check_outlet", "check_outlets"]


class Probe:
    """One outlet's probe: the steps in order, then the verdict."""

    def __init__(self, outlet: Outlet, options: ProbeOptions, fetcher: Fetcher | None = None):
        self.state = ProbeState(outlet, options, fetcher)

    def run(self) -> OutletReport:
        state, report = self.state, self.state.report
        verdict = Verdict(state)
        started = time.monotonic()
        try:
            site = SiteCheck(state)
            if site.check_robots() and site.check_home():
                site.check_sections()
                FeedCheck(state).check_feeds()
                SitemapCheck(state).check_sitemaps()
                PatternCheck(state).check_pattern()
                SampleCheck(state).check_samples()
            verdict.conclude()
        finally:   # a step that raised still leaves a report of what was done
            report.requests = state.fetch.log
            report.duration_s = round(time.monotonic() - started, 2)
            report.channels = verdict.channels()
            if report.robots:
                report.robots["allows"] = verdict.allows()
            report.judge()
        return report


class Verdict(Step):
    """What the steps leave to the end: blocks counted over all requests, TLS, and the summaries."""

    def conclude(self) -> None:
        self.check_blocks()
        for host, why in self.fetch.unverified.items():
            self.report.add("warning", f"the TLS certificate of {host} cannot be verified ({why}); the crawl "
                                       "reads the site anyway, as Scrapy does not verify certificates",
                            "if a browser shows no warning, the server leaves out an intermediate certificate; "
                            "otherwise someone may be intercepting this machine's connections")

    def check_blocks(self) -> None:
        """Blocks met after home (sections, feeds, articles): the crawl gives an outlet up after
        a few in a row, so more than one is a blocked outlet."""
        if any(f.level == "blocked" for f in self.report.findings) or not self.state.blocks:
            return
        url, reason = self.state.blocks[-1]
        blocked_samples = [s for s in self.report.samples if (s.error or "").startswith("blocked")]
        if len(self.state.blocks) >= 2 or (blocked_samples and not any(s.error is None for s in self.report.samples)):
            self.report.add("blocked", f"{len(self.state.blocks)} requests were refused to raqib (last {url}: {reason}); "
                                       "the crawl gives an outlet up after a few in a row", BLOCKED_ADVICE)
        else:
            self.report.add("warning", f"{url} was refused to raqib: {reason}")

    def allows(self) -> dict[str, list[int]]:
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
        if self.state.articles_allowed is not None:
            out["article"] = list(self.state.articles_allowed)
        return out

    def channels(self) -> dict[str, dict[str, int]]:
        """URLs found and matching article_pattern, per channel read and in all."""
        out: dict[str, dict[str, int]] = {}
        all_found: set[str] = set()
        all_matched: set[str] = set()
        for channel in ("home", "section", "feed", "sitemap"):
            matched = set(self.state.matched.get(channel, {}))
            found = matched | set(self.state.unmatched.get(channel, {}))
            if any(s.kind == channel for s in self.report.sources):
                out[channel] = {"urls": len(found), "matched": len(matched)}
            all_found |= found
            all_matched |= matched
        out["total"] = {"urls": len(all_found), "matched": len(all_matched)}
        return out


def check_outlet(outlet: Outlet, options: ProbeOptions) -> OutletReport:
    """Probe one outlet live and judge it; never raises for anything the site does."""
    return Probe(outlet, options).run()


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
