"""The HTTP side of the mirror: one small threaded server per outlet host.

What a site returns is a `Response`; this module adds what a real web server adds on top:
validators and conditional GET (304), gzip when the client accepts it, HEAD, keep-alive, and
a log of every request for the tests to assert on. Sites never write to sockets themselves,
except faults, which need to misbehave at the byte level (`Response.stream`).
"""
from __future__ import annotations

import email.utils
import gzip
import hashlib
import itertools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_to_bytes, urlsplit

VALIDATOR_MODES = ("honest", "lying", "last-modified", "none")


@dataclass
class Request:
    method: str
    target: str                 # the request target exactly as sent (percent-encoded or not)
    path: str                   # decoded: percent-escapes and raw UTF-8 both become text
    query: dict[str, list[str]]
    headers: dict[str, str]     # lower-case names
    host: str                   # "ip:port" this server listens on

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


# A stream writes the body itself: (socket file, stop event) -> None. Used by faults.
Stream = Callable[["object", threading.Event], None]


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    last_modified: datetime | None = None     # the resource's own modification time
    cacheable: bool = True                       # validators and 304 apply
    compressible: bool = True                    # gzip when the client asks for it
    stream: Stream | None = None              # bypasses body, validators and gzip
    close: bool = False                          # close the connection after this response

    @classmethod
    def html(cls, text: str, **kw) -> Response:
        return cls(body=text.encode("utf-8"), **kw)

    @classmethod
    def redirect(cls, location: str, status: int = 301) -> Response:
        return cls(status=status, headers=[("Location", location)], cacheable=False,
                   body=f'<html><body>Moved to <a href="{location}">{location}</a></body></html>'.encode())

    @classmethod
    def not_found(cls) -> Response:
        return cls(status=404, cacheable=False, body=b"<!DOCTYPE html><html><head><title>404</title></head>"
                   b"<body><h1>404 Not Found</h1></body></html>")


