"""The traits a generated outlet is built from, each drawn independently from the seed.

Every list is what real news sites do and what public crawler issue trackers show breaking
crawlers (trafilatura, news-please, scrapy, fundus, courlan, htmldate, crawler-commons):
feeds whose links carry utm parameters or pass through a redirecting proxy
(FeedBurner's `origLink`), `guid`s that are not links, sitemap `<lastmod>` written in
non-W3C forms ("2020-10-10 12:34:12", date only, no zone), gzipped child sitemaps and
sitemap indexes, child sitemaps whose index `<lastmod>` never moves, trailing-slash and
`www` duplicates, canonical tags pointing at the home page, comments and "related" lists
leaking into the text, dates only in visible text in a regional month convention, and a
CDN's bot-detection script injected before `</body>` of every page (Cloudflare's JavaScript
detections), which is not a challenge page.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass

CMS = ("wp_p", "wp_date", "wp_id", "drupal_node", "drupal_content", "ghost", "custom_news", "php")
FEED = ("rss2", "atom", "jsonfeed", "rss1", "none")
FEED_LINK = ("absolute", "relative", "utm", "proxy", "guid_differs")
FEED_FINDING = ("alternate", "conventional_only")
SITEMAP = ("urlset", "index", "index_gzip", "news", "txt", "none")
LASTMOD = ("w3c", "date_only", "space_no_zone", "zulu", "missing")
LOC = ("percent", "raw")
SITEMAP_FINDING = ("robots", "conventional")
STALE_CHILDREN = (False, True)
PAGINATION = ("rel_next", "query", "path", "numbered", "numbered_zero", "more", "infinite")
VARIANTS = ("none", "www_mixed", "trailing_slash", "mixed_case_escapes", "amp_print_share")
CANONICAL = ("absolute", "relative", "missing", "home")
CHARSET = ("utf8_http", "meta_only_1256", "disagree_1256", "none_1256", "utf8_bom", "meta_late_1256")
DATES = ("iso_meta", "rfc822_meta", "json_ld_only", "time_only", "text_levantine", "text_egyptian",
         "text_maghrebi", "text_levantine_day", "text_egyptian_gmt", "text_updated_first", "text_hijri")
BYLINE = ("before_body", "after_body", "header_span", "meta_only", "none")
BOILERPLATE = ("related", "comments", "newsletter")
FAULTS = ("none", "http_5xx_once", "timeout_once", "feed_404", "robots_article")
SLUG = ("arabic", "latin")
SCHEME = ("http", "https", "https_old_http_links")
BODY = ("p", "br", "inline_read_also", "inline_ad_newsletter", "div_soup")
LINKS = ("absolute", "root_relative", "base_href")
ROBOTS = ("plain", "wildcards", "crlf_bom")
CDN = ("none", "cloudflare_jsd")
XML_PREFIX = ("none", "blank_lines", "bom")
DIGITS = ("latin", "arabic_indic")
EN_DATES = DATES[:4] + ("text_english",)
TITLE = ("h1", "h2_og_suffix")


@dataclass(frozen=True)
class Traits:
    cms: str
    slug: str
    feed: str
    feed_link: str
    feed_finding: str
    sitemap: str
    lastmod: str
    loc: str
    sitemap_finding: str
    stale_children: bool
    pagination: str
    variants: str
    canonical: str
    charset: str
    dates: str
    byline: str
    boilerplate: tuple[str, ...]
    faults: tuple[str, ...]
    english: bool
    scheme: str = "http"
    body: str = "p"
    title: str = "h1"
    links: str = "absolute"
    robots: str = "plain"
    xml_prefix: str = "none"
    digits: str = "latin"
    cdn: str = "none"

    def as_dict(self) -> dict:
        return asdict(self)

    def labels(self) -> list[str]:
        """`trait=value` strings: the keys of the per-trait recall table."""
        out = []
        for name, value in self.as_dict().items():
            values = value if isinstance(value, (list, tuple)) else [value]
            out += [f"{name}={v}" for v in values] or [f"{name}=none"]
        return out


def draw(seed: int) -> Traits:
    rng = random.Random(f"traits-{seed}")
    english = rng.random() < 0.1
    return Traits(
        cms=rng.choice(CMS), slug="latin" if english else rng.choice(SLUG),
        feed=rng.choice(FEED), feed_link=rng.choice(FEED_LINK), feed_finding=rng.choice(FEED_FINDING),
        sitemap=rng.choice(SITEMAP), lastmod=rng.choice(LASTMOD), loc=rng.choice(LOC),
        sitemap_finding=rng.choice(SITEMAP_FINDING), stale_children=rng.choice(STALE_CHILDREN),
        pagination=rng.choice(PAGINATION), variants=rng.choice(VARIANTS), canonical=rng.choice(CANONICAL),
        charset="utf8_http" if english else rng.choice(CHARSET),
        dates=rng.choice(EN_DATES) if english else rng.choice(DATES),
        byline=rng.choice(BYLINE),
        boilerplate=tuple(b for b in BOILERPLATE if rng.random() < 0.6),
        faults=tuple(sorted({rng.choice(FAULTS) for _ in range(2)} - {"none"})),
        english=english, scheme=rng.choice(SCHEME), body=rng.choice(BODY), title=rng.choice(TITLE),
        links=rng.choice(LINKS), robots=rng.choice(ROBOTS), xml_prefix=rng.choice(XML_PREFIX),
        digits="latin" if english else rng.choice(DIGITS), cdn=rng.choice(CDN),
    )
