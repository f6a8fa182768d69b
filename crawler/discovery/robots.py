"""robots.txt (RFC 9309), read with Protego, the parser Scrapy uses."""
from __future__ import annotations

from protego import Protego

from pipelines.urls import safe_url

# RFC 9309 caps what a crawler must read at 500 KiB; the rest is ignored.
MAX_BYTES = 500 * 1024


class Robots:
    """The rules of one host. `Robots.allow_all()` when there is no robots.txt (4xx), and
    `Robots.disallow_all()` while it cannot be read (5xx, network error): RFC 9309 §2.3.1."""

    def __init__(self, text: str, *, status: str = "ok", cause_kind: str = "robots_unreachable",
                 cause_message: str = ""):
        self.status = status
        self.cause_kind, self.cause_message = cause_kind, cause_message   # why it is unreachable
        self._rules = Protego.parse(text)
        self.text = text

    @classmethod
    def parse(cls, body: bytes) -> Robots:
        return cls(body[:MAX_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff"))

    @classmethod
    def allow_all(cls) -> Robots:
        return cls("", status="missing")

    @classmethod
    def disallow_all(cls, *, cause_kind: str = "robots_unreachable", cause_message: str = "") -> Robots:
        return cls("User-agent: *\nDisallow: /\n", status="unreachable", cause_kind=cause_kind,
                   cause_message=cause_message)

    def allowed(self, url: str, user_agent: str) -> bool:
        return self._rules.can_fetch(url, user_agent)

    def crawl_delay(self, user_agent: str) -> float | None:
        delay = self._rules.crawl_delay(user_agent)
        return float(delay) if delay is not None else None

    def sitemaps(self, base_url: str) -> list[str]:
        found: list[str] = []
        for url in self._rules.sitemaps:
            url = safe_url(url, base_url)
            if url.startswith(("http://", "https://")) and url not in found:
                found.append(url)
        return found
