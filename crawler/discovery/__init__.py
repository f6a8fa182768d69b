"""Finding article URLs: plain functions from a fetched document to the links it lists.

One module per channel, each tested on its own: `feeds` (RSS 2.0, RSS 1.0, Atom, JSON Feed,
and the feeds a page links to), `sitemaps` (urlsets, indexes, gzip, news sitemaps, text
sitemaps), `sections` (article links and pagination of listing pages), `robots` (Sitemap:
lines and rules), `backfill` (older sitemap months and id ranges). They know nothing about
Scrapy or the crawl state. What to fetch of the links they find is decided by `planner`
(patterns, the sitemap window, first contact, the frontier's rules, the page budget), a plain
class over the crawl state that the spider asks about every link.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Link:
    """A URL a source lists, with the modification date it gives (UTC) when it gives one."""
    url: str
    lastmod: datetime | None = None
    title: str | None = None


class DiscoveryError(ValueError):
    """A source that cannot be read as what it claims to be; the message says why."""
