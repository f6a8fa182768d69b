"""Real servers that stop a conversation at a chosen moment, so that a test can kill -9 the
process on the other end exactly then: a proxy in front of Elasticsearch that holds a bulk
request (before the cluster sees it, or after the cluster applied it but before the answer
goes back), and a webhook receiver that holds a delivery unanswered.

Both record what they saw, so a test can count what really reached the cluster and the
receiver."""
from __future__ import annotations

import http.client
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.support.localsite import QuietServer


class EsProxy:
    """A real HTTP proxy to the Elasticsearch node at `target`, for a test to disturb: every
    request goes to `handle(handler)`, which forwards it; a subclass overrides `handle` to answer
    or hang up itself before (or instead of, or after) forwarding."""
    timeout = 60        # for the node's answer

    def __init__(self, target: str):
        self.target = urlsplit(target)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                proxy.handle(self)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _any

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        self.forward(handler, self.read_body(handler))

    @staticmethod
    def read_body(handler: BaseHTTPRequestHandler) -> bytes | None:
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else None

    def ask(self, handler: BaseHTTPRequestHandler, body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
        """Sends the request to the node; its status, headers and body."""
        conn = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=self.timeout)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(handler.command, handler.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, resp.getheaders(), data

    def forward(self, handler: BaseHTTPRequestHandler, body: bytes | None) -> None:
        """Sends the request to the node and its answer back to the client."""
        status, headers, data = self.ask(handler, body)
        handler.send_response(status)
        for k, v in headers:
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def hang_up(handler: BaseHTTPRequestHandler) -> None:
        """Closes the client's connection without an answer, as a dead node does."""
        handler.close_connection = True
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HoldingProxy(EsProxy):
    """An HTTP proxy to `target`. When `hold` is "before" or "after", the next request whose
    path contains `/_bulk` is held: "before" it is forwarded (the cluster never sees it),
    "after" the cluster has answered (its writes are applied; the client never learns it).
    `held` is set then; the held exchange ends, unanswered, when `release()` is called.

    With `max_body`, a request with a larger body is answered 413 without being forwarded, as
    a web server in front of a cluster does (nginx's client_max_body_size)."""

    def __init__(self, target: str, max_body: int | None = None):
        self.max_body = max_body
        self.refused: list[int] = []        # sizes of the bodies answered 413
        self.hold: str | None = None
        self.held = threading.Event()
        self._release = threading.Event()
        self.bulk_bodies: list[bytes] = []
        super().__init__(target)

    def handle(self, handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = self.read_body(handler)
        if self.max_body is not None and length > self.max_body:
            self.refused.append(length)
            page = b"<html><head><title>413 Request Entity Too Large</title></head></html>"
            handler.send_response(413)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("Content-Length", str(len(page)))
            handler.end_headers()
            handler.wfile.write(page)
            return
        mode = self._take(handler.path)
        if mode == "before":
            self._wait_and_hang_up(handler)
        elif mode == "after":
            self.ask(handler, body)
            self._wait_and_hang_up(handler)
        else:
            self.forward(handler, body)

    def ask(self, handler, body):
        answer = super().ask(handler, body)
        if "/_bulk" in handler.path and body:
            self.bulk_bodies.append(body)
        return answer

    def _take(self, path: str) -> str | None:
        if self.hold and "/_bulk" in path and not self.held.is_set():
            mode, self.hold = self.hold, None
            return mode
        return None

    def _wait_and_hang_up(self, handler) -> None:
        self.held.set()
        self._release.wait(120)
        self.hang_up(handler)

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.release()
        super().close()


class HoldingReceiver:
    """A webhook endpoint. Every POST is recorded in `received`; answered ones (200) also in
    `accepted`: a delivery counts as delivered only once the receiver has said so. With
    `hold_next`, the next POST is left unanswered until `release()` (then the connection is
    closed without an answer), and `held` is set while it waits."""

    def __init__(self):
        self.received: list[dict] = []
        self.accepted: list[dict] = []
        self.hold_next = False
        self.held = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                entry = {"delivery": self.headers.get("X-Raqib-Delivery"), "body": json.loads(body)}
                with receiver._lock:
                    receiver.received.append(entry)
                    hold, receiver.hold_next = receiver.hold_next, False
                if hold:
                    receiver.held.set()
                    receiver._release.wait(120)
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                self.wfile.flush()
                with receiver._lock:
                    receiver.accepted.append(entry)

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def articles(self, entries: list[dict] | None = None) -> list[str]:
        """The article URLs of the deliveries, one per (message, article)."""
        with self._lock:
            entries = list(self.accepted if entries is None else entries)
        return [a["url"] for e in entries for a in e["body"]["articles"]]

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


def alert_rule(url: str, outlet: str = "local") -> str:
    """alerts.yaml with one rule that alerts on every new article of `outlet` through a webhook."""
    return (f"alerts:\n  - name: everything\n    match: {{outlets: [{outlet}]}}\n"
            f"    notify:\n      - {{type: webhook, url: \"{url}\"}}\n")


class FlakyProxy(EsProxy):
    """A real HTTP proxy in front of the Elasticsearch node. Armed, it goes down at the first
    request whose path contains `break_on`: from then on every connection is closed
    unanswered, as when a node dies. (A proxy, because the shared test node must not be
    stopped: the only way to take the cluster away from one crawl and not from the others.)"""
    timeout = 30

    def __init__(self, target: str, break_on: str = "/_bulk"):
        self.break_on = break_on
        self.down = False
        self.armed = False
        super().__init__(target)

    def handle(self, handler) -> None:
        if self.armed and self.break_on in handler.path:
            self.down = True
        if self.down:
            self.hang_up(handler)
            return
        super().handle(handler)
