"""What every mirrored outlet shares: routing and the challenge page here, on top of its
listings, robots.txt and publishing (sites/content.py) and its faults and ground truth
(sites/truth.py).

A site subclass declares its facts (host, name, time zone, robots rules, validators) and its
pages (article URL, article page, listings, feeds, sitemaps); `Site.handle` does the rest.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from crawler.mirror import faults as F
from crawler.mirror import weight as W
from crawler.mirror.catalog import Article
from crawler.mirror.server import Request, Response
from crawler.mirror.sites.content import Context, encode_path
from crawler.mirror.sites.truth import SiteTruth

__all__ = ["Context", "Route", "Site", "challenge", "encode_path"]

Route = tuple[re.Pattern, Callable[[Request, re.Match], Response]]


class Site(SiteTruth):
    """A mirrored outlet (facts and listings, faults and truth: the classes below it), and
    here how it answers a request."""

    def __init__(self, ctx: Context, articles: list[Article]):
        self.ctx = ctx
        self.articles = articles
        self.base = ""
        self.version = 0
        self._memo: dict[str, object] = {}
        if ctx.faults:
            self.articles += self.fault_articles()
        else:
            self.articles[:] = [a for a in self.articles if not a.role.startswith("fault:")]
        self._stubs = [re.compile(p) for p in self.stub_paths]
        self._check_hidden()

    def routes(self) -> list[Route]:
        return []

    def handle(self, req: Request) -> Response:
        if self.ctx.blocked(self.key):
            return challenge(self, req)
        if req.path == "/robots.txt":
            return Response(body=self.robots().encode("utf-8"), content_type="text/plain; charset=utf-8",
                            last_modified=self.ctx.now)
        if req.path.endswith(IMAGE_EXT) or req.path.startswith(("/media/image/", "/UploadCache/")):
            return Response(body=F.png_bytes(), content_type="image/png", compressible=False, last_modified=self.ctx.now)
        if req.path.endswith(ASSET_EXT):
            kind = "text/css" if req.path.endswith(".css") else "application/javascript"
            return Response(body=b"/* */\n", content_type=f"{kind}; charset=utf-8", last_modified=self.ctx.now)
        hit = self.by_path().get(req.path)
        if hit is not None:
            a, how = hit
            if how == "redirect":
                return Response.redirect(self.url(self.article_path(a)), status=301)
            if how == "loop":
                return Response.redirect(self.url(self.article_path(a)), status=302)
            if a.fault:
                return self.serve_fault(a, req)
            return self.article_page(a, req, how)
        for pattern, handler in self.routes():
            m = pattern.fullmatch(req.path)
            if m:
                return self.dressed(handler(req, m), req.path, "listing")
        if any(p.fullmatch(req.path) for p in self._stubs):
            return self.stub(req)
        return self.not_found()

    def stub(self, req: Request) -> Response:
        """A page the mirror does not model (search, tags, about...): exists, links home."""
        body = (f'<!DOCTYPE html><html lang="{self.lang}"><head><meta charset="utf-8"><title>{self.name}</title></head>'
                f'<body><h1><a href="/">{self.name}</a></h1></body></html>')
        return Response.html(body, last_modified=self.ctx.now)

    def not_found(self) -> Response:
        return Response.not_found()

    def render_article(self, a: Article, req: Request, how: str = "page") -> Response:
        raise NotImplementedError

    def article_page(self, a: Article, req: Request, how: str = "page") -> Response:
        return self.dressed(self.render_article(a, req, how), self.article_path(a), "article")

    def dressed(self, resp: Response, path: str, kind: str) -> Response:
        """An HTML page with the site's furniture (weight.py) added at the mirror's weight."""
        if (self.chrome is None or self.ctx.weight == "light" or resp.status != 200 or resp.stream is not None
                or not resp.content_type.startswith("text/html")):
            return resp
        # only what the home page links to, so the rails lead a crawler nowhere new
        def links() -> list[tuple[str, str]]:
            return [(self.href(self.article_path(x)), x.title) for x in self.home_items() if x.role == "article"]
        try:
            text = resp.body.decode("utf-8")
        except UnicodeDecodeError:      # the charset faults' legacy bytes stay as they are
            return resp
        weight, chrome = self.ctx.weight, self.chrome
        i, q = W.variant(f"{self.key}:{path}", W.spans(weight, chrome))
        seed = f"{self.key}:{kind}:{weight}:{i}"
        pieces = self.memo(f"furniture:{seed}", lambda: W.furniture(chrome, seed, q, kind, links()))
        out = W.insert(text, pieces)
        if out is not text:
            resp.body = out.encode("utf-8")
        return resp

    def serve_fault(self, a: Article, req: Request) -> Response:
        kind = a.fault
        if kind is None:
            raise ValueError(f"{a.key} is not a fault article")
        if kind == "sitemap_url_404":
            return self.not_found()
        page = self.article_page(a, req) if kind in SERVES_THE_PAGE else None
        target = None
        if kind == "redirect_loop":
            target = self.url(self.loop_partner(a))
        elif kind == "redirect_offsite":
            target = self.ctx.trap_base() + encode_path(self.article_path(a))
        return F.respond(kind, self.ctx.fault_state, page, redirect_to=target)


IMAGE_EXT = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".ico")
ASSET_EXT = (".css", ".js", ".svg", ".woff2")
# Faults whose bytes are (a damaged or delayed copy of) the article page itself.
SERVES_THE_PAGE = {"http_500_transient", "http_429", "slow_body", "truncated", "huge", "huge_chunked"}


def challenge(site: Site, req: Request) -> Response:
    """A CDN bot challenge in front of the whole outlet: 403 for pages, 503 for feeds,
    sitemaps and robots.txt (the older "checking your browser" interstitial)."""
    host = req.headers.get("host", site.base)
    ray = hashlib.sha1(f"{site.key}{req.target}".encode()).hexdigest()[:16]
    machine = req.path.endswith((".xml", ".txt", "/feed/", "/feed", ".json", ".atom")) or "/rss" in req.path
    status = 503 if machine else 403
    body = CHALLENGE.replace("{host}", host).replace("{ray}", ray)
    return Response(status=status, body=body.encode("utf-8"), cacheable=False, headers=[
        ("Cache-Control", "private, max-age=0, no-store, no-cache, must-revalidate"),
        ("Server", "cloudflare"), ("cf-mitigated", "challenge"), ("CF-RAY", f"{ray}-FRA"), ("Server-Timing", "chlray;desc=\"" + ray + "\""),
    ])


CHALLENGE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><meta http-equiv="X-UA-Compatible" content="IE=Edge"><meta name="robots" content="noindex,nofollow"><meta name="viewport" content="width=device-width,initial-scale=1"><style>*{box-sizing:border-box;margin:0;padding:0}html{line-height:1.15;color:#313131;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial}body{display:flex;flex-direction:column;height:100vh;min-height:100vh}.main-content{margin:8rem auto;max-width:60rem;padding-left:1.5rem}</style><meta http-equiv="refresh" content="390"></head><body class="no-js"><div class="main-wrapper" role="main"><div class="main-content"><noscript><div id="challenge-error-title"><div class="h2"><span class="icon-wrapper"><div class="heading-icon warning-icon"></div></span><span id="challenge-error-text">Enable JavaScript and cookies to continue</span></div></div></noscript><h1 class="zone-name-title h1">{host}</h1><h2 id="challenge-running" class="h2">Checking if the site connection is secure</h2><div id="challenge-stage"></div><div id="challenge-body-text" class="core-msg spacer">{host} needs to review the security of your connection before proceeding.</div><form id="challenge-form" action="/?__cf_chl_f_tk=cf-challenge-{ray}" method="POST" enctype="application/x-www-form-urlencoded"><input type="hidden" name="md" value="{ray}"></form></div></div><script>(function(){window._cf_chl_opt={cvId: '3',cZone: "{host}",cType: 'managed',cRay: '{ray}',cHash: '{ray}',cFPWv: 'b'};var cpo=document.createElement('script');cpo.src='/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray={ray}';document.getElementsByTagName('head')[0].appendChild(cpo);}());</script><div class="footer" role="contentinfo"><div class="footer-inner"><div class="clearfix diagnostic-wrapper"><div class="ray-id">Ray ID: <code>{ray}</code></div></div><div class="text-center" id="footer-text">Performance &amp; security by <a rel="noopener noreferrer" href="https://www.cloudflare.com" target="_blank">Cloudflare</a></div></div></div></body></html>"""
