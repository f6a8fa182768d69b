"""One generated news site: its articles, its pages (rendered from its traits), its HTTP
behaviour, its ground truth and the `outlets.yaml` entry a user would write for it.

The site is addressed by name (`www.sawt17.test`); the family's proxy routes requests to it
by the Host, so the crawl sees `www` and bare hosts as on the web.
"""
from __future__ import annotations

import gzip
import hashlib
import html
import json
import random
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TypedDict
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from crawler.mirror.family.traits import Traits, draw
from crawler.mirror.server import Request, Response

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
_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


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


def _hang(handler: object, stop: threading.Event) -> None:
    """A response that never comes (until the server stops): the crawl's timeout must fire."""
    stop.wait(HANG_SECONDS)


def _stable(*parts) -> int:
    return int(hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def _arabic_slug(title: str) -> str:
    words = re.findall(r"[\w]+", title)
    return "-".join(words[:6])


class GeneratedSite:
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

    # --- articles ---------------------------------------------------------------------------
    def published(self) -> list[Story]:
        return sorted((s for s in self.stories if s.published is not None), key=lambda s: s.when, reverse=True)

    def publish(self, at: datetime) -> Story | None:
        with self.lock:
            for s in self.stories:
                if s.published is None:
                    s.published = at.replace(second=0, microsecond=0)
                    return s
        return None

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
        pick = _stable(self.seed, s.id, where) % 3
        if self.traits.scheme == "https_old_http_links" and _stable(self.seed, s.id, where, "scheme") % 2:
            return self.url(s, scheme="http")      # a link hard-coded before the move to https
        if v == "www_mixed" and pick == 0:
            return self.url(s, host=self.other_host)
        if v == "trailing_slash" and pick == 0 and not self.path(s)[1]:
            return self.url(s, toggle_slash=True)
        if v == "mixed_case_escapes" and pick == 0:
            return self.url(s, lower_escapes=True)
        return self.url(s)

    # --- truth --------------------------------------------------------------------------------
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

    # --- what a user writes -------------------------------------------------------------------
    def article_pattern(self) -> str:
        """Written as a user would from looking at a few article URLs: sometimes with the
        host, mostly just the path shape."""
        host = re.escape(self.domain)
        with_host = _stable(self.seed, "pattern") % 3 == 0
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
        if self.traits.sitemap == "none" or _stable(self.seed, "sections") % 2 == 0:
            entry["sections"] = [self.section_url(i) for i in range(len(SECTIONS))]
        return entry

    # --- listings -----------------------------------------------------------------------------
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

    def listing(self, stories: list[Story], base_path: str, base_query: str, n: int, title: str, where: str) -> str:
        per = self.per_page
        pages = max(1, -(-len(stories) // per))
        infinite = self.traits.pagination == "infinite"
        chunk = stories[(n - 1) * per:n * per]
        items = "".join(
            f'<article class="post-item"><h3 class="post-title"><a href="{html.escape(self.href(self.link(s, where)))}">'
            f'{html.escape(s.title)}</a></h3><span class="date">{self.short_date(s)}</span>{self._share(s)}'
            f'<p class="excerpt">{html.escape(s.paragraphs[0][:110])}…</p></article>' for s in chunk)
        nav, head = self._pagination(base_path, base_query, n, pages, infinite)
        return self.layout(title, f'<section class="listing"><h1>{html.escape(title)}</h1>{items}</section>{nav}', head)

    def href(self, url: str) -> str:
        """How a listing writes a link to its own site: absolute, root-relative, or relative to
        a `<base href>` at the site's root (wrong when resolved against the page's own URL)."""
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.origin or self.traits.links == "absolute":
            return url
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
        return rest if self.traits.links == "root_relative" else rest.lstrip("/") or "./"

    def _share(self, s: Story) -> str:
        """Share and print links beside a teaser (amp_print_share sites): other spellings of
        the article's address that answer with a redirect off the site or are disallowed."""
        out = ""
        if self.traits.variants == "amp_print_share":
            out += f'<a class="share" href="{self.url(s, extra_query="share=facebook")}">f</a>'
        if self.print_url(s):
            out += f'<a class="print" href="{self.print_url(s)}">🖶</a>'
        return out

    def _pagination(self, base_path: str, base_query: str, n: int, pages: int, infinite: bool) -> tuple[str, str]:
        kind = self.traits.pagination
        has_next = n < pages or infinite
        nxt = self.page_url(base_path, base_query, n + 1)
        if not has_next:
            return "", ""
        en = self.lang == "en"
        if kind in ("rel_next", "infinite"):
            return (f'<nav class="pager"><a rel="next" href="{nxt}">{"Next" if en else "التالي"}</a></nav>',
                    f'<link rel="next" href="{nxt}">')
        if kind == "query":
            return f'<div class="pagination"><a href="{nxt}">{"Next page" if en else "الصفحة التالية"}</a></div>', ""
        if kind == "path":
            return f'<div class="nav-links"><a href="{nxt}">{"Older posts" if en else "مقالات أقدم"}</a></div>', ""
        if kind in ("numbered", "numbered_zero"):
            links = " ".join(f'<a href="{self.page_url(base_path, base_query, i)}">{i}</a>' if i != n else f"<span>{i}</span>"
                             for i in range(1, pages + 1))
            return f'<div class="pages">{links}</div>', ""
        # "more": a load-more button that is also a plain link
        return f'<div class="load-more"><a class="btn" href="{nxt}">{"Load more" if en else "عرض المزيد"}</a></div>', ""

    # --- dates as pages show them ------------------------------------------------------------
    def short_date(self, s: Story) -> str:
        local = s.when.astimezone(self.tz)
        return self._digits(f"{local.day:02d}/{local.month:02d}/{local.year}")

    def _digits(self, text: str) -> str:
        """Dates as many Arabic sites print them: in Arabic-Indic digits (٢٠ أكتوبر ٢٠٢٥)."""
        return text.translate(_INDIC) if self.traits.digits == "arabic_indic" else text

    def visible_date(self, s: Story) -> str:
        return self._digits(self._visible_date(s))

    def _visible_date(self, s: Story) -> str:
        local = s.when.astimezone(self.tz)
        d, y, hm = local.day, local.year, f"{local.hour:02d}:{local.minute:02d}"
        wd = WEEKDAYS[local.weekday()]
        kind = self.traits.dates
        if kind == "text_levantine":
            return f"{wd} {d} {LEVANTINE[local.month - 1]} {y} - {hm}"
        if kind == "text_levantine_day":
            return f"{d} {LEVANTINE[local.month - 1]} {y}"
        if kind == "text_egyptian":
            h12 = local.hour % 12 or 12
            return f"{wd}، {d:02d} {EGYPTIAN[local.month - 1]} {y} {h12:02d}:{local.minute:02d} {'م' if local.hour >= 12 else 'ص'}"
        if kind == "text_egyptian_gmt":
            utc = s.when.astimezone(UTC)
            return f"{utc.day} {EGYPTIAN[utc.month - 1]} {utc.year} | {utc.hour:02d}:{utc.minute:02d} GMT"
        if kind == "text_maghrebi":
            return f"{d} {self.maghrebi_months[local.month - 1]} {y} على الساعة {hm}"
        if kind == "text_english":
            h12 = local.hour % 12 or 12
            return f"Published {local.strftime('%B')} {d}, {y} {h12}:{local.minute:02d} {'pm' if local.hour >= 12 else 'am'}"
        if kind == "text_updated_first":
            # the last update printed first, as many CMS templates do: the publication is the second date
            up = min(s.when + timedelta(hours=3 + s.id % 20), self.now).astimezone(self.tz)
            return (f"آخر تحديث: {up.day} {EGYPTIAN[up.month - 1]} {up.year} - {up.hour:02d}:{up.minute:02d}"
                    f" | تاريخ النشر: {d} {EGYPTIAN[local.month - 1]} {y} - {hm}")
        if kind == "text_hijri":
            # a Hijri date first (its day and month are only plausible, never parsed), then «الموافق» the Gregorian one
            hijri = f"{(d + 11) % 29 + 1} {HIJRI[(local.month + 4) % 12]} {y - 579} هـ"
            return f"{wd} {hijri} الموافق {d:02d} {EGYPTIAN[local.month - 1]} {y} م - {hm}"
        return ""

    def _date_head(self, s: Story) -> str:
        kind, p = self.traits.dates, s.when
        local = p.astimezone(self.tz)
        if kind == "iso_meta":
            return f'<meta property="article:published_time" content="{local.isoformat()}">'
        if kind == "rfc822_meta":
            return f'<meta name="pubdate" content="{format_datetime(local)}">'
        return ""

    # --- article pages ------------------------------------------------------------------------
    def _boilerplate(self, s: Story) -> list[str]:
        out = []
        bp = self.traits.boilerplate
        others = [o for o in self.stories if o is not s][:3]
        if "related" in bp:
            out += [o.title for o in others]
        if "comments" in bp:
            start = _stable(self.seed, s.id) % len(COMMENTS)
            out += [COMMENTS[(start + k) % len(COMMENTS)] for k in range(2)]
        if "newsletter" in bp or self.traits.body == "inline_ad_newsletter":
            out.append(NEWSLETTER[self.lang])
        if self.traits.body == "inline_read_also":
            out.append(self._read_also(s).title)
        return out

    def _read_also(self, s: Story) -> Story:
        others = [o for o in self.stories if o is not s]
        return others[_stable(self.seed, s.id, "also") % len(others)]

    def article_page(self, s: Story, *, amp: bool = False, print_view: bool = False) -> str:
        t = self.traits
        canon = self.canonical_url(s)
        og_title = s.title if t.title == "h1" else f"{s.title} - {self.name}"
        head = [f'<meta property="og:title" content="{html.escape(og_title)}">',
                f'<meta property="og:site_name" content="{html.escape(self.name)}">']
        if amp or print_view or t.canonical == "absolute":
            head.append(f'<link rel="canonical" href="{canon}">')
        elif t.canonical == "relative":
            path = urlsplit(canon)
            head.append(f'<link rel="canonical" href="{path.path}{"?" + path.query if path.query else ""}">')
        elif t.canonical == "home":
            head.append(f'<link rel="canonical" href="{self.origin}/">')
        if t.variants == "amp_print_share" and not amp:
            head.append(f'<link rel="amphtml" href="{self.url(s, path_prefix="/amp")}">')
        head.append(self._date_head(s))
        if t.byline == "meta_only" and s.author:
            head.append(f'<meta name="author" content="{html.escape(s.author)}">')
        if t.dates == "json_ld_only" or t.dates == "iso_meta":
            ld: dict[str, object] = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": s.title,
                  "mainEntityOfPage": canon}
            if t.dates == "json_ld_only":
                ld["datePublished"] = s.when.astimezone(self.tz).isoformat()
            if s.author and t.byline != "none":
                ld["author"] = {"@type": "Person", "name": s.author}
            head.append(f'<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>')
        date_html = ""
        if t.dates == "time_only":
            date_html = (f'<time datetime="{s.when.astimezone(UTC).isoformat().replace("+00:00", "Z")}">'
                         f'{self.short_date(s)}</time>')
        elif t.dates.startswith("text_"):
            date_html = f'<span class="post-date">{self.visible_date(s)}</span>'
        byline = ""
        author = html.escape(s.author or "")
        if t.byline == "header_span" and s.author:
            byline = f'<span class="author-name">{"By" if self.lang == "en" else "بقلم"} <a href="/author/{s.id % 7}/">{author}</a></span>'
        meta_line = f'<div class="post-meta">{byline} {date_html}</div>'
        body = self._body_html(s)
        if t.byline == "before_body" and s.author:
            body = f'<p class="byline"><strong>{"By:" if self.lang == "en" else "بقلم:"} {author}</strong></p>' + body
        if t.byline == "after_body" and s.author:
            body += f'<p class="writer">{"Author:" if self.lang == "en" else "الكاتب:"} {author}</p>'
        print_link = ""
        if self.print_url(s):
            print_link = f'<a href="{self.print_url(s)}">{"Print" if self.lang == "en" else "طباعة"}</a> '
        if t.variants == "amp_print_share":
            print_link += f'<a href="{self.url(s, extra_query="share=facebook")}">فيسبوك</a>'
        if print_link:
            print_link = f'<div class="share">{print_link}</div>'
        extras = self._boilerplate_html(s)
        heading = (f'<h1 class="entry-title">{html.escape(s.title)}</h1>' if t.title == "h1"
                   else f'<h2 class="post-title">{html.escape(s.title)}</h2>')
        article = (f'<article class="post"><header>{heading}{meta_line}</header>'
                   f'<div class="entry-content">{body}</div>{print_link}{extras["inside"]}</article>{extras["after"]}')
        title = f"{s.title} | {self.name}" if t.title == "h1" else f"{self.name} | {s.title}"
        return self.layout(title, article, "".join(head), sidebar=not print_view)

    def _body_html(self, s: Story) -> str:
        kind, paras = self.traits.body, [html.escape(p) for p in s.paragraphs]
        if kind == "br":                       # an old CMS: one text block, paragraphs cut by <br>s
            return "<br><br>\n".join(paras)
        if kind == "div_soup":                 # a page builder: every paragraph its own <div>
            return "".join(f'<div class="text-block"><div dir="rtl">{p}</div></div>' for p in paras)
        blocks = [f"<p>{p}</p>" for p in paras]
        at = min(2, len(blocks) - 1)           # never after the last paragraph: it must stay the last
        if kind == "inline_read_also":
            other = self._read_also(s)
            blocks.insert(at, f'<p class="read-also"><strong>{READ_ALSO[self.lang]}</strong> '
                              f'<a href="{self.url(other)}">{html.escape(other.title)}</a></p>')
        elif kind == "inline_ad_newsletter":
            blocks.insert(at, f'<div class="ad-slot"><span>{AD_LABEL[self.lang]}</span></div>'
                              f'<div class="newsletter-inline"><p>{NEWSLETTER[self.lang]}</p>'
                              f'<a href="/subscribe">{"Subscribe" if self.lang == "en" else "اشترك الآن"}</a></div>')
        return "".join(blocks)

    def _boilerplate_html(self, s: Story) -> dict[str, str]:
        bp, en = self.traits.boilerplate, self.lang == "en"
        others = [o for o in self.stories if o is not s][:3]
        inside = after = ""
        if "related" in bp:
            items = "".join(f'<li><a href="{self.url(o)}">{html.escape(o.title)}</a></li>' for o in others)
            inside += f'<aside class="related-posts"><h3>{"Read also" if en else "اقرأ أيضاً"}</h3><ul>{items}</ul></aside>'
        if "newsletter" in bp:
            inside += (f'<div class="newsletter-box"><h4>{"Newsletter" if en else "النشرة البريدية"}</h4>'
                       f'<p>{NEWSLETTER[self.lang]}</p><form action="/subscribe" method="post">'
                       f'<input type="email" name="email"><button>{"Subscribe" if en else "اشترك"}</button></form></div>')
        if "comments" in bp:
            start = _stable(self.seed, s.id) % len(COMMENTS)
            comments = "".join(
                f'<li class="comment"><div class="comment-author">{"قارئ" if not en else "Reader"} {k + 1}</div>'
                f'<div class="comment-content"><p>{COMMENTS[(start + k) % len(COMMENTS)]}</p></div></li>'
                for k in range(2))
            after += f'<section id="comments" class="comments-area"><h3>{"2 comments" if en else "تعليقان"}</h3><ol class="comment-list">{comments}</ol></section>'
        return {"inside": inside, "after": after}

    def layout(self, title: str, main: str, head: str = "", *, sidebar: bool = True) -> str:
        en = self.lang == "en"
        nav = "".join(f'<li><a href="{self.section_url(i)}">{s[2] if en else s[1]}</a></li>' for i, s in enumerate(SECTIONS))
        feed = ""
        if self.traits.feed != "none" and self.traits.feed_finding == "alternate":
            mime = {"rss2": "application/rss+xml", "atom": "application/atom+xml", "jsonfeed": "application/feed+json",
                    "rss1": "application/rss+xml"}[self.traits.feed]
            feed = f'<link rel="alternate" type="{mime}" title="{html.escape(self.name)}" href="{self.feed_path()}">'
        charset = self._meta_charset()
        side = ""
        if sidebar:
            latest = "".join(f'<li><a href="{self.link(s, "side")}">{html.escape(s.title)}</a></li>'
                             for s in self.published()[:4])
            side = f'<aside class="sidebar widget"><h3>{"Latest" if en else "آخر الأخبار"}</h3><ul>{latest}</ul></aside>'
        foot = (f'<footer class="site-footer"><ul><li><a href="/about/">{"About" if en else "من نحن"}</a></li>'
                f'<li><a href="/search?q=syria">{"Search" if en else "بحث"}</a></li>'
                f'<li><a href="http://facebook.test/{self.key}">Facebook</a></li>'
                f'<li><a href="http://{PARTNER}/news/{self.seed}/partner-story.html">{"Partner" if en else "شركاؤنا"}</a></li>'
                f'<li><a href="http://{PARTNER}/node/{self.seed}">{"Partner story" if en else "من شركائنا"}</a></li></ul>'
                f'<p>© {self.now.year} {html.escape(self.name)}</p></footer>')
        base = f'<base href="{self.origin}/">' if self.traits.links == "base_href" else ""
        early, late = (charset, "") if self.traits.charset != "meta_late_1256" else ("", charset)
        # a tag manager and inline styles before the charset: beyond a browser's 1024-byte prescan
        filler = ("<script>" + "window.dataLayer=window.dataLayer||[];" * 60 + "</script>") if late else ""
        return (f'<!DOCTYPE html><html lang="{self.lang}" dir="{"ltr" if en else "rtl"}"><head>{early}{filler}{late}{base}'
                f'<title>{html.escape(title)}</title>{feed}{head}</head><body>'
                f'<header class="site-header"><a class="logo" href="/">{html.escape(self.name)}</a><nav><ul>{nav}</ul></nav></header>'
                f'<main id="main">{main}</main>{side}{foot}</body></html>')

    # --- charsets -----------------------------------------------------------------------------
    def _meta_charset(self) -> str:
        c = self.traits.charset
        if c in ("meta_only_1256", "disagree_1256", "meta_late_1256"):
            return '<meta http-equiv="Content-Type" content="text/html; charset=windows-1256">'
        if c == "utf8_http":
            return '<meta charset="utf-8">'
        return ""

    def html_response(self, text: str, **kw) -> Response:
        c = self.traits.charset
        if c == "utf8_http":
            return Response(body=text.encode("utf-8"), content_type="text/html; charset=utf-8", **kw)
        if c == "utf8_bom":
            # a BOM wins over a wrong server default (WHATWG encoding sniffing)
            return Response(body=b"\xef\xbb\xbf" + text.encode("utf-8"), content_type="text/html; charset=windows-1256", **kw)
        body = text.encode("cp1256", errors="xmlcharrefreplace")
        ctype = {"meta_only_1256": "text/html", "disagree_1256": "text/html; charset=UTF-8",
                 "none_1256": "text/html", "meta_late_1256": "text/html"}[c]
        return Response(body=body, content_type=ctype, **kw)

    # --- feeds --------------------------------------------------------------------------------
    def feed_path(self) -> str:
        path = FEED_PATHS[self.traits.feed]
        if self.traits.feed_finding == "alternate":
            return "/services/export/latest" + {"rss2": ".rss", "atom": ".atom", "jsonfeed": ".json", "rss1": ".rdf"}[self.traits.feed]
        return path

    def _feed_item_link(self, s: Story) -> str:
        q = self.traits.feed_link
        if q == "relative":
            u = urlsplit(self.canonical_url(s))
            return u.path + (f"?{u.query}" if u.query else "")
        if q == "utm":
            return self.url(s, extra_query="utm_source=rss&utm_medium=feed&utm_campaign=latest")
        if self.traits.scheme == "https_old_http_links" and q == "absolute":
            return self.url(s, scheme="http")
        if q == "proxy" and self.traits.feed != "jsonfeed":
            return f"{self.origin}/~r/{self.key}/~3/{s.id:x}/"
        if q == "proxy":
            return self.url(s, extra_query="utm_source=feedburner&utm_medium=feed")
        return self.canonical_url(s)

    def feed_items(self) -> list[Story]:
        return self.published()[:10]

    def feed(self) -> Response:
        kind = self.traits.feed
        items = self.feed_items()
        dead = None
        if "feed_404" in self.traits.faults:
            dead = Story(id=999999, title="مادة محذوفة" if self.lang == "ar" else "Removed story",
                         paragraphs=["x"], lang=self.lang, author=None, section=0,
                         published=self.now - timedelta(hours=3), slug="removed-story")
        entries = items + ([dead] if dead else [])
        if kind == "jsonfeed":
            doc = {"version": "https://jsonfeed.org/version/1.1", "title": self.name, "home_page_url": f"{self.origin}/",
                   "items": [{"id": str(s.id), "url": self._feed_item_link(s), "title": s.title,
                              "content_text": s.paragraphs[0],
                              "date_published": s.when.astimezone(UTC).isoformat()} for s in entries]}
            return Response(body=json.dumps(doc, ensure_ascii=False).encode(), content_type="application/feed+json")
        esc = html.escape
        def orig(s):
            return (f"<feedburner:origLink>{esc(self.canonical_url(s))}</feedburner:origLink>"
                    if self.traits.feed_link == "proxy" else "")

        def guid(s):
            return (f'<guid isPermaLink="false">{self.origin}/?p={s.id}</guid>'
                    if self.traits.feed_link == "guid_differs" else f"<guid>{esc(self._feed_item_link(s))}</guid>")
        if kind == "rss2":
            body = "".join(f"<item><title>{esc(s.title)}</title><link>{esc(self._feed_item_link(s))}</link>{guid(s)}"
                           f"<pubDate>{format_datetime(s.when.astimezone(UTC), usegmt=True)}</pubDate>"
                           f"<description>{esc(s.paragraphs[0])}</description>{orig(s)}</item>" for s in entries)
            xml = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0">'
                   f"<channel><title>{esc(self.name)}</title><link>{self.origin}/</link>{body}</channel></rss>")
            return self.xml(xml.encode(), "application/rss+xml; charset=utf-8")
        if kind == "atom":
            body = "".join(f'<entry><title>{esc(s.title)}</title><link rel="alternate" href="{esc(self._feed_item_link(s))}"/>'
                           f"<id>tag:{self.domain},2026:{s.id}</id>"
                           f"<updated>{s.when.astimezone(UTC).isoformat()}</updated>"
                           f"<published>{s.when.astimezone(UTC).isoformat()}</published>{orig(s)}</entry>"
                           for s in entries)
            xml = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
                   f'xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"><title>{esc(self.name)}</title>'
                   f'<id>{self.origin}/</id><updated>{self.now.isoformat()}</updated>{body}</feed>')
            return self.xml(xml.encode(), "application/atom+xml")
        # RSS 1.0 (RDF)
        seq = "".join(f'<rdf:li rdf:resource="{esc(self._feed_item_link(s))}"/>' for s in entries)
        body = "".join(f'<item rdf:about="{esc(self._feed_item_link(s))}"><title>{esc(s.title)}</title>'
                       f"<link>{esc(self._feed_item_link(s))}</link>"
                       f"<dc:date>{s.when.astimezone(UTC).isoformat()}</dc:date>{orig(s)}</item>"
                       for s in entries)
        xml = (f'<?xml version="1.0" encoding="utf-8"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
               f'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
               f'xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0">'
               f'<channel rdf:about="{self.origin}/"><title>{esc(self.name)}</title><link>{self.origin}/</link>'
               f"<items><rdf:Seq>{seq}</rdf:Seq></items></channel>{body}</rdf:RDF>")
        return self.xml(xml.encode(), "application/rdf+xml")

    # --- sitemaps -----------------------------------------------------------------------------
    def sitemap_root(self) -> str:
        kind = self.traits.sitemap
        if self.traits.sitemap_finding == "conventional" and kind != "txt":
            return "/sitemap.xml"
        return {"urlset": "/sitemaps/articles.xml", "index": "/sitemap_index.xml", "index_gzip": "/sitemap_index.xml",
                "news": "/news-sitemap.xml", "txt": "/sitemap.txt"}[kind]

    def xml(self, body: bytes, content_type: str, **kw) -> Response:
        """A feed or sitemap as this site's software writes it: some emit blank lines before
        the XML declaration (a PHP file with a newline after `?>`), some a byte-order mark."""
        prefix = {"none": b"", "blank_lines": b"\n\n  \n", "bom": b"\xef\xbb\xbf"}[self.traits.xml_prefix]
        return Response(body=prefix + body, content_type=content_type, **kw)

    def _lastmod(self, dt: datetime | None) -> str:
        f = self.traits.lastmod
        if dt is None or f == "missing":
            return ""
        local = dt.astimezone(self.tz)
        text = {"w3c": local.isoformat(), "date_only": local.date().isoformat(),
                "space_no_zone": local.strftime("%Y-%m-%d %H:%M:%S"),
                "zulu": dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}[f]
        return f"<lastmod>{text}</lastmod>"

    def _loc(self, s: Story) -> str:
        return html.escape(self.url(s, raw=self.traits.loc == "raw"))

    def _urlset(self, stories: list[Story], news: bool = False) -> bytes:
        if news:
            body = "".join(
                f"<url><loc>{self._loc(s)}</loc><news:news><news:publication><news:name>{html.escape(self.name)}</news:name>"
                f"<news:language>{self.lang}</news:language></news:publication>"
                f"<news:publication_date>{s.when.astimezone(self.tz).isoformat()}</news:publication_date>"
                f"<news:title>{html.escape(s.title)}</news:title></news:news></url>" for s in stories)
            ns = ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'
        else:
            body = "".join(f"<url><loc>{self._loc(s)}</loc>{self._lastmod(s.published)}</url>" for s in stories)
            ns = ""
        return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"{ns}>'
                f"{body}</urlset>").encode()

    def _children(self) -> dict[str, list[Story]]:
        """Child sitemaps of an index: one per month of publication, newest first, plus a
        page sitemap with no articles."""
        months: dict[str, list[Story]] = {}
        for s in self.published():
            local = s.when.astimezone(self.tz)
            months.setdefault(f"{local.year}-{local.month:02d}", []).append(s)
        ext = ".xml.gz" if self.traits.sitemap == "index_gzip" else ".xml"
        return {f"/sitemaps/post-{m}{ext}": v for m, v in months.items()}

    def sitemap_index(self) -> bytes:
        children = self._children()
        stale = self.now - timedelta(days=40)
        parts = []
        for path, stories in children.items():
            newest = max(s.when for s in stories)
            parts.append(f"<sitemap><loc>{self.origin}{path}</loc>"
                         f"{self._lastmod(stale if self.traits.stale_children else newest)}</sitemap>")
        parts.append(f"<sitemap><loc>{self.origin}/sitemaps/pages.xml</loc></sitemap>")
        return (f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f'{"".join(parts)}</sitemapindex>').encode()

    def robots(self) -> str:
        lines = ["User-agent: GPTBot", "Disallow: /", "", "User-agent: *", "Disallow: /search", "Disallow: /print/",
                 "Disallow: /wp-admin/", "Disallow: /subscribe"]
        wild = self.traits.robots == "wildcards"
        if wild:
            lines += ["Disallow: /*?print=", "Disallow: /*&print="]
        for s in self.published():
            if s.disallowed:
                path, query = self.path(s)
                lines.append("Disallow: " + quote(path, safe="/-._~") + (f"?{query}" if query else "") + ("$" if wild else ""))
        if self.traits.sitemap != "none" and self.traits.sitemap_finding == "robots":
            lines += ["", f"{'sitemap' if wild else 'Sitemap'}: {self.origin}{self.sitemap_root()}"]
        return "\n".join(lines) + "\n"

    def robots_body(self) -> bytes:
        text = self.robots()
        if self.traits.robots == "crlf_bom":
            return b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()
        return text.encode()

    def print_url(self, s: Story) -> str | None:
        """The print view's address, on sites that link one (always disallowed by robots.txt)."""
        if self.traits.robots == "wildcards":
            return self.url(s, extra_query="print=1")
        if self.traits.variants == "amp_print_share":
            return self.url(s, path_prefix="/print")
        return None

    def robots_rules(self) -> list[str]:
        """The Disallow prefixes that apply to every crawler but GPTBot (ours)."""
        rules, group = [], None
        for line in self.robots().splitlines():
            if line.lower().startswith("user-agent:"):
                group = line.split(":", 1)[1].strip()
            elif line.lower().startswith("disallow:") and group == "*":
                rules.append(line.split(":", 1)[1].strip())
        return [r for r in rules if r]

    # --- routing ------------------------------------------------------------------------------
    def _hit(self, key: str) -> int:
        with self.lock:
            self.hits[key] = self.hits.get(key, 0) + 1
            return self.hits[key]

    def route(self, request: Request, host: str, scheme: str = "http") -> Response:
        split = urlsplit(request.target)
        query_raw = split.query
        if host != self.host or scheme != self.scheme:
            # the bare host to www (or back), http to https: one 301, as nginx is set up
            return Response.redirect(f"{self.origin}{split.path}" + (f"?{query_raw}" if query_raw else ""), 301)
        path, q = request.path, request.query
        if path == "/robots.txt":
            return Response(body=self.robots_body(), content_type="text/plain; charset=utf-8")
        if self.traits.feed != "none" and path == self.feed_path():
            return self.feed()
        m = re.fullmatch(r"/~r/[^/]+/~3/([0-9a-f]+)/", path)
        if m:
            story = next((s for s in self.published() if s.id == int(m.group(1), 16)), None)
            if story is None:
                return Response.not_found()
            return Response(status=302, cacheable=False, headers=[
                ("Location", self.url(story, extra_query="utm_source=feedburner&utm_medium=feed"))])
        sitemap = self._sitemap(path)
        if sitemap is not None:
            return sitemap
        listing = self._listing(path, q)
        if listing is not None:
            return listing
        return self._article(path, q, query_raw)

    def _sitemap(self, path: str) -> Response | None:
        kind = self.traits.sitemap
        if kind == "none":
            return None
        root = self.sitemap_root()
        xml = "application/xml"
        if path == root:
            if kind == "txt":
                lines = "".join(self.url(s, raw=self.traits.loc == "raw") + "\n" for s in self.published())
                return Response(body=lines.encode(), content_type="text/plain; charset=utf-8")
            if kind in ("index", "index_gzip"):
                return self.xml(self.sitemap_index(), xml)
            return self.xml(self._urlset(self.published(), news=kind == "news"), xml)
        if kind in ("index", "index_gzip"):
            children = self._children()
            if path in children:
                body = self._urlset(children[path])
                if path.endswith(".gz"):
                    return Response(body=gzip.compress(body, mtime=0), content_type="application/x-gzip", compressible=False)
                return self.xml(body, xml)
            if path == "/sitemaps/pages.xml":
                return Response(body=(f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                                      f"<url><loc>{self.origin}/about/</loc></url></urlset>").encode(), content_type=xml)
        return None

    def _listing(self, path: str, q: dict) -> Response | None:
        base, n = self._page_number(path, q)
        if n < 1 or n > 500:
            return Response.not_found()
        stories = [s for s in self.published()]
        if base == "/" and not (q.get("p") or q.get("id")):
            return self.html_response(self.listing(stories, "/", "", n, self.name, "home"))
        for i in range(len(SECTIONS)):
            spath = self.section_path(i)
            if base.rstrip("/") == spath.rstrip("/") and (self.traits.cms != "php" or q.get("cat") == [str(i + 1)]):
                mine = [s for s in stories if s.section == i]
                bq = f"cat={i + 1}" if self.traits.cms == "php" else ""
                label = SECTIONS[i][2] if self.lang == "en" else SECTIONS[i][1]
                return self.html_response(self.listing(mine, spath, bq, n, label, f"sec{i}"))
        if path == "/about/":
            return self.html_response(self.layout(self.name, "<p>about</p>"))
        if path == "/search":
            return self.html_response(self.layout(self.name, "<p>search</p>"))
        return None

    def _find(self, path: str, q: dict) -> Story | None:
        for s in self.published():
            cpath, cquery = self.path(s)
            if cquery:
                name, _, value = cquery.partition("=")
                if path == cpath and q.get(name) == [value]:
                    return s
            elif path.rstrip("/") == cpath.rstrip("/"):
                return s
        return None

    def _article(self, path: str, q: dict, query_raw: str) -> Response:
        amp = print_view = False
        if path.startswith("/amp/"):
            path, amp = path[4:], True
        elif path.startswith("/print/"):
            path, print_view = path[6:], True
        story = self._find(path, q)
        if story is None or story.published is None:
            return Response.not_found()
        print_view = print_view or q.get("print") == ["1"]
        if q.get("share"):
            return Response(status=302, cacheable=False, headers=[
                ("Location", f"http://facebook.test/sharer.php?u={quote(self.canonical_url(story), safe='')}")])
        cpath, _ = self.path(story)
        if not amp and not print_view and path != cpath:
            return Response.redirect(self.canonical_url(story), 301)     # trailing slash, as WordPress does
        if story.fault and not amp and not print_view:
            n = self._hit(f"fault-{story.id}")
            if n == 1 and story.fault == "http_5xx_once":
                return Response(status=503, cacheable=False, body=b"<html><body>Service Unavailable</body></html>")
            if n == 1 and story.fault == "timeout_once":
                return Response(stream=_hang)
        return self.html_response(self.article_page(story, amp=amp, print_view=print_view),
                                  last_modified=story.published)
