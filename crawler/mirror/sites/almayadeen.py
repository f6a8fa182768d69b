"""Al Mayadeen (www.almayadeen.net), as outlets.md knows it.

Discovery is by sitemaps: robots.txt names the index /sitemaps/all.xml, which lists monthly
children /sitemaps/all/sitemap-YYYY-M.xml (month not zero-padded) whose <loc> values carry
raw, unencoded Arabic; the oldest month is archived gzipped, and a Google News sitemap lists
the last two days. There is no feed. Every article page embeds the first-party
`tawsiyat-metadata` JSON (modelled on real records, almayadeen-records-2024-04.json). The
2021-era articles live at /news/<id>/<slug> with an AMP copy under /amp/.
"""
from __future__ import annotations

import gzip
import re
from datetime import datetime, timedelta
from urllib.parse import quote

from crawler.mirror import dates
from crawler.mirror import faults as F
from crawler.mirror import weight as W
from crawler.mirror.catalog import Article
from crawler.mirror.render import Markup, esc, fill, join, paragraphs_html, script_json, xml
from crawler.mirror.server import Request, Response
from crawler.mirror.sites.base import Site
from crawler.mirror.sites.content import one_page

HARAKAT = re.compile("[\u0640\u064b-\u065f\u0670]")
SECTION_NAMES = {"news/politics": "سياسة", "articles": "مقالات", "press": "صحافة",
                 "research-papers": "أوراق بحثية", "news-2021": "سياسة"}
POSTTYPES = {"news/politics": "أخبار", "articles": "مقالات", "press": "صحافة",
             "research-papers": "أوراق بحثية", "news-2021": "أخبار"}
DISCLAIMERS = {
    "articles": "إنّ الآراء المذكورة في هذه المقالة لا تعبّر بالضرورة عن رأي الميادين، بل تعبّر عن رأي صاحبها حصراً.",
    "press": "ما يرد في صفحة الصحافة نقلاً عن صحف ومواقع أجنبية لا يعبّر بالضرورة عن رأي الميادين نت.",
    "research-papers": "الأوراق البحثية تعبّر عن آراء كاتبيها ولا تعبّر بالضرورة عن رأي الميادين.",
}
PAGE_SIZE = 20
FIRST_MONTH = (2021, 1)


def slug_current(title: str) -> str:
    """Today's slugs: every non-letter becomes '-', no collapsing, cut at 60 characters
    (as in /news/politics/سريع--استهدفنا-مدمرتين-أميركيتين-وسفنا-إسرائيلية-في-البحر-ال)."""
    text = HARAKAT.sub("", title).lower()
    return "".join(ch if ch.isalnum() else "-" for ch in text)[:60]


def slug_2021(title: str) -> str:
    """2021-era slugs: runs of non-letters collapse into one '-' (as in seed 004's URL)."""
    text = HARAKAT.sub("", title).lower()
    return re.sub(r"[^\w]+|_", "-", text).strip("-")


