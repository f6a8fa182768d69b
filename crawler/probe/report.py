"""What `raqib outlets check` says about one outlet: the findings and the verdict they add up
to, every page read to find articles, the sample articles, and every request sent."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

# Verdicts, least to most severe; the last three make `raqib outlets check` exit non-zero.
OK, WARNINGS, CONFIG_WRONG, UNREACHABLE, BLOCKED = "ok", "warnings", "config_wrong", "unreachable", "blocked"
VERDICTS = (OK, WARNINGS, CONFIG_WRONG, UNREACHABLE, BLOCKED)
FAILING = frozenset({CONFIG_WRONG, UNREACHABLE, BLOCKED})
# A finding's level decides the verdict it leads to; a note is a suggestion that leaves it ok.
LEVEL_VERDICT = {"note": OK, "warning": WARNINGS, "config": CONFIG_WRONG, "unreachable": UNREACHABLE,
                 "blocked": BLOCKED}

BLOCKED_ADVICE = ("open the home page in a browser on this machine: if it loads there, the site refuses crawlers; "
                  "ask the outlet to allow raqib's User-Agent, or crawl through another network (crawl.proxy in "
                  "settings.toml); meanwhile set enabled: false")
ORIGIN_TEXT = {"configured": "configured", "home": "linked from home", "robots.txt": "named in robots.txt",
               "guessed": "at a usual address, linked from nowhere", "index": "in a sitemap index"}


@dataclass
class Finding:
    level: str                         # note | warning | config | unreachable | blocked
    message: str
    suggestion: str | None = None      # the config change that fixes it, when there is one
    key: str | None = None             # the outlets.yaml key concerned


@dataclass
class Source:
    """One page the probe read to find articles: home, a section, a feed or a sitemap."""
    url: str
    kind: str                          # home | section | feed | sitemap
    origin: list[str]                  # configured, home (linked from), robots.txt, guessed, index
    status: int | None = None
    error: str | None = None           # why it gave nothing (HTTP status, parse error, robots, …)
    final_url: str | None = None
    format: str | None = None          # feeds: rss/atom/json; sitemaps: index/urlset; pages: html
    entries: int = 0                   # links, items or <loc>s read
    on_domains: int = 0                # ... of them on the outlet's domains
    matched: int = 0                   # ... of those matching article_pattern
    newest: str | None = None          # newest item date / lastmod (ISO, UTC)
    children: int = 0                  # sitemap index: child sitemaps listed
    parent: str | None = None          # sitemap child: the index that lists it
    feeds_linked: list[str] = field(default_factory=list)
    matched_examples: list[str] = field(default_factory=list)
    unmatched_examples: list[str] = field(default_factory=list)


@dataclass
class Sample:
    url: str
    channel: str                       # where it was found: home, section, feed, sitemap
    matches_pattern: bool = True
    status: int | None = None
    final_url: str | None = None
    error: str | None = None
    title: str | None = None
    published_at: str | None = None
    date_source: str | None = None
    modified_at: str | None = None
    author: str | None = None
    lang: str | None = None
    lang_prob: float | None = None
    declared_lang: str | None = None
    text_chars: int = 0
    words: int = 0
    topics: list[str] = field(default_factory=list)
    extraction_method: str | None = None
    canonical_url: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class OutletReport:
    outlet: str
    name: str
    home: str
    verdict: str = OK
    findings: list[Finding] = field(default_factory=list)
    robots: dict[str, Any] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)
    channels: dict[str, dict[str, int]] = field(default_factory=dict)
    pattern_suggestion: dict[str, Any] | None = None
    samples: list[Sample] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0
    checked_at: str = ""

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING

    def add(self, level: str, message: str, suggestion: str | None = None, key: str | None = None) -> None:
        self.findings.append(Finding(level, message, suggestion, key))

    def judge(self) -> None:
        """The verdict is the most severe finding's."""
        self.verdict = max((LEVEL_VERDICT[f.level] for f in self.findings), key=VERDICTS.index, default=OK)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def age_days(when: str | None, now: datetime) -> float | None:
    if not when:
        return None
    return (now - datetime.fromisoformat(when.replace("Z", "+00:00"))).total_seconds() / 86400
