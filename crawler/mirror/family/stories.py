"""What a generated site is made of before any page is drawn: its stories, the addresses
of its articles, listings, feed and sitemap, and its ground truth and `outlets.yaml` entry.
crawler/mirror/family/site.py builds the rest on top (pages, feeds, sitemaps, routing)."""
from __future__ import annotations

import hashlib
import random
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypedDict
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from crawler.mirror.family.traits import Traits, draw

NAMES = [("sawt", "صوت الشرق"), ("akhbar", "أخبار اليوم"), ("nabaa", "النبأ"), ("rasid", "الراصد"),
         ("madar", "المدار"), ("wadi", "الوادي"), ("yaqin", "اليقين"), ("jisr", "الجسر"),
         ("manara", "المنارة"), ("furat", "الفرات")]
EN_NAMES = [("levantwire", "Levant Wire"), ("eastdesk", "East Desk"), ("syriawatch", "Syria Watch")]
SECTIONS = [("politics", "سياسة", "Politics"), ("syria", "سوريا", "Syria"), ("world", "دولي", "World")]
COMMENTS = [
    "تحليل دقيق يستحق القراءة، لكن الكاتب أغفل دور القوى المحلية في الشمال الشرقي",
    "لا أتفق مع ما ورد في الفقرة الأخيرة، فالواقع على الأرض مختلف تماما عما يصفه التقرير",
    "شكرا لكم على هذه التغطية المتواصلة، نتمنى المزيد من التقارير الميدانية من المنطقة",
    "أين هي الحكومة من كل هذا؟ المواطن هو من يدفع الثمن في النهاية كما جرت العادة دائما",
    "Great reporting, but the piece should have quoted the local council as well as the ministry",
    "I have followed this story for months and this is the clearest account I have read so far",
]
NEWSLETTER = {"ar": "اشترك في نشرتنا البريدية ليصلك ملخص أهم الأخبار والتحليلات كل صباح",
              "en": "Sign up for our morning newsletter to get the day's most important stories in your inbox"}
LEVANTINE = ["كانون الثاني", "شباط", "آذار", "نيسان", "أيار", "حزيران", "تموز", "آب", "أيلول",
             "تشرين الأول", "تشرين الثاني", "كانون الأول"]
EGYPTIAN = ["يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر",
            "نوفمبر", "ديسمبر"]
ALGERIAN = ["جانفي", "فيفري", "مارس", "أفريل", "ماي", "جوان", "جويلية", "أوت", "سبتمبر", "أكتوبر",
            "نوفمبر", "ديسمبر"]
MOROCCAN = ["يناير", "فبراير", "مارس", "أبريل", "ماي", "يونيو", "يوليوز", "غشت", "شتنبر", "أكتوبر",
            "نونبر", "دجنبر"]
WEEKDAYS = ["الإثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"]
ZONES = {"text_levantine": ["Asia/Beirut", "Asia/Damascus", "Asia/Amman"], "text_levantine_day": ["Asia/Beirut"],
         "text_egyptian": ["Africa/Cairo"], "text_egyptian_gmt": ["Africa/Cairo"],
         "text_maghrebi": ["Africa/Algiers", "Africa/Tunis", "Africa/Casablanca"],
         "text_updated_first": ["Africa/Cairo", "Asia/Amman"], "text_hijri": ["Asia/Riyadh", "Asia/Kuwait"],
         "text_english": ["Asia/Beirut", "Europe/London"]}
HIJRI = ["محرم", "صفر", "ربيع الأول", "ربيع الآخر", "جمادى الأولى", "جمادى الآخرة", "رجب", "شعبان", "رمضان",
         "شوال", "ذو القعدة", "ذو الحجة"]
READ_ALSO = {"ar": "اقرأ أيضاً:", "en": "Read also:"}
AD_LABEL = {"ar": "إعلان", "en": "Advertisement"}
FEED_PATHS = {"rss2": "/feed/", "atom": "/atom.xml", "jsonfeed": "/feed.json", "rss1": "/index.rdf"}
HANG_SECONDS = 6.0
PARTNER = "partner-news.test"
INDIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@dataclass
class Story:
    id: int
    title: str
    paragraphs: list[str]
    lang: str
    author: str | None
    section: int
    published: datetime | None          # None: a reserve, not yet published
    slug: str = ""
    disallowed: bool = False
    fault: str | None = None
    boilerplate: list[str] = field(default_factory=list)

    @property
    def when(self) -> datetime:
        """The publication time of an item on show (only a reserve has none, and it is never shown)."""
        if self.published is None:
            raise ValueError(f"{self!r:.60} is a reserve: it has no publication time yet")
        return self.published


