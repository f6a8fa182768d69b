"""A raw HTTP client for looking at the mirror as it is on the wire.

No redirects followed, no decompression, no decoding: tests of the mirror itself need to see
exactly what a crawler receives (a 301's Location, gzip bytes, a truncated body).
"""
from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    headers: dict[str, str]      # lower-case names
    body: bytes
    complete: bool = True        # False when the connection ended before Content-Length

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def fetch(url: str, headers: dict[str, str] | None = None, method: str = "GET", timeout: float = 10.0,
          limit: int | None = None) -> Reply:
    """One request; `limit` stops reading the body after that many bytes."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        conn.request(method, target, headers=headers or {})
        resp = conn.getresponse()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        complete = True
        try:
            body = resp.read(limit) if limit is not None else resp.read()
        except http.client.IncompleteRead as exc:
            body, complete = exc.partial, False
        return Reply(resp.status, hdrs, body, complete)
    finally:
        conn.close()


def wait_for_nothing(url: str, timeout: float) -> bool:
    """True when the server sends no byte of a response within `timeout` seconds."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode("ascii"))
        try:
            return sock.recv(1) == b""
        except socket.timeout:
            return True
