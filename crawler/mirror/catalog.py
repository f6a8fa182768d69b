"""The articles the mirror serves: loaded from `data/articles.jsonl.gz`, dated, optionally
multiplied for benchmarks.

Each record was assigned to one outlet, with its site id, section, author and date, by
`data/build_data.py`; this module only turns records into `Article`s at a given clock.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources

DATA_FILE = "articles.jsonl.gz"
TWEET_MARK = "@@TWEET@@"
HEADING_MARK = "## "


@dataclass
class Article:
    key: str                     # stable, e.g. "almarjie-012"
    outlet: str
    role: str                    # article | reserve | hidden | fault:<kind>
    lang: str
    title: str
    paragraphs: list[str]        # "## " marks a heading, "@@TWEET@@" where a tweet is embedded
    author: str | None
    site_id: int
    section: str
    published: datetime | None   # aware; None for a reserve not yet published
    modified: datetime | None
    source: str                  # seed | snn | fakes | synthetic
    source_id: str
    selection_group: str
    recent: bool = False
    summary: str | None = None   # the page's own standfirst, when it has one
    keywords: list[str] = field(default_factory=list)
    country: str | None = None
    views: int = 0
    related: list[str] = field(default_factory=list)
    tweet: str | None = None
    highlight: str | None = None
    duplicate_group: str | None = None
    source_url: str | None = None

    @property
    def when(self) -> datetime:
        """The publication time of an item on show (only a reserve has none, and it is never shown)."""
        if self.published is None:
            raise ValueError(f"{self!r:.60} is a reserve: it has no publication time yet")
        return self.published

    @property
    def changed(self) -> datetime:
        """The last modification time of an item on show (its publication time when never modified)."""
        return self.modified if self.modified is not None else self.when

    @property
    def fault(self) -> str | None:
        return self.role.split(":", 1)[1] if self.role.startswith("fault:") else None

    @property
    def seed(self) -> bool:
        return self.source == "seed"

    def body_lines(self) -> list[str]:
        """The article's text as a reader sees it, one paragraph or heading per line."""
        return [p.removeprefix(HEADING_MARK) for p in self.paragraphs if p != TWEET_MARK]

    @property
    def text(self) -> str:
        return "\n".join(self.body_lines())

    def lead(self, limit: int = 220) -> str:
        """A standfirst-like excerpt: the first sentence or so of the body."""
        first = next((p for p in self.body_lines()), "")
        if len(first) <= limit:
            return first
        cut = first[:limit]
        space = cut.rfind(" ")
        return (cut[:space] if space > 60 else cut) + "…"

    @property
    def word_count(self) -> int:
        return len(self.text.split())


def load_records() -> list[dict]:
    data = resources.files("crawler.mirror").joinpath("data", DATA_FILE)
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def build(records: list[dict], now: datetime) -> list[Article]:
    out = []
    for r in records:
        if r.get("age_minutes") is not None:
            published = (now - timedelta(minutes=r["age_minutes"])).replace(second=0, microsecond=0)
        elif r.get("published"):
            published = datetime.fromisoformat(r["published"])
        else:
            published = None
        modified = published + timedelta(minutes=r.get("modified_after_minutes") or 0) if published else None
        if modified and modified > now:
            modified = published
        out.append(Article(
            key=r["key"], outlet=r["outlet"], role=r["role"], lang=r["lang"], title=r["title"],
            paragraphs=list(r["paragraphs"]), author=r.get("author"), site_id=int(r["site_id"]),
            section=r.get("section") or "", published=published, modified=modified, source=r["source"],
            source_id=r["source_id"], selection_group=r["selection_group"], recent=bool(r.get("recent")),
            summary=r.get("summary"), keywords=list(r.get("keywords") or []), country=r.get("country"),
            views=int(r.get("views") or 0), related=list(r.get("related") or []), tweet=r.get("tweet"),
            highlight=r.get("highlight"), duplicate_group=r.get("duplicate_group"), source_url=r.get("source_url"),
        ))
    return out


def expand(articles: list[Article], outlet: str, total: int) -> list[Article]:
    """More articles for benchmarks: new ids and dates, texts re-cut from the outlet's real ones.

    Each synthetic text is the lead paragraph of one real article of the outlet followed by
    paragraphs drawn at random from all its real articles of that language. No two synthetic
    pages are the same text, and two of them rarely share more than a paragraph: a
    near-duplicate detector finds few duplicates among them, as among real news (texts cut
    from only two articles each were near-duplicates of one another by the hundred, which
    made the crawl's duplicate path unrealistically common). They are older than every real
    article, so feeds and home pages keep showing the real recent ones.
    """
    langs = [a.lang for a in articles if a.outlet == outlet and a.role == "article" and not a.seed]
    main_lang = max(set(langs), key=langs.count) if langs else None
    base = [a for a in articles if a.outlet == outlet and a.role == "article" and not a.seed and a.lang == main_lang]
    have = sum(1 for a in articles if a.outlet == outlet and a.role == "article")
    need = total - have
    if need <= 0 or len(base) < 2:
        return []
    rng = random.Random(f"raqib-mirror-expand-{outlet}")
    texts = random.Random(f"raqib-mirror-texts-{outlet}")
    oldest = min(a.published for a in articles if a.outlet == outlet and a.published)
    top_id = max(a.site_id for a in articles if a.outlet == outlet)
    step = max(1, (top_id - min(a.site_id for a in base)) // max(1, len(base)))
    # A robots.txt rule is a prefix: an id that starts with the hidden article's id would
    # fall under its Disallow line on sites whose article paths end with the id.
    hidden = tuple(str(a.site_id) for a in articles if a.outlet == outlet and a.role == "hidden")
    pool = [p for a in base for p in a.paragraphs if p != TWEET_MARK and not p.startswith(HEADING_MARK)]
    out = []
    n = len(base)
    site_id = top_id + 1000
    for k in range(need):
        a = base[k % n]
        paras = [p for p in a.paragraphs if p != TWEET_MARK]
        lead = paras[:1]
        size = min(len(pool) - 1, max(4, len(paras)))
        mixed = lead + [p for p in texts.sample(pool, size) if p not in lead][: size - 1]
        site_id += step
        while hidden and str(site_id).startswith(hidden):
            site_id += 1
        when = oldest - timedelta(hours=6 * (k + 1) + rng.randrange(0, 5))
        digest = hashlib.sha1(f"{outlet}-{k}".encode()).hexdigest()[:6]
        out.append(Article(
            key=f"{outlet}-x{k:05d}", outlet=outlet, role="article", lang=a.lang,
            title=f"{a.title} ({digest})", paragraphs=mixed, author=a.author,
            site_id=site_id, section=a.section if a.section != "news-2021" else "news/politics",
            published=when, modified=when, source="synthetic", source_id=f"{a.source_id}+mix",
            selection_group=a.selection_group, keywords=a.keywords, country=a.country, views=a.views,
        ))
    return out


def utc_iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z") if dt else None
