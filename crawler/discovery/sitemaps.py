"""Sitemaps: urlsets and sitemap indexes (sitemaps.org 0.9), gzipped or not, Google News
sitemaps, plain-text sitemaps, and a feed given where a sitemap was expected (the protocol
allows it).

`<loc>` values are taken as written and made fetchable with `pipelines.urls.safe_url`: some
outlets (Al Mayadeen) write raw Arabic there instead of percent-encoding it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from crawler.discovery import DiscoveryError, Link
from crawler.discovery.dates import parse_date
from crawler.discovery.feeds import parse_feed
from crawler.discovery.xmlsafe import child_text, local, looks_like_html, parse_xml
from pipelines.compression import InflateError, inflate
from pipelines.urls import safe_url

# The protocol caps a sitemap at 50 MB uncompressed; a gzip bomb stops there.
MAX_UNCOMPRESSED = 50 * 1024 * 1024

URLSET, INDEX = "urlset", "index"


@dataclass(frozen=True)
class Sitemap:
    kind: str            # urlset: article (or other page) URLs; index: more sitemaps
    links: list[Link]
    problems: list[str] = field(default_factory=list)   # markup errors recovered from


def gunzip(body: bytes, limit: int = MAX_UNCOMPRESSED) -> bytes:
    try:
        return inflate(body, limit)
    except InflateError as exc:
        if exc.too_large:
            raise DiscoveryError(f"decompresses to more than {limit // (1024 * 1024)} MB, the sitemap protocol's limit") from None
        raise DiscoveryError(f"is a damaged gzip file ({exc})") from None


def parse_sitemap(body: bytes, url: str, *, max_bytes: int = MAX_UNCOMPRESSED) -> Sitemap:
    """`max_bytes` caps what a gzipped sitemap may inflate to (never above the protocol's 50 MB)."""
    if body[:2] == b"\x1f\x8b":
        body = gunzip(body, min(max_bytes, MAX_UNCOMPRESSED))
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise DiscoveryError("is empty; expected a sitemap")
    if looks_like_html(stripped):
        raise DiscoveryError("is an HTML page, not a sitemap (error or challenge page?)")
    if not stripped.startswith(b"<"):
        return Sitemap(URLSET, _text_sitemap(stripped, url))
    root, problems = parse_xml(stripped, "a sitemap")
    kind = local(root)
    if kind == "sitemapindex":
        return Sitemap(INDEX, [Link(safe_url(loc, url), parse_date(child_text(el, "lastmod")))
                               for el in root if local(el) == "sitemap" and (loc := child_text(el, "loc"))], problems)
    if kind == "urlset":
        links = []
        for el in root:
            if local(el) != "url" or not (loc := child_text(el, "loc")):
                continue
            lastmod = child_text(el, "lastmod")
            title = None
            news = next((c for c in el if local(c) == "news"), None)
            if news is not None:
                lastmod = lastmod or child_text(news, "publication_date")
                title = child_text(news, "title")
            links.append(Link(safe_url(loc, url), parse_date(lastmod), title))
        return Sitemap(URLSET, links, problems)
    if kind in ("rss", "rdf", "feed"):
        feed = parse_feed(stripped, url)
        return Sitemap(URLSET, feed.links, feed.problems)
    raise DiscoveryError(f"is XML with root <{kind}>, not a sitemap")


def _text_sitemap(body: bytes, url: str) -> list[Link]:
    text = body.decode("utf-8", errors="replace")
    links = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("http://", "https://")):
            links.append(Link(safe_url(line, url)))
    if not links:
        raise DiscoveryError("is neither XML nor a list of URLs; expected a sitemap")
    return links
