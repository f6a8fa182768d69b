"""The crawl's fetch rules, read once from `settings.toml`: who raqib says it is, how long it
waits and how much it reads.

Two HTTP stacks apply them: Scrapy in the crawl (crawler/engine/scrapy_config.py turns them into
Scrapy's knobs) and the outlet probe (crawler/probe/), which cannot run inside Scrapy's
once-per-process reactor. Both read them from here, so what `raqib outlets check` says about
an outlet is what the crawl meets there.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import metadata

from pipelines.settings import Settings

SITEMAP_MAX_BYTES = 50 * 1024 * 1024   # the sitemap protocol's own limit, uncompressed
MAX_REDIRECTS = 5
ACCEPT_HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ACCEPT_LANGUAGE = "ar,en;q=0.7"


def version() -> str:
    try:
        return metadata.version("raqib")
    except metadata.PackageNotFoundError:
        return "0"


def user_agent(cfg: Settings) -> str:
    """`raqib/<version> (news monitoring crawler; +<contact>)`: who we are and where to read
    about the crawler (and complain), as webmasters expect."""
    crawl = cfg["crawl"]
    return str(crawl["user_agent"]).replace("{version}", version()).replace("{contact}", str(crawl["contact"]))


def robots_token(ua: str) -> str:
    """The product token robots.txt groups are matched against (RFC 9309 §2.2.1)."""
    return ua.split("/", 1)[0].split()[0].lower() if ua.strip() else "raqib"


@dataclass(frozen=True)
class FetchRules:
    user_agent: str
    timeout: float = 30.0                # one whole exchange: connect, headers, body
    delay: float = 2.0                   # between two requests to one host
    max_delay: float = 60.0              # cap on the delay (robots.txt Crawl-delay, autothrottle)
    max_page_bytes: int = 8 * 1024 * 1024
    max_sitemap_bytes: int = SITEMAP_MAX_BYTES
    max_decompressed: int = 32 * 1024 * 1024   # what a .xml.gz sitemap file may inflate to
    proxy: str = ""                      # http://[user:password@]host:port (`crawl.proxy`)

    @classmethod
    def from_settings(cls, cfg: Settings, *, timeout: float | None = None) -> FetchRules:
        crawl = cfg["crawl"]
        page = int(crawl["max_page_bytes"])
        rules = cls(user_agent=user_agent(cfg), timeout=float(crawl["timeout"]),
                    delay=float(crawl["download_delay"]), max_delay=float(crawl["autothrottle_max_delay"]),
                    max_page_bytes=page, max_sitemap_bytes=max(SITEMAP_MAX_BYTES, page),
                    max_decompressed=int(crawl["max_decompressed_bytes"]), proxy=str(crawl.get("proxy") or ""))
        return rules if timeout is None else replace(rules, timeout=timeout)

    @property
    def token(self) -> str:
        return robots_token(self.user_agent)

    def max_bytes(self, kind: str) -> int:
        """The cap on one body of this kind of source, after Content-Encoding is undone (as
        Scrapy's HttpCompressionMiddleware caps it at the request's download_maxsize)."""
        return self.max_sitemap_bytes if kind == "sitemap" else self.max_page_bytes

    def headers(self) -> dict[str, str]:
        """What every request says besides its User-Agent."""
        return {"Accept": ACCEPT_HTML, "Accept-Language": ACCEPT_LANGUAGE}
