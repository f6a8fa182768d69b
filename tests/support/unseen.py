"""The unseen outlet of issue 13 (a small Arabic site with tracking parameters on its feed
links, a sitemap backlog and a paginated section), shared by the discovery and recovery tests."""
from __future__ import annotations

import re

from tests.support.crawlrun import AR
from tests.support.localsite import Site, article_html, listing_html, recent, rss, urlset

TRACKING = "?utm_source=rss&utm_medium=feed"


def unseen_yaml(site: Site) -> str:
    # as a user writes it after looking at two article addresses in a browser
    return ("outlets:\n  unseen:\n    name: Unseen\n"
            f"    home: {site.url('/')}\n    language: ar\n    domains: [{site.host}]\n"
            f"    sitemaps: [{site.url('/sitemap.xml')}]\n"
            f"    article_pattern: '^http://{re.escape(site.host)}:{site.port}/news/\\d+-[^/?#]+\\.html$'\n")


def build_unseen(site: Site) -> tuple[dict[int, str], dict[int, float]]:
    """Four feed items (tracking parameters; the site serves only the clean address), a
    sitemap of twelve articles aged 1 day to 60 days, and a section two pages behind home
    that lists two of the 60-day-old ones. Returns the article paths and the sitemap's ages."""
    ages = {i: age for i, age in enumerate([1, 2, 3, 10, 12, 15, 20, 25, 45, 50, 60, 60])}
    paths = {i: f"/news/{1000 + i}-slug-{i}.html" for i in range(16)}
    for i, path in paths.items():
        row = AR[i % len(AR)]
        site.add(path, article_html(f"{row['title']} ({i})", row["text"] + f"\nالخبر رقم {i}.",
                                    published=recent(ages.get(i, 0.5)).isoformat()))
    feed = [12, 13, 14, 15]
    site.add("/feed/", rss([(site.url(paths[i]) + TRACKING, recent(0.5)) for i in feed]),
             content_type="application/rss+xml")
    site.dates = {i: recent(age) for i, age in ages.items()}     # fixed: a later sitemap repeats them
    site.add("/sitemap.xml", urlset([(site.url(paths[i]), site.dates[i]) for i in ages]),
             content_type="application/xml")
    site.add("/", listing_html([site.url(paths[0])], next_url=site.url("/?page=2"), feeds=[site.url("/feed/")]))
    site.add("/?page=2", listing_html([site.url(paths[1])], next_url=site.url("/?page=3")))
    site.add("/?page=3", listing_html([site.url(paths[10]), site.url(paths[11])]))
    site.add("/robots.txt", "User-agent: *\nDisallow: /admin\n", content_type="text/plain")
    return paths, ages


def first_crawl_expects(site: Site, paths: dict[int, str], ages: dict[int, float]) -> set[str]:
    """What a complete first crawl indexes: all but the sitemap-only entries older than 30 days."""
    held = {i for i, age in ages.items() if age > 30 and i not in (10, 11)}
    return {site.url(p) for i, p in paths.items() if i not in held}
