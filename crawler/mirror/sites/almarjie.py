"""Al-Marjie (www.almarjie-paris.com), published by CEMO Paris, as outlets.md describes it.

An old ASP.NET CMS shared with sister sites: articles at /<numeric id>, sequential with gaps
(deleted articles answer 404, so an id walk meets them); every page starts with the banner
«يصدر عن مركز سيمو - باريس» and ad slots that render as the text `ad a b` / `ad ad ad`; the
article shows title, the date line «الأحد 04/أبريل/2021 - 10:20 ص» (Cairo wall time, 12-hour
ص/م, no zone), the «المرجع» label, the author, a «طباعة» print link, then the body.

The RSS feed at /rss/1 is INVENTED for the tests: sister sites use /rss/<n>, this one's feeds
are unverified. Validators lie (a new ETag on every response), as dynamic pages often do.
"""
from __future__ import annotations

import re
from urllib.parse import quote

from crawler.mirror import dates
from crawler.mirror import faults as F
from crawler.mirror import weight as W
from crawler.mirror.catalog import Article
from crawler.mirror.render import Markup, esc, fill, join, paragraphs_html, xml
from crawler.mirror.server import Request, Response
from crawler.mirror.sites.base import Site
from crawler.mirror.sites.content import one_page, page_number

LISTS = {1: "ملفات", 2: "تقارير", 3: "حوارات", 4: "دراسات"}
PAGE_SIZE = 20
UTF8_META = '<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />'
CP1256_META = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1256" />'
BANNER = "يصدر عن مركز سيمو - باريس"


