"""A small real HTTP site for the crawl tests: pages at paths, conditional GET (ETag and
Last-Modified), faults served for real (status codes, Retry-After, slow and truncated bodies,
wrong charsets, redirects), and a log of every request it received.

Each Site listens on its own loopback address and port, so two sites are two hosts.
"""
from __future__ import annotations

import hashlib
import html
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

DATA = Path(__file__).resolve().parents[1] / "data" / "crawl" / "articles.jsonl"


def corpus() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Page:
    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    validators: bool = True
    handler: Callable | None = None          # (handler_instance) -> None: serves the request itself
    last_modified: datetime = field(default_factory=lambda: datetime(2024, 4, 1, tzinfo=UTC))


@dataclass
class Logged:
    path: str
    headers: dict[str, str]
    status: int
    at: float

    @property
    def conditional(self) -> bool:
        return "if-none-match" in self.headers or "if-modified-since" in self.headers


class QuietServer(ThreadingHTTPServer):
    """A threaded test server whose handler threads die with the process and which does not report
    an exchange the client broke off (clients that give up early are what these servers are for)."""
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class LoopbackSite:
    """A real HTTP server on `host` (port chosen by the system) that hands every GET to
    `self._serve(handler)`; serving from `with site:` on."""
    scheme = "http"

    def __init__(self, host: str):
        self.host = host
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                site._serve(self)

        self._server = QuietServer((host, 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    @staticmethod
    def send(handler, status: int, body: bytes, *, content_type: str | None = "text/html; charset=utf-8",
             headers: dict[str, str] | None = None, length: int | None = None) -> None:
        handler.send_response(status)
        if content_type and status != 304:
            handler.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        if status != 304:
            handler.send_header("Content-Length", str(len(body) if length is None else length))
        handler.end_headers()
        if status != 304:
            handler.wfile.write(body)
            handler.wfile.flush()


class Site(LoopbackSite):
    def __init__(self, host: str = "127.0.0.1"):
        self.pages: dict[str, Page] = {}
        self.log: list[Logged] = []
        self._lock = threading.Lock()
        super().__init__(host)

    def add(self, path: str, body: bytes | str = b"", **kwargs) -> Page:
        page = Page(body.encode("utf-8") if isinstance(body, str) else body, **kwargs)
        self.pages[path] = page
        return page

    def hang(self, paths, release: threading.Event, *, timeout: float = 30.0, entered: set[str] | None = None) -> None:
        """These pages are answered only when `release` is set (or after `timeout`): a crawl
        killed meanwhile dies with them in flight. `entered` collects the paths whose request
        has arrived (the request log records a request only when it is answered)."""
        for path in paths:
            def hang(handler, body=self.pages[path].body, path=path):
                if entered is not None:
                    entered.add(path)
                release.wait(timeout)
                try:
                    self.send(handler, 200, body)
                except OSError:
                    pass             # the client is gone: what the test is about
                return 200
            self.pages[path].handler = hang

    def requests(self, prefix: str = "") -> list[Logged]:
        with self._lock:
            return [r for r in self.log if r.path.startswith(prefix)]

    def paths(self) -> list[str]:
        return [r.path for r in self.requests()]

    def _record(self, handler, status: int) -> None:
        with self._lock:
            self.log.append(Logged(handler.path, {k.lower(): v for k, v in handler.headers.items()}, status, time.time()))

    def _serve(self, handler) -> None:
        page = self.pages.get(handler.path)
        if page is None:
            self._record(handler, 404)
            self.send(handler, 404, b"<html><body>not found</body></html>")
            return
        if page.handler is not None:
            status = page.handler(handler)
            self._record(handler, status or 200)
            return
        etag = '"' + hashlib.sha1(page.body).hexdigest()[:16] + '"'
        last_modified = format_datetime(page.last_modified, usegmt=True)
        if page.validators and page.status == 200:
            inm = handler.headers.get("If-None-Match")
            ims = handler.headers.get("If-Modified-Since")
            if (inm and inm == etag) or (not inm and ims == last_modified):
                self._record(handler, 304)
                self.send(handler, 304, b"", headers={"ETag": etag, "Last-Modified": last_modified})
                return
        headers = dict(page.headers)
        if page.validators:
            headers.update({"ETag": etag, "Last-Modified": last_modified})
        self._record(handler, page.status)
        self.send(handler, page.status, page.body, content_type=page.content_type, headers=headers)


# --- page builders --------------------------------------------------------------------------

def article_html(title: str, text: str, *, published: str, author: str | None = None, lang: str = "ar",
                 canonical: str | None = None, charset: str | None = "utf-8", boilerplate: bool = True) -> str:
    paras = "\n".join(f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n") if p.strip())
    meta = [f'<meta property="article:published_time" content="{published}">']
    if charset:
        meta.insert(0, f'<meta charset="{charset}">')
    if author:
        meta.append(f'<meta name="author" content="{html.escape(author)}">')
    if canonical:
        meta.append(f'<link rel="canonical" href="{canonical}">')
    nav = ('<nav><a href="/">الرئيسية</a> <a href="/news">أخبار</a></nav>'
           '<footer><p>جميع الحقوق محفوظة</p><a href="/about">من نحن</a></footer>') if boilerplate else ""
    return (f'<!DOCTYPE html><html lang="{lang}" dir="rtl"><head>{"".join(meta)}<title>{html.escape(title)}</title></head>'
            f'<body>{nav[:nav.find("<footer>")] if nav else ""}<article><h1>{html.escape(title)}</h1>'
            f'{f"<p class=byline>{html.escape(author)}</p>" if author else ""}{paras}</article>'
            f'{nav[nav.find("<footer>"):] if nav else ""}</body></html>')


def listing_html(links: list[str], *, next_url: str | None = None, feeds: list[str] = ()) -> str:
    items = "".join(f'<li><a href="{html.escape(u)}">{i}</a></li>' for i, u in enumerate(links))
    alt = "".join(f'<link rel="alternate" type="application/rss+xml" href="{html.escape(f)}">' for f in feeds)
    nxt = f'<a class="next" href="{html.escape(next_url)}">التالي</a>' if next_url else ""
    return f"<!DOCTYPE html><html><head>{alt}<title>list</title></head><body><ul>{items}</ul>{nxt}</body></html>"


def rss(items: list[tuple[str, datetime]]) -> str:
    body = "".join(f"<item><title>t{i}</title><link>{html.escape(u)}</link><pubDate>{format_datetime(d)}</pubDate></item>"
                   for i, (u, d) in enumerate(items))
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>f</title>{body}</channel></rss>'


def urlset(items: list[tuple[str, datetime | None]], *, news: bool = False) -> str:
    def entry(u, d):
        lm = f"<lastmod>{d.isoformat()}</lastmod>" if d and not news else ""
        nw = (f"<news:news><news:publication_date>{d.isoformat()}</news:publication_date><news:title>x</news:title></news:news>"
              if d and news else "")
        return f"<url><loc>{u}</loc>{lm}{nw}</url>"
    ns = ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"' if news else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"{ns}>'
            + "".join(entry(u, d) for u, d in items) + "</urlset>")


def sitemap_index(items: list[tuple[str, datetime | None]]) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(f"<sitemap><loc>{u}</loc>" + (f"<lastmod>{d.isoformat()}</lastmod>" if d else "") + "</sitemap>"
                      for u, d in items) + "</sitemapindex>")


def recent(days: float = 0.0) -> datetime:
    return (datetime.now(UTC) - timedelta(days=days)).replace(microsecond=0)
