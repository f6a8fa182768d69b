"""A raw HTTP client for looking at the mirror as it is on the wire.

No redirects followed, no decompression, no decoding: tests of the mirror itself need to see
exactly what a crawler receives (a 301's Location, gzip bytes, a truncated body).
"""
from __future__ import annotations

import http.client
import queue
import socket
import threading
from collections.abc import Callable, Iterable
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
    if parts.hostname is None:
        raise ValueError(f"{url!r} has no host name")
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


def fetch_all(urls: Iterable[str], clients: int, on_reply: Callable[[str, http.client.HTTPResponse, bytes], None],
              headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
    """GET every URL (in the order given) from `clients` threads, as a crawler does: one
    kept-alive connection per host and thread, gzip accepted and left compressed. `on_reply`
    is called from those threads with each URL, its response and its raw body."""
    work: queue.Queue = queue.Queue()
    for url in urls:
        work.put(url)
    asked = {"Accept-Encoding": "gzip", **(headers or {})}

    def client() -> None:
        conns: dict[str, http.client.HTTPConnection] = {}
        try:
            while True:
                try:
                    url = work.get_nowait()
                except queue.Empty:
                    return
                parts = urlsplit(url)
                conn = conns.get(parts.netloc)
                if conn is None:
                    conn = conns[parts.netloc] = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
                conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), headers=asked)
                resp = conn.getresponse()
                on_reply(url, resp, resp.read())
        finally:
            for conn in conns.values():
                conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def wait_for_nothing(url: str, timeout: float) -> bool:
    """True when the server sends no byte of a response within `timeout` seconds."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode("ascii"))
        try:
            return sock.recv(1) == b""
        except TimeoutError:
            return True
