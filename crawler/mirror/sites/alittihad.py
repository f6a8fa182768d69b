"""Al-Khanadeq (alkhanadeq.org.lb), where the Al-Ittihad centre's study (seed 000) is carried.

A custom CMS (not WordPress): articles at /post/<sequential id>/<Arabic slug>, written raw
(unencoded) into links; the header date «الخميس 22 نيسان , 2021 01:42» (Levantine month
names, a space before the comma, 24-hour Beirut time); the label (تقدير موقف / مترجم / دراسة)
above the title; images under /static/media/pics/<W>x<H>/; the author after the body as
«الكاتب: …», followed by the sidebar block «روزنامة المحور».

Assumptions, marked UNVERIFIED in config/outlets.yaml too: /post/<id> without the slug
redirects (301) to the full URL (the config's id walk relies on it), and the Atom feed at
/atom.xml is INVENTED for the tests. The server sends no validators at all.
"""
from __future__ import annotations

import re

from crawler.mirror import dates
from crawler.mirror import weight as W
from crawler.mirror.catalog import Article
from crawler.mirror.render import Markup, esc, fill, join, paragraphs_html, xml
from crawler.mirror.server import Request, Response
from crawler.mirror.sites.base import Site
from crawler.mirror.sites.content import one_page, page_number

CATEGORIES = {1: "تقدير موقف", 2: "مترجم", 3: "دراسة", 4: "أخبار"}
PAGE_SIZE = 12


def slug(title: str) -> str:
    words = re.sub(r"[^\w\s-]", " ", title).split()
    return "-".join(words)


