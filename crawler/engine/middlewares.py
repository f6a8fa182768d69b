"""Downloader middlewares: where every request is checked before it leaves and every response
is judged before a callback sees it. One job each:

* `HostGuardMiddleware`: a request never leaves its outlet's `domains`, and never reaches a
  private, loopback or link-local address unless the outlet's own home is on one.
* `RobotsMiddleware`: robots.txt per RFC 9309, with Crawl-delay, and its Sitemap: lines kept
  for discovery.
* `PoliteRetryMiddleware`: retries 5xx, 429 and timeouts (the host pause before a retry is
  set by `GuardedHTTPDownloadHandler`, the download handler, when the response arrives).
* `BlockDetectionMiddleware`: 401/403/451 and challenge pages are blocks, never articles;
  after a few in a row the outlet is left alone for the rest of the crawl.

Each refusal is an `IgnoreRequest` subclass, so the spider's errback can count it by kind.
Requests carry `meta["raqib"] = {"outlet": key, "kind": robots|feed|sitemap|section|article, …}`.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy import Request
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached

from crawler.discovery.robots import Robots
from crawler.engine.blocked import BlockedOutlets
from crawler.engine.context import context_of
from crawler.errors import Refused, classify_exception
from crawler.items import RequestInfo, request_info
from crawler.state.store import SourceRecord
from pipelines.backoff import backoff
from pipelines.blocks import GENERIC_BLOCK_MARKERS, find_block_marker
from pipelines.fetchrules import robots_token
from pipelines.urls import safe_url

logger = logging.getLogger(__name__)


class Offsite(Refused):
    kind = "offsite"


class PrivateAddress(Refused):
    kind = "private_address"


class RobotsDisallowed(Refused):
    kind = "robots"


class RobotsUnreachable(Refused):
    """robots.txt could not be read, so the host is treated as disallowed (RFC 9309); `kind`
    is the cause (dns, timeout, connection) or robots_unreachable for a 5xx answer."""

    def __init__(self, message: str, kind: str = "robots_unreachable"):
        super().__init__(message)
        self.kind = kind


class Blocked(Refused):
    """The outlet answered with a block or a challenge page."""
    kind = "blocked"

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class OutletBlocked(Refused):
    """Not sent: the outlet has blocked the crawler during this crawl."""
    kind = "skipped_blocked"


class RetryAfterTooLong(Refused):
    """A 429 or 5xx whose Retry-After is longer than `retry_after_max`."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.kind = "http_429" if status == 429 else "http_5xx"


def _info(request: Request) -> RequestInfo:
    return request_info(request)


def _spider_outlets(crawler) -> dict[str, Any]:
    return getattr(crawler.spider, "outlets", {}) if crawler.spider is not None else {}


