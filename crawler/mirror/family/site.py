"""One generated news site: its articles, its pages (rendered from its traits), its HTTP
behaviour, its ground truth and the `outlets.yaml` entry a user would write for it.

The site is addressed by name (`www.sawt17.test`); the family's proxy routes requests to it
by the Host, so the crawl sees `www` and bare hosts as on the web.
"""
from __future__ import annotations

import gzip
import re
import threading
from urllib.parse import quote, urlsplit

from crawler.mirror.family.stories import HANG_SECONDS, SECTIONS, Story, TruthEntry
from crawler.mirror.family.syndication import SiteSitemaps
from crawler.mirror.server import Request, Response

__all__ = ["GeneratedSite", "Story", "TruthEntry"]


def _hang(handler: object, stop: threading.Event) -> None:
    """A response that never comes (until the server stops): the crawl's timeout must fire."""
    stop.wait(HANG_SECONDS)


class GeneratedSite(SiteSitemaps):
    """The whole site (stories and addresses, pages, feeds and sitemaps: the classes below it),
    and here how it answers a request."""

    def _hit(self, key: str) -> int:
        with self.lock:
            self.hits[key] = self.hits.get(key, 0) + 1
            return self.hits[key]

    def route(self, request: Request, host: str, scheme: str = "http") -> Response:
        split = urlsplit(request.target)
        query_raw = split.query
        if host != self.host or scheme != self.scheme:
            # the bare host to www (or back), http to https: one 301, as nginx is set up
            return Response.redirect(f"{self.origin}{split.path}" + (f"?{query_raw}" if query_raw else ""), 301)
        path, q = request.path, request.query
        if path == "/robots.txt":
            return Response(body=self.robots_body(), content_type="text/plain; charset=utf-8")
        if self.traits.feed != "none" and path == self.feed_path():
            return self.feed()
        m = re.fullmatch(r"/~r/[^/]+/~3/([0-9a-f]+)/", path)
        if m:
            story = next((s for s in self.published() if s.id == int(m.group(1), 16)), None)
            if story is None:
                return Response.not_found()
            return Response(status=302, cacheable=False, headers=[
                ("Location", self.url(story, extra_query="utm_source=feedburner&utm_medium=feed"))])
        sitemap = self._sitemap(path)
        if sitemap is not None:
            return sitemap
        listing = self._listing(path, q)
        if listing is not None:
            return listing
        return self._article(path, q, query_raw)

    def _sitemap(self, path: str) -> Response | None:
        kind = self.traits.sitemap
        if kind == "none":
            return None
        root = self.sitemap_root()
        xml = "application/xml"
        if path == root:
            if kind == "txt":
                lines = "".join(self.url(s, raw=self.traits.loc == "raw") + "\n" for s in self.published())
                return Response(body=lines.encode(), content_type="text/plain; charset=utf-8")
            if kind in ("index", "index_gzip"):
                return self.xml(self.sitemap_index(), xml)
            return self.xml(self._urlset(self.published(), news=kind == "news"), xml)
        if kind in ("index", "index_gzip"):
            children = self._children()
            if path in children:
                body = self._urlset(children[path])
                if path.endswith(".gz"):
                    return Response(body=gzip.compress(body, mtime=0), content_type="application/x-gzip", compressible=False)
                return self.xml(body, xml)
            if path == "/sitemaps/pages.xml":
                return Response(body=(f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                                      f"<url><loc>{self.origin}/about/</loc></url></urlset>").encode(), content_type=xml)
        return None

    def _listing(self, path: str, q: dict) -> Response | None:
        base, n = self._page_number(path, q)
        if n < 1 or n > 500:
            return Response.not_found()
        stories = [s for s in self.published()]
        if base == "/" and not (q.get("p") or q.get("id")):
            return self.html_response(self.listing(stories, "/", "", n, self.name, "home"))
        for i in range(len(SECTIONS)):
            spath = self.section_path(i)
            if base.rstrip("/") == spath.rstrip("/") and (self.traits.cms != "php" or q.get("cat") == [str(i + 1)]):
                mine = [s for s in stories if s.section == i]
                bq = f"cat={i + 1}" if self.traits.cms == "php" else ""
                label = SECTIONS[i][2] if self.lang == "en" else SECTIONS[i][1]
                return self.html_response(self.listing(mine, spath, bq, n, label, f"sec{i}"))
        if path == "/about/":
            return self.html_response(self.layout(self.name, "<p>about</p>"))
        if path == "/search":
            return self.html_response(self.layout(self.name, "<p>search</p>"))
        return None

    def _find(self, path: str, q: dict) -> Story | None:
        for s in self.published():
            cpath, cquery = self.path(s)
            if cquery:
                name, _, value = cquery.partition("=")
                if path == cpath and q.get(name) == [value]:
                    return s
            elif path.rstrip("/") == cpath.rstrip("/"):
                return s
        return None

    def _article(self, path: str, q: dict, query_raw: str) -> Response:
        amp = print_view = False
        if path.startswith("/amp/"):
            path, amp = path[4:], True
        elif path.startswith("/print/"):
            path, print_view = path[6:], True
        story = self._find(path, q)
        if story is None or story.published is None:
            return Response.not_found()
        print_view = print_view or q.get("print") == ["1"]
        if q.get("share"):
            return Response(status=302, cacheable=False, headers=[
                ("Location", f"http://facebook.test/sharer.php?u={quote(self.canonical_url(story), safe='')}")])
        cpath, _ = self.path(story)
        if not amp and not print_view and path != cpath:
            return Response.redirect(self.canonical_url(story), 301)     # trailing slash, as WordPress does
        if story.fault and not amp and not print_view:
            n = self._hit(f"fault-{story.id}")
            if n == 1 and story.fault == "http_5xx_once":
                return Response(status=503, cacheable=False, body=b"<html><body>Service Unavailable</body></html>")
            if n == 1 and story.fault == "timeout_once":
                return Response(stream=_hang)
        return self.html_response(self.article_page(story, amp=amp, print_view=print_view),
                                  last_modified=story.published)
