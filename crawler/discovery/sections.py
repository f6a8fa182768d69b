"""Listing pages (the home page, section pages): the links they show and the way to their
next page.

The spider keeps the links that match the outlet's `article_pattern`; this module only reads
the page. Pagination is recognised the ways sites mark it: `rel="next"`, a "next" link by
its text or class (Arabic and English), or, failing those, a link to page n+1 in the
common URL shapes (`/page/2/`, `?page=2`, `?p=2`, `?paged=2`).
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import lxml.html

from pipelines.urls import safe_url

NEXT_TEXTS = frozenset({
    "التالي", "التالية", "الصفحة التالية", "المزيد من الأخبار", "الأقدم", "مقالات أقدم", "أخبار أقدم",
    "next", "next page", "older", "older posts", "older entries", "›", "»", "next ›", "next »", ">", ">>",
})
_CLASS_NEXT = re.compile(r"(^|[\s_-])(next|pagination-next|nextpostslink)($|[\s_-])", re.I)
_PATH_PAGE = re.compile(r"/page/(\d+)/?$")
_QUERY_PAGE_KEYS = ("page", "p", "paged", "pg", "start_page")


def parse_html(html: str):
    if html.startswith("<?xml"):
        html = html.split("?>", 1)[-1]
    try:
        return lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return None


def _base(doc, url: str) -> str:
    base = doc.find(".//base[@href]")
    return safe_url(base.get("href"), url) if base is not None else url


def page_links(html: str, url: str) -> list[str]:
    """Every http(s) link of the page, resolved, without fragments, in page order."""
    doc = parse_html(html)
    if doc is None:
        return []
    base = _base(doc, url)
    seen: dict[str, None] = {}
    for a in doc.iter("a", "area"):
        href = (a.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "whatsapp:")):
            continue
        link = safe_url(href, base)
        if link.startswith(("http://", "https://")):
            seen.setdefault(link, None)
    return list(seen)


def page_number(url: str) -> int:
    parts = urlsplit(url)
    m = _PATH_PAGE.search(parts.path)
    if m:
        return int(m.group(1))
    for key, value in parse_qsl(parts.query):
        if key.lower() in _QUERY_PAGE_KEYS and value.isdigit():
            return int(value)
    return 1


def _same_listing(a: str, b: str) -> bool:
    """Two URLs that differ only by their page number."""
    pa, pb = urlsplit(a), urlsplit(b)
    if pa.netloc.lower() != pb.netloc.lower():
        return False
    strip = lambda p: _PATH_PAGE.sub("/", p.path).rstrip("/")   # noqa: E731
    qa = [(k, v) for k, v in parse_qsl(pa.query) if k.lower() not in _QUERY_PAGE_KEYS]
    qb = [(k, v) for k, v in parse_qsl(pb.query) if k.lower() not in _QUERY_PAGE_KEYS]
    return strip(pa) == strip(pb) and sorted(qa) == sorted(qb)


def next_pages(html: str, url: str) -> list[str]:
    """The page(s) after this one, best evidence first; empty on the last page."""
    doc = parse_html(html)
    if doc is None:
        return []
    base = _base(doc, url)
    found: list[str] = []

    def add(href: str | None) -> None:
        if href and href.strip() and not href.strip().startswith(("#", "javascript:")):
            link = safe_url(href, base)
            if link != safe_url(url) and link not in found and link.startswith(("http://", "https://")):
                found.append(link)

    for el in doc.iter("link", "a"):
        if "next" in (el.get("rel") or "").lower().split():
            add(el.get("href"))
    if found:
        return found
    for a in doc.iter("a"):
        text = " ".join(a.text_content().split()).lower()
        label = (a.get("aria-label") or "").strip().lower()
        if text in NEXT_TEXTS or label in NEXT_TEXTS or _CLASS_NEXT.search(a.get("class") or ""):
            add(a.get("href"))
    if found:
        return found
    current = page_number(url)
    for a in doc.iter("a"):
        href = a.get("href")
        if not href:
            continue
        link = safe_url(href, base)
        if page_number(link) == current + 1 and _same_listing(link, url):
            add(href)
    return found
