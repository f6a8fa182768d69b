"""Comparing what a crawl indexed with a family's ground truth, per article and per trait.

Plain functions over plain data: the truth entries (`Family.truth()`) and the indexed
documents (the `_source` of each hit), so the test and the benchmark score alike.
"""
from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from crawler.mirror.family.site import TruthEntry
from pipelines.urls import canonicalize

_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
CHECKS = ("indexed_once", "title", "first_paragraph", "last_paragraph", "no_boilerplate", "published_at", "lang")


def norm(text: str | None) -> str:
    return " ".join(_INVISIBLE.sub("", text or "").split())


def by_url(docs: list[dict]) -> dict[str, list[dict]]:
    """Indexed documents by the canonical form of their URL (and of their canonical URL)."""
    out: dict[str, list[dict]] = defaultdict(list)
    for d in docs:
        keys = {canonicalize(d["url"])} | ({canonicalize(d["canonical_url"])} if d.get("canonical_url") else set())
        for k in keys:
            out[k].append(d)
    return out


def _date_ok(entry: TruthEntry, got: str | None) -> bool:
    if not got:
        return False
    want = datetime.fromisoformat(entry["published_at"].replace("Z", "+00:00"))
    have = datetime.fromisoformat(got.replace("Z", "+00:00"))
    if entry["precision"] == "day":
        zone = ZoneInfo(entry.get("timezone") or "UTC")
        return have.astimezone(zone).date().isoformat() == entry["published_date"]
    return abs(have - want) <= timedelta(minutes=1)


def check(entry: TruthEntry, found: list[dict]) -> dict[str, bool]:
    """Each check of CHECKS for one truth entry: True when the index got it right."""
    unique = {d.get("_id") or id(d): d for d in found}
    if not unique:
        return {c: False for c in CHECKS}
    d = next(iter(unique.values()))
    text = norm(d.get("text"))
    return {
        "indexed_once": len(unique) == 1,
        "title": norm(d.get("title")) == norm(entry["title"]),
        "first_paragraph": norm(entry["first"]) in text,
        "last_paragraph": norm(entry["last"]) in text,
        "no_boilerplate": not any(norm(b) and norm(b) in text for b in entry["boilerplate"]),
        "published_at": _date_ok(entry, d.get("published_at")),
        "lang": d.get("lang") == entry["lang"],
    }


def score(truth: list[TruthEntry], docs: list[dict]) -> dict:
    """{"articles", "correct", "recall", "checks": {check: recall}, "traits": {label: {...}},
    "problems": [readable lines]}; an article is correct when every check holds."""
    index = by_url(docs)
    per_trait: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_check = {c: 0 for c in CHECKS}
    problems, correct = [], 0
    for e in truth:
        result = check(e, index.get(canonicalize(e["url"]), []))
        ok = all(result.values())
        correct += ok
        for c, v in result.items():
            per_check[c] += v
        for label in e["traits"]:
            per_trait[label][0] += ok
            per_trait[label][1] += 1
        if not ok:
            bad = [c for c, v in result.items() if not v]
            problems.append(f"{e['outlet']} {e['url']}: {', '.join(bad)}")
    n = len(truth) or 1
    return {
        "articles": len(truth), "correct": correct, "recall": correct / n,
        "checks": {c: v / n for c, v in per_check.items()},
        "traits": {k: {"correct": v[0], "articles": v[1], "recall": v[0] / v[1]} for k, v in sorted(per_trait.items())},
        "problems": problems,
    }


def table(result: dict, *, only_failing: bool = False) -> str:
    lines = [f"{'trait':40} {'correct':>8} {'articles':>8} {'recall':>7}"]
    for label, row in result["traits"].items():
        if only_failing and row["recall"] == 1.0:
            continue
        lines.append(f"{label:40} {row['correct']:8d} {row['articles']:8d} {row['recall']:7.3f}")
    return "\n".join(lines)
