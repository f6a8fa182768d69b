"""Small real HTTP sites for the `raqib outlets check` tests: sites that block (403), challenge
(a Cloudflare-like "Just a moment..." page), show a CAPTCHA, changed their layout (article
URLs that no longer match the pattern, a feed that moved), hang, or redirect away.

A `ProbeSite` listens on its own loopback address (127.0.0.x, port chosen by the system), so
two sites are two hosts; routes are exact paths; every request is logged with its headers and
time. Article texts are the real ones of tests/data/crawl/articles.jsonl (provenance and
licences in tests/data/crawl/README.md), wrapped in pages written here.
"""
from __future__ import annotations

import datetime as dt
import html
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import yaml

from crawler.mirror import certs
from tests.support.localsite import LoopbackSite

ARTICLES = Path(__file__).resolve().parents[1] / "data" / "crawl" / "articles.jsonl"


def articles(lang: str | None = "ar") -> list[dict]:
    rows = [json.loads(line) for line in ARTICLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if lang is None or r["lang"] == lang]


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    handler: Callable | None = None          # (request handler) -> None: serves the request itself


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    at: float


class ProbeSite(LoopbackSite):
    """`with ProbeSite("127.0.0.41") as site: site.route("/", body=...)`; anything else is 404."""

    def __init__(self, host: str, *, tls: ssl.SSLContext | None = None):
        self.scheme = "https" if tls else "http"
        self.routes: dict[str, Route] = {}
        self.default: Route | None = None    # served for every path without a route (e.g. a block)
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        super().__init__(host)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)

    def route(self, path: str, body: bytes | str = b"", **kwargs) -> Route:
        route = Route(body=body.encode("utf-8") if isinstance(body, str) else body, **kwargs)
        self.routes[path] = route
        return route

    def paths(self) -> list[str]:
        with self._lock:
            return [h.path for h in self.hits]

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.hits.append(Hit(handler.path, {k.lower(): v for k, v in handler.headers.items()}, time.monotonic()))
        route = self.routes.get(handler.path) or self.default
        if route is None:
            self.send(handler, 404, b"<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
                                    b"<body><h1>Not Found</h1></body></html>")
            return
        if route.handler is not None:
            route.handler(handler)
            return
        self.send(handler, route.status, route.body, content_type=route.content_type, headers=route.headers)


def self_signed(directory: Path, host: str) -> ssl.SSLContext:
    """A server TLS context with a self-signed certificate for `host` (no client trusts it)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certs.self_signed(directory, host, stem="site"))
    return context


# --- pages -------------------------------------------------------------------------------------------

def article_page(article: dict, *, published: datetime) -> str:
    paras = "".join(f"<p>{html.escape(p.strip())}</p>" for p in article["text"].split("\n") if p.strip())
    title = html.escape(article["title"])
    return (f'<!DOCTYPE html><html lang="{article["lang"]}" dir="rtl"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta property="article:published_time" content="{published.isoformat()}"></head>'
            f'<body><nav><a href="/">الرئيسية</a></nav><article><h1>{title}</h1>{paras}</article>'
            f'<footer><a href="/about">من نحن</a></footer></body></html>')


def listing_page(links: list[str], *, feeds: list[str] = (), title: str = "home") -> str:
    alt = "".join(f'<link rel="alternate" type="application/rss+xml" title="RSS" href="{html.escape(f)}">' for f in feeds)
    items = "".join(f'<li><a href="{html.escape(u)}">{i}</a></li>' for i, u in enumerate(links))
    return (f'<!DOCTYPE html><html lang="ar"><head><meta charset="utf-8"><title>{title}</title>{alt}</head>'
            f'<body><nav><a href="/">الرئيسية</a> <a href="/about">من نحن</a> <a href="/contact">اتصل بنا</a></nav>'
            f'<ul>{items}</ul></body></html>')


def rss(items: list[tuple[str, datetime]]) -> str:
    body = "".join(f"<item><title>t{i}</title><link>{html.escape(u)}</link><pubDate>{format_datetime(d)}</pubDate></item>"
                   for i, (u, d) in enumerate(items))
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>f</title>{body}</channel></rss>'


def urlset(items: list[tuple[str, datetime]]) -> str:
    rows = "".join(f"<url><loc>{html.escape(u)}</loc><lastmod>{d.isoformat()}</lastmod></url>" for u, d in items)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{rows}</urlset>'


def ago(days: float) -> datetime:
    return (datetime.now(dt.UTC) - timedelta(days=days)).replace(microsecond=0)


# A Cloudflare managed challenge as the CDN serves it (markup trimmed; the markers are real).
CHALLENGE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><meta name="robots" content="noindex,nofollow">
</head><body class="no-js"><div class="main-wrapper" role="main"><div class="main-content">
<h1 class="zone-name-title h1">{host}</h1><h2 id="challenge-running" class="h2">Checking if the site connection is secure</h2>
<noscript><div id="challenge-error-text">Enable JavaScript and cookies to continue</div></noscript>
</div></div><script>(function(){window._cf_chl_opt={cvId: '3',cZone: "{host}",cType: 'managed'};
var a=document.createElement('script');a.src='/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray=8a1b';
document.getElementsByTagName('head')[0].appendChild(a);}());</script></body></html>"""

