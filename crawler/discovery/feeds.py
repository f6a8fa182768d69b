"""Feeds: RSS 2.0, RSS 1.0 (RDF), Atom and JSON Feed, and the feeds an HTML page links to.

Only what discovery needs is read: each entry's link (the original one behind a FeedBurner-
style proxy), its date and title. A feed that is
really an HTML page (an error page, a challenge, a moved feed) is an error that says so.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import lxml.html

from crawler.discovery import DiscoveryError, Link
from crawler.discovery.dates import parse_date
from crawler.discovery.xmlsafe import child_text, local, looks_like_html, parse_xml
from pipelines.urls import safe_url

# MIME types of <link rel="alternate"> that announce a feed.
FEED_TYPES = frozenset({
    "application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json",
    "application/json+feed",
})


@dataclass(frozen=True)
class Feed:
    links: list[Link]
    problems: list[str] = field(default_factory=list)   # markup errors recovered from


def parse_feed(body: bytes, url: str) -> Feed:
    """The entries of a feed, in feed order. Raises DiscoveryError when it is not a feed."""
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise DiscoveryError("is empty; expected a feed")
    if stripped[:1] in (b"{", b"["):
        return Feed(_json_feed(stripped, url))
    if looks_like_html(stripped):
        raise DiscoveryError("is an HTML page, not a feed (moved feed, error or challenge page?)")
    root, problems = parse_xml(stripped, "an RSS or Atom feed")
    kind = local(root)
    if kind == "feed":
        return Feed(_atom(root, url), problems)
    if kind in ("rss", "rdf"):
        return Feed(_rss(root, url), problems)
    raise DiscoveryError(f"is XML with root <{kind}>, not an RSS or Atom feed")


def _original(item) -> str | None:
    """FeedBurner-style proxies put a tracking redirect in `<link>` and the article's own
    address in `<feedburner:origLink>` (the same idea: `<pheedo:origLink>`)."""
    href = child_text(item, "origlink")
    return href if href and href.startswith(("http://", "https://")) else None


def _rss(root, url: str) -> list[Link]:
    links = []
    for item in root.iter():
        if local(item) != "item":
            continue
        href = _original(item) or child_text(item, "link")
        if not href:
            guid = next((c for c in item if local(c) == "guid"), None)
            if guid is not None and (guid.text or "").strip().startswith("http") and guid.get("isPermaLink", "true") != "false":
                href = guid.text.strip()
        if not href:
            href = item.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about")
        if not href:
            continue
        date = child_text(item, "pubdate", "date", "updated", "published", "modified")
        links.append(Link(safe_url(href, url), parse_date(date), child_text(item, "title")))
    return links


def _atom(root, url: str) -> list[Link]:
    links = []
    base = root.get("{http://www.w3.org/XML/1998/namespace}base") or url
    for entry in root:
        if local(entry) != "entry":
            continue
        href = _original(entry)
        for link in entry if href is None else ():
            if local(link) != "link" or not link.get("href"):
                continue
            if link.get("rel", "alternate") == "alternate" and link.get("type", "text/html") in ("text/html", "application/xhtml+xml"):
                href = link.get("href")
                break
        if not href:
            continue
        date = child_text(entry, "updated", "published")
        links.append(Link(safe_url(href, base), parse_date(date), child_text(entry, "title")))
    return links


def _json_feed(body: bytes, url: str) -> list[Link]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DiscoveryError(f"is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise DiscoveryError("is JSON without an `items` list; expected a JSON Feed")
    links = []
    for item in data["items"]:
        if not isinstance(item, dict):
            continue
        href = item.get("url") or (item.get("id") if str(item.get("id", "")).startswith("http") else None)
        if not isinstance(href, str) or not href:
            continue
        date = item.get("date_modified") or item.get("date_published")
        title = item.get("title") if isinstance(item.get("title"), str) else None
        links.append(Link(safe_url(href, url), parse_date(date if isinstance(date, str) else None), title))
    return links


def feed_links(html: str, base_url: str) -> list[str]:
    """Feeds announced by a page: `<link rel="alternate" type="application/rss+xml" href>`."""
    try:
        doc = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return []
    base = _base_href(doc, base_url)
    found: list[str] = []
    for link in doc.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().split(";")[0].strip()
        href = link.get("href")
        if "alternate" in rel and kind in FEED_TYPES and href:
            url = safe_url(href, base)
            if url not in found:
                found.append(url)
    return found


def _base_href(doc, base_url: str) -> str:
    base = doc.find(".//base[@href]")
    return safe_url(base.get("href"), base_url) if base is not None else base_url
