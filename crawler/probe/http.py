"""The HTTP client of `raqib outlets check` (crawler/probe/check.py): one outlet's requests,
under the crawl's rules.

Every request passes the crawl's address guard (`crawler.middlewares.address_allowed`: never
outside the outlet's domains, never a private address unless home is on one, and the
connection goes to the address that was checked, not to a second DNS answer), obeys
robots.txt as the crawl reads it (RFC 9309, `crawler.discovery.robots`), waits the crawl's
delay (or a longer Crawl-delay, up to a cap) between requests to a host, and counts against a
per-outlet budget. A whole exchange (connect, headers, body) is bounded by one timeout, bodies
by the crawl's size limits. Nothing raises: a failure is a `Response` with `error` set to a
kind and a message a person can act on.
"""
from __future__ import annotations

import base64
import http.client
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

import certifi

from crawler.discovery.robots import Robots
from crawler.middlewares import address_allowed, block_reason
from pipelines.compression import GZIP_OR_ZLIB, RAW_DEFLATE, ZLIB, InflateError, inflate
from pipelines.fetchrules import MAX_REDIRECTS, FetchRules
from pipelines.outlets import Outlet
from pipelines.urls import host_of, safe_url

__all__ = ["MAX_REDIRECTS", "MAX_REQUESTS", "Fetcher", "Response", "RobotsResult", "origin_of", "refusal"]

MAX_REQUESTS = 30          # per outlet, redirects and robots.txt included
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass
class Response:
    url: str
    final_url: str
    status: int | None = None
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)   # lower-case names
    body: bytes = b""
    error: str | None = None           # offsite, private_address, robots, dns, timeout, connection, tls, …
    message: str = ""
    redirects: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def describe(self) -> str:
        if self.error:
            return self.message or self.error
        text = f"HTTP {self.status} {self.reason}".rstrip()
        if not self.ok and "html" in self.content_type:
            title = _page_title(self.body)
            if title:
                text += f" (page title «{title}»)"
        return text


