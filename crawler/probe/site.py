"""The outlet's front door: what robots.txt allows raqib, whether home answers and what it
links (articles, feeds), and the configured sections' first pages."""
from __future__ import annotations

from typing import Any

from crawler.discovery.feeds import feed_links
from crawler.discovery.sections import page_links
from crawler.probe.context import TRANSIENT, Step, page_text
from crawler.probe.http import Response, origin_of
from crawler.probe.report import BLOCKED_ADVICE, Source
from pipelines.urls import canonicalize, host_of

MAX_SECTIONS = 4           # configured sections read (first page only)


class SiteCheck(Step):
    """robots.txt, home and sections: where the crawl starts."""

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
            self.state.blocks.append((robots.url, robots.block))
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
        if delay and delay > self.options.rules.delay:
            self.report.add("note", f"robots.txt asks for {delay:g} s between requests (Crawl-delay); the crawl "
                                    f"waits {min(delay, self.options.rules.max_delay):g} s")
        return bool(info["allows_site"])

    def check_home(self) -> bool:
        source = Source(self.outlet.home, "home", ["configured"])
        self.report.sources.append(source)
        if not self.fetch.robots(self.outlet.home).robots.allowed(self.outlet.home, self.fetch.token):
            source.error = "disallowed by robots.txt"
            return True
        response = self.fetch.get(self.outlet.home, "home")
        if not response.ok:
            return self._home_failed(source, response)
        source.status, source.final_url, source.format = response.status, response.final_url, "html"
        if self.state.block(response):
            source.error = f"blocked: {self.state.blocks[-1][1]}"
            self.report.add("blocked", f"home was refused to raqib: {self.state.blocks[-1][1]}", BLOCKED_ADVICE)
            return False
        if response.redirects and canonicalize(response.final_url) != canonicalize(self.outlet.home):
            self.report.add("note", f"home redirects to {response.final_url}",
                            f"set home: {response.final_url} (one request less per crawl)", "home")
        html = page_text(response)
        self.state.collect(source, "home", page_links(html, response.final_url))
        self.state.home_links_feeds = feed_links(html, response.final_url)
        source.feeds_linked = list(self.state.home_links_feeds)
        if source.entries == 0:
            self.report.add("warning", "home has no links at all: it may be built by JavaScript, which the crawl "
                                       "does not run", "configure feeds or sitemaps for this outlet", "feeds")
        return True

    def _home_failed(self, source: Source, response: Response) -> bool:
        """The finding for a home that gave no page; False when nothing else is worth a request."""
        error = self.state.failed_source(source, response)
        if error.startswith("blocked"):
            self.report.add("blocked", f"home was refused to raqib: {error[9:]}", BLOCKED_ADVICE)
            return False
        if response.error == "offsite" and response.redirects:
            target = response.final_url
            self.report.add("config", f"home redirects to {target}, outside the outlet's domains "
                                      f"({', '.join(self.outlet.domains)}); the crawl does not follow it",
                            f"if the outlet moved, set home: {target} and add {host_of(target)} to domains",
                            "home")
            return True
        if response.error in ("robots", "robots_unreachable", "private_address", "offsite", "redirect_loop"):
            self.report.add("config", f"home {self.outlet.home} cannot be read: {error}",
                            "set home to the outlet's front page", "home")
            return True
        if response.error or response.status is None or response.status >= 500 or response.status == 429:
            self.report.add("unreachable", f"home {self.outlet.home} failed: {error}",
                            "check the address and this machine's connection, or try again later")
            return False
        self.report.add("config", f"home {self.outlet.home} answered {error}",
                        "set home to the outlet's front page", "home")
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
                error = self.state.failed_source(source, response)
                level = "warning" if (response.error in TRANSIENT or (response.status or 0) >= 500) \
                    else "config"
                if not error.startswith("blocked"):
                    self.report.add(level, f"section {url} failed: {error}",
                                    "fix or remove it in sections" if level == "config" else None, "sections")
                continue
            source.status, source.final_url, source.format = response.status, response.final_url, "html"
            if self.state.block(response):
                source.error = f"blocked: {self.state.blocks[-1][1]}"
                continue
            html = page_text(response)
            self.state.collect(source, "section", page_links(html, response.final_url))
            for feed in feed_links(html, response.final_url):
                if feed not in self.state.home_links_feeds:
                    self.state.home_links_feeds.append(feed)
            if source.on_domains and not source.matched:
                self.report.add("warning", f"section {url} lists {source.on_domains} links on the domains, none "
                                           "matching article_pattern", None, "sections")
        if len(self.outlet.sections) > MAX_SECTIONS:
            self.report.add("note", f"only the first {MAX_SECTIONS} of {len(self.outlet.sections)} sections were read")

