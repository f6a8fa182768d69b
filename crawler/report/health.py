"""Per-outlet health: the one rule for judging a crawl of an outlet and for backing off.

After every real crawl (not a dry run) each outlet's result is judged here and recorded in
the crawl state (`CrawlState.save_outlet`), next to what the spider already keeps there:

  last_success_at        when a crawl last reached the outlet (status ok or ok with errors)
  last_failure_at        when a crawl last failed, with last_failure_kind and last_failure
  consecutive_failures   failed crawls in a row (0 once a crawl succeeds)
  failure_points         the failures in a row, each weighted by its kind (crawler/errors.POLICY)
  backoff_until          no scheduled crawl of the outlet before this (epoch seconds)
  last_new_at, last_new  when a crawl last indexed a new article, and how many the last crawl did

Failures are graded because they mean different things: a timeout is often a bad minute, a
403 or a challenge page is the site refusing us, and a config error (robots.txt forbidding
everything, no listed URL matching article_pattern) does not go away by waiting. The points
set the back-off (pipelines/backoff.py): `backoff_seconds(points, base, hi) = min(hi, base * 2 ** points)`, where
`base` is the outlet's schedule and `hi` is `[service] max_interval`. `raqib run` schedules
with the same function (crawler/service.next_interval), so the service and the recorded
`backoff_until` agree; `raqib crawl --respect-backoff` skips an outlet that is backing off.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from typing import Any

from crawler.errors import NOT_THE_OUTLETS, policy
from pipelines.backoff import backoff
from pipelines.configfile import span


def weight(kind: str) -> float:
    """Failure points of one failure of `kind` (crawler/errors.POLICY)."""
    return policy(kind).weight


def backoff_seconds(points: float, base: float, hi: float) -> float:
    """The wait before the next crawl of an outlet with `points` failure points: its schedule
    `base` when healthy, doubled per point, never more than `hi` (nor less than `base`)."""
    return backoff(points, base, max(hi, base))


@dataclass
class Health:
    """What the crawl state knows about one outlet (all times epoch seconds)."""
    outlet: str
    last_crawl_at: float | None = None
    last_finished_at: float | None = None
    last_status: str | None = None
    last_success_at: float | None = None
    last_failure_at: float | None = None
    last_failure_kind: str | None = None
    last_failure: str | None = None
    consecutive_failures: int = 0
    failure_points: float = 0.0
    backoff_until: float | None = None
    last_new_at: float | None = None
    last_new: int = 0
    blocked_at: float | None = None
    blocked_reason: str | None = None

    @classmethod
    def from_state(cls, outlet: str, data: dict[str, Any]) -> Health:
        known = {f.name for f in fields(cls)} - {"outlet"}
        values = {k: v for k, v in (data or {}).items() if k in known and v is not None}
        h = cls(outlet=outlet, **values)
        h.consecutive_failures = int(h.consecutive_failures or 0)
        h.failure_points = float(h.failure_points or 0.0)
        h.last_new = int(h.last_new or 0)
        return h

    @property
    def crawled(self) -> bool:
        return self.last_finished_at is not None

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0

    def backing_off(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self.failing and self.backoff_until is not None and self.backoff_until > now

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read(state, outlet: str) -> Health:
    return Health.from_state(outlet, state.outlet(outlet))


def failure_of(entry: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, message) when one outlet's crawl report entry (crawler.report.stats.build_report) is a
    failure, None when the crawl reached the outlet."""
    status = entry.get("status")
    errors = {k: int(v) for k, v in (entry.get("errors") or {}).items() if v and k not in NOT_THE_OUTLETS}
    if status == "blocked":
        return "blocked", str(entry.get("blocked") or "the outlet blocks or challenges the crawler")
    if status == "failed":
        if not errors:
            return "other", "nothing could be fetched"
        kind = max(errors, key=lambda k: (weight(k), errors[k]))
        listed = ", ".join(f"{k} {n}" for k, n in sorted(errors.items(), key=lambda kv: -kv[1]))
        return kind, f"nothing could be fetched ({listed})"
    discovered = entry.get("discovered") or {}
    skipped = entry.get("skipped") or {}
    fetched_sources = sum(n for k, n in (entry.get("fetched") or {}).items() if k != "article")
    listed_elsewhere = int(skipped.get("not_article_url", 0))
    # Every source was read afresh (none unchanged, none 304) and listed URLs, yet none of
    # them matched article_pattern: the outlet's entry is wrong, not the site.
    if (fetched_sources and listed_elsewhere and not int(discovered.get("total", 0))
            and not sum((entry.get("not_modified") or {}).values()) and not skipped.get("source_unchanged")):
        return "config", (f"the feeds and sitemaps listed {listed_elsewhere} URLs and none matched article_pattern; "
                          f"run `raqib outlets check` on the outlet")
    return None


def record(state, outlet: str, *, failure: tuple[str, str] | None, finished_at: float, base: float, hi: float,
           status: str | None = None, new: int = 0, errors: int | None = None) -> Health:
    """Record one crawl of `outlet` (a success when `failure` is None) and return its health."""
    before = read(state, outlet)
    values: dict[str, Any] = {"last_finished_at": finished_at, "last_new": int(new)}
    if status is not None:
        values["last_status"] = status
    if errors is not None:
        values["last_errors"] = int(errors)
    if new:
        values["last_new_at"] = finished_at
    if failure is None:
        values.update(last_success_at=finished_at, consecutive_failures=0, failure_points=0.0, backoff_until=None)
    else:
        kind, message = failure
        points = before.failure_points + weight(kind)
        values.update(last_failure_at=finished_at, last_failure_kind=kind, last_failure=message[:500],
                      consecutive_failures=before.consecutive_failures + 1, failure_points=points,
                      backoff_until=finished_at + backoff_seconds(points, base, hi))
    state.save_outlet(outlet, **values)
    data = before.to_dict()
    data.update(values)
    return Health.from_state(outlet, data)


def describe(h: Health, now: float | None = None) -> str:
    """One line for `raqib status`: the health of an outlet as a person reads it."""
    now = time.time() if now is None else now

    def ago(t: float | None) -> str:
        return "never" if not t else f"{span(now - t)} ago"

    if not h.crawled:
        return "not crawled yet"
    parts = []
    if h.failing:
        word = "failure" if h.consecutive_failures == 1 else "failures"
        parts.append(f"{h.consecutive_failures} {word} in a row ({h.failure_points:g} points; last: "
                     f"{h.last_failure_kind}: {h.last_failure})")
        until = h.backoff_until
        if until is not None and h.backing_off(now):
            parts.append(f"backing off until {time.strftime('%Y-%m-%d %H:%M', time.localtime(until))} "
                         f"(in {span(until - now)})")
        parts.append(f"last success {ago(h.last_success_at)}")
    else:
        parts.append(f"healthy, last success {ago(h.last_success_at)}")
    parts.append(f"last new article {ago(h.last_new_at)}")
    return "; ".join(parts)
