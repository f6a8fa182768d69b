"""The HTTP client of `raqib outlets check` (crawler/probe/check.py): one outlet's requests,
under the crawl's rules.

Every request passes the crawl's address guard (`crawler.engine.middlewares.address_allowed`: never
outside the outlet's domains, never a private address unless home is on one, and the
connection goes to the address that was checked, not to a second DNS answer), obeys
robots.txt as the crawl reads it (RFC 9309, `crawler.discovery.robots`), waits the crawl's
delay (or a longer Crawl-delay, up to a cap) between requests to a host, and counts against a
per-outlet budget. The exchange itself (crawler/probe/wire.py) is bounded by one timeout, its
body by the crawl's size limits (pipelines/fetchrules.py). Nothing raises: a failure is a `Response` with `error` set to a
kind and a message a person can act on.
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from crawler.discovery.robots import Robots
from crawler.engine.middlewares import address_allowed, block_reason
from crawler.probe.wire import REDIRECTS, Refused, Response, Wire, page_title
from pipelines.fetchrules import MAX_REDIRECTS, FetchRules
from pipelines.outlets import Outlet
from pipelines.urls import host_of, safe_url

__all__ = ["MAX_REDIRECTS", "MAX_REQUESTS", "Fetcher", "Response", "RobotsResult", "origin_of", "refusal"]

MAX_REQUESTS = 30          # per outlet, redirects and robots.txt included


class Fetcher:
    """The probe's HTTP client for one outlet: guard, robots.txt, delay, budget, redirects."""

    def __init__(self, outlet: Outlet, rules: FetchRules, *, max_requests: int = MAX_REQUESTS,
                 stop: threading.Event | None = None, sleep: Callable[[float], None] = time.sleep):
        self.outlet = outlet
        self.rules = rules
        self.max_requests = max_requests
        self.stop = stop
        self.token = rules.token
        self.markers = tuple(outlet.extraction.get("blocked_markers") or ())
        self.log: list[dict[str, Any]] = []
        self.robots_seen: dict[str, RobotsResult] = {}
        self._sleep = sleep
        self._last: dict[str, float] = {}
        self._addresses: dict[str, list[str]] = {}
        self._private_ok: bool | None = None
        self._delay = rules.delay
        self.wire = Wire(rules)

    @property
    def unverified(self) -> dict[str, str]:
        """Hosts whose TLS certificate failed verification, and why."""
        return self.wire.unverified

    @property
    def remaining(self) -> int:
        return self.max_requests - len(self.log)

    # guard ------------------------------------------------------------------------------
    def private_ok(self) -> bool:
        """Private and loopback addresses are reachable only when home itself is on one."""
        if self._private_ok is None:
            home = host_of(self.outlet.home)
            self._private_ok = any(not address_allowed(a, private_ok=False) for a in self._resolve(home))
        return self._private_ok

    def _resolve(self, host: str) -> list[str]:
        if host not in self._addresses:
            try:
                infos = socket.getaddrinfo(host.strip("[]"), None, type=socket.SOCK_STREAM)
                self._addresses[host] = list(dict.fromkeys(str(info[4][0]) for info in infos))
            except (socket.gaierror, UnicodeError, OSError):
                self._addresses[host] = []
        return self._addresses[host]

    def guard(self, url: str) -> str:
        """The address to connect to for `url`; raises Refused when the crawl would not go there."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise Refused("offsite", "only http and https are fetched")
        host = host_of(url)
        if not self.outlet.allows_host(host):
            raise Refused("offsite", f"outside {self.outlet.key}'s domains ({', '.join(self.outlet.domains)}); "
                                      "not fetched")
        addresses = self._resolve(host)
        if not addresses:
            if self.rules.proxy:
                return ""      # the proxy resolves it (as in the crawl, whose guard lets such a name pass)
            raise Refused("dns", f"cannot resolve the host {host} (DNS)")
        for address in addresses:
            if not address_allowed(address, private_ok=self.private_ok()):
                raise Refused("private_address", f"resolves to {address}, a private or local address, and "
                                                  f"{self.outlet.key}'s home is not on one; not fetched")
        return addresses[0]

    # robots.txt -------------------------------------------------------------------------
    def robots(self, url: str) -> RobotsResult:
        origin = origin_of(url)
        if origin not in self.robots_seen:
            response = self.get(origin + "/robots.txt", "robots")
            result = RobotsResult.from_response(response, self.markers)
            self.robots_seen[origin] = result
            delay = result.robots.crawl_delay(self.token)
            if delay:
                self._delay = max(self._delay, min(delay, self.rules.max_delay))
        return self.robots_seen[origin]

    def allowed(self, url: str) -> bool:
        try:
            self.guard(url)
        except Refused:
            return False
        return self.robots(url).robots.allowed(url, self.token)

    def allowed_as_read(self, url: str) -> bool | None:
        """Whether robots.txt allows `url`, from the robots.txt already read (None: not read)."""
        robots = self.robots_seen.get(origin_of(url))
        return None if robots is None else robots.robots.allowed(url, self.token)

    # requests ---------------------------------------------------------------------------
    def get(self, url: str, kind: str) -> Response:
        """GET `url` (a robots, home, section, feed, sitemap or article URL), redirects
        followed; never raises."""
        limit = self.rules.max_bytes(kind)
        current, hops = safe_url(url), list[str]()
        while True:
            try:
                address = self.guard(current)
                if self.stop is not None and self.stop.is_set():
                    raise Refused("stopped", "not fetched, the check was interrupted")
                if self.remaining <= 0:
                    raise Refused("budget", f"not fetched, the probe's budget of {self.max_requests} "
                                             "requests for this outlet is spent")
                if kind != "robots":
                    robots = self.robots(current)
                    if not robots.robots.allowed(current, self.token):
                        if robots.state == "unreachable":
                            raise Refused("robots_unreachable", f"not fetched, robots.txt of the host could not be "
                                                                 f"read ({robots.message}); the crawl treats the host "
                                                                 "as disallowed (RFC 9309)")
                        raise Refused("robots", f"disallowed for {self.token} by robots.txt")
            except Refused as exc:
                where = f"redirected from {hops[-1]} to {current}" if hops else current
                return Response(url, current, error=exc.kind, message=f"{where}: {exc.message}", redirects=hops)
            response = self._exchange(current, address, kind, limit)
            response.url, response.redirects = url, hops
            location = response.headers.get("location")
            if response.status in REDIRECTS and location:
                if len(hops) >= MAX_REDIRECTS:
                    return Response(url, current, status=response.status, error="redirect_loop",
                                    message=f"{url}: more than {MAX_REDIRECTS} redirects (last to {location})",
                                    redirects=hops)
                hops.append(current)
                current = safe_url(location, current)
                continue
            return response

    def _wait(self, host: str) -> None:
        last = self._last.get(host)
        if last is not None:
            pause = last + self._delay - time.monotonic()
            if pause > 0:
                self._sleep(pause)

    def _exchange(self, url: str, address: str, kind: str, limit: int) -> Response:
        """One request on the wire, after the host's delay, in the log."""
        host = host_of(url)
        self._wait(host)
        started = time.monotonic()
        entry: dict[str, Any] = {"url": url, "kind": kind, "status": None, "bytes": 0, "error": None}
        self.log.append(entry)
        try:
            response = self.wire.exchange(url, address, limit)
        finally:
            self._last[host] = time.monotonic()
        entry.update(status=response.status, bytes=len(response.body), error=response.error,
                     seconds=round(time.monotonic() - started, 3))
        return response