class _MonthlySitemaps(Site):
    """Al Mayadeen's sitemaps: an index of one sitemap per month (one of them gzipped) and a
    Google News sitemap of the last two days."""

    def months(self) -> list[tuple[int, int]]:
        now = self.ctx.now.astimezone(dates.AL_MAYADEEN_TZ)
        y, m = FIRST_MONTH
        if not self.ctx.faults:
            # A mirror grown for benchmarks dates its extra articles before the real ones; the
            # index then reaches back to them, as the real archive does. (With faults, the
            # months just before 2021 are the faulty sitemaps.)
            y, m = min([FIRST_MONTH, *self._month_table()])
        out = []
        while (y, m) <= (now.year, now.month):
            out.append((y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    def month_items(self, year: int, month: int) -> list[Article]:
        return self._month_table().get((year, month), [])

    def _month_table(self) -> dict[tuple[int, int], list[Article]]:
        def build():
            table: dict[tuple[int, int], list[Article]] = {}
            for a in self.listed():
                d = a.published.astimezone(dates.AL_MAYADEEN_TZ)
                table.setdefault((d.year, d.month), []).append(a)
            return table
        return self.memo("months", build)

    def gzipped_month(self) -> tuple[int, int]:
        return FIRST_MONTH          # the oldest real month is archived as .xml.gz

    def sitemap_index(self, req: Request, m) -> Response:
        rows = []
        for y, mo in self.months():
            items = self.month_items(y, mo)
            ext = ".xml.gz" if (y, mo) == self.gzipped_month() else ".xml"
            lastmod = self.last_modified(items) or _month_end(y, mo)
            rows.append(f"<sitemap><loc>{self.url(f'/sitemaps/all/sitemap-{y}-{mo}{ext}')}</loc>"
                        f"<lastmod>{dates.mayadeen_iso(min(lastmod, self.ctx.now))}</lastmod></sitemap>")
        if self.ctx.faults:
            for (y, mo, ext) in ((2020, 12, ".xml"), (2020, 11, ".xml"), (2020, 10, ".xml.gz")):
                rows.append(f"<sitemap><loc>{self.url(f'/sitemaps/all/sitemap-{y}-{mo}{ext}')}</loc>"
                            f"<lastmod>{dates.mayadeen_iso(_month_end(y, mo))}</lastmod></sitemap>")
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                + "\n".join(rows) + "\n</sitemapindex>\n")
        return Response(body=body.encode("utf-8"), content_type="application/xml; charset=utf-8",
                        last_modified=self.last_modified(self.listed()))

    def sitemap_month(self, req: Request, m) -> Response:
        y, mo, gz = int(m.group(1)), int(m.group(2)), bool(m.group(3))
        if self.ctx.faults and (y, mo) == (2020, 11) and not gz:
            return Response(body=F.malformed_sitemap([self.raw_url(self.article_path(a)) for a in self.listed()[:3]]),
                            content_type="application/xml; charset=utf-8", cacheable=False)
        if self.ctx.faults and (y, mo) == (2020, 10) and gz:
            return Response(body=F.gzip_bomb(), content_type="application/x-gzip", compressible=False, cacheable=False)
        if (y, mo) not in self.months() or gz != ((y, mo) == self.gzipped_month()):
            return self.not_found()
        items = self.month_items(y, mo)
        rows = [f"<url><loc>{xml(self.raw_url(self.article_path(a)))}</loc>"
                f"<lastmod>{dates.mayadeen_iso(a.changed)}</lastmod></url>" for a in items]
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                + "\n".join(rows) + "\n</urlset>\n").encode("utf-8")
        if gz:
            return Response(body=gzip.compress(body, mtime=0), content_type="application/x-gzip", compressible=False,
                            last_modified=self.last_modified(items) or _month_end(y, mo))
        return Response(body=body, content_type="application/xml; charset=utf-8",
                        last_modified=self.last_modified(items) or _month_end(y, mo))

    def news_sitemap(self, req: Request, m) -> Response:
        since = self.ctx.now - timedelta(days=2)
        items = [a for a in self.listed() if a.when >= since and a.fault not in ("sitemap_url_404",)]
        rows = []
        for a in items:
            rows.append(
                f"<url><loc>{xml(self.raw_url(self.article_path(a)))}</loc><news:news><news:publication>"
                f"<news:name>الميادين نت</news:name><news:language>{a.lang}</news:language></news:publication>"
                f"<news:publication_date>{dates.mayadeen_iso(a.when)}</news:publication_date>"
                f"<news:title>{xml(a.title)}</news:title></news:news></url>")
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
                'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">\n' + "\n".join(rows) + "\n</urlset>\n")
        return Response(body=body.encode("utf-8"), content_type="application/xml; charset=utf-8",
                        last_modified=self.last_modified(items) or self.ctx.now)


