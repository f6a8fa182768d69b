"""Listing pages (the home page, section pages): the links they show and the way to their
next page.

The spider keeps the links that match the outlet's `article_pattern`; this module only reads
the page. Pagination is recognised the ways sites mark it: `rel="next"`, a "next" link by
its text or class (Arabic and English), a "load more" link to the same listing at another
offset, or, failing those, a link to page n+1 in the common URL shapes (`/page/2/`,
`?page=2`, `?p=2`, `?paged=2`).
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
# "Load more" buttons that are also plain links (`?start=20`, `?offset=20`): weaker evidence
# than "next" (a "more" under a home-page block leads to a section), so they count only when
# they lead to the same listing with another offset or page.
MORE_TEXTS = frozenset({
    "المزيد", "عرض المزيد", "تحميل المزيد", "مزيد", "المزيد من المقالات", "المزيد من الأخبار", "اقرأ المزيد من الأخبار",
    "more", "load more", "show more", "more stories", "more news", "more articles", "see more",
})
_OFFSET_KEYS = ("start", "offset", "from", "skip", "begin")
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


def _same_listing(a: str, b: str, *, offsets: bool = False) -> bool:
    """Two URLs that differ only by their page number (or, with `offsets`, their offset)."""
    pa, pb = urlsplit(a), urlsplit(b)
    if pa.netloc.lower() != pb.netloc.lower():
        return False
    ignored = _QUERY_PAGE_KEYS + (_OFFSET_KEYS if offsets else ())
    strip = lambda p: _PATH_PAGE.sub("/", p.path).rstrip("/")   # noqa: E731
    qa = [(k, v) for k, v in parse_qsl(pa.query) if k.lower() not in ignored]
    qb = [(k, v) for k, v in parse_qsl(pb.query) if k.lower() not in ignored]
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
        elif (text in MORE_TEXTS or label in MORE_TEXTS) and a.get("href"):
            link = safe_url(a.get("href"), base)
            if link != safe_url(url) and _same_listing(link, url, offsets=True):
                add(a.get("href"))
    if found:
        return found
    numbered = _numbered_next(doc, base, url)
    if numbered:
        add(numbered)
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


def _has_page(url: str) -> bool:
    parts = urlsplit(url)
    return bool(_PATH_PAGE.search(parts.path)) or any(
        k.lower() in _QUERY_PAGE_KEYS and v.isdigit() for k, v in parse_qsl(parts.query))


def _numbered_next(doc, base: str, url: str) -> str | None:
    """In a pager of numbered links, the link labelled one more than this page. The labels
    say which page a link is; its URL may count from 0 (Drupal's `?page=1` is page 2), so
    the pager's own offset between label and URL number is read off its links."""
    pager: list[tuple[int, str]] = []
    for a in doc.iter("a"):
        text, href = " ".join(a.text_content().split()), a.get("href")
        if href and text.isdigit() and len(text) <= 4:
            link = safe_url(href, base)
            if _same_listing(link, url):
                pager.append((int(text), link))
    offsets = {n - page_number(link) for n, link in pager if _has_page(link)}
    if len(offsets) != 1:
        return None
    shown = page_number(url) + offsets.pop() if _has_page(url) else 1
    return next((link for n, link in pager if n == shown + 1), None)