@dataclass
class RobotsResult:
    url: str
    state: str                         # ok | missing | unreachable
    robots: Robots
    status: int | None = None
    message: str = ""
    block: str | None = None           # a block or challenge page served as robots.txt
    html: bool = False                 # a 200 that is an HTML page, not robots rules

    @classmethod
    def from_response(cls, response: Response, markers: tuple[str, ...]) -> RobotsResult:
        """RFC 9309 §2.3.1, as the crawl applies it: 2xx its rules, 4xx no rules, anything
        else (5xx, 429, no answer) everything disallowed."""
        url = response.final_url
        if response.error:
            return cls(url, "unreachable", Robots.disallow_all(), None, response.describe())
        block = refusal(response, markers)
        if response.ok:
            html = response.content_type in ("text/html", "application/xhtml+xml") or \
                response.body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))
            return cls(url, "ok", Robots.parse(response.body), response.status, "", block, html)
        if response.status is not None and 400 <= response.status < 500 and response.status != 429:
            return cls(url, "missing", Robots.allow_all(), response.status, response.describe(), block)
        return cls(url, "unreachable", Robots.disallow_all(), response.status, response.describe(), block)


def refusal(response: Response, markers: tuple[str, ...]) -> str | None:
    """The crawl's block detection (`crawler.engine.middlewares.block_reason`), said more fully: a
    403 that is a challenge page is named as one, and the page's title is quoted."""
    if response.status is None:   # no answer: nothing refused
        return None
    content_type = response.headers.get("content-type", "").lower()
    reason = block_reason(response.status, response.body, content_type, markers)
    if reason is None:
        return None
    if reason.startswith("HTTP"):
        challenge = block_reason(200, response.body, content_type, markers)
        if challenge:
            return challenge.replace("HTTP 200", f"HTTP {response.status}")
        title = page_title(response.body) if "html" in content_type else None
        if title:
            return f"{reason} (page title «{title}»)"
    return reason


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
