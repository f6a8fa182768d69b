"""A mirrored outlet's faults (listing entries for the fault pages it serves) and the ground
truth of what a crawl of it must produce: where each article is linked, how deep, and the
truth entry the scorers compare against."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from crawler.mirror import faults as F
from crawler.mirror.catalog import Article, utc_iso
from crawler.mirror.sites.content import SiteContent

# Faults served at an article URL (the others are sitemap or feed faults).
PAGE_FAULTS = {"http_503", "http_500_transient", "http_429", "timeout", "slow_body", "sitemap_url_404",
               "charset_none", "charset_meta_only", "charset_wrong", "invalid_utf8", "redirect_loop",
               "redirect_offsite", "redirect_private", "truncated", "empty", "huge", "huge_chunked", "pdf",
               "image", "binary_as_html", "gzip_bomb"}


class SiteFaults(SiteContent):
    """The fault pages of this outlet that have no article of their own."""

    def fault_articles(self) -> list[Article]:
        """Listing entries for this outlet's faults that have no article of their own."""
        kinds = [f.kind for f in F.FAULTS if f.outlet == self.key and not f.content and f.kind in PAGE_FAULTS]
        donor = next((a for a in self.articles if a.role == "reserve"), self.articles[0])
        top = max(a.site_id for a in self.articles)
        out = []
        for i, kind in enumerate(kinds):
            published = self.ctx.now.replace(second=0, microsecond=0) - timedelta(minutes=37 + 211 * i)
            out.append(Article(
                key=f"{self.key}-fault-{kind}", outlet=self.key, role=f"fault:{kind}", lang="ar",
                title=F.HEADLINES[(i + len(self.key)) % len(F.HEADLINES)], paragraphs=list(donor.paragraphs),
                author=donor.author, site_id=top + 3 + 2 * i, section=self.fault_section(),
                published=published, modified=published, source="fault", source_id=kind,
                selection_group="fault", recent=True,
            ))
        return out

    def fault_section(self) -> str:
        return ""

    def fault_urls(self) -> dict[str, str]:
        urls = {}
        for a in self.listed():
            if a.fault:
                urls[a.fault] = self.url(self.article_path(a))
        return urls


class SiteTruth(SiteFaults):
    """What a complete crawl of the site must find."""

    def channels(self, a: Article) -> list[str]:
        """Where the article is linked: home (page 1), home_pagination (later home pages),
        section (the sections the shipped config lists), listing (other listing pages),
        feed, sitemap, idwalk (reachable by the config's backfill id template)."""
        out = []
        if a in self.home_items():
            out.append("home")
        elif self.depth(a).get("home"):
            out.append("home_pagination")
        if a in self.feed_items() and self.has_feed():
            out.append("feed")
        return out

    def depth(self, a: Article) -> dict[str, int]:
        """The page (1 = first) on which the article is listed in paginated channels."""
        return {"home": 1} if a in self.home_items() else {}

    def paged_depth(self, items: list[Article], a: Article, size: int) -> int | None:
        return items.index(a) // size + 1 if a in items else None

    def has_feed(self) -> bool:
        return True

    def boilerplate(self, a: Article) -> list[str]:
        """Strings the page shows around the article that must not end up in its text."""
        return []

    def chrome_boilerplate(self) -> list[str]:
        return self.chrome.boilerplate() if self.chrome is not None and self.ctx.weight != "light" else []

    def expected(self) -> list[Article]:
        """The articles a complete crawl must index: published ones, and the fault pages whose
        article can be recovered."""
        return [a for a in self.listed()
                if a.role == "article" or (a.fault and F.BY_KIND[a.fault].indexed)]

    def truth_entry(self, a: Article) -> dict:
        aliases = self.alias_paths(a).items()
        also = [self.url(p) for p, how in aliases if how != "redirect"]
        moved = [self.url(p) for p, how in aliases if how == "redirect"]
        return {
            "outlet": self.key, "key": a.key, "site_id": a.site_id,
            "url": self.url(self.article_path(a)), "canonical_url": self.url(self.canonical_path(a)),
            "also_at": also, "redirects_from": moved, "title": a.title, "text": a.text, "summary": a.summary,
            "author": a.author, "published_at": utc_iso(a.published),
            "published_date": a.when.astimezone(ZoneInfo(self.timezone)).date().isoformat(),
            "published_precision": "day" if self.day_precision else "minute",
            "modified_at": utc_iso(a.modified), "lang": a.lang, "recent": a.recent,
            "channels": self.channels(a), "depth": self.depth(a), "fault": a.fault, "seed": a.seed,
            "duplicate_group": a.duplicate_group, "source_id": a.source_id,
            "selection_group": a.selection_group,
            "boilerplate": [b for b in self.boilerplate(a) + self.chrome_boilerplate()
                            if b not in a.text and b not in a.title],
        }
