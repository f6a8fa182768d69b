"""The portal republishing «المرصد الاستراتيجي» (best candidate www.islamsyria.com).

Articles at /portal/article/show/<id>; the header line «الكاتب : … التاريخ : 15 ديسمبر 2017 م
المشاهدات : 4130» gives a date without a time (Damascus calendar, Egyptian month names,
trailing م) and a view counter that goes up on every request, as such portals do, so the
page's bytes change each time it is fetched while the article does not. Listings at
/portal/article/list/<category>?page=N. The JSON Feed at /portal/feed.json is INVENTED for the
tests (so that RSS, Atom and JSON Feed are all exercised). Last-Modified only, no ETag.
"""
from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from datetime import time as dtime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from crawler.mirror import dates
from crawler.mirror import weight as W
from crawler.mirror.catalog import Article, utc_iso
from crawler.mirror.render import Markup, esc, fill, join, paragraphs_html
from crawler.mirror.server import Request, Response
from crawler.mirror.sites.base import Site
from crawler.mirror.sites.content import one_page, page_number

LIST_ID = 12
PAGE_SIZE = 15


class IslamSyria(Site):
    key = "strategic_observatory"
    ip = "127.0.0.14"
    name = "المرصد الاستراتيجي"
    timezone = "Asia/Damascus"
    validators = "last-modified"
    server_header = "Apache/2.4.41 (Ubuntu)"
    day_precision = True
    stub_paths = (r"/portal/search", r"/portal/author/[^/]+", r"/portal/article/(print|send)/\d+")
    home_size = 15
    robots_disallow = ("/portal/search", "/portal/article/print/", "/portal/article/send/", "/portal/admin/")
    # An old portal: little script, few widgets
    chrome = W.Chrome(flavour="portal", span=(0.0, 0.40), nav=(
        ("/", "الرئيسية"), ("/portal/article/list/12", "المرصد الاستراتيجي"), ("/portal/article/list/7", "مقالات"),
        ("/portal/page/about", "عن الموقع"), ("/portal/page/contact", "اتصل بنا"), ("/portal/search", "البحث")))

    def __init__(self, ctx, articles):
        super().__init__(ctx, articles)
        self._views: dict[str, int] = {}
        self._views_lock = threading.Lock()

    def article_path(self, a: Article) -> str:
        return f"/portal/article/show/{a.site_id}"

    def fault_section(self) -> str:
        return "المرصد الاستراتيجي"

    def day(self, a: Article) -> datetime:
        """The only date the page gives: midnight of the Damascus calendar day."""
        tz = ZoneInfo(self.timezone)
        return datetime.combine(a.when.astimezone(tz).date(), dtime(0, 0), tzinfo=tz)

    # --- routes --------------------------------------------------------------------------
    def routes(self):
        return [
            (re.compile(r"/"), self.home),
            (re.compile(r"/portal/?"), lambda req, m: Response.redirect(self.url("/"))),
            (re.compile(r"/portal/article/list/(\d+)"), self.listing),
            (re.compile(r"/portal/feed\.json"), self.json_feed),
            (re.compile(r"/portal/page/(about|contact)"), self.static_page),
        ]

    def layout(self, title: str, head: str, content: Markup) -> str:
        return fill("islamsyria/layout.html", title=title, head=Markup(head), content=content, year=self.ctx.now.year)

    def items_html(self, items: list[Article]) -> Markup:
        return join(f'<tr><td class="list-title"><a href="{self.href(self.article_path(a))}">{esc(a.title)}</a></td>'
                    f'<td class="list-date">{esc(dates.portal_date(a.when))}</td></tr>' for a in items)

    def home(self, req: Request, m) -> Response:
        items = self.home_items()
        content = Markup('<div class="box"><h2>أحدث المقالات</h2><table class="list">' + self.items_html(items)
                         + f'</table><a class="more" href="/portal/article/list/{LIST_ID}">المزيد</a></div>')
        return Response.html(self.layout("هيئة الشام الإسلامية - المرصد الاستراتيجي", "", content),
                             headers=[("X-Powered-By", "PHP/7.4.3")], last_modified=self.last_modified(items))

    def listing(self, req: Request, m) -> Response:
        if int(m.group(1)) != LIST_ID:
            return self.stub(req)        # the portal's other categories: not mirrored
        items = self.listed_on_pages()
        page = page_number(req, otherwise=None)
        found = one_page(items, page, PAGE_SIZE)
        if found is None:
            return self.not_found()
        chunk, page, pages = found
        path = f"/portal/article/list/{LIST_ID}"
        head = []
        if page < pages:
            head.append(f'<link rel="next" href="{path}?page={page + 1}">')
        if page > 1:
            head.append(f'<link rel="prev" href="{path}?page={page - 1}">')
        nav = " ".join(f'<a href="{path}?page={i}">{i}</a>' if i != page else f"<b>{i}</b>" for i in range(1, pages + 1))
        content = Markup(f'<div class="box"><h2>المرصد الاستراتيجي</h2><table class="list">{self.items_html(chunk)}'
                         f'</table><div class="pages">{nav}</div></div>')
        return Response.html(self.layout(f"المرصد الاستراتيجي - صفحة {page}", "\n".join(head), content),
                             last_modified=self.last_modified(chunk) or self.ctx.now)

    def static_page(self, req: Request, m) -> Response:
        content = Markup('<div class="box"><h2>عن الموقع</h2><p>موقع هيئة الشام الإسلامية.</p></div>')
        return Response.html(self.layout("عن الموقع", "", content), last_modified=self.ctx.now)

    # --- the article page ----------------------------------------------------------------
    def views(self, a: Article, count: bool) -> int:
        with self._views_lock:
            n = self._views.get(a.key, a.views)
            if count:
                n += 1
                self._views[a.key] = n
            return n

    def render_article(self, a: Article, req: Request, how: str = "page") -> Response:
        views = self.views(a, count=req.method == "GET")
        url = self.url(self.article_path(a))
        head = "\n".join([f'<meta name="description" content="{esc(a.lead(160))}">',
                          f'<meta property="og:title" content="{esc(a.title)}">',
                          f'<meta property="og:url" content="{url}">', f'<link rel="canonical" href="{url}">'])
        related = [r for r in self.latest(6, a)][:4]
        content = fill("islamsyria/article.html", title=a.title, author=a.author or "",
                       author_href="/portal/author/" + quote(a.author or ""), date_text=dates.portal_date(a.when),
                       views=views, body=paragraphs_html(a.paragraphs, "h3"), id=a.site_id,
                       related=join(f'<li><a href="{self.href(self.article_path(r))}">{esc(r.title)}</a></li>' for r in related))
        return Response.html(self.layout(f"{a.title} - هيئة الشام الإسلامية", head, content),
                             headers=[("X-Powered-By", "PHP/7.4.3")], last_modified=a.modified)

    # --- feed ----------------------------------------------------------------------------
    def json_feed(self, req: Request, m) -> Response:
        items = self.feed_items()
        feed = {
            "version": "https://jsonfeed.org/version/1.1", "title": "المرصد الاستراتيجي",
            "home_page_url": self.url("/"), "feed_url": self.url("/portal/feed.json"), "language": "ar",
            "items": [{
                "id": str(a.site_id), "url": self.url(self.article_path(a)), "title": a.title,
                "summary": a.lead(250), "date_published": self.day(a).isoformat(),
                "authors": [{"name": a.author}] if a.author else [],
            } for a in items],
        }
        return Response(body=json.dumps(feed, ensure_ascii=False, indent=1).encode("utf-8"),
                        content_type="application/feed+json; charset=utf-8",
                        last_modified=self.last_modified(items) or self.ctx.now)

    # --- truth ---------------------------------------------------------------------------
    def channels(self, a: Article) -> list[str]:
        return super().channels(a) + ["listing", "idwalk"]

    def boilerplate(self, a: Article) -> list[str]:
        return ["المشاهدات :", "مقالات ذات صلة", "أرسل لصديق", f"التاريخ : {dates.portal_date(a.when)}"]

    def truth_entry(self, a: Article) -> dict:
        entry = super().truth_entry(a)
        entry["published_at"] = utc_iso(self.day(a))
        return entry
