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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass        # a client killed mid-request is what these servers are for


class HoldingProxy:
    """An HTTP proxy to `target`. When `hold` is "before" or "after", the next request whose
    path contains `/_bulk` is held: "before" it is forwarded (the cluster never sees it),
    "after" the cluster has answered (its writes are applied; the client never learns it).
    `held` is set then; the held exchange ends, unanswered, when `release()` is called.

    With `max_body`, a request with a larger body is answered 413 without being forwarded, as
    a web server in front of a cluster does (nginx's client_max_body_size)."""

    def __init__(self, target: str, max_body: int | None = None):
        self.target = urlsplit(target)
        self.max_body = max_body
        self.refused: list[int] = []        # sizes of the bodies answered 413
        self.hold: str | None = None
        self.held = threading.Event()
        self._release = threading.Event()
        self.bulk_bodies: list[bytes] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy.max_body is not None and length > proxy.max_body:
                    proxy.refused.append(length)
                    page = b"<html><head><title>413 Request Entity Too Large</title></head></html>"
                    self.send_response(413)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                mode = proxy._take(self.path)
                if mode == "before":
                    proxy._wait_and_hang_up(self)
                    return
                conn = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                if "/_bulk" in self.path and body:
                    proxy.bulk_bodies.append(body)
                if mode == "after":
                    proxy._wait_and_hang_up(self)
                    return
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _any

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _take(self, path: str) -> str | None:
        if self.hold and "/_bulk" in path and not self.held.is_set():
            mode, self.hold = self.hold, None
            return mode
        return None

    def _wait_and_hang_up(self, handler) -> None:
        self.held.set()
        self._release.wait(120)
        handler.close_connection = True
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


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

        self.server = _Server(("127.0.0.1", 0), Handler)
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