class _Refused(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


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
        self._tls = _tls_context()
        self.unverified: dict[str, str] = {}   # host -> why its TLS certificate failed verification
        self._proxy_auth: dict[str, str] = {}
        proxy = urlsplit(rules.proxy) if rules.proxy else None
        if proxy is not None and proxy.username:
            token = base64.b64encode(f"{proxy.username}:{proxy.password or ''}".encode()).decode()
            self._proxy_auth = {"Proxy-Authorization": f"Basic {token}"}

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
        """The address to connect to for `url`; raises _Refused when the crawl would not go there."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise _Refused("offsite", "only http and https are fetched")
        host = host_of(url)
        if not self.outlet.allows_host(host):
            raise _Refused("offsite", f"outside {self.outlet.key}'s domains ({', '.join(self.outlet.domains)}); "
                                      "not fetched")
        addresses = self._resolve(host)
        if not addresses:
            if self.rules.proxy:
                return ""      # the proxy resolves it (as in the crawl, whose guard lets such a name pass)
            raise _Refused("dns", f"cannot resolve the host {host} (DNS)")
        for address in addresses:
            if not address_allowed(address, private_ok=self.private_ok()):
                raise _Refused("private_address", f"resolves to {address}, a private or local address, and "
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
        except _Refused:
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
                    raise _Refused("stopped", "not fetched, the check was interrupted")
                if self.remaining <= 0:
                    raise _Refused("budget", f"not fetched, the probe's budget of {self.max_requests} "
                                             "requests for this outlet is spent")
                if kind != "robots":
                    robots = self.robots(current)
                    if not robots.robots.allowed(current, self.token):
                        if robots.state == "unreachable":
                            raise _Refused("robots_unreachable", f"not fetched, robots.txt of the host could not be "
                                                                 f"read ({robots.message}); the crawl treats the host "
                                                                 "as disallowed (RFC 9309)")
                        raise _Refused("robots", f"disallowed for {self.token} by robots.txt")
            except _Refused as exc:
                where = f"redirected from {hops[-1]} to {current}" if hops else current
                return Response(url, current, error=exc.kind, message=f"{where}: {exc.message}", redirects=hops)
            response = self._exchange(current, address, kind, limit)
            response.url, response.redirects = url, hops
            location = response.headers.get("location")
            if response.status in _REDIRECTS and location:
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
        parts = urlsplit(url)
        host = host_of(url)
        self._wait(host)
        started = time.monotonic()
        entry: dict[str, Any] = {"url": url, "kind": kind, "status": None, "bytes": 0, "error": None}
        self.log.append(entry)
        response = Response(url, url)
        watchdog: threading.Timer | None = None
        fired = threading.Event()
        conn = None
        try:
            conn = self._connection(parts, address)
            sock = conn.sock

            def expire() -> None:   # the whole exchange, not each read, is bounded
                fired.set()
                try:
                    (conn.sock or sock).shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            watchdog = threading.Timer(self.rules.timeout, expire)
            watchdog.daemon = True
            watchdog.start()
            target = url if (self.rules.proxy and parts.scheme == "http") else (parts.path or "/") + \
                (f"?{parts.query}" if parts.query else "")
            conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", _host_header(parts))
            for name, value in self._headers(parts.scheme).items():
                conn.putheader(name, value)
            conn.endheaders()
            raw = conn.getresponse()
            response.status, response.reason = raw.status, raw.reason
            response.headers = {k.lower(): v for k, v in raw.getheaders()}
            if raw.status in _REDIRECTS:
                raw.close()
            else:
                response.body = self._read(raw, limit, url)
        except Exception as exc:  # noqa: BLE001 - every network failure becomes a reported kind
            if fired.is_set():      # the watchdog cut the connection: whatever broke, it was the time
                response.error, response.message = "timeout", f"no complete answer within {self.rules.timeout:g} s"
            elif isinstance(exc, _Refused):
                response.error, response.message = exc.kind, exc.message
            else:
                response.error, response.message = _classify(exc, url)
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if conn is not None:
                conn.close()
            self._last[host] = time.monotonic()
        entry.update(status=response.status, bytes=len(response.body), error=response.error,
                     seconds=round(time.monotonic() - started, 3))
        return response

    def _connection(self, parts: SplitResult, address: str) -> http.client.HTTPConnection:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        timeout = self.rules.timeout
        conn: http.client.HTTPConnection
        if self.rules.proxy:
            # Through the crawl's proxy: CONNECT for https, the absolute URL for http.
            proxy = urlsplit(self.rules.proxy)
            if not proxy.hostname:
                raise OSError(f"the proxy {self.rules.proxy!r} names no host")
            if parts.scheme == "https":
                conn = http.client.HTTPSConnection(proxy.hostname, proxy.port or 8080, timeout=timeout, context=self._tls)
                conn.set_tunnel(parts.hostname, port, headers=self._proxy_auth)
            else:
                conn = http.client.HTTPConnection(proxy.hostname, proxy.port or 8080, timeout=timeout)
            conn.connect()
            return conn
        # Connect to the address the guard checked, not to whatever a second lookup returns.
        sock = socket.create_connection((address, port), timeout=timeout)
        if parts.scheme == "https":
            host = parts.hostname
            try:
                sock = (_UNVERIFIED if host in self.unverified else self._tls).wrap_socket(sock, server_hostname=host)
            except ssl.SSLCertVerificationError as exc:
                # The crawl reads such a site anyway (Scrapy does not verify certificates), so
                # the probe does too, and says so: a server that omits an intermediate
                # certificate is common, and a browser hides it.
                sock.close()
                self.unverified[host] = exc.verify_message or str(exc)
                sock = _UNVERIFIED.wrap_socket(socket.create_connection((address, port), timeout=timeout),
                                               server_hostname=host)
            except Exception:
                sock.close()
                raise
        conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
        conn.sock = sock
        return conn

    def _headers(self, scheme: str) -> dict[str, str]:
        """The crawl's headers (every kind of source gets the same from Scrapy), and one
        connection per request."""
        headers = {
            "User-Agent": self.rules.user_agent,
            **self.rules.headers(),
            "Accept-Encoding": "gzip, deflate",
            "Connection": "close",
        }
        if self.rules.proxy and scheme == "http":   # https: only the CONNECT carries it
            headers.update(self._proxy_auth)
        return headers

    def _read(self, raw: http.client.HTTPResponse, limit: int, url: str) -> bytes:
        chunks, size = [], 0
        while True:
            chunk = raw.read(64 * 1024)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise _Refused("too_large", f"the answer is larger than {_size(limit)}; the crawl abandons such pages")
            chunks.append(chunk)
        if raw.length:   # fewer bytes than Content-Length promised
            raise _Refused("truncated", f"the connection closed after {_size(size)}, before the end of the answer")
        body = b"".join(chunks)
        encoding = (raw.getheader("Content-Encoding") or "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            # gzip, or deflate as zlib data, or (as some servers send it) deflate without the zlib header
            attempts = (GZIP_OR_ZLIB,) if encoding != "deflate" else (ZLIB, RAW_DEFLATE)
            for i, wbits in enumerate(attempts):
                try:
                    body = inflate(b"".join(chunks), limit, wbits=wbits)
                    break
                except InflateError as exc:
                    if exc.too_large:
                        raise _Refused("too_large", f"the body inflates to more than "
                                                    f"{_size(limit)}") from None
                    if i == len(attempts) - 1:
                        raise _Refused("bad_encoding", f"the {encoding} body cannot be decompressed ({exc})") from None
        return body


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
    """The crawl's block detection (`crawler.middlewares.block_reason`), said more fully: a
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
        title = _page_title(response.body) if "html" in content_type else None
        if title:
            return f"{reason} (page title «{title}»)"
    return reason


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    try:

        context.load_verify_locations(certifi.where())
    except (ImportError, OSError):
        pass
    return context


def _unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_UNVERIFIED = _unverified_context()


def _classify(exc: BaseException, url: str) -> tuple[str, str]:
    host = host_of(url)
    if isinstance(exc, socket.gaierror):
        return "dns", f"cannot resolve the host {host} (DNS)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout", "no answer in time"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tls", f"the TLS certificate of {host} cannot be verified ({exc.verify_message or exc})"
    if isinstance(exc, ssl.SSLError):
        return "tls", f"TLS failed with {host} ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection", f"{host} refused the connection"
    if isinstance(exc, http.client.IncompleteRead):
        return "truncated", "the connection closed before the end of the answer"
    if isinstance(exc, (http.client.RemoteDisconnected, ConnectionError)):
        return "connection", f"{host} closed the connection without a complete answer"
    if isinstance(exc, http.client.HTTPException):
        return "protocol", f"not a valid HTTP answer ({type(exc).__name__}: {exc})"
    if isinstance(exc, OSError):
        return "connection", f"cannot connect to {host} ({exc.strerror or exc})"
    return "other", f"{type(exc).__name__}: {exc}"


def _host_header(parts: SplitResult) -> str:
    host = host_of(parts.geturl())
    if ":" in host:
        host = f"[{host}]"   # IPv6 literal
    default = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def _page_title(body: bytes) -> str | None:
    m = re.search(rb"<title[^>]*>(.*?)</title>", body[:64 * 1024], re.I | re.S)
    if not m:
        return None
    title = " ".join(m.group(1).decode("utf-8", errors="replace").split())
    return title[:80] or None
