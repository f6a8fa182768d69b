"""One HTTP exchange of the outlet probe, on the wire: through the crawl's proxy or to the
address the guard checked, TLS verified (or, as the crawl does, read anyway and said so), the
whole exchange under one timeout, the body under the kind's size limit after Content-Encoding
is undone (as Scrapy's HttpCompressionMiddleware caps it). crawler/probe/http.py decides
whether and when a request is sent."""
from __future__ import annotations

import base64
import http.client
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

import certifi

from pipelines.compression import GZIP_OR_ZLIB, RAW_DEFLATE, ZLIB, InflateError, inflate
from pipelines.fetchrules import FetchRules
from pipelines.urls import host_of

REDIRECTS = (301, 302, 303, 307, 308)


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
            title = page_title(self.body)
            if title:
                text += f" (page title «{title}»)"
        return text


class Refused(Exception):
    """Not sent, or abandoned: `kind` is what the report calls it."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


class Wire:
    """Connections and exchanges under the crawl's rules (timeout, proxy, headers, sizes)."""

    def __init__(self, rules: FetchRules):
        self.rules = rules
        self._tls = _tls_context()
        self.unverified: dict[str, str] = {}   # host -> why its TLS certificate failed verification
        self._proxy_auth: dict[str, str] = {}
        proxy = urlsplit(rules.proxy) if rules.proxy else None
        if proxy is not None and proxy.username:
            token = base64.b64encode(f"{proxy.username}:{proxy.password or ''}".encode()).decode()
            self._proxy_auth = {"Proxy-Authorization": f"Basic {token}"}

    def exchange(self, url: str, address: str, limit: int) -> Response:
        """One GET of `url` at `address`, bounded by the timeout as a whole; never raises."""
        parts = urlsplit(url)
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
            if raw.status in REDIRECTS:
                raw.close()
            else:
                response.body = self._read(raw, limit, url)
        except Exception as exc:  # noqa: BLE001 - every network failure becomes a reported kind
            if fired.is_set():      # the watchdog cut the connection: whatever broke, it was the time
                response.error, response.message = "timeout", f"no complete answer within {self.rules.timeout:g} s"
            elif isinstance(exc, Refused):
                response.error, response.message = exc.kind, exc.message
            else:
                response.error, response.message = _classify(exc, url)
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if conn is not None:
                conn.close()
        return response

    def _connection(self, parts: SplitResult, address: str) -> http.client.HTTPConnection:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or ""      # the guard let no URL without a host through
        timeout = self.rules.timeout
        conn: http.client.HTTPConnection
        if self.rules.proxy:
            # Through the crawl's proxy: CONNECT for https, the absolute URL for http.
            proxy = urlsplit(self.rules.proxy)
            if not proxy.hostname:
                raise OSError(f"the proxy {self.rules.proxy!r} names no host")
            if parts.scheme == "https":
                conn = http.client.HTTPSConnection(proxy.hostname, proxy.port or 8080, timeout=timeout, context=self._tls)
                conn.set_tunnel(host, port, headers=self._proxy_auth)
            else:
                conn = http.client.HTTPConnection(proxy.hostname, proxy.port or 8080, timeout=timeout)
            conn.connect()
            return conn
        # Connect to the address the guard checked, not to whatever a second lookup returns.
        sock = socket.create_connection((address, port), timeout=timeout)
        if parts.scheme == "https":
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
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
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
                raise Refused("too_large", f"the answer is larger than {_size(limit)}; the crawl abandons such pages")
            chunks.append(chunk)
        if raw.length:   # fewer bytes than Content-Length promised
            raise Refused("truncated", f"the connection closed after {_size(size)}, before the end of the answer")
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
                        raise Refused("too_large", f"the body inflates to more than "
                                                    f"{_size(limit)}") from None
                    if i == len(attempts) - 1:
                        raise Refused("bad_encoding", f"the {encoding} body cannot be decompressed ({exc})") from None
        return body


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


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def page_title(body: bytes) -> str | None:
    m = re.search(rb"<title[^>]*>(.*?)</title>", body[:64 * 1024], re.I | re.S)
    if not m:
        return None
    title = " ".join(m.group(1).decode("utf-8", errors="replace").split())
    return title[:80] or None