class TruthEntry(TypedDict):
    """What a complete crawl must have indexed for one article."""
    outlet: str
    url: str                    # the canonical URL (the site's own spelling)
    title: str
    first: str                  # first and last paragraph of the body
    last: str
    boilerplate: list[str]      # texts shown around the article that must not be in the text
    published_at: str           # ISO 8601 UTC; local midnight when precision is "day"
    published_date: str         # the local calendar date
    precision: str              # minute | day (what the page itself gives)
    timezone: str
    lang: str
    traits: list[str]           # trait=value labels of the site


def stable(*parts) -> int:
    return int(hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def _arabic_slug(title: str) -> str:
    words = re.findall(r"[\w]+", title)
    return "-".join(words[:6])


class SiteBase:
    """The site's stories and every address it gives them."""

    def __init__(self, seed: int, records: list[dict], now: datetime):
        self.seed = seed
        self.traits: Traits = draw(seed)
        t = self.traits
        rng = random.Random(f"site-{seed}")
        word, self.name = rng.choice(EN_NAMES if t.english else NAMES)
        self.key = f"gen{seed:03d}"
        self.domain = f"{word}{seed}.test"
        self.host = ("www." + self.domain) if rng.random() < 0.6 else self.domain
        self.other_host = self.domain if self.host.startswith("www.") else "www." + self.domain
        self.scheme = "http" if t.scheme == "http" else "https"
        self.origin = f"{self.scheme}://{self.host}"
        self.lang = "en" if t.english else "ar"
        self.tz = ZoneInfo(rng.choice(ZONES.get(t.dates, ["Asia/Beirut", "Africa/Cairo", "Asia/Baghdad", "UTC"])))
        self.maghrebi_months = rng.choice([ALGERIAN, MOROCCAN])
        self.per_page = rng.choice([4, 5])
        self.now = now
        self.lock = threading.Lock()
        self.hits: dict[str, int] = {}
        pool = [r for r in records if r["role"] == "article" and r["lang"] == self.lang
                and len([p for p in r["paragraphs"] if self._is_para(p)]) >= 2]
        rng.shuffle(pool)
        count = rng.randint(6, 12)
        next_id = rng.randint(1000, 90000)
        self.stories: list[Story] = []
        for i, rec in enumerate(pool[:count + 3]):
            next_id += rng.randint(1, 9)
            paras = [p for p in rec["paragraphs"] if self._is_para(p)]
            age = timedelta(minutes=rng.randint(60, 20 * 24 * 60))
            published = (now - age).replace(second=0, microsecond=0) if i < count else None
            story = Story(id=next_id, title=rec["title"].strip(), paragraphs=paras,
                          lang=rec["lang"], author=rec.get("author"), section=rng.randrange(len(SECTIONS)),
                          published=published)
            story.slug = (_arabic_slug(story.title) if t.slug == "arabic" else f"story-{story.id}")
            self.stories.append(story)
        self._assign_faults(rng)
        for s in self.stories:
            s.boilerplate = self._boilerplate(s)

    @staticmethod
    def _is_para(p: str) -> bool:
        """Body paragraphs: not headings, embeds, or the corpus's own «للمزيد: …» cross-links
        (a promotion of another article, boilerplate on any site)."""
        return (bool(p.strip()) and not p.startswith("## ") and "@@TWEET@@" not in p and len(p) > 40
                and not re.match(r"\s*(للمزيد|اقرأ أيضا|اقرأ أيضاً|read more)\s*[:：]", p, re.I))

    def _assign_faults(self, rng: random.Random) -> None:
        live = self.published()
        if "robots_article" in self.traits.faults and len(live) > 3:
            live[1].disallowed = True
        if "http_5xx_once" in self.traits.faults:
            live[2].fault = "http_5xx_once"
        if "timeout_once" in self.traits.faults:
            live[3].fault = "timeout_once"

    def published(self) -> list[Story]:
        return sorted((s for s in self.stories if s.published is not None), key=lambda s: s.when, reverse=True)

    def publish(self, at: datetime) -> Story | None:
        with self.lock:
            for s in self.stories:
                if s.published is None:
                    s.published = at.replace(second=0, microsecond=0)
                    return s
        return None

    def feed_items(self) -> list[Story]:
        return self.published()[:10]

    def path(self, s: Story) -> tuple[str, str]:
        """(decoded path, query) of the article's canonical address."""
        cms, p = self.traits.cms, s.published or self.now
        local = p.astimezone(self.tz)
        return {
            "wp_p": ("/", f"p={s.id}"),
            "wp_date": (f"/{local.year}/{local.month:02d}/{s.slug}/", ""),
            "wp_id": (f"/{s.id}/", ""),
            "drupal_node": (f"/node/{s.id}", ""),
            "drupal_content": (f"/content/{s.slug}", ""),
            "ghost": (f"/p/{s.slug}", ""),
            "custom_news": (f"/news/{s.id}/{s.slug}.html", ""),
            "php": ("/article.php", f"id={s.id}"),
        }[cms]

    def url(self, s: Story, *, host: str | None = None, raw: bool = False, lower_escapes: bool = False,
            path_prefix: str = "", extra_query: str = "", toggle_slash: bool = False,
            scheme: str | None = None) -> str:
        path, query = self.path(s)
        path = path_prefix + path
        if toggle_slash and path != "/":
            path = path[:-1] if path.endswith("/") else path + "/"
        if not raw:
            path = quote(path, safe="/-._~")
            if lower_escapes:
                path = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), path)
        query = "&".join(q for q in (query, extra_query) if q)
        return f"{scheme or self.scheme}://{host or self.host}{path}" + (f"?{query}" if query else "")

    def canonical_url(self, s: Story) -> str:
        return self.url(s)

    def link(self, s: Story, where: str) -> str:
        """How a listing page links an article: the variants trait decides the spelling."""
        v = self.traits.variants
        pick = stable(self.seed, s.id, where) % 3
        if self.traits.scheme == "https_old_http_links" and stable(self.seed, s.id, where, "scheme") % 2:
            return self.url(s, scheme="http")      # a link hard-coded before the move to https
        if v == "www_mixed" and pick == 0:
            return self.url(s, host=self.other_host)
        if v == "trailing_slash" and pick == 0 and not self.path(s)[1]:
            return self.url(s, toggle_slash=True)
        if v == "mixed_case_escapes" and pick == 0:
            return self.url(s, lower_escapes=True)
        return self.url(s)

    def section_path(self, i: int) -> str:
        slug = SECTIONS[i][0]
        return {"wp_p": f"/category/{slug}/", "wp_date": f"/category/{slug}/", "wp_id": f"/category/{slug}/",
                "drupal_node": f"/taxonomy/term/{i + 1}", "drupal_content": f"/taxonomy/term/{i + 1}",
                "ghost": f"/tag/{slug}/", "custom_news": f"/section/{slug}", "php": "/section.php"}[self.traits.cms]

    def section_url(self, i: int) -> str:
        path = self.section_path(i)
        return f"{self.origin}{path}" + (f"?cat={i + 1}" if self.traits.cms == "php" else "")

    def page_url(self, base_path: str, base_query: str, n: int) -> str:
        """The address of page n (1-based) of a listing, in this site's pagination shape."""
        kind = self.traits.pagination
        q = [base_query] if base_query else []
        path = base_path
        if n > 1:
            if kind == "path":
                path = base_path.rstrip("/") + f"/page/{n}/"
            elif kind == "numbered":
                q.append(f"pg={n}")
            elif kind == "numbered_zero":
                q.append(f"page={n - 1}")        # Drupal's pager: the second page is ?page=1
            elif kind == "more":
                q.append(f"start={(n - 1) * self.per_page}")
            else:
                q.append(f"page={n}")
        return f"{self.origin}{path}" + (("?" + "&".join(q)) if q else "")

    def _page_number(self, path: str, query: dict) -> tuple[str, int]:
        m = re.search(r"/page/(\d+)/?$", path)
        if m:
            return path[:m.start()] + "/", int(m.group(1))
        if self.traits.pagination == "numbered_zero" and query.get("page"):
            return path, int(query["page"][0]) + 1
        for name in ("page", "pg"):
            if query.get(name):
                return path, int(query[name][0])
        if query.get("start"):
            return path, int(query["start"][0]) // self.per_page + 1
        return path, 1

    def href(self, url: str) -> str:
        """How a listing writes a link to its own site: absolute, root-relative, or relative to
        a `<base href>` at the site's root (wrong when resolved against the page's own URL)."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.origin or self.traits.links == "absolute":
            return url
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
        return rest if self.traits.links == "root_relative" else rest.lstrip("/") or "./"

    def print_url(self, s: Story) -> str | None:
        """The print view's address, on sites that link one (always disallowed by robots.txt)."""
        if self.traits.robots == "wildcards":
            return self.url(s, extra_query="print=1")
        if self.traits.variants == "amp_print_share":
            return self.url(s, path_prefix="/print")
        return None

    def feed_path(self) -> str:
        path = FEED_PATHS[self.traits.feed]
        if self.traits.feed_finding == "alternate":
            return "/services/export/latest" + {"rss2": ".rss", "atom": ".atom", "jsonfeed": ".json", "rss1": ".rdf"}[self.traits.feed]
        return path

    def sitemap_root(self) -> str:
        kind = self.traits.sitemap
        if self.traits.sitemap_finding == "conventional" and kind != "txt":
            return "/sitemap.xml"
        return {"urlset": "/sitemaps/articles.xml", "index": "/sitemap_index.xml", "index_gzip": "/sitemap_index.xml",
                "news": "/news-sitemap.xml", "txt": "/sitemap.txt"}[kind]

    def _boilerplate(self, s: Story) -> list[str]:
        out = []
        bp = self.traits.boilerplate
        others = [o for o in self.stories if o is not s][:3]
        if "related" in bp:
            out += [o.title for o in others]
        if "comments" in bp:
            start = stable(self.seed, s.id) % len(COMMENTS)
            out += [COMMENTS[(start + k) % len(COMMENTS)] for k in range(2)]
        if "newsletter" in bp or self.traits.body == "inline_ad_newsletter":
            out.append(NEWSLETTER[self.lang])
        if self.traits.body == "inline_read_also":
            out.append(self._read_also(s).title)
        return out

    def _read_also(self, s: Story) -> Story:
        others = [o for o in self.stories if o is not s]
        return others[stable(self.seed, s.id, "also") % len(others)]


