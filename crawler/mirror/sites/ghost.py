"""The sixth site: "Levant Monitor", a bilingual Ghost blog INVENTED for the tests.

It is in no shipped config and the spider has no hints for it: a test adds the plain entry in
`data/new_site.yaml` and the crawl must work from what Ghost publishes by default: robots.txt
with a Sitemap line, /sitemap.xml (index -> posts, pages, tags, authors), the RSS feed /rss/
linked from every page, posts at /<slug>/ (Arabic slugs stay Arabic, written percent-encoded),
home pagination /page/N/, Casper-theme markup, JSON-LD and article:* meta in UTC. The whole
site declares <html lang="en"> even on its Arabic posts.
"""
from __future__ import annotations

import hashlib
import re
from datetime import UTC

from crawler.mirror import dates
from crawler.mirror import weight as W
from crawler.mirror.catalog import Article
from crawler.mirror.render import Markup, cdata, esc, fill, join, paragraphs_html, script_json
from crawler.mirror.server import Request, Response
from crawler.mirror.sites.base import Site
from crawler.mirror.sites.content import one_page

PER_PAGE = 12


def slugify(title: str) -> str:
    text = title.lower().replace("'", "")
    return re.sub(r"[^\w]+", "-", text).strip("-_")[:80].strip("-")


