"""Parsing XML from the network without trusting it: no entities resolved, no network
access, no DTD loading, and recovery from the broken markup real feeds and sitemaps carry."""
from __future__ import annotations

from lxml import etree

from crawler.discovery import DiscoveryError


def parse_xml(body: bytes, what: str) -> tuple[etree._Element, list[str]]:
    """(root, problems): broken markup is recovered as far as it goes (a sitemap cut off in
    the middle still lists the URLs before the cut) and each error is reported. A document
    that declares entities is refused outright: feeds and sitemaps never need them, and
    nested ones are the "billion laughs" attack."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, recover=True,
                             remove_comments=True, remove_pis=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise DiscoveryError(f"is not readable XML ({exc.msg})") from None
    if root is None:
        raise DiscoveryError(f"is empty or not XML; expected {what}")
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise DiscoveryError("declares XML entities in a DTD (an entity-expansion attack such as billion laughs); "
                             "refused unread")
    problems = [f"line {e.line}: {e.message}" for e in parser.error_log
                if e.level >= etree.ErrorLevels.ERROR][:5]
    return root, problems


def local(el) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def child_text(el, *names: str) -> str | None:
    """Text of the first direct child with one of these local names (namespace ignored)."""
    for name in names:
        for child in el:
            if local(child) == name and child.text and child.text.strip():
                return child.text.strip()
    return None


def looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")
