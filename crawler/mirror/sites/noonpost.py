"""Noon Post (www.noonpost.com): WordPress behind a CDN, as outlets.md describes it.

Numeric permalinks /<id>/ (legacy Drupal /content/<id> and the shortlink /?p=<id> answer 301),
the RSS 2.0 feed /feed/ with full content:encoded (linked from every page, as WordPress does,
beside the comments feed), the core sitemap /wp-sitemap.xml (index -> post, page, category
and user sitemaps), Yoast-style JSON-LD and article:* meta, /category/<slug>/page/N/ and
/page/N/ listings, and the REST API /wp-json/wp/v2/posts. WordPress writes absolute URLs.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC
from typing import Any
from urllib.parse import quote

from crawler.mirror import dates
from crawler.mirror import faults as F
from crawler.mirror import weight as W
from crawler.mirror.catalog import Article
from crawler.mirror.render import Markup, cdata, esc, fill, join, paragraphs_html, script_json, xml
from crawler.mirror.server import Request, Response
from crawler.mirror.sites.base import Site

CATEGORIES = {"politics": "سياسة", "reports": "تقارير", "society": "مجتمع"}
PER_PAGE = 10              # WordPress's default posts_per_page, also the feed's length
SITEMAP_PAGE = 2000        # WordPress core sitemaps: at most 2000 URLs per file


class _YoastSitemaps(Site):
    """The sitemaps Yoast SEO serves on a WordPress site: an index, then posts (paged), pages,
    categories and users."""

    def iso(self, dt) -> str:
        # Yoast prints article times in UTC with an explicit +00:00.
        return dt.astimezone(UTC).replace(microsecond=0).isoformat()

    def sitemap_index(self, req: Request, m) -> Response:
        posts = self.listed()
        pages = max(1, -(-len(posts) // SITEMAP_PAGE))
        locs = [self.url(f"/wp-sitemap-posts-post-{n}.xml") for n in range(1, pages + 1)]
        locs += [self.url("/wp-sitemap-posts-page-1.xml"), self.url("/wp-sitemap-taxonomies-category-1.xml"),
                 self.url("/wp-sitemap-users-1.xml")]
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet type="text/xsl" href="'
                + self.url("/wp-sitemap-index.xsl") + '" ?>\n<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                + "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs) + "</sitemapindex>\n")
        return Response(body=body.encode("utf-8"), content_type="application/xml; charset=UTF-8",
                        last_modified=self.last_modified(self.listed()))

    def _urlset(self, rows: Sequence[tuple[str, str | None]]) -> bytes:
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet type="text/xsl" href="'
                + self.url("/wp-sitemap.xsl") + '" ?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                + "".join(f"<url><loc>{loc}</loc>" + (f"<lastmod>{lm}</lastmod>" if lm else "") + "</url>" for loc, lm in rows)
                + "</urlset>\n")
        return body.encode("utf-8")

    def sitemap_posts(self, req: Request, m) -> Response:
        n = int(m.group(1))
        posts = self.listed()
        chunk = posts[(n - 1) * SITEMAP_PAGE: n * SITEMAP_PAGE]
        if n < 1 or not chunk:
            return self.not_found()
        rows = [(self.url(self.article_path(a)), self.iso(a.modified)) for a in chunk]
        return Response(body=self._urlset(rows), content_type="application/xml; charset=UTF-8",
                        last_modified=self.last_modified(chunk))

    def sitemap_pages(self, req: Request, m) -> Response:
        rows = [(self.url(f"/{p}/"), None) for p in ("about-us", "contact", "privacy-policy", "write-for-us")]
        return Response(body=self._urlset(rows), content_type="application/xml; charset=UTF-8", last_modified=self.ctx.now)

    def sitemap_categories(self, req: Request, m) -> Response:
        rows = [(self.url(f"/category/{c}/"), None) for c in CATEGORIES]
        return Response(body=self._urlset(rows), content_type="application/xml; charset=UTF-8", last_modified=self.ctx.now)

    def sitemap_users(self, req: Request, m) -> Response:
        names = sorted({a.author for a in self.listed() if a.author})
        rows = [(self.url(f"/author/{author_slug(n)}/"), None) for n in names]
        return Response(body=self._urlset(rows), content_type="application/xml; charset=UTF-8", last_modified=self.ctx.now)



class _WordPressApi(Site):
    """The WordPress REST API's posts (wp-json/wp/v2/posts), as a crawler may read it."""

    def api_posts(self, req: Request, m) -> Response:
        per_page = min(100, int(req.param("per_page", "10") or 10))
        page = int(req.param("page", "1") or 1)
        items = self.listed_on_pages()
        chunk = items[(page - 1) * per_page: page * per_page]
        if page > 1 and not chunk:
            return Response(status=400, cacheable=False, content_type="application/json; charset=UTF-8",
                            body=b'{"code":"rest_post_invalid_page_number","message":"The page number requested is larger than the number of pages available.","data":{"status":400}}')
        data = [self.api_item(a) for a in chunk]
        pages = max(1, -(-len(items) // per_page))
        return Response(body=json.dumps(data, ensure_ascii=False).encode("utf-8"),
                        content_type="application/json; charset=UTF-8",
                        headers=[("X-WP-Total", str(len(items))), ("X-WP-TotalPages", str(pages))],
                        last_modified=self.last_modified(chunk) or self.ctx.now)

    def api_post(self, req: Request, m) -> Response:
        hit = next((a for a in self.listed_on_pages() if a.site_id == int(m.group(1)) and not a.fault), None)
        if hit is None:
            return Response(status=404, cacheable=False, content_type="application/json; charset=UTF-8",
                            body=b'{"code":"rest_post_invalid_id","message":"Invalid post ID.","data":{"status":404}}')
        return Response(body=json.dumps(self.api_item(hit), ensure_ascii=False).encode("utf-8"),
                        content_type="application/json; charset=UTF-8", last_modified=hit.modified)

    def api_item(self, a: Article) -> dict:
        return {
            "id": a.site_id, "date": self.local_naive(a.when), "date_gmt": a.when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "modified_gmt": a.changed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "link": self.url(self.article_path(a)), "title": {"rendered": a.title},
            "excerpt": {"rendered": f"<p>{esc(a.lead(200))}</p>"},
            "content": {"rendered": str(paragraphs_html([p for p in a.paragraphs if p != "@@TWEET@@"], "h2"))},
            "categories": [list(CATEGORIES).index(a.section) + 1 if a.section in CATEGORIES else 1],
        }

    def local_naive(self, dt) -> str:
        return dates.local(dt, self.timezone).strftime("%Y-%m-%dT%H:%M:%S")


class NoonPost(_YoastSitemaps, _WordPressApi):
    key = "noonpost"
    ip = "127.0.0.13"
    name = "نون بوست"
    timezone = "Europe/Istanbul"
    validators = "honest"
    server_header = "cloudflare"
    feed_size = PER_PAGE
    home_size = PER_PAGE
    stub_paths = (r"/wp-login\.php", r"/xmlrpc\.php", r"/search/.*")
    # WordPress with a news theme: block-library and global-styles CSS, emoji and plugin scripts
    chrome = W.Chrome(flavour="wordpress", span=(0.05, 0.95), nav=(
        ("/", "الرئيسية"), ("/category/politics/", "سياسة"), ("/category/reports/", "تقارير"),
        ("/category/society/", "مجتمع"), ("/about-us/", "من نحن"), ("/contact/", "اتصل بنا"),
        ("/privacy-policy/", "سياسة الخصوصية"), ("/write-for-us/", "اكتب معنا")),
        sister_sites=("english.noonpost.com", "www.facebook.com", "x.com"))

    def article_path(self, a: Article) -> str:
        return f"/{a.site_id}/"

    def alias_paths(self, a: Article) -> dict[str, str]:
        return {f"/{a.site_id}": "redirect", f"/content/{a.site_id}": "redirect"}

    def href(self, path: str) -> str:
        return self.url(path)

    def sitemap_urls(self) -> list[str]:
        return [self.url("/wp-sitemap.xml")]

    def robots(self) -> str:
        lines = ["User-agent: *", "Disallow: /wp-admin/", "Allow: /wp-admin/admin-ajax.php", "Disallow: /?s=",
                 "Disallow: /search/"]
        lines += [f"Disallow: {p}" for p in self.hidden_rules()]
        lines += ["", f"Sitemap: {self.url('/wp-sitemap.xml')}"]
        return "\n".join(lines) + "\n"

    def fault_section(self) -> str:
        return "politics"

    # --- routes --------------------------------------------------------------------------
    def routes(self):
        return [
            (re.compile(r"/"), self.home),
            (re.compile(r"/page/(\d+)/"), self.home),
            (re.compile(r"/category/([a-z]+)/(?:page/(\d+)/)?"), self.category),
            (re.compile(r"/tag/([^/]+)/(?:page/(\d+)/)?"), self.tag),
            (re.compile(r"/author/([^/]+)/(?:page/(\d+)/)?"), self.author_page),
            (re.compile(r"/feed/"), self.feed),
            (re.compile(r"/(feed|rss|rss/)"), lambda req, m: Response.redirect(self.url("/feed/"))),
            (re.compile(r"/comments/feed/"), self.comments_feed),
            (re.compile(r"/wp-sitemap\.xml"), self.sitemap_index),
            (re.compile(r"/wp-sitemap-posts-post-(\d+)\.xml"), self.sitemap_posts),
            (re.compile(r"/wp-sitemap-posts-page-1\.xml"), self.sitemap_pages),
            (re.compile(r"/wp-sitemap-taxonomies-category-1\.xml"), self.sitemap_categories),
            (re.compile(r"/wp-sitemap-users-1\.xml"), self.sitemap_users),
            (re.compile(r"/wp-json/wp/v2/posts"), self.api_posts),
            (re.compile(r"/wp-json/wp/v2/posts/(\d+)"), self.api_post),
            (re.compile(r"/wp-json/?"), lambda req, m: Response(
                body=b'{"name":"\\u0646\\u0648\\u0646 \\u0628\\u0648\\u0633\\u062a","namespaces":["wp/v2"]}',
                content_type="application/json; charset=UTF-8", last_modified=self.ctx.now)),
            (re.compile(r"/(about-us|contact|privacy-policy|write-for-us)/"), self.static_page),
            (re.compile(r"/wp-admin/.*"), lambda req, m: Response.redirect(self.url("/wp-login.php"), 302)),
        ]

    def home(self, req: Request, m) -> Response:
        p = req.param("p")
        if req.path == "/" and p and p.isdigit():
            hit = next((a for a in self.listed() if a.site_id == int(p)), None)
            return Response.redirect(self.url(self.article_path(hit))) if hit else self.not_found()
        if req.param("s") is not None:
            return self.listing(req, "نتائج البحث", [], "/", 1)
        page = int(m.group(1)) if m.lastindex else 1
        if page == 1 and req.path != "/":
            return Response.redirect(self.url("/"))
        return self.listing(req, "آخر المقالات", self.listed_on_pages(), "/", page, home=True)

    def category(self, req: Request, m) -> Response:
        slug = m.group(1)
        if slug not in CATEGORIES:
            return self.not_found()
        page = int(m.group(2) or 1)
        items = [a for a in self.listed_on_pages() if a.section == slug]
        return self.listing(req, f"الأرشيف: {CATEGORIES[slug]}", items, f"/category/{slug}/", page)

    def tag(self, req: Request, m) -> Response:
        word = m.group(1)
        items = [a for a in self.listed_on_pages() if word in a.keywords]
        if not items:
            return self.not_found()
        return self.listing(req, f"الوسم: {word}", items, f"/tag/{word}/", int(m.group(2) or 1))

    def author_page(self, req: Request, m) -> Response:
        slug = m.group(1)
        items = [a for a in self.listed_on_pages() if a.author and author_slug(a.author) == slug]
        if not items:
            return self.not_found()
        return self.listing(req, f"الكاتب: {items[0].author}", items, f"/author/{slug}/", int(m.group(2) or 1))

    def listing(self, req: Request, heading: str, items: list[Article], root: str, page: int, home: bool = False) -> Response:
        pages = max(1, -(-len(items) // PER_PAGE))
        if page > pages:
            return self.not_found()
        chunk = items[(page - 1) * PER_PAGE: page * PER_PAGE]
        if home and page == 1:
            # WordPress puts sticky posts on top of the first home page: the hidden one is sticky.
            chunk = [a for a in self.hidden() if a not in chunk] + chunk

        def page_url(n: int) -> str:
            return self.url(root if n == 1 else f"{root}page/{n}/")
        head = [f'<link rel="canonical" href="{page_url(page)}">']
        nav = []
        if page < pages:
            head.append(f'<link rel="next" href="{page_url(page + 1)}">')
            nav.append(f'<div class="nav-previous"><a href="{page_url(page + 1)}">مقالات أقدم</a></div>')
        if page > 1:
            head.append(f'<link rel="prev" href="{page_url(page - 1)}">')
            nav.append(f'<div class="nav-next"><a href="{page_url(page - 1)}">مقالات أحدث</a></div>')
        items_html = join(fill("noonpost/item.html", id=a.site_id, category=a.section or "politics",
                               url=self.url(self.article_path(a)), title=a.title,
                               published_iso=self.iso(a.when), published_text=dates.arabic_day(a.when, self.timezone),
                               excerpt=a.lead(160).rstrip("…")) for a in chunk)
        content = fill("noonpost/listing.html", heading=heading, items=items_html, pagination=join(nav, ""),
                       recent=self.recent_html())
        body_class = "home blog rtl" if home else "archive category rtl"
        title = ("نون بوست" if home else f"{heading} - نون بوست") + (f" - الصفحة {page}" if page > 1 else "")
        return Response.html(self.layout(title, Markup("\n".join(head)), content, body_class),
                             last_modified=self.last_modified(chunk) or self.ctx.now)

    def recent_html(self, exclude: Article | None = None) -> Markup:
        return join(f'<li><a href="{self.url(self.article_path(a))}">{esc(a.title)}</a></li>'
                    for a in self.latest(5, exclude))

    def layout(self, title: str, head: Markup, content: Markup, body_class: str) -> str:
        return fill("noonpost/layout.html", title=title, head=head, content=content, body_class=body_class,
                    base=self.base, feed=self.url("/feed/"), comments_feed=self.url("/comments/feed/"),
                    year=self.ctx.now.year)

    def image(self, a: Article) -> str:
        d = a.published or self.ctx.now
        return f"{self.base}/wp-content/uploads/{d.year}/{d.month:02d}/{a.site_id}-1200x675.jpg"

    # --- the article page ----------------------------------------------------------------
    def render_article(self, a: Article, req: Request, how: str = "page") -> Response:
        url = self.url(self.article_path(a))
        cat = a.section or "politics"
        graph: list[dict[str, Any]] = [{
            "@type": "NewsArticle", "@id": f"{url}#article", "isPartOf": {"@id": url},
            "headline": a.title, "datePublished": self.iso(a.published), "dateModified": self.iso(a.modified),
            "mainEntityOfPage": {"@id": url}, "wordCount": a.word_count, "image": {"@id": f"{url}#primaryimage"},
            "articleSection": [CATEGORIES.get(cat, "سياسة")], "inLanguage": "ar",
            "publisher": {"@id": f"{self.base}/#organization"},
        }, {
            "@type": "WebPage", "@id": url, "url": url, "name": f"{a.title} - نون بوست",
            "datePublished": self.iso(a.published), "dateModified": self.iso(a.modified), "inLanguage": "ar",
        }, {
            "@type": "Organization", "@id": f"{self.base}/#organization", "name": "نون بوست", "url": f"{self.base}/",
        }]
        if a.author:
            person = f"{self.base}/#/schema/person/{quote(author_slug(a.author))}"
            graph[0]["author"] = {"name": a.author, "@id": person}
            graph.append({"@type": "Person", "@id": person, "name": a.author,
                          "url": self.url(f"/author/{author_slug(a.author)}/")})
        head = [
            f'<link rel="canonical" href="{url}">',
            f'<link rel="shortlink" href="{self.url("/")}?p={a.site_id}">',
            f'<meta name="description" content="{esc(a.lead(155))}">',
            '<meta property="og:locale" content="ar_AR">', '<meta property="og:type" content="article">',
            f'<meta property="og:title" content="{esc(a.title)}">',
            f'<meta property="og:description" content="{esc(a.lead(155))}">',
            f'<meta property="og:url" content="{url}">', '<meta property="og:site_name" content="نون بوست">',
            f'<meta property="article:published_time" content="{self.iso(a.published)}">',
            f'<meta property="article:modified_time" content="{self.iso(a.modified)}">',
            f'<meta property="og:image" content="{self.image(a)}">',
        ]
        if a.author:
            head.append(f'<meta name="author" content="{esc(a.author)}">')
        head.append('<script type="application/ld+json" class="yoast-schema-graph">'
                    f'{script_json({"@context": "https://schema.org", "@graph": graph})}</script>')
        head.append(f'<link rel="alternate" type="application/json" title="JSON" href="{self.base}/wp-json/wp/v2/posts/{a.site_id}">')
        byline = (f'<span class="byline"> بواسطة <span class="author vcard"><a class="url fn n" '
                  f'href="{self.url(f"/author/{author_slug(a.author)}/")}">{esc(a.author)}</a></span></span>') if a.author else ""
        tweet = None
        if a.tweet:
            tweet = Markup('<figure class="wp-block-embed is-type-rich is-provider-twitter wp-block-embed-twitter">'
                           '<div class="wp-block-embed__wrapper"><blockquote class="twitter-tweet" data-width="550">'
                           f'<p lang="en" dir="ltr">{esc(a.tweet)}</p></blockquote></div></figure>')
        content = fill(
            "noonpost/article.html", id=a.site_id, base=self.base, category=cat, category_name=CATEGORIES.get(cat, "سياسة"),
            title=a.title, byline=Markup(byline), url=url, published_iso=self.iso(a.published),
            published_text=dates.arabic_day(a.when, self.timezone), modified_iso=self.iso(a.changed),
            modified_text=dates.arabic_day(a.changed, self.timezone), image=self.image(a),
            body=paragraphs_html(a.paragraphs, "h2", tweet),
            tags=join((f'<a href="{self.base}/tag/{quote(k)}/" rel="tag">{esc(k)}</a>' for k in a.keywords), "، "),
            related=join(f'<li><a href="{self.related_href(r, a)}">{esc(r.title)}</a></li>' for r in self.related(a)),
            recent=self.recent_html(a),
        )
        page = self.layout(f"{a.title} - نون بوست", Markup("\n".join(head)),
                           content, f"post-template-default single single-post postid-{a.site_id} rtl")
        return Response.html(page, last_modified=a.modified)

    def related(self, a: Article) -> list[Article]:
        same = [r for r in self.listed_on_pages() if r is not a and r.role == "article"]
        start = (a.site_id // 7) % max(1, len(same))
        return (same[start:] + same[:start])[:3]

    def related_href(self, r: Article, a: Article) -> str:
        """Links written before the 2021 migration still point at Drupal's /content/<id>."""
        if r.published and r.published.year < 2022:
            return self.url(f"/content/{r.site_id}")
        return self.url(self.article_path(r))

    def static_page(self, req: Request, m) -> Response:
        content = Markup('<main id="primary" class="site-main"><article class="page type-page"><h1 class="entry-title">'
                         'من نحن</h1><div class="entry-content"><p>نون بوست منصة إعلامية عربية مستقلة تهتم بالشأن العام.</p>'
                         '</div></article></main>')
        return Response.html(self.layout("من نحن - نون بوست", Markup(""), content, "page-template-default page rtl"),
                             last_modified=self.ctx.now)

    # --- feeds ---------------------------------------------------------------------------
    def feed(self, req: Request, m) -> Response:
        items = self.feed_items()
        rows = []
        for a in items:
            creator = f"\n\t\t<dc:creator>{cdata(a.author)}</dc:creator>" if a.author else ""
            url = self.url(self.article_path(a))
            content = paragraphs_html([p for p in a.paragraphs if p != "@@TWEET@@"], "h2")
            rows.append(
                f"\t<item>\n\t\t<title>{xml(a.title)}</title>\n\t\t<link>{url}</link>\n"
                f"\t\t<comments>{url}#respond</comments>{creator}\n"
                f"\t\t<pubDate>{dates.rfc822(a.when)}</pubDate>\n"
                f"\t\t<category>{cdata(CATEGORIES.get(a.section, 'سياسة'))}</category>\n"
                f'\t\t<guid isPermaLink="false">{self.url("/")}?p={a.site_id}</guid>\n'
                f"\t\t<description>{cdata(a.lead(200) + ' [&#8230;]')}</description>\n"
                f"\t\t<content:encoded>{cdata(content)}</content:encoded>\n"
                f"\t\t<wfw:commentRss>{url}feed/</wfw:commentRss>\n\t\t<slash:comments>0</slash:comments>\n\t</item>")
        last = self.last_modified(items) or self.ctx.now
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"\n'
            '\txmlns:content="http://purl.org/rss/1.0/modules/content/"\n\txmlns:wfw="http://wellformedweb.org/CommentAPI/"\n'
            '\txmlns:dc="http://purl.org/dc/elements/1.1/"\n\txmlns:atom="http://www.w3.org/2005/Atom"\n'
            '\txmlns:sy="http://purl.org/rss/1.0/modules/syndication/"\n\txmlns:slash="http://purl.org/rss/1.0/modules/slash/"\n\t>\n\n'
            f"<channel>\n\t<title>نون بوست</title>\n\t<atom:link href=\"{self.url('/feed/')}\" rel=\"self\" type=\"application/rss+xml\" />\n"
            f"\t<link>{self.base}</link>\n\t<description>منصة إعلامية عربية مستقلة</description>\n"
            f"\t<lastBuildDate>{dates.rfc822(last)}</lastBuildDate>\n\t<language>ar</language>\n"
            "\t<sy:updatePeriod>\n\thourly\t</sy:updatePeriod>\n\t<sy:updateFrequency>\n\t1\t</sy:updateFrequency>\n"
            "\t<generator>https://wordpress.org/?v=6.4.3</generator>\n" + "\n".join(rows) + "\n\t</channel>\n</rss>\n")
        return Response(body=body.encode("utf-8"), content_type="application/rss+xml; charset=UTF-8", last_modified=last)

    def comments_feed(self, req: Request, m) -> Response:
        if self.ctx.faults:
            return Response(body=F.billion_laughs(self.name), content_type="application/rss+xml; charset=UTF-8",
                            cacheable=False)
        body = ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
                f"<channel><title>التعليقات على: نون بوست</title><link>{self.base}</link>"
                "<description>منصة إعلامية عربية مستقلة</description></channel></rss>\n")
        return Response(body=body.encode("utf-8"), content_type="application/rss+xml; charset=UTF-8",
                        last_modified=self.ctx.now)

    def has_feed(self) -> bool:
        return True

    def fault_urls(self) -> dict[str, str]:
        urls = super().fault_urls()
        if self.ctx.faults:
            urls["feed_billion_laughs"] = self.url("/comments/feed/")
        return urls

    # --- truth ---------------------------------------------------------------------------
    def channels(self, a: Article) -> list[str]:
        return super().channels(a) + ["sitemap", "listing"]

    def depth(self, a: Article) -> dict[str, int]:
        page = self.paged_depth(self.listed_on_pages(), a, PER_PAGE)
        return {"home": page} if page else {}

    def boilerplate(self, a: Article) -> list[str]:
        return ["اترك تعليقاً", "جميع الحقوق محفوظة لموقع نون بوست", "مقالات ذات صلة", "أحدث المقالات"]


def author_slug(name: str) -> str:
    """WordPress's user_nicename for an Arabic display name: spaces become dashes (the URL
    is percent-encoded when written into a page)."""
    return name.replace(" ", "-")
