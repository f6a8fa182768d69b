"""Recall on generated outlets, per trait: bench/results/generated_outlets.json.

    python -m bench.generated_outlets [--es URL] [--quick] [--seeds 101-500]

Outlets nobody here built (crawler/mirror/family): each seed is a complete news site made of
independently drawn traits, added by the one outlets.yaml entry a user would write and
crawled once by `raqib crawl` (50 outlets per crawl process) into a throw-away alias. An
article counts as correct when it is indexed exactly once with its exact title, its first
and last paragraphs, no boilerplate paragraph, its publication time within a minute (or its
day, where the page gives only a day) and its language. The table gives, for every trait
value, how many of the articles of sites with that trait were correct, so a weak trait shows;
`channels` gives, for feeds and sitemaps the sites announce, how many of the articles they
list the crawl found through them (a broken channel is otherwise hidden by the others).

The default seeds (101-500; quick: 101-200) are not those of tests/test_generated_outlets.py
(1-50), which the extraction and discovery fixes were checked against: these figures are
measured on sites no fix was made while looking at.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import common
from crawler.mirror.family import Family
from crawler.mirror.family.score import score, table
from crawler.mirror.family.site import TruthEntry

RESULT = common.RESULTS / "generated_outlets.json"
CLOCK = datetime(2026, 1, 1, tzinfo=UTC)      # the sites' clock (not the calendar)
BATCH = 50
CRAWL = {**common.LOOPBACK, "timeout": 3.0, "retries": 2, "retry_backoff": "0.2s"}


def _seeds(spec: str) -> list[int]:
    lo, _, hi = spec.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def _channels(family: Family, stats: dict) -> list[dict]:
    """Per site and channel it offers (feed, sitemap): the articles it lists and how many the
    crawl discovered through it, with the traits that shape that channel."""
    rows = []
    for key, site in family.sites.items():
        discovered = (stats.get("outlets", {}).get(key) or {}).get("discovered", {})
        t = site.traits
        for channel, expected in site.channel_expectations().items():
            kind = f"feed={t.feed}/{t.feed_link}" if channel == "feed" else f"sitemap={t.sitemap}/{t.lastmod}/{t.xml_prefix}"
            rows.append({"outlet": key, "channel": channel, "kind": kind, "expected": expected,
                         "discovered": min(expected, discovered.get(channel, 0))})
    return rows


def _crawl_batch(seeds: list[int], es_url: str, work: Path) -> tuple[list[TruthEntry], list[dict], float, list[dict]]:
    """(truth, indexed documents, seconds, channel rows) of one crawl process over these seeds' outlets."""
    from pipelines.es import connect

    client = connect(es_url)
    alias = common.new_alias("raqib-bench-gen")
    config = common.write_settings(work / f"config-{seeds[0]}", es_url=es_url, alias=alias,
                                   state_dir=work / f"state-{seeds[0]}", crawl=CRAWL)
    try:
        with Family(seeds, CLOCK) as family:
            family.write_config(config)
            env = common.clean_env(http_proxy=family.proxy_url, https_proxy=family.proxy_url, no_proxy="127.0.0.1,localhost")
            t0 = time.monotonic()
            stats_path = work / f"stats-{seeds[0]}.json"
            proc = subprocess.run(common.raqib_argv(config, "crawl", "--stats-json", str(stats_path)), cwd=common.ROOT,
                                  env=env, capture_output=True, text=True, timeout=1800)
            took = time.monotonic() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"raqib crawl exited {proc.returncode}: {proc.stderr[-2000:]}")
            client.indices.refresh(index=alias)
            hits = client.search(index=alias, size=10000, query={"match_all": {}}).body["hits"]["hits"]
            docs = [{**h["_source"], "_id": h["_id"]} for h in hits]
            stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.exists() else {}
            return family.truth(), docs, took, _channels(family, stats)
    finally:
        common.drop_alias(client, alias)


def _channel_table(rows: list[dict]) -> dict:
    """Feed and sitemap recall (articles discovered through the channel / articles it lists),
    overall and per channel kind."""
    out: dict = {}
    for row in rows:
        for key in (row["channel"], row["kind"]):
            cell = out.setdefault(key, {"expected": 0, "discovered": 0, "sites": 0})
            cell["expected"] += row["expected"]
            cell["discovered"] += row["discovered"]
            cell["sites"] += 1
    for cell in out.values():
        cell["recall"] = round(cell["discovered"] / cell["expected"], 4) if cell["expected"] else None
    return dict(sorted(out.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--es", help="a running node (default: RAQIB_ES_URL, else one started for the run)")
    parser.add_argument("--quick", action="store_true", default=common.quick_default())
    parser.add_argument("--seeds", help="first-last seed (default 101-500; quick 101-200)")
    args = parser.parse_args(argv)
    seeds = _seeds(args.seeds or ("101-200" if args.quick else "101-500"))
    truth: list[TruthEntry] = []
    docs: list[dict] = []
    seconds = 0.0
    channels: list[dict] = []
    with common.es_node(args.es) as es_url, \
            tempfile.TemporaryDirectory(prefix="raqib-bench-gen-") as tmp:
        for i in range(0, len(seeds), BATCH):
            batch = seeds[i:i + BATCH]
            t, d, took, rows = _crawl_batch(batch, es_url, Path(tmp))
            truth += t
            docs += d
            seconds += took
            channels += rows
            print(f"seeds {batch[0]}-{batch[-1]}: {len(t)} articles, {took:.0f} s", file=sys.stderr, flush=True)
    result = score(truth, docs)
    print(table(result), file=sys.stderr)
    common.write_json(RESULT, {
        "benchmark": "generated_outlets", "mode": "quick" if args.quick else "full",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seeds": f"{seeds[0]}-{seeds[-1]}", "outlets": len(seeds), "articles": result["articles"],
        "correct": result["correct"], "recall": round(result["recall"], 4),
        "checks": {k: round(v, 4) for k, v in result["checks"].items()},
        "traits": {k: {**v, "recall": round(v["recall"], 4)} for k, v in result["traits"].items()},
        "channels": _channel_table(channels),
        "crawl_seconds": round(seconds, 1), "problems": result["problems"][:100],
        "machine": common.machine(),
    })
    print(f"recall {result['recall']:.4f} on {result['articles']} articles of {len(seeds)} outlets -> {RESULT}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