class AlMarjie(Site):
    key = "almarjie"
    ip = "127.0.0.12"
    name = "المرجع"
    timezone = "Africa/Cairo"
    validators = "lying"
    server_header = "Microsoft-IIS/10.0"
    robots_disallow = ("/print/", "/Search", "/admin/")
    stub_paths = (r"/(Writer|Tags)/[^/]+", r"/Search")
    # ASP.NET WebForms: view state and event validation fields, ad slots, sister sites' links
    chrome = W.Chrome(flavour="aspnet", span=(0.15, 0.75), nav=(
        ("/", "الرئيسية"), ("/List/1/ملفات", "ملفات"), ("/List/2/تقارير", "تقارير"), ("/List/3/حوارات", "حوارات"),
        ("/List/4/دراسات", "دراسات"), ("/Page/1/من-نحن", "من نحن"), ("/Page/2/اتصل-بنا", "اتصل بنا"),
        ("/Page/3/سياسة-الخصوصية", "سياسة الخصوصية"), ("/rss/1", "RSS")),
        sister_sites=("www.acrseg.org", "www.islamist-movements.com", "www.albawabhnews.com"))

    def article_path(self, a: Article) -> str:
        return f"/{a.site_id}"

    def hidden_rules(self) -> list[str]:
        # No wildcard needed: ids are unique prefixes here (checked by Site._check_hidden).
        return [self.article_path(a) for a in self.hidden()]

    # --- routes --------------------------------------------------------------------------
    def routes(self):
        return [
            (re.compile(r"/"), self.home),
            (re.compile(r"/(\d+)/"), self.trailing_slash),
            (re.compile(r"/print/(\d+)"), self.print_page),
            (re.compile(r"/rss/1"), self.rss),
            (re.compile(r"/List/(\d+)/[^/]*"), self.list_page),
            (re.compile(r"/Page/\d+/[^/]*"), self.static_page),
        ]

    def layout(self, title: str, head: str, content: Markup, form_action: str, charset_meta: str = UTF8_META) -> str:
        return fill("almarjie/layout.html", title=title, head=Markup(head), content=content, form_action=form_action,
                    charset_meta=Markup(charset_meta), year=self.ctx.now.year)

    def items_html(self, items: list[Article]) -> Markup:
        return join(f'      <li><a href="{self.href(self.article_path(a))}"><img src="{self.image(a)}" alt="" />'
                    f'<span class="title">{esc(a.title)}</span></a><span class="date">{esc(self.date_line(a))}</span></li>'
                    for a in items)

    def home(self, req: Request, m) -> Response:
        items = self.home_items()
        content = fill("almarjie/home.html", items=self.items_html(items), most_read=self.most_read())
        head = ('<meta name="description" content="المرجع: بوابة الحركات الإسلامية - مركز سيمو باريس" />\n'
                f'<link rel="canonical" href="{self.url("/")}" />')
        return Response.html(self.layout("المرجع", head, content, "/"), headers=[("X-Powered-By", "ASP.NET")],
                             last_modified=self.last_modified(items))

    def list_page(self, req: Request, m) -> Response:
        n = int(m.group(1))
        if n not in LISTS:
            return self.not_found()
        items = [a for a in self.listed_on_pages() if a.site_id % len(LISTS) + 1 == n]
        page = page_number(req, otherwise=1)
        found = one_page(items, page, PAGE_SIZE)
        if found is None:
            return self.not_found()
        chunk, page, pages = found
        path = f"/List/{n}/{LISTS[n]}"
        nav = " ".join(f'<a href="{self.href(path)}?page={i}">{i}</a>' if i != page else f"<span>{i}</span>"
                       for i in range(1, pages + 1))
        content = Markup(f'<div class="col-md-8"><h1>{esc(LISTS[n])}</h1><ul class="newslist">\n{self.items_html(chunk)}\n'
                         f'</ul><div class="pager">{nav}</div></div>')
        return Response.html(self.layout(f"{LISTS[n]} - المرجع", "", content, path),
                             last_modified=self.last_modified(chunk) or self.ctx.now)

    def trailing_slash(self, req: Request, m) -> Response:
        hit = next((a for a in self.listed() if a.site_id == int(m.group(1))), None)
        if hit is None or hit.fault:
            return self.not_found()
        return self.render_article(hit, req)

    def static_page(self, req: Request, m) -> Response:
        content = Markup('<div class="col-md-12"><h1>من نحن</h1><p>المرجع بوابة متخصصة في شؤون الحركات الإسلامية، '
                         'يصدرها مركز سيمو في باريس.</p></div>')
        return Response.html(self.layout("من نحن - المرجع", "", content, req.path), last_modified=self.ctx.now)

    def most_read(self, exclude: Article | None = None) -> Markup:
        items = self.latest(8, exclude)
        items = sorted(items, key=lambda a: a.site_id % 5)[:5]
        return join(f'<li><a href="{self.href(self.article_path(a))}">{esc(a.title)}</a></li>' for a in items)

    def image(self, a: Article) -> str:
        return f"/UploadCache/libfiles/{a.site_id // 1000}/{a.site_id % 10}/600x338o/{a.site_id}.jpg"

    def date_line(self, a: Article) -> str:
        return dates.egyptian_line(a.when, variant_ibril=bool(a.site_id % 2))

    # --- the article page ----------------------------------------------------------------
    def render_article(self, a: Article, req: Request, how: str = "page", charset_meta: str = UTF8_META) -> Response:
        page = self.article_html(a, charset_meta)
        return Response.html(page, headers=[("X-Powered-By", "ASP.NET")], last_modified=a.modified)

    def article_html(self, a: Article, charset_meta: str = UTF8_META) -> str:
        url = self.url(self.article_path(a))
        head = "\n".join([
            f'<meta name="description" content="{esc(a.lead(160))}" />',
            f'<meta name="keywords" content="{esc("، ".join(a.keywords))}" />',
            f'<link rel="canonical" href="{url}" />',
            f'<meta property="og:title" content="{esc(a.title)}" />',
            f'<meta property="og:url" content="{url}" />',
            f'<meta property="og:image" content="{self.base}{self.image(a)}" />',
            '<meta property="og:type" content="article" />',
        ])
        content = fill(
            "almarjie/article.html", title=a.title, date_line=self.date_line(a), author=a.author or "",
            writer_href="/Writer/" + quote(a.author or ""), print_href=f"/print/{a.site_id}", image=self.image(a),
            body=paragraphs_html(a.paragraphs, wysiwyg=True),
            tags=join((f'<a href="/Tags/{quote(k)}">{esc(k)}</a>' for k in a.keywords), " "),
            most_read=self.most_read(a),
        )
        return self.layout(f"{a.title} - المرجع", head, content, self.article_path(a), charset_meta)

    def print_page(self, req: Request, m) -> Response:
        hit = next((a for a in self.listed() if a.site_id == int(m.group(1))), None)
        if hit is None:
            return self.not_found()
        body = (f'<html dir="rtl"><head><meta charset="utf-8"><title>{esc(hit.title)}</title></head><body onload="window.print()">'
                f"<h1>{esc(hit.title)}</h1><p>{esc(self.date_line(hit))}</p>{paragraphs_html(hit.paragraphs)}</body></html>")
        return Response.html(body, last_modified=hit.modified)

    def serve_fault(self, a: Article, req: Request) -> Response:
        kind = a.fault
        if kind == "charset_none":
            return Response(body=F.windows_1256(self.article_html(a, "")), content_type="text/html",
                            last_modified=a.modified)
        if kind == "charset_meta_only":
            return Response(body=F.windows_1256(self.article_html(a, CP1256_META)), content_type="text/html",
                            last_modified=a.modified)
        if kind == "charset_wrong":
            return Response(body=F.windows_1256(self.article_html(a, "")), content_type="text/html; charset=utf-8",
                            last_modified=a.modified)
        if kind == "invalid_utf8":
            return Response(body=F.invalid_utf8(self.article_html(a).encode("utf-8")),
                            content_type="text/html; charset=utf-8", last_modified=a.modified)
        return super().serve_fault(a, req)

    # --- feed ----------------------------------------------------------------------------
    def rss(self, req: Request, m) -> Response:
        items = self.feed_items()
        rows = [f"<item><title>{xml(a.title)}</title><link>{self.url(self.article_path(a))}</link>"
                f"<description>{xml(a.lead(250))}</description><pubDate>{dates.rfc822(a.when)}</pubDate>"
                f"<guid>{self.url(self.article_path(a))}</guid></item>" for a in items]
        last = self.last_modified(items) or self.ctx.now
        body = ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>المرجع</title>'
                f"<link>{self.url('/')}</link><description>المرجع - آخر الأخبار</description><language>ar</language>"
                f"<lastBuildDate>{dates.rfc822(last)}</lastBuildDate>" + "".join(rows) + "</channel></rss>\n")
        return Response(body=body.encode("utf-8"), content_type="application/rss+xml; charset=utf-8",
                        last_modified=last)

    # --- truth ---------------------------------------------------------------------------
    def channels(self, a: Article) -> list[str]:
        return super().channels(a) + ["listing", "idwalk"]

    def boilerplate(self, a: Article) -> list[str]:
        return [BANNER, "ad a b", "ad ad ad", "طباعة", self.date_line(a), "الأكثر قراءة", "جميع الحقوق محفوظة لمركز سيمو"]
