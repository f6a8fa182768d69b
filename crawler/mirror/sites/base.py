"""What every mirrored outlet shares: routing, robots.txt, the challenge page, publishing,
and the ground truth of what a crawl of it must produce.

A site subclass declares its facts (host, name, time zone, robots rules, validators) and its
pages (article URL, article page, listings, feeds, sitemaps); `Site.handle` does the rest.
"""
from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from crawler.mirror import faults as F
from crawler.mirror import weight as W
from crawler.mirror.catalog import Article, utc_iso
from crawler.mirror.server import Request, Response

# Characters left as they are when a path is percent-encoded (RFC 3986 path characters).
PATH_SAFE = "/:@!$&'()*+,;=-._~%"


def encode_path(path: str) -> str:
    return quote(path, safe=PATH_SAFE)


@dataclass
class Context:
    """What a site needs from its Mirror."""
    now: datetime
    faults: bool
    fault_state: F.FaultState
    trap_base: Callable[[], str]          # base URL of the off-site trap server
    blocked: Callable[[str], bool]
    lock: threading.RLock = field(default_factory=threading.RLock)
    weight: str = "real"                  # page furniture: light | real | heavy (see weight.py)


Route = tuple[re.Pattern, Callable[[Request, re.Match], Response]]


class Site:
    key = ""                 # the outlet's key in config/outlets.yaml
    ip = ""                  # its loopback address
    name = ""
    lang = "ar"
    timezone = "UTC"
    validators = "honest"    # honest | lying | last-modified | none (see server.py)
    server_header = "nginx"
    home_size = 20
    feed_size = 20
    robots_disallow: tuple[str, ...] = ()
    robots_extra = ""        # extra groups (other user agents) appended verbatim
    stub_paths: tuple[str, ...] = ()   # other pages of the site (regexes): served as small stubs
    day_precision = False    # the page gives a date without a time
    in_config = True         # False: the site is not in the shipped config/outlets.yaml
    chrome: W.Chrome | None = None     # the furniture around its pages (weight.py); None: none

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

    # --- URLs ---------------------------------------------------------------------------
    def url(self, path: str) -> str:
        """Absolute, percent-encoded: the form a client sends and the truth records."""
        return self.base + encode_path(path)

    def raw_url(self, path: str) -> str:
        return self.base + path

    def href(self, path: str) -> str:
        """What this CMS writes into href attributes; most encode, some don't (override)."""
        return self.url(path)

    def article_path(self, a: Article) -> str:
        raise NotImplementedError

    def canonical_path(self, a: Article) -> str:
        return self.article_path(a)

    def alias_paths(self, a: Article) -> dict[str, str]:
        """Other paths that reach the article: path -> 'same' (served as is) or 'redirect'."""
        return {}

    # --- content ------------------------------------------------------------------------
    def memo(self, name: str, build: Callable[[], object]):
        """Per-version cache: cleared whenever the site's content changes."""
        key = f"{self.version}:{name}"
        hit = self._memo.get(key)
        if hit is None:
            with self.ctx.lock:
                hit = self._memo.get(key)
                if hit is None:
                    if len(self._memo) > 2000:
                        self._memo.clear()
                    hit = build()
                    self._memo[key] = hit
        return hit

    def changed(self) -> None:
        with self.ctx.lock:
            self.version += 1
            self._memo.clear()

    def listed(self) -> list[Article]:
        """Everything the site links to, newest first (published articles, the hidden one,
        fault pages); not the reserves that are still unpublished."""
        def build():
            items = [a for a in self.articles if a.published is not None and a.role != "reserve"]
            return sorted(items, key=lambda a: (a.published, a.site_id), reverse=True)
        return self.memo("listed", build)

    def listed_on_pages(self) -> list[Article]:
        """What home pages, sections and feeds show (a few faults live only in sitemaps)."""
        return self.memo("on_pages", lambda: [a for a in self.listed() if a.fault not in SITEMAP_ONLY])

    def home_items(self) -> list[Article]:
        """The latest articles; the page robots.txt forbids is always among them (pinned),
        so every crawl of the home page meets a link it must not follow."""
        def build():
            items = self.listed_on_pages()[: self.home_size]
            return items + [a for a in self.hidden() if a not in items and a.published]
        return self.memo("home", build)

    def feed_items(self) -> list[Article]:
        return self.listed_on_pages()[: self.feed_size]

    def by_path(self) -> dict[str, tuple[Article, str]]:
        def build():
            table: dict[str, tuple[Article, str]] = {}
            for a in self.listed():
                table[self.article_path(a)] = (a, "page")
                for p, how in self.alias_paths(a).items():
                    table.setdefault(p, (a, how))
                if a.fault == "redirect_loop":
                    table.setdefault(self.loop_partner(a), (a, "loop"))
            return table
        return self.memo("by_path", build)

    def latest(self, n: int, exclude: Article | None = None) -> list[Article]:
        return [a for a in self.listed_on_pages() if a is not exclude and a.role == "article"][:n]

    def last_modified(self, items: Iterable[Article]) -> datetime | None:
        dates = [a.modified or a.published for a in items if a.published]
        return max(dates) if dates else None

    # --- serving ------------------------------------------------------------------------
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

    def loop_partner(self, a: Article) -> str:
        """The second URL of a redirect loop (must also match the article pattern)."""
        raise NotImplementedError

    # --- robots.txt ---------------------------------------------------------------------
    def hidden(self) -> list[Article]:
        return [a for a in self.articles if a.role == "hidden"]

    def hidden_rules(self) -> list[str]:
        """Disallow lines that cover the hidden article (linked from pages, never to be fetched)."""
        return [self.article_path(a) for a in self.hidden()]

    def sitemap_urls(self) -> list[str]:
        return []

    def robots(self) -> str:
        lines = ["User-agent: *"]
        lines += [f"Disallow: {encode_path(p)}" for p in (*self.robots_disallow, *self.hidden_rules())]
        lines.append("")
        if self.robots_extra:
            lines.append(self.robots_extra.strip())
            lines.append("")
        lines += [f"Sitemap: {u}" for u in self.sitemap_urls()]
        return "\n".join(lines).strip() + "\n"

    def _check_hidden(self) -> None:
        """A Disallow rule is a prefix: make sure no listed article falls under it by accident."""
        rules = [encode_path(p) for p in self.hidden_rules()]
        for a in self.articles:
            if a.role == "hidden" or a.published is None and a.role != "reserve":
                continue
            path = encode_path(self.article_path(a))
            for rule in rules:
                if path.startswith(rule):
                    raise RuntimeError(f"{self.key}: {path} falls under the robots rule {rule}")

    # --- faults ---------------------------------------------------------------------------
    def fault_articles(self) -> list[Article]:
        """Listing entries for this outlet's faults that have no article of their own."""
        kinds = [f.kind for f in F.FAULTS if f.outlet == self.key and not f.content and f.kind in PAGE_FAULTS]
        donor = next((a for a in self.articles if a.role == "reserve"), self.articles[0])
        top = max(a.site_id for a in self.articles)
        out = []
        for i, kind in enumerate(kinds):
            published = self.ctx.now.replace(second=0, microsecond=0) - timedelta(minutes=37 + 211 * i)
            out.append(Article(
                key=f"{self.key}-fault-{kind}", outlet=self.key, role=f"fault:{kind}", lang="ar",
                title=F.HEADLINES[(i + len(self.key)) % len(F.HEADLINES)], paragraphs=list(donor.paragraphs),
                author=donor.author, site_id=top + 3 + 2 * i, section=self.fault_section(),
                published=published, modified=published, source="fault", source_id=kind,
                selection_group="fault", recent=True,
            ))
        return out

    def fault_section(self) -> str:
        return ""

    def fault_urls(self) -> dict[str, str]:
        urls = {}
        for a in self.listed():
            if a.fault:
                urls[a.fault] = self.url(self.article_path(a))
        return urls

    # --- publishing ---------------------------------------------------------------------
    def next_site_id(self) -> int:
        return max(a.site_id for a in self.articles) + 1

    def publish(self, article: Article) -> Article:
        with self.ctx.lock:
            self.articles.append(article)
            self.changed()
        return article

    # --- ground truth -------------------------------------------------------------------
    def channels(self, a: Article) -> list[str]:
        """Where the article is linked: home (page 1), home_pagination (later home pages),
        section (the sections the shipped config lists), listing (other listing pages),
        feed, sitemap, idwalk (reachable by the config's backfill id template)."""
        out = []
        if a in self.home_items():
            out.append("home")
        elif self.depth(a).get("home"):
            out.append("home_pagination")
        if a in self.feed_items() and self.has_feed():
            out.append("feed")
        return out

    def depth(self, a: Article) -> dict[str, int]:
        """The page (1 = first) on which the article is listed in paginated channels."""
        return {"home": 1} if a in self.home_items() else {}

    def paged_depth(self, items: list[Article], a: Article, size: int) -> int | None:
        return items.index(a) // size + 1 if a in items else None

    def has_feed(self) -> bool:
        return True

    def boilerplate(self, a: Article) -> list[str]:
        """Strings the page shows around the article that must not end up in its text."""
        return []

    def chrome_boilerplate(self) -> list[str]:
        return self.chrome.boilerplate() if self.chrome is not None and self.ctx.weight != "light" else []

    def expected(self) -> list[Article]:
        """The articles a complete crawl must index: published ones, and the fault pages whose
        article can be recovered."""
        return [a for a in self.listed()
                if a.role == "article" or (a.fault and F.BY_KIND[a.fault].indexed)]

    def truth_entry(self, a: Article) -> dict:
        aliases = self.alias_paths(a).items()
        also = [self.url(p) for p, how in aliases if how != "redirect"]
        moved = [self.url(p) for p, how in aliases if how == "redirect"]
        return {
            "outlet": self.key, "key": a.key, "site_id": a.site_id,
            "url": self.url(self.article_path(a)), "canonical_url": self.url(self.canonical_path(a)),
            "also_at": also, "redirects_from": moved, "title": a.title, "text": a.text, "summary": a.summary,
            "author": a.author, "published_at": utc_iso(a.published),
            "published_date": a.when.astimezone(ZoneInfo(self.timezone)).date().isoformat(),
            "published_precision": "day" if self.day_precision else "minute",
            "modified_at": utc_iso(a.modified), "lang": a.lang, "recent": a.recent,
            "channels": self.channels(a), "depth": self.depth(a), "fault": a.fault, "seed": a.seed,
            "duplicate_group": a.duplicate_group, "source_id": a.source_id,
            "selection_group": a.selection_group,
            "boilerplate": [b for b in self.boilerplate(a) + self.chrome_boilerplate()
                            if b not in a.text and b not in a.title],
        }


IMAGE_EXT = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".ico")
ASSET_EXT = (".css", ".js", ".svg", ".woff2")
# Faults served at an article URL (the others are sitemap or feed faults).
PAGE_FAULTS = {"http_503", "http_500_transient", "http_429", "timeout", "slow_body", "sitemap_url_404",
               "charset_none", "charset_meta_only", "charset_wrong", "invalid_utf8", "redirect_loop",
               "redirect_offsite", "redirect_private", "truncated", "empty", "huge", "huge_chunked", "pdf",
               "image", "binary_as_html", "gzip_bomb"}
SITEMAP_ONLY = {"sitemap_url_404"}
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