class LevantMonitor(Site):
    key = "levant_monitor"
    ip = "127.0.0.16"
    name = "Levant Monitor"
    lang = "en"
    timezone = "UTC"
    validators = "honest"
    server_header = "nginx"
    in_config = False
    home_size = PER_PAGE
    feed_size = 15
    robots_disallow = ("/ghost/", "/email/", "/members/api/comments/counts/", "/r/", "/webmentions/receive/")
    # Ghost: a lean theme, portal and card scripts, member forms
    chrome = W.Chrome(flavour="ghost", span=(0.02, 0.50), nav=(
        ("/", "Home"), ("/tag/syria/", "Syria"), ("/tag/arabic/", "عربي"), ("/about/", "About"), ("/contact/", "Contact")),
        rail_title="Read more", comments_title="Comments", newsletter="Subscribe to get the latest posts by email",
        cookie_notice="This site uses cookies to improve your experience.")

    def slugs(self) -> dict[str, str]:
        def build():
            taken, out = set(), {}
            for a in sorted(self.articles, key=lambda a: a.key):
                base = slugify(a.title) or f"post-{a.site_id}"
                s, n = base, 1
                while s in taken:
                    n += 1
                    s = f"{base}-{n}"
                taken.add(s)
                out[a.key] = s
            return out
        return self.memo("slugs", build)

    def article_path(self, a: Article) -> str:
        return f"/{self.slugs()[a.key]}/"

    def alias_paths(self, a: Article) -> dict[str, str]:
        return {f"/{self.slugs()[a.key]}": "redirect"}

    def sitemap_urls(self) -> list[str]:
        return [self.url("/sitemap.xml")]

    def robots(self) -> str:
        lines = ["User-agent: *", f"Sitemap: {self.url('/sitemap.xml')}"]
        lines += [f"Disallow: {p}" for p in self.robots_disallow]
        lines += [f"Disallow: {self.url(p)[len(self.base):]}" for p in self.hidden_rules()]
        return "\n".join(lines) + "\n"

    def tag(self, a: Article) -> tuple[str, str]:
        if a.lang == "ar":
            return "arabic", "عربي"
        return ("syria", "Syria") if "Syria" in a.text or "Syrian" in a.text else ("middle-east", "Middle East")

    def object_id(self, a: Article) -> str:
        return hashlib.sha1(f"ghost-{a.key}".encode()).hexdigest()[:24]

    def minutes(self, a: Article) -> int:
        return max(1, round(a.word_count / 265))

    def excerpt(self, a: Article) -> str:
        return a.summary or a.lead(180)

    def image(self, a: Article) -> str:
        d = a.published or self.ctx.now
        return f"{self.base}/content/images/size/w1200/{d.year}/{d.month:02d}/{self.object_id(a)[:8]}.jpg"

    # --- routes --------------------------------------------------------------------------
    def routes(self):
        return [
            (re.compile(r"/"), self.home),
            (re.compile(r"/page/(\d+)/"), self.home),
            (re.compile(r"/tag/([^/]+)/(?:page/(\d+)/)?"), self.tag_page),
            (re.compile(r"/author/([^/]+)/"), self.author_page),
            (re.compile(r"/rss/"), self.rss),
            (re.compile(r"/rss"), lambda req, m: Response.redirect(self.url("/rss/"))),
            (re.compile(r"/sitemap\.xml"), self.sitemap_index),
            (re.compile(r"/sitemap-(posts|pages|tags|authors)\.xml"), self.sitemap_part),
            (re.compile(r"/(about|contact)/"), self.static_page),
        ]

    def layout(self, title: str, head: str, content: Markup, body_class: str) -> str:
        return fill("ghost/layout.html", title=title, head=Markup(head), content=content, body_class=body_class,
                    base=self.base, year=self.ctx.now.year)

    def cards(self, items: list[Article]) -> Markup:
        out = []
        for a in items:
            slug, name = self.tag(a)
            out.append(fill("ghost/card.html", tag_class=f"tag-{slug}", url=self.url(self.article_path(a)),
                            image=self.image(a), tag_name=name, title=a.title, excerpt=self.excerpt(a),
                            date_attr=a.when.date().isoformat(), date_text=dates.english_day(a.when),
                            minutes=self.minutes(a)))
        return join(out)

    def listing(self, items: list[Article], root: str, page: int, title: str, body_class: str,
                home: bool = False) -> Response:
        found = one_page(items, page, PER_PAGE)
        if found is None:
            return self.not_found()
        chunk, page, pages = found
        if home and page == 1:
            # Ghost shows featured posts first on the home page: the hidden one is featured.
            chunk = [a for a in self.hidden() if a not in chunk] + chunk

        def url(n: int) -> str:
            return self.url(root if n == 1 else f"{root}page/{n}/")

        head = [f'<link rel="canonical" href="{url(page)}">']
        nav = []
        if page > 1:
            head.append(f'<link rel="prev" href="{url(page - 1)}">')
            nav.append(f'<a class="newer-posts" href="{url(page - 1)}">&larr; Newer Posts</a>')
        if page < pages:
            head.append(f'<link rel="next" href="{url(page + 1)}">')
            nav.append(f'<a class="older-posts" href="{url(page + 1)}">Older Posts &rarr;</a>')
        content = Markup(f'<main id="site-main" class="site-main outer"><div class="inner posts"><div class="post-feed">\n'
                         f'{self.cards(chunk)}\n</div><nav class="pagination">{"".join(nav)}</nav></div></main>')
        return Response.html(self.layout(title, "\n    ".join(head), content, body_class),
                             last_modified=self.last_modified(chunk) or self.ctx.now)

    def home(self, req: Request, m) -> Response:
        page = int(m.group(1)) if m.lastindex else 1
        return self.listing(self.listed_on_pages(), "/", page,
                            "Levant Monitor" + (f" (Page {page})" if page > 1 else ""), "home-template", home=True)

    def tag_page(self, req: Request, m) -> Response:
        slug = m.group(1)
        items = [a for a in self.listed_on_pages() if self.tag(a)[0] == slug]
        if not items:
            return self.not_found()
        return self.listing(items, f"/tag/{slug}/", int(m.group(2) or 1), f"{self.tag(items[0])[1]} - Levant Monitor",
                            f"tag-template tag-{slug}")

    def author_page(self, req: Request, m) -> Response:
        slug = m.group(1)
        items = [a for a in self.listed_on_pages() if slugify(a.author or "") == slug]
        if not items:
            return self.not_found()
        return self.listing(items, f"/author/{slug}/", 1, f"{items[0].author} - Levant Monitor", "author-template")

    def static_page(self, req: Request, m) -> Response:
        content = Markup('<main id="site-main" class="site-main"><article class="article page"><header class="article-header '
                         'gh-canvas"><h1 class="article-title">About Levant Monitor</h1></header><section class="gh-content '
                         'gh-canvas"><p>Levant Monitor follows security and politics in Syria, Iraq and Lebanon, in English '
                         'and Arabic.</p></section></article></main>')
        return Response.html(self.layout("About - Levant Monitor", "", content, "page-template"), last_modified=self.ctx.now)

    # --- the post ------------------------------------------------------------------------
    def stamp(self, dt) -> str:
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def render_article(self, a: Article, req: Request, how: str = "page") -> Response:
        url = self.url(self.article_path(a))
        slug, tag_name = self.tag(a)
        ld = {"@context": "https://schema.org", "@type": "Article",
              "publisher": {"@type": "Organization", "name": "Levant Monitor", "url": f"{self.base}/"},
              "headline": a.title, "url": url, "datePublished": self.stamp(a.published),
              "dateModified": self.stamp(a.modified), "image": {"@type": "ImageObject", "url": self.image(a)},
              "keywords": tag_name, "description": self.excerpt(a), "mainEntityOfPage": url}
        if a.author:
            ld["author"] = {"@type": "Person", "name": a.author, "url": self.url(f"/author/{slugify(a.author)}/")}
        head = "\n    ".join([
            f'<meta name="description" content="{esc(self.excerpt(a))}">',
            f'<link rel="canonical" href="{url}">', '<meta name="referrer" content="no-referrer-when-downgrade">',
            '<meta property="og:site_name" content="Levant Monitor">', '<meta property="og:type" content="article">',
            f'<meta property="og:title" content="{esc(a.title)}">', f'<meta property="og:url" content="{url}">',
            f'<meta property="og:image" content="{self.image(a)}">',
            f'<meta property="article:published_time" content="{self.stamp(a.published)}">',
            f'<meta property="article:modified_time" content="{self.stamp(a.modified)}">',
            f'<meta property="article:tag" content="{esc(tag_name)}">',
            f'<meta name="twitter:card" content="summary_large_image"><meta name="twitter:title" content="{esc(a.title)}">',
            f'<script type="application/ld+json">\n{script_json(ld, indent=4)}\n    </script>',
        ])
        more = [r for r in self.latest(4, a)][:3]
        content = fill("ghost/post.html", tag_class=f"tag-{slug}", tag_href=self.url(f"/tag/{slug}/"), tag_name=tag_name,
                       title=a.title, author=a.author or "Levant Monitor",
                       # Casper shows an excerpt under the title only when the editor wrote one.
                       excerpt=Markup(f'        <p class="article-excerpt">{esc(a.summary)}</p>' if a.summary else ""),
                       author_href=self.url(f"/author/{slugify(a.author or 'levant-monitor')}/"),
                       date_attr=a.when.date().isoformat(), date_text=dates.english_day(a.when),
                       minutes=self.minutes(a), image=self.image(a), body=paragraphs_html(a.paragraphs, "h2"),
                       read_more=self.cards(more))
        return Response.html(self.layout(a.title, head, content, f"post-template tag-{slug}"),
                             headers=[("X-Powered-By", "Express"), ("Cache-Control", "public, max-age=0")],
                             last_modified=a.modified)

    # --- feed and sitemaps ---------------------------------------------------------------
    def rss(self, req: Request, m) -> Response:
        items = self.feed_items()
        last = self.last_modified(items) or self.ctx.now
        rows = []
        for a in items:
            creator = f"<dc:creator>{cdata(a.author)}</dc:creator>" if a.author else ""
            rows.append(f"<item><title>{cdata(a.title)}</title><description>{cdata(self.excerpt(a))}</description>"
                        f"<link>{self.url(self.article_path(a))}</link><guid isPermaLink=\"false\">{self.object_id(a)}</guid>"
                        f"<category>{cdata(self.tag(a)[1])}</category>{creator}<pubDate>{dates.rfc822(a.when)}</pubDate>"
                        f'<media:content url="{self.image(a)}" medium="image"/>'
                        f"<content:encoded>{cdata(str(paragraphs_html(a.paragraphs, 'h2')))}</content:encoded></item>")
        body = ('<?xml version="1.0" encoding="UTF-8"?><rss xmlns:dc="http://purl.org/dc/elements/1.1/" '
                'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:atom="http://www.w3.org/2005/Atom" '
                'version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
                f"<title>{cdata('Levant Monitor')}</title><description>{cdata('Security and politics in the Levant')}</description>"
                f"<link>{self.url('/')}</link><generator>Ghost 5.82</generator><lastBuildDate>{dates.rfc822(last)}</lastBuildDate>"
                f'<atom:link href="{self.url("/rss/")}" rel="self" type="application/rss+xml"/><ttl>60</ttl>'
                + "".join(rows) + "</channel></rss>")
        return Response(body=body.encode("utf-8"), content_type="application/rss+xml; charset=utf-8", last_modified=last)

    def sitemap_index(self, req: Request, m) -> Response:
        parts = ["pages", "posts", "authors", "tags"]
        last = self.stamp(self.last_modified(self.listed()) or self.ctx.now)
        body = ('<?xml version="1.0" encoding="UTF-8"?><?xml-stylesheet type="text/xsl" href="//'
                + self.base.split("//", 1)[1] + '/sitemap.xsl"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                + "".join(f"<sitemap><loc>{self.url(f'/sitemap-{p}.xml')}</loc><lastmod>{last}</lastmod></sitemap>" for p in parts)
                + "</sitemapindex>")
        return Response(body=body.encode("utf-8"), content_type="text/xml; charset=utf-8",
                        last_modified=self.last_modified(self.listed()))

    def sitemap_part(self, req: Request, m) -> Response:
        part = m.group(1)
        rows: list[tuple[str, str, str | None]]
        if part == "posts":
            rows = [(self.url(self.article_path(a)), self.stamp(a.modified), self.image(a)) for a in self.listed()]
        elif part == "pages":
            rows = [(self.url("/about/"), self.stamp(self.ctx.now), None), (self.url("/contact/"), self.stamp(self.ctx.now), None)]
        elif part == "tags":
            tags = sorted({self.tag(a)[0] for a in self.listed()})
            rows = [(self.url(f"/tag/{t}/"), self.stamp(self.ctx.now), None) for t in tags]
        else:
            names = sorted({slugify(a.author) for a in self.listed() if a.author})
            rows = [(self.url(f"/author/{n}/"), self.stamp(self.ctx.now), None) for n in names]
        body = ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
                'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">'
                + "".join(f"<url><loc>{loc}</loc><lastmod>{lm}</lastmod>"
                          + (f"<image:image><image:loc>{img}</image:loc></image:image>" if img else "") + "</url>"
                          for loc, lm, img in rows) + "</urlset>")
        return Response(body=body.encode("utf-8"), content_type="text/xml; charset=utf-8",
                        last_modified=self.last_modified(self.listed()) or self.ctx.now)

    # --- truth ---------------------------------------------------------------------------
    def channels(self, a: Article) -> list[str]:
        return super().channels(a) + ["sitemap", "listing"]

    def depth(self, a: Article) -> dict[str, int]:
        page = self.paged_depth(self.listed_on_pages(), a, PER_PAGE)
        return {"home": page} if page else {}

    def boilerplate(self, a: Article) -> list[str]:
        return ["Sign up for more like this.", "Powered by Ghost", "min read"]

    def truth_entry(self, a: Article) -> dict:
        entry = super().truth_entry(a)
        entry["summary"] = self.excerpt(a)
        return entry
