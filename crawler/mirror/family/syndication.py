"""A generated site's machine-readable listings: its feed (RSS 2.0, Atom, JSON Feed or RSS
1.0), its sitemaps and its robots.txt."""
from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import quote, urlsplit

from crawler.mirror.family.pages import ArticlePages
from crawler.mirror.family.stories import Story
from crawler.mirror.server import Response

FEEDBURNER_NS = 'xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"'


@dataclass(frozen=True)
class FeedEntry:
    """One feed item as every feed format writes it (escaped for XML)."""
    story: Story
    link: str                  # the item's link, as the feed_link trait spells it
    title: str
    when: str                  # ISO 8601, UTC
    orig: str                  # <feedburner:origLink>, or ""


class SiteFeeds(ArticlePages):
    """The feed, in the format the site's traits give it."""

    def _feed_item_link(self, s: Story) -> str:
        q = self.traits.feed_link
        if q == "relative":
            u = urlsplit(self.canonical_url(s))
            return u.path + (f"?{u.query}" if u.query else "")
        if q == "utm":
            return self.url(s, extra_query="utm_source=rss&utm_medium=feed&utm_campaign=latest")
        if self.traits.scheme == "https_old_http_links" and q == "absolute":
            return self.url(s, scheme="http")
        if q == "proxy" and self.traits.feed != "jsonfeed":
            return f"{self.origin}/~r/{self.key}/~3/{s.id:x}/"
        if q == "proxy":
            return self.url(s, extra_query="utm_source=feedburner&utm_medium=feed")
        return self.canonical_url(s)

    def feed(self) -> Response:
        entries = [self._feed_entry(s) for s in self._feed_stories()]
        kind = self.traits.feed
        if kind == "jsonfeed":
            return Response(body=self._json_feed(entries), content_type="application/feed+json")
        if kind == "rss2":
            return self.xml(self._rss2(entries).encode(), "application/rss+xml; charset=utf-8")
        if kind == "atom":
            return self.xml(self._atom(entries).encode(), "application/atom+xml")
        return self.xml(self._rss1(entries).encode(), "application/rdf+xml")

    def _feed_stories(self) -> list[Story]:
        """The newest stories, and (feed_404 sites) one that was deleted since."""
        items = self.feed_items()
        if "feed_404" in self.traits.faults:
            items.append(Story(id=999999, title="مادة محذوفة" if self.lang == "ar" else "Removed story",
                               paragraphs=["x"], lang=self.lang, author=None, section=0,
                               published=self.now - timedelta(hours=3), slug="removed-story"))
        return items

    def _feed_entry(self, s: Story) -> FeedEntry:
        orig = (f"<feedburner:origLink>{html.escape(self.canonical_url(s))}</feedburner:origLink>"
                if self.traits.feed_link == "proxy" else "")
        return FeedEntry(s, html.escape(self._feed_item_link(s)), html.escape(s.title),
                         s.when.astimezone(UTC).isoformat(), orig)

    def _json_feed(self, entries: list[FeedEntry]) -> bytes:
        doc = {"version": "https://jsonfeed.org/version/1.1", "title": self.name, "home_page_url": f"{self.origin}/",
               "items": [{"id": str(e.story.id), "url": self._feed_item_link(e.story), "title": e.story.title,
                          "content_text": e.story.paragraphs[0], "date_published": e.when} for e in entries]}
        return json.dumps(doc, ensure_ascii=False).encode()

    def _rss2(self, entries: list[FeedEntry]) -> str:
        def guid(e: FeedEntry) -> str:
            return (f'<guid isPermaLink="false">{self.origin}/?p={e.story.id}</guid>'
                    if self.traits.feed_link == "guid_differs" else f"<guid>{e.link}</guid>")
        body = "".join(f"<item><title>{e.title}</title><link>{e.link}</link>{guid(e)}"
                       f"<pubDate>{format_datetime(e.story.when.astimezone(UTC), usegmt=True)}</pubDate>"
                       f"<description>{html.escape(e.story.paragraphs[0])}</description>{e.orig}</item>"
                       for e in entries)
        return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" {FEEDBURNER_NS}>'
                f"<channel><title>{html.escape(self.name)}</title><link>{self.origin}/</link>{body}</channel></rss>")

    def _atom(self, entries: list[FeedEntry]) -> str:
        body = "".join(f'<entry><title>{e.title}</title><link rel="alternate" href="{e.link}"/>'
                       f"<id>tag:{self.domain},2026:{e.story.id}</id>"
                       f"<updated>{e.when}</updated><published>{e.when}</published>{e.orig}</entry>" for e in entries)
        return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
                f'{FEEDBURNER_NS}><title>{html.escape(self.name)}</title>'
                f'<id>{self.origin}/</id><updated>{self.now.isoformat()}</updated>{body}</feed>')

    def _rss1(self, entries: list[FeedEntry]) -> str:
        """RSS 1.0 (RDF)."""
        seq = "".join(f'<rdf:li rdf:resource="{e.link}"/>' for e in entries)
        body = "".join(f'<item rdf:about="{e.link}"><title>{e.title}</title><link>{e.link}</link>'
                       f"<dc:date>{e.when}</dc:date>{e.orig}</item>" for e in entries)
        return (f'<?xml version="1.0" encoding="utf-8"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
                f'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
                f'{FEEDBURNER_NS}>'
                f'<channel rdf:about="{self.origin}/"><title>{html.escape(self.name)}</title><link>{self.origin}/</link>'
                f"<items><rdf:Seq>{seq}</rdf:Seq></items></channel>{body}</rdf:RDF>")

    def xml(self, body: bytes, content_type: str, **kw) -> Response:
        """A feed or sitemap as this site's software writes it: some emit blank lines before
        the XML declaration (a PHP file with a newline after `?>`), some a byte-order mark."""
        prefix = {"none": b"", "blank_lines": b"\n\n  \n", "bom": b"\xef\xbb\xbf"}[self.traits.xml_prefix]
        return Response(body=prefix + body, content_type=content_type, **kw)