class RequestLog:
    """Every request any mirror server received, in order; safe across server threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict] = []

    def start(self, entry: dict) -> dict:
        with self._lock:
            self._entries.append(entry)
        return entry

    def entries(self, outlet: str | None = None) -> list[dict]:
        with self._lock:
            return [dict(e, headers=dict(e["headers"])) for e in self._entries
                    if outlet is None or e["outlet"] == outlet]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class HostServer(ThreadingHTTPServer):
    """One outlet's host. `handler` maps a Request to a Response (the site's router)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, ip: str, outlet: str, handler: Callable[[Request], Response], log: RequestLog,
                 stop: threading.Event, validators: Callable[[], str], server_header: str = "nginx",
                 port: int = 0):
        self.outlet = outlet
        self.route = handler
        self.log = log
        self.stop = stop
        self.validators = validators
        self.server_header = server_header
        self._lie = itertools.count(1)
        self._gzip_cache: dict[bytes, bytes] = {}
        super().__init__((ip, port), _Handler)

    @property
    def host(self) -> str:
        ip, port = self.socket.getsockname()[:2]
        return f"{ip}:{port}"

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                  name=f"mirror-{self.outlet}", daemon=True)
        thread.start()
        return thread

    def gzipped(self, body: bytes) -> bytes:
        key = hashlib.sha1(body).digest()
        hit = self._gzip_cache.get(key)
        if hit is None:
            hit = gzip.compress(body, compresslevel=6, mtime=0)
            if len(self._gzip_cache) > 4096:
                self._gzip_cache.clear()
            self._gzip_cache[key] = hit
        return hit

    def next_lie(self) -> int:
        return next(self._lie)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # set by BaseHTTPRequestHandler.handle_one_request (its stub does not declare it)
    raw_requestline: bytes
    raw_target: str | None       # the request target as sent, when it carried raw UTF-8
    timeout = 30                     # idle keep-alive connections are dropped after this
    # Headers and body go out in two writes; with Nagle's algorithm and delayed ACKs each
    # keep-alive response would then wait about 40 ms.
    disable_nagle_algorithm = True
    server: HostServer

    def log_message(self, format, *args):   # the RequestLog replaces stderr logging
        pass

    def parse_request(self) -> bool:
        # A request line may carry raw UTF-8 (nginx accepts it); http.server would split it at
        # bytes such as 0x85 and 0xA0, which are whitespace in latin-1. Escape them first.
        raw = self.raw_requestline
        self.raw_target = None
        if any(b > 0x7F for b in raw):
            self.raw_target = raw.split(b" ")[1].decode("utf-8", "replace") if raw.count(b" ") >= 2 else None
            self.raw_requestline = re.sub(rb"[\x80-\xff]", lambda m: b"%%%02X" % m.group()[0], raw)
        return super().parse_request()

    def do_GET(self):
        self._serve()

    def do_HEAD(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def _serve(self) -> None:
        srv = self.server
        target = self.path
        split = urlsplit(target)
        # http.server decodes the request line as latin-1: undo that, then percent-decode,
        # so raw UTF-8 and %-escaped Arabic reach the router as the same text.
        raw = split.path.encode("latin-1", "replace")
        path = unquote_to_bytes(raw).decode("utf-8", "replace")
        query = parse_qs(split.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(self.command, target, path, query, headers, srv.host)
        entry = srv.log.start({
            "time": time.time(), "outlet": srv.outlet, "host": headers.get("host", srv.host),
            "server": srv.host, "method": self.command, "path": self.raw_target or target, "decoded_path": path,
            "headers": headers, "user_agent": headers.get("user-agent"),
            "if_none_match": headers.get("if-none-match"), "if_modified_since": headers.get("if-modified-since"),
            "status": None, "bytes": 0,
        })
        try:
            response = srv.route(request)
        except Exception as exc:     # a bug in a site builder must show up as a 500, loudly
            response = Response(status=500, cacheable=False, body=f"mirror error: {exc!r}".encode())
            entry["error"] = repr(exc)
        entry["status"] = response.status
        if response.stream is not None:
            self.close_connection = True
            try:
                response.stream(self, srv.stop)
            except (TimeoutError, BrokenPipeError, ConnectionResetError, OSError):
                entry["aborted"] = True
            return
        self._send(response, entry, headers)

    def _send(self, response: Response, entry: dict, headers: dict[str, str]) -> None:
        srv = self.server
        body = response.body
        status = response.status
        own_server = any(name.lower() == "server" for name, _ in response.headers)
        out: list[tuple[str, str]] = [] if own_server else [("Server", srv.server_header)]
        out.append(("Date", http_date(time.time())))
        mode = srv.validators()
        etag = last_modified = None
        if response.cacheable and status == 200:
            if mode == "honest":
                etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
                last_modified = response.last_modified
            elif mode == "lying":
                # Same bytes, a new validator every time: only a hash of the body tells the
                # crawler nothing changed.
                etag = f'"{srv.next_lie():x}-{int(time.time() * 1000):x}"'
                last_modified = datetime.now(UTC)
            elif mode == "last-modified":
                last_modified = response.last_modified
        use_gzip = (response.compressible and len(body) > 256 and status != 304
                    and "gzip" in headers.get("accept-encoding", "").lower())
        if use_gzip and etag:
            etag = "W/" + etag        # as nginx does when it compresses on the fly
        if etag:
            out.append(("ETag", etag))
        if last_modified is not None:
            out.append(("Last-Modified", http_date(last_modified.timestamp())))
        if status == 200 and (etag or last_modified) and not_modified(headers, etag, last_modified):
            status, body, use_gzip = 304, b"", False
            entry["status"] = 304
        if status != 304:
            out.append(("Content-Type", response.content_type))
        if use_gzip:
            body = srv.gzipped(body)
            out.append(("Content-Encoding", "gzip"))
        if response.compressible:
            out.append(("Vary", "Accept-Encoding"))
        out.extend(response.headers)
        if response.close:
            out.append(("Connection", "close"))
            self.close_connection = True
        out.append(("Content-Length", str(len(body))))
        self.send_response_only(status)
        for name, value in out:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and status != 304:
            self.wfile.write(body)
            entry["bytes"] = len(body)


def not_modified(headers: dict[str, str], etag: str | None, last_modified: datetime | None) -> bool:
    """RFC 9110 13.1: If-None-Match (weak comparison) wins over If-Modified-Since."""
    inm = headers.get("if-none-match")
    if inm is not None:
        if not etag:
            return False
        wanted = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in wanted or etag.removeprefix("W/") in wanted
    ims = headers.get("if-modified-since")
    if ims and last_modified is not None:
        try:
            since = email.utils.parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return int(last_modified.timestamp()) <= int(since.timestamp())
    return False


def http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)
