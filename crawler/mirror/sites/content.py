"""What a mirrored outlet is before it serves a page: its facts, the addresses of its
articles, what it lists (newest first, cached per version of its content), its robots.txt,
and publishing. crawler/mirror/sites/truth.py adds its faults and ground truth, and
crawler/mirror/sites/base.py how it serves requests."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from crawler.mirror import faults as F
from crawler.mirror import weight as W
from crawler.mirror.catalog import Article
from crawler.mirror.server import Request

# Characters left as they are when a path is percent-encoded (RFC 3986 path characters).
PATH_SAFE = "/:@!$&'()*+,;=-._~%"
SITEMAP_ONLY = {"sitemap_url_404"}


def page_number(req: Request, *, otherwise: int | None) -> int | None:
    """`?page=N` as most sites read it: absent or empty is page 1, anything but a positive
    number is `otherwise` (None: no such page)."""
    raw = req.param("page", "1") or "1"
    return int(raw) if raw.isdigit() and int(raw) > 0 else otherwise


def one_page(items: list[Article], page: int | None, size: int) -> tuple[list[Article], int, int] | None:
    """(the articles on listing page `page` of `size` each, that page, how many pages there
    are); None for a page that does not exist. A listing has one page even when empty."""
    pages = max(1, -(-len(items) // size))
    if page is None or not 1 <= page <= pages:
        return None
    return items[(page - 1) * size: page * size], page, pages


def encode_path(path: str) -> str:
    return quote(path, safe=PATH_SAFE)


@dataclass
class Context:
    """What a site needs from its Mirror."""
    now: datetime
    faults: bool
    fault_state: F.FaultState
    trap_base: Callable[[], str]          # base URL of the off-site trap server
    blocked: Callable[[str], bool]
    lock: threading.RLock = field(default_factory=threading.RLock)
    weight: str = "real"                  # page furniture: light | real | heavy (see weight.py)


class SiteContent:
    """A site's facts (declared by each subclass), addresses and listings."""

    key = ""                 # the outlet's key in config/outlets.yaml
    ip = ""                  # its loopback address
    name = ""
    lang = "ar"
    timezone = "UTC"
    validators = "honest"    # honest | lying | last-modified | none (see server.py)
    server_header = "nginx"
    home_size = 20
    feed_size = 20
    robots_disallow: tuple[str, ...] = ()
    robots_extra = ""        # extra groups (other user agents) appended verbatim
    stub_paths: tuple[str, ...] = ()   # other pages of the site (regexes): served as small stubs
    day_precision = False    # the page gives a date without a time
    in_config = True         # False: the site is not in the shipped config/outlets.yaml
    chrome: W.Chrome | None = None     # the furniture around its pages (weight.py); None: none

    ctx: Context
    articles: list[Article]
    base: str
    version: int
    _memo: dict[str, Any]

    def url(self, path: str) -> str:
        """Absolute, percent-encoded: the form a client sends and the truth records."""
        return self.base + encode_path(path)

    def raw_url(self, path: str) -> str:
        return self.base + path

    def href(self, path: str) -> str:
        """What this CMS writes into href attributes; most encode, some don't (override)."""
        return self.url(path)

    def article_path(self, a: Article) -> str:
        raise NotImplementedError

    def canonical_path(self, a: Article) -> str:
        return self.article_path(a)

    def alias_paths(self, a: Article) -> dict[str, str]:
        """Other paths that reach the article: path -> 'same' (served as is) or 'redirect'."""
        return {}

    def loop_partner(self, a: Article) -> str:
        """The second URL of a redirect loop (must also match the article pattern)."""
        raise NotImplementedError

    def memo(self, name: str, build: Callable[[], object]):
        """Per-version cache: cleared whenever the site's content changes."""
        key = f"{self.version}:{name}"
        hit = self._memo.get(key)
        if hit is None:
            with self.ctx.lock:
                hit = self._memo.get(key)
                if hit is None:
                    if len(self._memo) > 2000:
                        self._memo.clear()
                    hit = build()
                    self._memo[key] = hit
        return hit

    def changed(self) -> None:
        with self.ctx.lock:
            self.version += 1
            self._memo.clear()

    def listed(self) -> list[Article]:
        """Everything the site links to, newest first (published articles, the hidden one,
        fault pages); not the reserves that are still unpublished."""
        def build():
            items = [a for a in self.articles if a.published is not None and a.role != "reserve"]
            return sorted(items, key=lambda a: (a.published, a.site_id), reverse=True)
        return self.memo("listed", build)

    def listed_on_pages(self) -> list[Article]:
        """What home pages, sections and feeds show (a few faults live only in sitemaps)."""
        return self.memo("on_pages", lambda: [a for a in self.listed() if a.fault not in SITEMAP_ONLY])

    def home_items(self) -> list[Article]:
        """The latest articles; the page robots.txt forbids is always among them (pinned),
        so every crawl of the home page meets a link it must not follow."""
        def build():
            items = self.listed_on_pages()[: self.home_size]
            return items + [a for a in self.hidden() if a not in items and a.published]
        return self.memo("home", build)

    def feed_items(self) -> list[Article]:
        return self.listed_on_pages()[: self.feed_size]

    def by_path(self) -> dict[str, tuple[Article, str]]:
        def build():
            table: dict[str, tuple[Article, str]] = {}
            for a in self.listed():
                table[self.article_path(a)] = (a, "page")
                for p, how in self.alias_paths(a).items():
                    table.setdefault(p, (a, how))
                if a.fault == "redirect_loop":
                    table.setdefault(self.loop_partner(a), (a, "loop"))
            return table
        return self.memo("by_path", build)

    def latest(self, n: int, exclude: Article | None = None) -> list[Article]:
        return [a for a in self.listed_on_pages() if a is not exclude and a.role == "article"][:n]

    def last_modified(self, items: Iterable[Article]) -> datetime | None:
        dates = [a.modified or a.published for a in items if a.published]
        return max(dates) if dates else None

    def hidden(self) -> list[Article]:
        return [a for a in self.articles if a.role == "hidden"]

    def hidden_rules(self) -> list[str]:
        """Disallow lines that cover the hidden article (linked from pages, never to be fetched)."""
        return [self.article_path(a) for a in self.hidden()]

    def sitemap_urls(self) -> list[str]:
        return []

    def robots(self) -> str:
        lines = ["User-agent: *"]
        lines += [f"Disallow: {encode_path(p)}" for p in (*self.robots_disallow, *self.hidden_rules())]
        lines.append("")
        if self.robots_extra:
            lines.append(self.robots_extra.strip())
            lines.append("")
        lines += [f"Sitemap: {u}" for u in self.sitemap_urls()]
        return "\n".join(lines).strip() + "\n"

    def _check_hidden(self) -> None:
        """A Disallow rule is a prefix: make sure no listed article falls under it by accident."""
        rules = [encode_path(p) for p in self.hidden_rules()]
        for a in self.articles:
            if a.role == "hidden" or a.published is None and a.role != "reserve":
                continue
            path = encode_path(self.article_path(a))
            for rule in rules:
                if path.startswith(rule):
                    raise RuntimeError(f"{self.key}: {path} falls under the robots rule {rule}")

    def next_site_id(self) -> int:
        return max(a.site_id for a in self.articles) + 1

    def publish(self, article: Article) -> Article:
        with self.ctx.lock:
            self.articles.append(article)
            self.changed()
        return article
