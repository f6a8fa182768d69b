"""Real receivers for alert tests: an HTTP endpoint (webhook, Slack) and an SMTP server
(aiosmtpd), both on 127.0.0.1, which can be stopped and started again on the same port to
produce a real outage."""
from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from crawler.mirror.certs import self_signed
from pipelines import document
from pipelines.index import bulk_index, ensure_index


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpReceiver:
    """Records every POST (headers, body, arrival time) and answers `status`."""

    def __init__(self, port: int | None = None, status: int = 200):
        self.port = port or free_port()
        self.status = status
        self.requests: list[dict] = []
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.time()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                if receiver.status < 300:
                    with receiver._cond:
                        receiver.requests.append({"headers": dict(self.headers), "body": body, "time": arrived,
                                                  "path": self.path})
                        receiver._cond.notify_all()

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.time() + timeout
        with self._cond:
            while len(self.requests) < n and time.time() < deadline:
                self._cond.wait(max(0.01, deadline - time.time()))
            return list(self.requests)


class SmtpReceiver:
    """aiosmtpd on a free port; `messages` are parsed email.message.EmailMessage objects."""

    def __init__(self, *, tls_dir: Path | None = None, users: dict[str, str] | None = None):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages: list = []
        self.envelopes: list = []
        self.port = free_port()
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                receiver.envelopes.append(envelope)
                receiver.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = users is not None and users.get(auth_data.login.decode()) == auth_data.password.decode()
            return AuthResult(success=ok, handled=False)

        kwargs: dict = {}
        if tls_dir is not None:
            self.cert, key = make_cert(tls_dir)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.cert, key)
            kwargs.update(tls_context=ctx, require_starttls=True)
        if users is not None:
            kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=tls_dir is not None)
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, n: int, timeout: float = 10.0) -> list:
        deadline = time.time() + timeout
        while len(self.messages) < n and time.time() < deadline:
            time.sleep(0.02)
        return list(self.messages)


def make_cert(directory: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1, for a real STARTTLS handshake."""
    cert, key = self_signed(directory, "127.0.0.1", stem="smtp")
    return str(cert), str(key)


def article(n: int, *, topics=("isis", "us_presence"), outlet="almayadeen", lang="ar", title=None, text=None):
    url = f"https://www.almayadeen.net/news/politics/article-{n}"
    return document.doc_id_for(url), document.enrich({
        "url": url, "canonical_url": url, "outlet": outlet, "outlet_name": "الميادين نت", "lang": lang,
        "title": title or f"هجوم لداعش على قاعدة أمريكية رقم {n}",
        "text": text or f"تفاصيل الهجوم رقم {n} في ريف دير الزور الشرقي قرب قاعدة التنف",
        "published_at": "2024-04-30T00:58:00+03:00", "topics": list(topics),
    })


def index(es, alias, docs):
    """Index `docs` ((id, document) pairs) as a crawl would, creating the index if needed."""
    ensure_index(es, alias)
    return bulk_index(es, docs, alias)