class AlMayadeen(_MonthlySitemaps):
    key = "almayadeen"
    ip = "127.0.0.15"
    name = "الميادين نت"
    timezone = "Asia/Beirut"
    validators = "honest"
    robots_disallow = ("/search", "/research-papers/", "/live")
    robots_extra = "User-agent: GPTBot\nDisallow: /"
    stub_paths = (r"/(search|live|news/economy|tv-reports|video|programs|newsletter|apps|about-us|contact-us|frequencies|careers)",
                  r"/(author|tags)/[^/]+")
    # A modern news site: tag manager, ad slots and the app's state inlined, a heavy page
    chrome = W.Chrome(flavour="state", span=(0.25, 1.0), nav=(
        ("/", "الرئيسية"), ("/news/politics", "سياسة"), ("/news/economy", "اقتصاد"), ("/articles", "مقالات"),
        ("/press", "صحافة"), ("/research-papers", "أوراق بحثية"), ("/tv-reports", "تقارير"), ("/video", "فيديو"),
        ("/live", "البث المباشر"), ("/programs", "برامج"), ("/newsletter", "النشرة البريدية"), ("/apps", "تطبيقات الميادين"),
        ("/about-us", "من نحن"), ("/contact-us", "اتصل بنا"), ("/frequencies", "الترددات"), ("/careers", "وظائف")),
        sister_sites=("english.almayadeen.net", "www.youtube.com"))

    # --- URLs ----------------------------------------------------------------------------
    def slugs(self) -> dict[str, str]:
        def build():
            taken: dict[str, str] = {}
            out = {}
            for a in sorted(self.articles, key=lambda a: a.key):
                base = slug_2021(a.title) if a.section == "news-2021" else slug_current(a.title)
                slug, n = base, 1
                while slug in taken:
                    n += 1
                    slug = f"{base}-{n}"
                taken[slug] = a.key
                out[a.key] = slug
            return out
        return self.memo("slugs", build)

    def article_path(self, a: Article) -> str:
        slug = self.slugs()[a.key]
        if a.section == "news-2021":
            return f"/news/{a.site_id}/{slug}"
        return f"/{a.section}/{slug}"

    def alias_paths(self, a: Article) -> dict[str, str]:
        if a.section == "news-2021":
            return {"/amp" + self.article_path(a): "amp"}
        return {}

    def hidden_rules(self) -> list[str]:
        return []           # the hidden paper sits under Disallow: /research-papers/

    def sitemap_urls(self) -> list[str]:
        return [self.url("/sitemaps/all.xml"), self.url("/sitemaps/news.xml")]

    def fault_section(self) -> str:
        return "news/politics"

    # --- routes --------------------------------------------------------------------------
    def routes(self):
        return [
            (re.compile(r"/"), self.home),
            (re.compile(r"/(news/politics|articles|press|research-papers)"), self.section),
            (re.compile(r"/sitemaps/all\.xml"), self.sitemap_index),
            (re.compile(r"/sitemaps/all/sitemap-(\d{4})-([1-9]|1[0-2])\.xml(\.gz)?"), self.sitemap_month),
            (re.compile(r"/sitemaps/news\.xml"), self.news_sitemap),
        ]

    def home(self, req: Request, m) -> Response:
        items = self.home_items()
        content = fill("almayadeen/listing.html", heading="آخر الأخبار", items=self.items_html(items),
                       pagination=Markup('<a href="/news/politics">المزيد من الأخبار</a>'),
                       most_read=self.most_read())
        head = Markup('<meta name="description" content="الميادين نت: آخر الأخبار السياسية والتحليلات من فلسطين ولبنان وسوريا والعالم">\n'
                      f'<link rel="canonical" href="{self.url("/")}">\n<meta property="og:site_name" content="الميادين نت">')
        return Response.html(self.layout("الميادين نت | آخر الأخبار", head, content, "home"),
                             last_modified=self.last_modified(items))

    def section(self, req: Request, m) -> Response:
        section = m.group(1)
        items = [a for a in self.listed_on_pages() if a.section == section]
        page = _page(req)
        found = one_page(items, page, PAGE_SIZE)
        if found is None:
            return self.not_found()
        chunk, page, pages = found
        path = "/" + section
        head = [f'<link rel="canonical" href="{self.url(path)}{f"?page={page}" if page > 1 else ""}">']
        if page > 1:
            head.append(f'<link rel="prev" href="{path}' + (f'?page={page - 1}' if page > 2 else "") + '">')
        if page < pages:
            head.append(f'<link rel="next" href="{path}?page={page + 1}">')
        links = []
        for n in range(1, pages + 1):
            href = path if n == 1 else f"{path}?page={n}"
            links.append(f'<span class="current">{n}</span>' if n == page else f'<a href="{href}">{n}</a>')
        if page < pages:
            links.append(f'<a class="next" href="{path}?page={page + 1}">التالي</a>')
        content = fill("almayadeen/listing.html", heading=SECTION_NAMES[section], items=self.items_html(chunk),
                       pagination=join(links, " "), most_read=self.most_read())
        title = f"{SECTION_NAMES[section]} | الميادين نت" + (f" | صفحة {page}" if page > 1 else "")
        return Response.html(self.layout(title, Markup("\n".join(head)), content, "section"),
                             last_modified=self.last_modified(chunk) or self.ctx.now)

    def items_html(self, items: list[Article]) -> Markup:
        return join(fill("almayadeen/item.html", href=self.href(self.article_path(a)), title=a.title,
                         image=self.image(a), posttype=POSTTYPES.get(a.section, "أخبار"),
                         published_iso=dates.mayadeen_iso(a.when),
                         published_text=dates.arabic_day(a.when, "Asia/Beirut")) for a in items)

    def most_read(self, exclude: Article | None = None) -> Markup:
        return join(f'<li><a href="{self.href(self.article_path(a))}">{esc(a.title)}</a></li>'
                    for a in self.latest(5, exclude))

    def layout(self, title: str, head: Markup, content: Markup, body_class: str) -> str:
        ticker = join(f'<li><a href="{self.href(self.article_path(a))}">{esc(a.title)}</a></li>'
                      for a in self.latest(3))
        return fill("almayadeen/layout.html", title=title, head=head, content=content, body_class=body_class,
                    ticker=ticker, year=self.ctx.now.year)

    def image(self, a: Article) -> str:
        d = a.published or self.ctx.now
        return f"/media/image/{d.year}/{d.month}/{d.day}/{a.site_id:x}-{a.site_id % 97:02d}.jpg?width=1000"

    # --- the article page ----------------------------------------------------------------
    def metadata(self, a: Article) -> dict:
        canonical = self.raw_url(self.canonical_path(a))
        classes = [{"key": "class1", "mapping": "posttype", "value": POSTTYPES.get(a.section, "أخبار")},
                   {"key": "class2", "mapping": "category", "value": "سياسة"}]
        if a.country:
            classes.append({"key": "class3", "mapping": "country", "value": a.country})
        if a.author:
            classes.append({"key": "class6", "mapping": "author", "value": a.author})
        return {
            "type": "article", "postid": str(a.site_id), "title": a.title, "url": canonical,
            "keywords": ",".join(a.keywords), "thumbnail": self.base + self.image(a),
            "word_count": str(a.word_count), "lang": a.lang,
            "published_time": dates.mayadeen_iso(a.when), "last_updated": dates.mayadeen_iso(a.changed),
            "description": self.standfirst(a), "author": a.author or "", "classes": classes,
        }

    def standfirst(self, a: Article) -> str:
        return a.summary or a.lead()

    def tweet(self, a: Article) -> Markup | None:
        """Some articles embed one of the outlet's own tweets (text duplicated from the title)."""
        if a.source == "seed" or a.site_id % 3:
            return None
        code = f"{a.site_id:x}"[-6:]
        when = f"{dates.ENGLISH_MONTHS[a.when.month - 1]} {a.when.day}, {a.when.year}"
        return Markup(
            f'<blockquote class="twitter-tweet"><p lang="ar" dir="rtl">{esc(a.title)} #الميادين '
            f'<a href="https://t.co/{code}Xq">pic.twitter.com/{code}Xq</a></p>&mdash; الميادين (@AlMayadeenNews) '
            f'<a href="https://twitter.com/AlMayadeenNews/status/17{a.site_id}">{when}</a></blockquote>'
            '<script async src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>')

    def body_lines(self, a: Article) -> list[str]:
        lines = list(a.paragraphs)
        if self.tweet(a) is not None and "@@TWEET@@" not in lines:
            lines.insert(min(2, len(lines)), "@@TWEET@@")
        return lines

    def render_article(self, a: Article, req: Request, how: str = "page") -> Response:
        if how == "amp":
            return self.render_amp(a)
        canonical = self.url(self.canonical_path(a))
        meta = self.metadata(a)
        head = [
            f'<meta name="description" content="{esc(self.standfirst(a))}">',
            f'<meta name="keywords" content="{esc(",".join(a.keywords))}">',
            f'<meta name="author" content="{esc(a.author or "")}">',
            f'<meta name="postid" content="{a.site_id}">',
            f'<link rel="canonical" href="{canonical}">',
            '<meta property="og:type" content="article">',
            '<meta property="og:site_name" content="الميادين نت">',
            f'<meta property="og:title" content="{esc(a.title)}">',
            f'<meta property="og:description" content="{esc(self.standfirst(a))}">',
            f'<meta property="og:url" content="{canonical}">',
            f'<meta property="og:image" content="{self.base}{esc(self.image(a))}">',
            f'<meta property="article:published_time" content="{dates.mayadeen_iso(a.when)}">',
            f'<meta property="article:modified_time" content="{dates.mayadeen_iso(a.changed)}">',
            '<meta name="twitter:card" content="summary_large_image">',
        ]
        if a.section == "news-2021":
            head.append(f'<link rel="amphtml" href="{self.url("/amp" + self.article_path(a))}">')
        head.append(f'<script id="tawsiyat-metadata" type="text/tawsiyat">{script_json(meta)}</script>')
        disclaimer = DISCLAIMERS.get(a.section)
        section = "news/politics" if a.section == "news-2021" else a.section
        content = fill(
            "almayadeen/article.html", section_href="/" + section, section_name=SECTION_NAMES.get(a.section, "سياسة"),
            posttype=POSTTYPES.get(a.section, "أخبار"), title=a.title, author=a.author or "الميادين نت",
            author_href="/author/" + quote(a.author or "الميادين-نت"),
            published_iso=dates.mayadeen_iso(a.when),
            published_text=dates.arabic_day(a.when, "Asia/Beirut") + " " + dates.local(a.when, "Asia/Beirut").strftime("%H:%M"),
            summary=self.standfirst(a), image=self.image(a), caption=a.title[:60],
            body=paragraphs_html(self.body_lines(a), "h3", self.tweet(a)),
            disclaimer=Markup(f'        <div class="post_disclaimer"><p>{esc(disclaimer)}</p></div>' if disclaimer else ""),
            tags=join((f'<a href="/tags/{quote(k)}">{esc(k)}</a>' for k in a.keywords), " "),
            canonical_enc=quote(canonical, safe=""), most_read=self.most_read(a),
            related=join(f'<li><a href="{self.href(self.article_path(r))}">{esc(r.title)}</a></li>'
                         for r in self.related(a)),
        )
        page = self.layout(f"{a.title} | الميادين نت", Markup("\n".join(head)), content, "article-page")
        return Response.html(page, last_modified=a.modified)

    def related(self, a: Article) -> list[Article]:
        same = [r for r in self.listed_on_pages() if r is not a and r.role == "article" and r.section == a.section]
        start = a.site_id % max(1, len(same))
        return (same[start:] + same[:start])[:4]

    def render_amp(self, a: Article) -> Response:
        canonical = self.url(self.canonical_path(a))
        jsonld = {
            "@context": "https://schema.org", "@type": "NewsArticle", "headline": a.title,
            "mainEntityOfPage": canonical, "datePublished": dates.mayadeen_iso(a.when),
            "dateModified": dates.mayadeen_iso(a.changed), "image": [self.base + self.image(a)],
            "author": {"@type": "Organization", "name": a.author or "الميادين نت"},
            "publisher": {"@type": "Organization", "name": "الميادين نت",
                          "logo": {"@type": "ImageObject", "url": self.base + "/static/images/logo.png"}},
            "description": self.standfirst(a),
        }
        highlights = [a.highlight] if a.highlight else []
        page = fill("almayadeen/amp.html", title=a.title, canonical=canonical, jsonld=script_json(jsonld),
                    author=a.author or "الميادين نت", published_iso=dates.mayadeen_iso(a.when),
                    published_text=dates.arabic_day(a.when, "Asia/Beirut"), summary=self.standfirst(a),
                    highlights=join(f"<li>{esc(h)}</li>" for h in highlights), image=self.image(a),
                    body=paragraphs_html([p for p in a.paragraphs if p != "@@TWEET@@"], "h3"),
                    related=join(f'<li><a href="{self.href("/amp" + self.article_path(r)) if r.section == "news-2021" else self.href(self.article_path(r))}">{esc(r.title)}</a></li>'
                                 for r in self.related(a)),
                    year=self.ctx.now.year)
        return Response.html(page, last_modified=a.modified)

    def fault_urls(self) -> dict[str, str]:
        urls = super().fault_urls()
        if self.ctx.faults:
            urls["sitemap_404"] = self.url("/sitemaps/all/sitemap-2020-12.xml")
            urls["sitemap_malformed"] = self.url("/sitemaps/all/sitemap-2020-11.xml")
            urls["sitemap_gzip_bomb"] = self.url("/sitemaps/all/sitemap-2020-10.xml.gz")
        return urls

    # --- truth ---------------------------------------------------------------------------
    def has_feed(self) -> bool:
        return False

    def channels(self, a: Article) -> list[str]:
        out = super().channels(a) + ["sitemap"]
        out.append("section" if a.section == "news/politics" else "listing")
        return out

    def depth(self, a: Article) -> dict[str, int]:
        out = super().depth(a)
        politics = self.memo("politics", lambda: [x for x in self.listed_on_pages() if x.section == "news/politics"])
        page = self.paged_depth(politics, a, PAGE_SIZE)
        if page:
            out["section"] = page
        return out

    def boilerplate(self, a: Article) -> list[str]:
        out = ["جميع الحقوق محفوظة © الميادين", "الأكثر قراءة", "النشرة البريدية"]
        if DISCLAIMERS.get(a.section):
            out.append(DISCLAIMERS[a.section])
        if self.tweet(a) is not None:
            out += ["pic.twitter.com/", "@AlMayadeenNews"]
        return out

    def truth_entry(self, a: Article) -> dict:
        entry = super().truth_entry(a)
        entry["summary"] = self.standfirst(a)
        entry["country"] = a.country
        return entry


def _page(req: Request) -> int | None:
    raw = req.param("page", "1")
    return int(raw) if raw and raw.isdigit() and int(raw) >= 1 else None


def _month_end(y: int, m: int) -> datetime:
    nxt = datetime(y + (m == 12), 1 if m == 12 else m + 1, 1, tzinfo=dates.AL_MAYADEEN_TZ)
    return nxt - timedelta(minutes=1)