# A DDoS-Guard CAPTCHA served with 200, as some hosts do for suspected bots.
CAPTCHA = """<!DOCTYPE html><html><head><title>DDoS-Guard</title><meta charset="utf-8"></head><body>
<div id="ddg-captcha"><p>Checking your browser before accessing the site. Please solve the CAPTCHA.</p>
<script src="/.well-known/ddos-guard/check?context=free_splash"></script></div></body></html>"""

FORBIDDEN = ("<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1></center>"
             "\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


# --- a news site and its config ---------------------------------------------------------------------

class NewsSite:
    """A working news site on `site`: home linking `n` articles at /news/<id>/<slug>, an RSS
    feed at /feed/ linked from home, robots.txt allowing everything. Tests then break it."""

    def __init__(self, site: ProbeSite, n: int = 6, *, article_path: str = "/news/{id}/{slug}",
                 feed_path: str | None = "/feed/", robots: str = "User-agent: *\nDisallow: /admin/\n",
                 feed_age_days: float = 0.1):
        self.site = site
        self.paths: list[str] = []
        corpus = articles("ar")
        dated = []
        for i in range(n):
            art = corpus[i % len(corpus)]
            slug = "-".join(art["title"].split()[:5])
            path = article_path.format(id=1000 + i, slug=slug)
            self.paths.append(path)
            published = ago(feed_age_days + i / 24)
            site.route(_quote(path), article_page(art, published=published))
            dated.append((site.url(_quote(path)), published))
        self.dated = dated
        site.route("/robots.txt", robots, content_type="text/plain; charset=utf-8")
        feeds = [site.url(feed_path)] if feed_path else []
        site.route("/", listing_page([u for u, _ in dated], feeds=feeds))
        if feed_path:
            site.route(feed_path, rss(dated), content_type="application/rss+xml; charset=utf-8")

    @property
    def urls(self) -> list[str]:
        return [u for u, _ in self.dated]


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/:@!$&'()*+,;=-._~%")


def outlet_entry(site: ProbeSite, *, pattern_path: str = r"/news/\d+/[^/?#]+", **extra) -> dict:
    host = site.host.replace(".", r"\.")
    entry = {
        "name": "موقع الاختبار",
        "home": site.url("/"),
        "language": "ar",
        "domains": [site.host],
        "article_pattern": f"^https?://{host}:{site.port}{pattern_path}$",
        "schedule": "1h",
    }
    entry.update(extra)
    return entry


def write_config(directory: Path, outlets: dict[str, dict], *, delay: float = 0.0) -> Path:
    """outlets.yaml and a settings.toml with the crawl's delay (0: the tests do not wait)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "outlets.yaml").write_text(yaml.safe_dump({"outlets": outlets}, allow_unicode=True), encoding="utf-8")
    (directory / "settings.toml").write_text(f"[crawl]\ndownload_delay = {delay}\n", encoding="utf-8")
    return directory