class SiteTruth(SiteBase):
    """What a complete crawl must find, and what a user would configure."""

    def precision(self) -> str:
        return "day" if self.traits.dates == "text_levantine_day" else "minute"

    def truth_entry(self, s: Story) -> TruthEntry:
        published = s.when
        if self.precision() == "day":
            local = published.astimezone(self.tz)
            published = datetime(local.year, local.month, local.day, tzinfo=self.tz).astimezone(UTC)
        return {
            "outlet": self.key, "url": self.canonical_url(s), "title": s.title,
            "first": s.paragraphs[0], "last": s.paragraphs[-1], "boilerplate": list(s.boilerplate),
            "published_at": published.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "published_date": published.astimezone(self.tz).date().isoformat(),
            "precision": self.precision(), "timezone": str(self.tz), "lang": s.lang, "traits": self.traits.labels(),
        }

    def truth(self) -> list[TruthEntry]:
        return [self.truth_entry(s) for s in self.published() if not s.disallowed]

    def channel_expectations(self) -> dict[str, int]:
        """How many truth articles each channel a crawl can find by itself must yield: the
        feed (when announced on the pages) and the sitemap (when robots.txt names it or it is
        at /sitemap.xml). A channel missing here is one the site hides."""
        live = [s for s in self.published() if not s.disallowed]
        out = {}
        if self.traits.feed != "none" and self.traits.feed_finding == "alternate":
            out["feed"] = len([s for s in self.feed_items() if not s.disallowed])
        if self.traits.sitemap != "none" and (self.traits.sitemap_finding == "robots" or self.sitemap_root() == "/sitemap.xml"):
            out["sitemap"] = len(live)
        return out

    def disallowed_urls(self) -> list[str]:
        return [self.canonical_url(s) for s in self.published() if s.disallowed]

    def article_pattern(self) -> str:
        """Written as a user would from looking at a few article URLs: sometimes with the
        host, mostly just the path shape."""
        host = re.escape(self.domain)
        with_host = stable(self.seed, "pattern") % 3 == 0
        prefix = rf"^https?://(www\.)?{host}" if with_host else ""
        return {
            "wp_p": (prefix + r"/\?p=\d+$") if with_host else r"[?&]p=\d+",
            "wp_date": prefix + r"/20\d\d/\d\d/[^/]+/?$",
            "wp_id": rf"^https?://(www\.)?{host}/\d+/?$",
            "drupal_node": prefix + r"/node/\d+$",
            "drupal_content": prefix + r"/content/[^/?#]+$",
            "ghost": prefix + r"/p/[^/?#]+",
            "custom_news": prefix + r"/news/\d+/[^/]+\.html",
            "php": prefix + r"/article\.php\?id=\d+",
        }[self.traits.cms]

    def yaml_entry(self) -> dict:
        entry = {"name": self.name, "home": f"{self.origin}/", "language": self.lang,
                 "domains": [self.domain], "article_pattern": self.article_pattern(),
                 "timezone": str(self.tz)}
        if self.traits.sitemap == "none" or stable(self.seed, "sections") % 2 == 0:
            entry["sections"] = [self.section_url(i) for i in range(len(SECTIONS))]
        return entry