class AlKhanadeq(Site):
    key = "alittihad"
    ip = "127.0.0.11"
    name = "الخنادق"
    timezone = "Asia/Beirut"
    validators = "none"
    server_header = "nginx/1.18.0 (Ubuntu)"
    robots_disallow = ("/admin/", "/search")
    stub_paths = (r"/search",)
    # A custom CMS: a moderate page, the «روزنامة المحور» sidebar already in its template
    chrome = W.Chrome(flavour="custom", span=(0.10, 0.65), nav=(
        ("/", "الرئيسية"), ("/category/1/تقدير-موقف", "تقدير موقف"), ("/category/2/مترجم", "مترجم"),
        ("/category/3/دراسة", "دراسات"), ("/category/4/أخبار", "أخبار"), ("/page/about", "من نحن"),
        ("/page/contact", "اتصل بنا"), ("/search", "بحث")), sister_sites=("alkhanadeq.com", "irtvu.com"))

    def article_path(self, a: Article) -> str:
        return f"/post/{a.site_id}/{slug(a.title)}"

    def alias_paths(self, a: Article) -> dict[str, str]:
        return {f"/post/{a.site_id}": "redirect", f"/post/{a.site_id}/": "redirect"}

    def href(self, path: str) -> str:
        return path               # this CMS writes raw Arabic, host-relative links

    def hidden_rules(self) -> list[str]:
        return [f"/post/{a.site_id}/" for a in self.hidden()]

    def loop_partner(self, a: Article) -> str:
        return f"/post/{a.site_id + 1}/{slug(a.title)}"

    def fault_section(self) -> str:
        return "أخبار"

    def category_of(self, a: Article) -> int:
        return next((n for n, name in CATEGORIES.items() if name == a.section), 4)

    # --- routes --------------------------------------------------------------------------
    def routes(self):
        return [
            (re.compile(r"/"), self.home),
            (re.compile(r"/category/(\d+)/[^/]*"), self.category),
            (re.compile(r"/atom\.xml"), self.atom),
            (re.compile(r"/page/(about|contact)"), self.static_page),
        ]

    def layout(self, title: str, head: str, content: Markup) -> str:
        return fill("alittihad/layout.html", title=title, head=Markup(head), content=content, year=self.ctx.now.year)

    def calendar(self, exclude: Article | None = None) -> Markup:
        return join(f'<li><span class="cal-date">{esc(dates.arabic_day(a.when, self.timezone))}</span> '
                    f'<a href="{self.href(self.article_path(a))}">{esc(a.title)}</a></li>'
                    for a in self.latest(4, exclude))

    def items_html(self, items: list[Article]) -> Markup:
        return join(f'      <div class="post-card"><a href="{self.href(self.article_path(a))}">'
                    f'<img src="{self.image(a, 400, 225)}" alt=""><span class="label">{esc(a.section)}</span>'
                    f'<h3>{esc(a.title)}</h3></a><span class="date">{esc(dates.levantine_line(a.when))}</span></div>'
                    for a in items)

    def home(self, req: Request, m) -> Response:
        items = self.home_items()
        content = fill("alittihad/listing.html", heading="آخر المواضيع", items=self.items_html(items),
                       pagination=Markup('<a href="/category/4/أخبار">المزيد</a>'), calendar=self.calendar())
        head = '<meta name="description" content="الخنادق: موقع متخصص في الشؤون العسكرية والأمنية والاستراتيجية">'
        return Response.html(self.layout("الخنادق", head, content), last_modified=self.last_modified(items))

    def category(self, req: Request, m) -> Response:
        n = int(m.group(1))
        if n not in CATEGORIES:
            return self.not_found()
        items = [a for a in self.listed_on_pages() if self.category_of(a) == n]
        page = page_number(req, otherwise=None)
        found = one_page(items, page, PAGE_SIZE)
        if found is None:
            return self.not_found()
        chunk, page, pages = found
        path = f"/category/{n}/{slug(CATEGORIES[n])}"
        links = []
        if page > 1:
            links.append(f'<a class="prev" href="{path}?page={page - 1}">السابق</a>')
        links += [f'<a href="{path}?page={i}">{i}</a>' if i != page else f'<span class="active">{i}</span>'
                  for i in range(1, pages + 1)]
        if page < pages:
            links.append(f'<a class="next" rel="next" href="{path}?page={page + 1}">التالي</a>')
        content = fill("alittihad/listing.html", heading=CATEGORIES[n], items=self.items_html(chunk),
                       pagination=join(links, " "), calendar=self.calendar())
        return Response.html(self.layout(f"{CATEGORIES[n]} - الخنادق", "", content),
                             last_modified=self.last_modified(chunk) or self.ctx.now)

    def static_page(self, req: Request, m) -> Response:
        content = Markup('<div class="row"><div class="col-lg-8"><h1>من نحن</h1><p>الخنادق موقع متخصص في الشؤون العسكرية '
                         'والأمنية والاستراتيجية.</p></div></div>')
        return Response.html(self.layout("من نحن - الخنادق", "", content), last_modified=self.ctx.now)

    def image(self, a: Article, w: int = 800, h: int = 450) -> str:
        return f"/static/media/pics/{w}x{h}/{a.site_id:05d}{a.site_id % 89:02d}.jpg"

    # --- the article page ----------------------------------------------------------------
    def render_article(self, a: Article, req: Request, how: str = "page") -> Response:
        url = self.url(self.article_path(a))
        head = "\n".join([
            f'<meta name="description" content="{esc(a.lead(160))}">',
            f'<meta property="og:title" content="{esc(a.title)}">',
            f'<meta property="og:url" content="{url}">',
            f'<meta property="og:image" content="{self.base}{self.image(a)}">',
            '<meta property="og:type" content="article">',
        ])
        related = [f'<li><a href="{self.href(self.article_path(r))}">{esc(r.section)}: {esc(r.title)}</a></li>'
                   for r in self.related(a)]
        related += [f'<li><a href="#">{esc(t)}</a></li>' for t in a.related]
        n = self.category_of(a)
        content = fill(
            "alittihad/article.html", date_line=dates.levantine_line(a.when), label=a.section or "أخبار",
            label_href=f"/category/{n}/{slug(CATEGORIES[n])}", title=a.title, image=self.image(a),
            body=paragraphs_html(a.paragraphs, "h3"), author=a.author or "الخنادق", share=url,
            related=join(related), calendar=self.calendar(a), latest=join(
                f'<li><a href="{self.href(self.article_path(r))}">{esc(r.title)}</a></li>' for r in self.latest(5, a)),
        )
        return Response.html(self.layout(f"{a.title} - الخنادق", head, content), last_modified=a.modified)

    def related(self, a: Article) -> list[Article]:
        same = [r for r in self.listed_on_pages() if r is not a and r.role == "article" and r.section != "أخبار"]
        start = a.site_id % max(1, len(same))
        return (same[start:] + same[:start])[:3]

    # --- feed ----------------------------------------------------------------------------
    def atom(self, req: Request, m) -> Response:
        items = self.feed_items()
        updated = self.last_modified(items) or self.ctx.now
        entries = []
        for a in items:
            entries.append(
                f"  <entry>\n    <title>{xml(a.title)}</title>\n"
                f'    <link rel="alternate" type="text/html" href="{xml(self.url(self.article_path(a)))}"/>\n'
                f"    <id>tag:alkhanadeq.org.lb,{a.when.year}:post-{a.site_id}</id>\n"
                f"    <published>{dates.iso_in(a.when, self.timezone)}</published>\n"
                f"    <updated>{dates.iso_in(a.changed, self.timezone)}</updated>\n"
                f"    <author><name>{xml(a.author or 'الخنادق')}</name></author>\n"
                f'    <category term="{xml(a.section)}"/>\n'
                f"    <summary>{xml(a.lead(250))}</summary>\n  </entry>")
        body = ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ar">\n'
                f"  <title>الخنادق</title>\n  <subtitle>الشؤون العسكرية والأمنية والاستراتيجية</subtitle>\n"
                f'  <link rel="alternate" type="text/html" href="{self.url("/")}"/>\n'
                f'  <link rel="self" type="application/atom+xml" href="{self.url("/atom.xml")}"/>\n'
                f"  <id>tag:alkhanadeq.org.lb,2020:feed</id>\n  <updated>{dates.iso_in(updated, self.timezone)}</updated>\n"
                + "\n".join(entries) + "\n</feed>\n")
        return Response(body=body.encode("utf-8"), content_type="application/atom+xml; charset=utf-8", last_modified=updated)

    # --- truth ---------------------------------------------------------------------------
    def channels(self, a: Article) -> list[str]:
        return super().channels(a) + ["listing", "idwalk"]

    def boilerplate(self, a: Article) -> list[str]:
        return ["روزنامة المحور", f"الكاتب: {a.author or 'الخنادق'}", dates.levantine_line(a.when),
                "جميع الحقوق محفوظة © الخنادق", "مواضيع ذات صلة"]
