"""The outlets raqib crawls, read from `outlets.yaml` and validated before any crawl starts.

An outlet is data, not code: adding one is a YAML entry. Everything the spider needs to know
about a site is here, so one spider class serves them all.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipelines.configfile import Checker, ConfigError, Problem, join, load_yaml, resolve
from pipelines.urls import pattern_forms

OUTLET_KEYS = (
    "name", "home", "language", "domains", "feeds", "sitemaps", "sections", "article_pattern",
    "exclude_pattern", "schedule", "extraction", "backfill", "timezone", "section_depth", "enabled",
    "first_crawl_window",
)
REQUIRED_KEYS = ("name", "home", "domains", "article_pattern")

# Extraction hints: how to read this outlet's pages better than a generic extractor would.
EXTRACTION_KEYS = (
    "metadata_json",       # CSS selector of a <script> holding first-party JSON metadata
    "body_selector",       # CSS selector of the article body, tried before trafilatura's own guess
    "drop_selectors",      # CSS selectors of boilerplate elements removed before extraction
    "drop_text",           # regular expressions; whole lines of extracted text matching one are dropped
    "title_selector", "author_selector", "date_selector", "summary_selector",
    "date_convention",     # iso | egyptian | levantine | auto
    "blocked_markers",     # texts that mark a challenge or block page for this outlet
    "compare_extractors",  # true: trafilatura also compares readability and jusText on every page
)
DATE_CONVENTIONS = ("auto", "iso", "egyptian", "levantine")

# Backfill: how to reach older articles than the discovery channels show.
BACKFILL_KEYS = (
    "sitemap_template",    # e.g. https://…/sitemaps/all/sitemap-{year}-{month}.xml ({month} not zero-padded)
    "sitemap_start",       # YYYY-MM: the oldest month to walk
    "id_template",         # e.g. https://…/{id}
    "id_min",              # the lowest id worth walking to
)

KEY_RE = r"[a-z0-9_]+"
DEFAULT_SCHEDULE = 30 * 60.0


@dataclass(frozen=True)
class Outlet:
    key: str
    name: str
    home: str
    domains: tuple[str, ...]
    article_pattern: re.Pattern
    language: str | None = None
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    exclude_pattern: re.Pattern | None = None
    schedule: float = DEFAULT_SCHEDULE
    extraction: dict[str, Any] = field(default_factory=dict)
    backfill: dict[str, Any] = field(default_factory=dict)
    timezone: str = "UTC"
    section_depth: int = 3
    enabled: bool = True
    first_crawl_window: float | None = None    # seconds; None: settings.toml [crawl] first_crawl_window

    def allows_host(self, host: str | None) -> bool:
        """The crawl never leaves `domains`; a domain covers its subdomains."""
        if not host:
            return False
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.domains)

    def is_article(self, url: str) -> bool:
        """Whether `url` names an article of this outlet: `article_pattern` matches one of
        its spellings (the link as given, its canonical form, that form with Arabic as
        text: pipelines.urls.pattern_forms) and `exclude_pattern` matches none."""
        forms = pattern_forms(url)
        if self.exclude_pattern is not None and any(self.exclude_pattern.search(f) for f in forms):
            return False
        return any(self.article_pattern.search(f) for f in forms)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_outlets(config_dir: Path | None = None) -> dict[str, Outlet]:
    path = resolve("outlets.yaml", config_dir)
    return parse_outlets(load_yaml(path), str(path))


def parse_outlets(data: Any, file: str = "outlets.yaml") -> dict[str, Outlet]:
    """Validate the parsed YAML; raise one ConfigError listing every problem."""
    check = Checker(file)
    top = check.mapping(data, "", allowed=("outlets",), required=("outlets",))
    entries = top.get("outlets") or {}
    if not isinstance(entries, dict):
        check.add("outlets", "expected a mapping from outlet key to its settings")
        entries = {}
    outlets: dict[str, Outlet] = {}
    for key, raw in entries.items():
        outlet = _parse_outlet(check, str(key), raw)
        if outlet is not None:
            outlets[outlet.key] = outlet
    check.raise_if_any()
    return outlets


def _parse_outlet(check: Checker, key: str, raw: Any) -> Outlet | None:
    path = join("outlets", key)
    before = len(check.problems)
    if not re.fullmatch(KEY_RE, key):
        check.add(path, "outlet keys use only a-z, 0-9 and _ (they are stored as `outlet`)")
    raw = check.mapping(raw, path, allowed=OUTLET_KEYS, required=REQUIRED_KEYS)
    name = check.string(raw.get("name"), join(path, "name"))
    home = check.url(raw.get("home"), join(path, "home"))
    language = check.string(raw.get("language"), join(path, "language"), pattern=r"[a-z]{2}", what="a two-letter language code")
    domains = tuple(d.lower().strip(".") for d in check.string_list(raw.get("domains"), join(path, "domains")))
    feeds = tuple(check.string_list(raw.get("feeds"), join(path, "feeds"), item=check.url))
    sitemaps = tuple(check.string_list(raw.get("sitemaps"), join(path, "sitemaps"), item=check.url))
    sections = tuple(check.string_list(raw.get("sections"), join(path, "sections"), item=check.url))
    pattern = check.regex(raw.get("article_pattern"), join(path, "article_pattern"))
    exclude = check.regex(raw.get("exclude_pattern"), join(path, "exclude_pattern"))
    schedule = check.duration(raw.get("schedule"), join(path, "schedule"))
    first_window = check.duration(raw.get("first_crawl_window"), join(path, "first_crawl_window"))
    if schedule is not None and schedule < 60:
        check.add(join(path, "schedule"), f"polling more often than once a minute is impolite; got {raw.get('schedule')!r}")
    depth = check.number(raw.get("section_depth"), join(path, "section_depth"), minimum=0, maximum=50, integer=True)
    enabled = check.boolean(raw.get("enabled"), join(path, "enabled"))
    timezone = check.string(raw.get("timezone"), join(path, "timezone"), what="an IANA time zone such as Asia/Beirut")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            check.add(join(path, "timezone"), f"unknown time zone {timezone!r}; use an IANA name such as Africa/Cairo")
            timezone = None
    extraction = _parse_extraction(check, join(path, "extraction"), raw.get("extraction"))
    backfill = _parse_backfill(check, join(path, "backfill"), raw.get("backfill"))

    if home and domains:
        for url_key, urls in (("home", [home]), ("feeds", feeds), ("sitemaps", sitemaps), ("sections", sections)):
            for url in urls:
                host = urlsplit(url).hostname
                if not any(host == d or (host or "").endswith("." + d) for d in domains):
                    check.add(join(path, url_key), f"{url} is outside the outlet's domains ({', '.join(domains)}); the crawl never leaves them")
    if len(check.problems) > before or name is None or home is None or pattern is None:
        return None  # each missing field has added its problem
    return Outlet(
        key=key, name=name, home=home, domains=domains, article_pattern=pattern, language=language,
        feeds=feeds, sitemaps=sitemaps, sections=sections, exclude_pattern=exclude,
        schedule=schedule if schedule is not None else DEFAULT_SCHEDULE,
        extraction=extraction, backfill=backfill, timezone=timezone or "UTC",
        section_depth=depth if depth is not None else 3,
        enabled=True if enabled is None else enabled,
        first_crawl_window=first_window,
    )


def _parse_extraction(check: Checker, path: str, raw: Any) -> dict[str, Any]:
    raw = check.mapping(raw, path, allowed=EXTRACTION_KEYS)
    out: dict[str, Any] = {}
    for key in ("metadata_json", "body_selector", "title_selector", "author_selector", "date_selector", "summary_selector"):
        if raw.get(key) is not None:
            value = check.string(raw[key], join(path, key), what="a CSS selector")
            if value:
                out[key] = value
    if raw.get("drop_selectors") is not None:
        out["drop_selectors"] = check.string_list(raw["drop_selectors"], join(path, "drop_selectors"))
    if raw.get("drop_text") is not None:
        out["drop_text"] = [p for i, v in enumerate(check.string_list(raw["drop_text"], join(path, "drop_text")))
                            if (p := check.regex(v, f"{join(path, 'drop_text')}[{i}]")) is not None]
    if raw.get("blocked_markers") is not None:
        out["blocked_markers"] = check.string_list(raw["blocked_markers"], join(path, "blocked_markers"))
    if (compare := check.boolean(raw.get("compare_extractors"), join(path, "compare_extractors"))) is not None:
        out["compare_extractors"] = compare
    if raw.get("date_convention") is not None:
        conv = raw["date_convention"]
        if conv not in DATE_CONVENTIONS:
            check.add(join(path, "date_convention"), f"expected one of {', '.join(DATE_CONVENTIONS)}, got {conv!r}")
        else:
            out["date_convention"] = conv
    return out


def _parse_backfill(check: Checker, path: str, raw: Any) -> dict[str, Any]:
    raw = check.mapping(raw, path, allowed=BACKFILL_KEYS)
    out: dict[str, Any] = {}
    template = check.url(raw.get("sitemap_template"), join(path, "sitemap_template"))
    if template:
        if "{year}" not in template or "{month}" not in template:
            check.add(join(path, "sitemap_template"), "must contain {year} and {month}")
        out["sitemap_template"] = template
    start = raw.get("sitemap_start")
    if start is not None:
        if not (isinstance(start, str) and re.fullmatch(r"\d{4}-\d{1,2}", start)):
            check.add(join(path, "sitemap_start"), f"expected a month as YYYY-MM, got {start!r}")
        else:
            out["sitemap_start"] = start
    id_template = check.url(raw.get("id_template"), join(path, "id_template"))
    if id_template:
        if "{id}" not in id_template:
            check.add(join(path, "id_template"), "must contain {id}")
        out["id_template"] = id_template
    id_min = check.number(raw.get("id_min"), join(path, "id_min"), minimum=0, integer=True)
    if id_min is not None:
        out["id_min"] = id_min
    return out


def select(outlets: dict[str, Outlet], names: list[str] | None) -> list[Outlet]:
    """The outlets a command works on; unknown names are an error that lists the known ones."""
    if not names:
        return [o for o in outlets.values() if o.enabled]
    unknown = [n for n in names if n not in outlets]
    if unknown:
        raise ConfigError(Problem("outlets.yaml", "", f"no outlet named {', '.join(map(repr, unknown))}; known outlets: {', '.join(outlets)}"))
    return [outlets[n] for n in names]