class SiteSitemaps(SiteFeeds):
    """Sitemaps (urlset, index with monthly children, news, plain text) and robots.txt."""

    def _lastmod(self, dt: datetime | None) -> str:
        f = self.traits.lastmod
        if dt is None or f == "missing":
            return ""
        local = dt.astimezone(self.tz)
        text = {"w3c": local.isoformat(), "date_only": local.date().isoformat(),
                "space_no_zone": local.strftime("%Y-%m-%d %H:%M:%S"),
                "zulu": dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}[f]
        return f"<lastmod>{text}</lastmod>"

    def _loc(self, s: Story) -> str:
        return html.escape(self.url(s, raw=self.traits.loc == "raw"))

    def _urlset(self, stories: list[Story], news: bool = False) -> bytes:
        if news:
            body = "".join(
                f"<url><loc>{self._loc(s)}</loc><news:news><news:publication><news:name>{html.escape(self.name)}</news:name>"
                f"<news:language>{self.lang}</news:language></news:publication>"
                f"<news:publication_date>{s.when.astimezone(self.tz).isoformat()}</news:publication_date>"
                f"<news:title>{html.escape(s.title)}</news:title></news:news></url>" for s in stories)
            ns = ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'
        else:
            body = "".join(f"<url><loc>{self._loc(s)}</loc>{self._lastmod(s.published)}</url>" for s in stories)
            ns = ""
        return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"{ns}>'
                f"{body}</urlset>").encode()

    def _children(self) -> dict[str, list[Story]]:
        """Child sitemaps of an index: one per month of publication, newest first, plus a
        page sitemap with no articles."""
        months: dict[str, list[Story]] = {}
        for s in self.published():
            local = s.when.astimezone(self.tz)
            months.setdefault(f"{local.year}-{local.month:02d}", []).append(s)
        ext = ".xml.gz" if self.traits.sitemap == "index_gzip" else ".xml"
        return {f"/sitemaps/post-{m}{ext}": v for m, v in months.items()}

    def sitemap_index(self) -> bytes:
        children = self._children()
        stale = self.now - timedelta(days=40)
        parts = []
        for path, stories in children.items():
            newest = max(s.when for s in stories)
            parts.append(f"<sitemap><loc>{self.origin}{path}</loc>"
                         f"{self._lastmod(stale if self.traits.stale_children else newest)}</sitemap>")
        parts.append(f"<sitemap><loc>{self.origin}/sitemaps/pages.xml</loc></sitemap>")
        return (f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f'{"".join(parts)}</sitemapindex>').encode()

    def robots(self) -> str:
        lines = ["User-agent: GPTBot", "Disallow: /", "", "User-agent: *", "Disallow: /search", "Disallow: /print/",
                 "Disallow: /wp-admin/", "Disallow: /subscribe"]
        wild = self.traits.robots == "wildcards"
        if wild:
            lines += ["Disallow: /*?print=", "Disallow: /*&print="]
        for s in self.published():
            if s.disallowed:
                path, query = self.path(s)
                lines.append("Disallow: " + quote(path, safe="/-._~") + (f"?{query}" if query else "") + ("$" if wild else ""))
        if self.traits.sitemap != "none" and self.traits.sitemap_finding == "robots":
            lines += ["", f"{'sitemap' if wild else 'Sitemap'}: {self.origin}{self.sitemap_root()}"]
        return "\n".join(lines) + "\n"

    def robots_body(self) -> bytes:
        text = self.robots()
        if self.traits.robots == "crlf_bom":
            return b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()
        return text.encode()

    def robots_rules(self) -> list[str]:
        """The Disallow prefixes that apply to every crawler but GPTBot (ours)."""
        rules, group = [], None
        for line in self.robots().splitlines():
            if line.lower().startswith("user-agent:"):
                group = line.split(":", 1)[1].strip()
            elif line.lower().startswith("disallow:") and group == "*":
                rules.append(line.split(":", 1)[1].strip())
        return [r for r in rules if r]
