"""What to fetch: the per-URL decisions of one crawl of one outlet, without Scrapy.

The spider hands every article link a source lists to `Planner.consider`, and sends the
`Fetch` it gets back, if any. The rules, in the order they apply:

1. A link off the outlet's domains, or one whose spellings (`pipelines.urls.pattern_forms`:
   as given, canonical, canonical with Arabic as text) `article_pattern` matches none of, or
   `exclude_pattern` matches one of, is not an article.
2. The article is named by its canonical URL (the document id is a hash of it), whatever
   spelling a source used; each channel that lists it counts it once.
3. The date window is a property of a sitemap's backlog, not of an article: a URL whose only
   source so far is a sitemap (in this crawl, and unknown to the frontier), with a lastmod
   older than the window, is held back
   (`skipped/older_than_window`). When a feed, a section page, the home page or an id walk
   lists it later in the same crawl it is taken after all, and the held-back count drops by
   one: the final report counts each discovered URL once, under what finally happened to it.
4. The frontier (`crawler.state.store.fetch_reason`) says whether a known article is fetched again.
5. Within the crawl's page budget; beyond it an article is `deferred` (left pending for the
   next crawl, which takes it first).

Which window applies is decided once per outlet and crawl by `choose_window`: an outlet with
no complete crawl yet (first contact) takes `first_crawl_window` (default 30 days), later
crawls `sitemap_window` (7 days). A crawl killed or stopped before its end leaves the outlet
in first contact, so the next crawl takes the wide window again and nothing the dead crawl
would have found is lost to the narrow one.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from crawler.discovery.backfill import IdTemplate
from crawler.discovery.dates import iso_utc
from crawler.state.store import PENDING, ArticleRecord, CrawlState, fetch_reason
from pipelines.urls import canonicalize, host_of, safe_url

FIRST_CRAWL = "first_crawl"
LATER_CRAWL = "sitemap_window"
# Where the crawl state keeps the end of an outlet's first complete crawl (crawler/run/crawl.py writes it).
COMPLETE_MARK = "complete_crawl_at"
# Channels whose listing of a URL makes it eligible whatever its sitemap lastmod says.
_DIRECT = ("feed", "section", "idwalk")


class _Outlet(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def first_crawl_window(self) -> float | None: ...

    def allows_host(self, host: str | None) -> bool: ...

    def is_article(self, url: str) -> bool: ...


@dataclass(frozen=True)
class Window:
    """The sitemap window one crawl of one outlet applies: `seconds` back from the crawl's
    start (0: no window, every entry is taken), and why (`FIRST_CRAWL` or `LATER_CRAWL`)."""
    seconds: float
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "days": round(self.seconds / 86400.0, 2) if self.seconds else None}


def first_contact(outlet_data: Mapping[str, Any]) -> bool:
    """Whether the crawl state (`CrawlState.outlet`) shows no complete crawl of the outlet."""
    return not outlet_data.get(COMPLETE_MARK)


def choose_window(outlet: _Outlet, sitemap_window: float, first_crawl_window: float,
                  outlet_data: Mapping[str, Any]) -> Window:
    """The window of this crawl: the outlet's `first_crawl_window` (or the settings') on first
    contact, else `sitemap_window`. A first crawl never looks less far back than later ones,
    and 0 in either setting means no window."""
    if not first_contact(outlet_data):
        return Window(sitemap_window, LATER_CRAWL)
    first = outlet.first_crawl_window if outlet.first_crawl_window is not None else first_crawl_window
    seconds = 0.0 if not first or not sitemap_window else max(first, sitemap_window)
    return Window(seconds, FIRST_CRAWL)


@dataclass(frozen=True)
class Fetch:
    """An article request to send: `url` as the source gave it, `fallback` its canonical form
    when that is spelt differently (tried when the outlet does not serve the given one),
    `key` the canonical URL that names the article."""
    url: str
    key: str
    channel: str
    lastmod: str | None
    reason: str
    before: ArticleRecord | None
    fallback: str | None = None


@dataclass
class _Held:
    url: str
    lastmod: datetime | None


Count = Callable[[str, int], None]


class Planner:
    """The decisions of one crawl of one outlet (see the module docstring). `count(name, n)`
    receives every counter change (crawler/report/stats.py names: `discovered/feed`,
    `skipped/older_than_window`, `errors/offsite`, ...; a negative n corrects a count)."""

    def __init__(self, outlet: _Outlet, state: CrawlState, count: Count, *, window: Window, now: float,
                 refetch_after: float = 0.0, budget: int | None = None, id_template: IdTemplate | None = None):
        self.outlet = outlet
        self.state = state
        self.count = count
        self.window = window
        self.now = now
        self.refetch_after = refetch_after
        self.budget = budget
        self.id_template = id_template
        self.blocked = False
        self.scheduled = 0
        self.numbers: set[int] = set()
        self._channels: dict[str, set[str]] = {}
        self._seen: set[str] = set()
        self._held: dict[str, _Held] = {}

    def has_budget(self) -> bool:
        return self.budget is None or self.scheduled < self.budget

    def is_listed_article(self, url: str, channel: str, *, trust_pattern: bool = False) -> bool:
        """Rule 1, counted: off-domain and non-article links from feeds and sitemaps are
        reported (a section page links to much else, that is not news)."""
        if not self.outlet.allows_host(host_of(url)):
            if channel in ("feed", "sitemap"):
                self.count("errors/offsite", 1)
            return False
        if not trust_pattern and not self.outlet.is_article(url):
            if channel in ("feed", "sitemap"):
                self.count("skipped/not_article_url", 1)
            return False
        return True

    def consider(self, url: str, channel: str, lastmod: datetime | None = None, *,
                 windowed: bool = False, trust_pattern: bool = False) -> Fetch | None:
        """One link a source listed: the request to send for it, or None (and why, counted).
        `windowed`: the source is a sitemap read under the crawl's window (not --backfill)."""
        url = safe_url(url)
        if not self.is_listed_article(url, channel, trust_pattern=trust_pattern):
            return None
        key = canonicalize(url)
        listed = self._channels.setdefault(channel, set())
        if key not in listed:
            listed.add(key)
            self.count(f"discovered/{channel}", 1)
        if key in self._seen:
            held = self._held.get(key)
            if held is not None and channel in _DIRECT:
                del self._held[key]            # rule 3: another channel lists it; the window was the sitemap's
                self.count("skipped/older_than_window", -1)
                return self._decide(held.url, key, channel, lastmod or held.lastmod)
            if lastmod is not None and held is None:   # keep the newest lastmod any source gives
                self.state.discovered(self.outlet.key, key, url, channel, iso_utc(lastmod), now=self.now)
            elif held is not None and lastmod is not None and (held.lastmod is None or lastmod > held.lastmod):
                held.lastmod = lastmod
            return None
        self._seen.add(key)
        self.count("discovered/total", 1)
        if windowed and self._outside_window(lastmod) and self.state.article(key) is None:
            # (an article the frontier knows was listed by a source before: not backlog)
            self._held[key] = _Held(url, lastmod)
            self.count("skipped/older_than_window", 1)
            return None
        return self._decide(url, key, channel, lastmod)

    def held_back(self) -> list[str]:
        """The URLs the window holds back at this point of the crawl (for --backfill's report)."""
        return [h.url for h in self._held.values()]

    def _outside_window(self, lastmod: datetime | None) -> bool:
        seconds = self.window.seconds
        return bool(seconds) and lastmod is not None and lastmod.timestamp() < self.now - seconds

    def _decide(self, url: str, key: str, channel: str, lastmod: datetime | None) -> Fetch | None:
        """Rules 4 and 5 for an article this crawl has not decided about yet."""
        number = self.id_template.number(url) if self.id_template is not None else None
        if number is not None:
            self.numbers.add(number)
        lastmod_iso = iso_utc(lastmod)
        before, rec = self.state.discovered(self.outlet.key, key, url, channel, lastmod_iso, number, now=self.now)
        if before is None:
            self.count("discovered/new", 1)
        reason = fetch_reason(before, lastmod_iso, now=self.now, refetch_after=self.refetch_after)
        if reason is None:
            self.count("skipped/known", 1)
            return None
        if self.blocked:
            self.count("skipped/outlet_blocked", 1)
            return None
        if not self.has_budget():
            self.count("deferred", 1)
            if rec.status != PENDING and reason in ("changed", "refetch"):
                rec.status = PENDING   # the sign of change must survive until a crawl has budget
                self.state.save_article(rec)
            return None
        return self.schedule(rec.url, key, channel, lastmod_iso or rec.lastmod, reason, before)

    def schedule(self, url: str, key: str, channel: str, lastmod: str | None, reason: str,
                 before: ArticleRecord | None) -> Fetch:
        """Count a request the crawl sends (also for what earlier crawls left: `leftovers`)."""
        self.scheduled += 1
        self.count(f"scheduled/{reason}", 1)
        fallback = key if key != url else None
        return Fetch(url=url, key=key, channel=channel, lastmod=lastmod, reason=reason, before=before,
                     fallback=fallback)

    def leftovers(self, limit: int) -> list[Fetch]:
        """Articles earlier crawls found and did not finish (a budget, a crash, a failure),
        that this crawl has not decided about yet. They come after this crawl's discoveries,
        so a budget goes to the newest first."""
        out: list[Fetch] = []
        for rec in self.state.pending(self.outlet.key, limit):
            if rec.key in self._seen and rec.key not in self._held:
                continue
            if rec.key in self._held:                 # the frontier already had it: not the window's to hold
                del self._held[rec.key]
                self.count("skipped/older_than_window", -1)
            self._seen.add(rec.key)
            if not self.has_budget():
                self.count("deferred", 1)
                continue
            out.append(self.schedule(rec.url, rec.key, rec.channel, rec.lastmod,
                                     "pending" if rec.status == PENDING else "retry", rec))
        return out