def address_allowed(address: str, *, private_ok: bool) -> bool:
    """Whether a connection to this IP address may be made."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return private_ok or ip.is_global


class HostGuardMiddleware:
    """Runs first: nothing below it, not even a robots.txt fetch, may reach a host the
    outlet does not own. Redirects come back through here, so they are checked too.

    Names are resolved with the reactor's (caching) resolver before the check; the download
    resolves again, so a DNS answer that changes in between is not caught: acceptable for
    a crawler of a handful of known outlets, and said here so nobody assumes otherwise.
    """

    def __init__(self, crawler):
        self.crawler = crawler
        self._resolved: dict[str, list[str]] = {}
        self._private_ok: dict[str, bool] = {}

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    async def process_request(self, request: Request, spider=None):
        info = _info(request)
        if info is None:
            raise Offsite(f"{request.url}: a request with no outlet")
        outlet = _spider_outlets(self.crawler).get(info["outlet"])
        if outlet is None:
            raise Offsite(f"{request.url}: unknown outlet {info['outlet']!r}")
        parts = urlparse_cached(request)
        if parts.scheme not in ("http", "https"):
            raise Offsite(f"{request.url}: only http and https are fetched")
        host = (parts.hostname or "").lower()
        if not outlet.allows_host(host):
            raise Offsite(f"{request.url} is outside {outlet.key}'s domains ({', '.join(outlet.domains)})")
        private_ok = await self._outlet_private_ok(outlet)
        for address in await self._addresses(host):
            if not address_allowed(address, private_ok=private_ok):
                raise PrivateAddress(f"{request.url} resolves to {address}, a private or local address; "
                                     f"{outlet.key}'s home is not on one, so it is not fetched")
        return None

    async def _outlet_private_ok(self, outlet) -> bool:
        if outlet.key not in self._private_ok:
            home_host = urlparse_cached(Request(outlet.home)).hostname or ""
            addresses = await self._addresses(home_host)
            self._private_ok[outlet.key] = any(not address_allowed(a, private_ok=False) for a in addresses)
        return self._private_ok[outlet.key]

    async def _addresses(self, host: str) -> list[str]:
        if host in self._resolved:
            return self._resolved[host]
        try:
            ipaddress.ip_address(host.strip("[]"))
            found = [host]
        except ValueError:
            found = await self._resolve(host)
        self._resolved[host] = found
        return found

    async def _resolve(self, host: str) -> list[str]:
        from twisted.internet import reactor

        try:
            # zope interfaces declare methods without `self`, so mypy (without the zope plugin)
            # shifts IReactorCore.resolve's parameters by one
            address = await maybe_deferred_to_future(reactor.resolve(host))  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - the download will fail with a DNS error, counted there
            return []
        return [address]


# How long the rules of a host are used before robots.txt is asked again (RFC 9309 §2.4 allows
# a day; an hour keeps a `raqib crawl --worker` that runs for days close to the site's wishes).
ROBOTS_TTL = 3600.0
ROBOTS_REDIRECTS = 5


class RobotsMiddleware:
    """robots.txt, fetched once per host and crawl through the engine (so the host guard,
    retries and stats apply to it), with a conditional GET against the copy in the crawl state.

    RFC 9309 §2.3.1: 2xx → its rules; 4xx → no rules (everything allowed); 5xx, 429 or
    unreachable → everything disallowed for this crawl.
    """

    PRIORITY = 1000

    def __init__(self, crawler):
        self.crawler = crawler
        self.token = robots_token(crawler.settings.get("USER_AGENT") or "raqib")
        self.max_delay = crawler.settings.getfloat("AUTOTHROTTLE_MAX_DELAY", 60.0)
        self._robots: dict[str, Robots] = {}
        self._read_at: dict[str, float] = {}
        self._pending: dict[str, asyncio.Future] = {}

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    @staticmethod
    def origin(url: str) -> str:
        parts = urlparse_cached(Request(url))
        return f"{parts.scheme}://{parts.netloc}"

    def robots(self, url: str) -> Robots | None:
        """The rules already read for this URL's host (None if not read yet)."""
        return self._robots.get(self.origin(url))

    async def process_request(self, request: Request, spider=None):
        if request.meta.get("dont_obey_robotstxt"):
            return None
        robots = await self.fetch(request)
        if not robots.allowed(request.url, self.token):
            if robots.status == "unreachable":
                raise RobotsUnreachable(f"{request.url}: not fetched, robots.txt of the host could not be read "
                                        f"({robots.cause_message}); the host counts as disallowed (RFC 9309)",
                                        robots.cause_kind)
            raise RobotsDisallowed(f"{request.url}: disallowed by robots.txt")
        if robots.crawl_delay(self.token):
            request.meta["autothrottle_dont_adjust_delay"] = True
        return None

    async def fetch(self, request: Request) -> Robots:
        origin = self.origin(request.url)
        if origin in self._robots and time.monotonic() - self._read_at.get(origin, 0.0) > ROBOTS_TTL:
            del self._robots[origin]     # a long-running worker reads it again (conditionally)
        if origin in self._robots:
            return self._robots[origin]
        if origin in self._pending:
            return await asyncio.shield(self._pending[origin])
        future = asyncio.get_running_loop().create_future()
        self._pending[origin] = future
        try:
            robots = await self._download(origin, request)
        except Exception as exc:  # noqa: BLE001 - any failure means "unreachable"
            kind = classify_exception(exc)
            logger.info("robots.txt of %s unreachable (%s: %s): the host is treated as disallowed", origin, kind, exc)
            robots = Robots.disallow_all(cause_kind=kind, cause_message=f"{kind}: {exc}")
        self._robots[origin] = robots
        self._read_at[origin] = time.monotonic()
        self._apply_crawl_delay(request, robots)
        del self._pending[origin]
        future.set_result(robots)
        return robots

    async def _download(self, origin: str, request: Request) -> Robots:
        info = _info(request)
        url = origin + "/robots.txt"
        state = getattr(self.crawler.spider, "state", None)
        stored = state.source(url) if state is not None else None
        headers: dict[str, str] = {}
        if stored is not None and stored.body is not None:
            if stored.etag:
                headers["If-None-Match"] = stored.etag
            if stored.last_modified:
                headers["If-Modified-Since"] = stored.last_modified
        response = await self._get(url, headers, info)
        # RFC 9309 §2.3.1.2: follow at least five redirects (a bare host that sends every
        # request to `www.` sends robots.txt there too); the rules found apply to this host.
        for _ in range(ROBOTS_REDIRECTS):
            location = _header(response, "Location")
            if not (300 <= response.status < 400 and response.status != 304 and location):
                break
            response = await self._get(safe_url(location, response.url), {}, info)
        blocked = response_block_reason(response, _outlet_markers(self.crawler, info.get("outlet")))
        if blocked is not None:
            # A challenge in front of robots.txt is in front of the whole host.
            if info.get("outlet"):
                BlockedOutlets.of(self.crawler).block(info["outlet"], f"{blocked} on {url}")
            return Robots.disallow_all(cause_kind="blocked", cause_message=blocked)
        if response.status == 304 and stored is not None and stored.body is not None:
            return Robots.parse(stored.body)
        if 200 <= response.status < 300:
            if state is not None:

                state.save_source(SourceRecord(
                    url=url, outlet=info.get("outlet") or "", kind="robots",
                    etag=_header(response, "ETag"), last_modified=_header(response, "Last-Modified"),
                    body=bytes(response.body[:512 * 1024]), fetched_at=time.time(), last_status=response.status,
                ))
            return Robots.parse(response.body)
        if 400 <= response.status < 500 and response.status != 429:
            return Robots.allow_all()
        logger.info("robots.txt of %s answered %s: the host is treated as disallowed for this crawl", origin, response.status)
        return Robots.disallow_all(cause_message=f"HTTP {response.status}")

    async def _get(self, url: str, headers: dict[str, str], info: RequestInfo) -> Response:
        robots_request = Request(
            url, headers=headers, priority=self.PRIORITY, callback=NO_CALLBACK, dont_filter=True,
            meta={"dont_obey_robotstxt": True, "handle_httpstatus_all": True,
                  "raqib": {"outlet": info.get("outlet"), "kind": "robots", "channel": None}},
        )
        return await self.crawler.engine.download_async(robots_request)

    def _apply_crawl_delay(self, request: Request, robots: Robots) -> None:
        delay = robots.crawl_delay(self.token)
        if not delay:
            return
        delay = min(delay, self.max_delay)
        host = urlparse_cached(request).hostname or ""
        downloader = self.crawler.engine.downloader
        # A Crawl-delay is a minimum: no random jitter below it (Scrapy's default is ±50%).
        per_slot = downloader.per_slot_settings.setdefault(host, {})
        per_slot["delay"] = max(delay, per_slot.get("delay", 0))
        per_slot["jitter"] = 0.0
        slot = downloader.slots.get(host)
        if slot is not None:
            slot.delay = max(slot.delay, delay)
            slot.jitter = 0.0


class GuardedHTTPDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 download handler with the last look before a request leaves and the
    first look at what comes back. (Downloader middlewares see a request when it enters the
    downloader, long before a polite per-host delay lets it out, and see a response only
    after the next request to the host may already have left.)

    Before: requests of an outlet that blocked the crawler are not sent; at most
    CONCURRENT_REQUESTS_PER_DOMAIN requests are on the wire per host (Scrapy 2.19's downloader
    lets a slot's whole queue out at once when the delay is 0); a paused host is waited for.
    After: a 5xx, 408 or 429 pauses the whole host for the server's Retry-After, or for
    `retry_backoff` doubled per attempt (capped at AutoThrottle's maximum delay); so does a
    timeout or a broken connection.

    In a fleet (crawler/fleet/members.py) the host's delay and its pauses hold for every member: each
    request reserves its moment in Redis, at least the delay after the fleet's previous one.
    """

    def __init__(self, crawler):
        super().__init__(crawler)
        settings = crawler.settings
        self.pauses = HostPauses()
        self.backoff = settings.getfloat("RAQIB_RETRY_BACKOFF", 5.0)
        self.retry_after_max = settings.getfloat("RAQIB_RETRY_AFTER_MAX", 600.0)
        self.max_pause = max(settings.getfloat("AUTOTHROTTLE_MAX_DELAY", 60.0), self.backoff)
        self.pause_codes = {int(c) for c in settings.getlist("RETRY_HTTP_CODES")}
        self.per_host = max(1, settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 1))
        self.delay = settings.getfloat("DOWNLOAD_DELAY", 0.0)
        self._on_the_wire: dict[str, asyncio.Semaphore] = {}

    async def download_request(self, request: Request):
        info = _info(request)
        if info and info.get("kind") != "robots":
            why = BlockedOutlets.of(self._crawler).reason(info["outlet"])
            if why is not None:
                raise OutletBlocked(f"{request.url}: {info['outlet']} blocks the crawler ({why})")
        host = urlparse_cached(request).hostname or ""
        if host not in self._on_the_wire:
            self._on_the_wire[host] = asyncio.Semaphore(self.per_host)
        async with self._on_the_wire[host]:
            wait = self.pauses.remaining(host)
            while wait > 0:          # a pause may grow while we wait: another answer said so
                await asyncio.sleep(wait)
                wait = self.pauses.remaining(host)
            await self._fleet_turn(request, host)
            try:
                response = await super().download_request(request)
            except Exception as exc:
                if classify_exception(exc) in ("timeout", "connection", "truncated"):   # the host is struggling
                    self._pause(host, self._backoff(request))
                raise
            if response.status in self.pause_codes:
                told = retry_after_seconds(response.headers.get("Retry-After"))
                if told is None:
                    self._pause(host, self._backoff(request))
                elif told <= self.retry_after_max:
                    self._pause(host, told)
            return response

    def _fleet(self):
        ctx = context_of(self._crawler)
        return ctx.fleet if ctx is not None else None

    async def _fleet_turn(self, request: Request, host: str) -> None:
        """In a fleet: wait for the host's turn, taken in Redis, with the larger of the
        configured delay and this process's current delay for the host (which includes
        Crawl-delay and AutoThrottle's adjustments)."""
        fleet = self._fleet()
        if fleet is None:
            return
        slot = self._crawler.engine.downloader.slots.get(request.meta.get("download_slot") or host)
        delay = max(self.delay, getattr(slot, "delay", 0.0) or 0.0)
        while (wait := fleet.take_turn(host, delay)) > 0:
            await asyncio.sleep(wait)

    def _pause(self, host: str, seconds: float) -> None:
        self.pauses.pause(host, seconds)
        fleet = self._fleet()
        if fleet is not None:
            try:
                fleet.pause(host, seconds)
            except Exception as exc:  # noqa: BLE001 - this process still pauses
                logger.warning("could not share the pause of %s with the fleet: %s", host, exc)

    def _backoff(self, request) -> float:
        attempt = request.meta.get("retry_times", 0)
        return backoff(attempt, self.backoff, self.max_pause)


def _header(response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def retry_after_seconds(value: bytes | str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class PoliteRetryMiddleware(RetryMiddleware):
    """Scrapy's retries of 5xx, 408, 429 and network failures; the wait before a retry is the
    host pause set by `GuardedHTTPDownloadHandler`. A Retry-After longer than
    `retry_after_max` gives the request up until the next crawl rather than hold the crawl
    open (and does not pause the host: it is the answer about one URL)."""

    def __init__(self, settings):
        super().__init__(settings)
        self.retry_after_max = settings.getfloat("RAQIB_RETRY_AFTER_MAX", 600.0)

    def process_response(self, request, response, spider=None):
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is not None and wait > self.retry_after_max:
            raise RetryAfterTooLong(f"{request.url}: HTTP {response.status} asking to wait {wait:.0f}s (Retry-After), "
                                    f"more than retry_after_max; given up until the next crawl", response.status)
        return super().process_response(request, response)


class HostPauses:
    """Hosts that asked (429, 503 with Retry-After) or showed (5xx, timeouts) that they need a
    rest: no request to them leaves before the pause ends."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def pause(self, host: str, seconds: float) -> None:
        if seconds > 0:
            self._until[host] = max(self._until.get(host, 0.0), time.monotonic() + seconds)

    def remaining(self, host: str) -> float:
        return max(0.0, self._until.get(host, 0.0) - time.monotonic())


_MARKER_SCAN_BYTES = 64 * 1024
BLOCK_THRESHOLD = 3


def block_reason(status: int, body: bytes, content_type: str, markers: tuple[str, ...], *,
                 mitigated: bool = False) -> str | None:
    """Why a response is a block or a challenge rather than content, or None. `mitigated`:
    the CDN said so itself (Cloudflare's `cf-mitigated: challenge` header)."""
    if mitigated:
        return f"challenge page (HTTP {status}, cf-mitigated)"
    if status in (401, 403, 451):
        return f"HTTP {status}"
    if status in (200, 202, 429, 503) and ("html" in content_type or not content_type):
        marker = _find_marker_in_bytes(body[:_MARKER_SCAN_BYTES], markers)
        if marker:
            return f"challenge page (HTTP {status}, contains {marker!r})"
    return None


_GENERIC_BYTES = tuple((m, m.lower().encode("ascii")) for m in GENERIC_BLOCK_MARKERS if m.isascii())


def _find_marker_in_bytes(head: bytes, markers: tuple[str, ...]) -> str | None:
    """find_block_marker on the first bytes of a page, without decoding them: every page
    passes here and decoding then lower-casing 64 KB of Arabic costs more than the search.
    ASCII markers are looked for in the bytes lower-cased (the same matches); the text is
    decoded only when an outlet lists a marker that is not ASCII."""
    if not all(m.isascii() for m in markers) or len(_GENERIC_BYTES) != len(GENERIC_BLOCK_MARKERS):
        return find_block_marker(head.decode("utf-8", errors="ignore"), markers)
    low = head.lower()
    for marker, needle in (*((m, m.lower().encode("ascii")) for m in markers), *_GENERIC_BYTES):
        if needle and needle in low:
            return marker
    return None


def _outlet_markers(crawler, outlet_key: str | None) -> tuple[str, ...]:
    outlet = _spider_outlets(crawler).get(outlet_key) if outlet_key else None
    extra = tuple((outlet.extraction or {}).get("blocked_markers") or ()) if outlet is not None else ()
    return extra


def response_block_reason(response, markers: tuple[str, ...]) -> str | None:
    content_type = (response.headers.get("Content-Type") or b"").decode("latin-1").lower()
    mitigated = (response.headers.get("cf-mitigated") or b"").decode("latin-1").lower() == "challenge"
    return block_reason(response.status, response.body, content_type, markers, mitigated=mitigated)


class BlockDetectionMiddleware:
    """Blocks and challenges never reach a callback as content. `BLOCK_THRESHOLD` blocks in a
    row from one outlet mark it blocked for the rest of the crawl: its queued requests are
    dropped (counted as skipped) instead of hammering a site that has said no."""

    def __init__(self, crawler):
        self.crawler = crawler
        self._in_a_row: dict[str, int] = {}

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request, spider=None):
        info = _info(request)
        if info and info.get("kind") != "robots":
            why = BlockedOutlets.of(self.crawler).reason(info["outlet"])
            if why is not None:
                raise OutletBlocked(f"{request.url}: {info['outlet']} blocks the crawler ({why})")
        return None

    def process_response(self, request, response, spider=None):
        info = _info(request)
        if not info or info.get("kind") == "robots":
            return response
        reason = response_block_reason(response, _outlet_markers(self.crawler, info["outlet"]))
        if reason is None:
            if 200 <= response.status < 400:
                self._in_a_row[info["outlet"]] = 0
            return response
        count = self._in_a_row.get(info["outlet"], 0) + 1
        self._in_a_row[info["outlet"]] = count
        if count >= BLOCK_THRESHOLD:
            BlockedOutlets.of(self.crawler).block(info["outlet"],
                                                  f"{reason} on {count} requests in a row, last {request.url}")
        raise Blocked(f"{request.url}: {reason}", status=response.status)
