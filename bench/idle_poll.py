"""The cost of polling the five outlets when nothing changed.

    python -m bench.idle_poll [--es URL] [--quick]

The offline mirror of the five outlets of the shipped config (their real URL layouts, feeds,
sitemaps and sections, and their real validator behaviour: honest ETags, lying ETags, only
Last-Modified, none) is crawled once, then polled again unchanged, as `raqib run` does between
two publications. From the mirror's request log and the crawl's own report, per outlet: the
requests the poll sent, by kind (robots.txt, feed, sitemap, section, article), how many were
conditional and answered 304, how many of those answered 200 were recognised as unchanged
(the list of links they show hashes as before), the sources requested more than once, and the
article pages fetched. Target: one request per feed, sitemap and section, each answered 304 or
recognised as unchanged; no article page. Results: bench/results/idle_poll.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench import common
from bench.common import Child, clean_env, raqib_argv

SOURCES = ("feed", "sitemap", "section")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--es", help="a running node (default: RAQIB_ES_URL, else one started for the run)")
    parser.add_argument("--quick", action="store_true", default=common.quick_default())
    parser.add_argument("--out", type=Path, default=common.RESULTS / "idle_poll.json")
    args = parser.parse_args(argv)

    from crawler.mirror import Mirror
    from pipelines.es import connect

    run = common.Run("idle_poll", quick=args.quick)
    with common.es_node(args.es) as es_url, tempfile.TemporaryDirectory(prefix="raqib-bench-idle-") as tmpdir, \
            Mirror() as mirror:
        tmp = Path(tmpdir)
        client = connect(es_url)
        alias = common.new_alias()
        config = tmp / "config"
        common.write_settings(config, es_url=es_url, alias=alias, state_dir=tmp / "state", crawl=common.LOOPBACK)
        mirror.write_config(config)
        try:
            first = _crawl(config, tmp / "first.json")
            first_log = mirror.requests()
            mirror.clear_requests()
            poll = _crawl(config, tmp / "poll.json")
            log = mirror.requests()
        finally:
            common.drop_alias(client, alias)
        outlets = {}
        for key, report in poll["report"]["outlets"].items():
            mine = [r for r in log if r["outlet"] == key]
            requests = report["requests"]
            sources_sent = sum(requests.get(k, 0) for k in SOURCES)
            not_modified = sum(report["not_modified"].get(k, 0) for k in SOURCES)
            unchanged = report["skipped"].get("source_unchanged", 0)
            repeated = [p for p, n in Counter(r["path"] for r in mine).items() if n > 1]
            outlets[key] = {
                "requests": len(mine), "by_kind": requests,
                "conditional": sum(1 for r in mine if r["if_none_match"] or r["if_modified_since"]),
                "answered_304": sum(1 for r in mine if r["status"] == 304),
                "source_requests": sources_sent,
                "sources_304": not_modified, "sources_200_recognised_unchanged": unchanged,
                "sources_not_recognised": max(0, sources_sent - not_modified - unchanged),
                "sitemaps_skipped_by_index_lastmod": report["skipped"].get("sitemap_unchanged", 0),
                "sources_requested_twice": repeated,
                "article_pages": requests.get("article", 0),
                "first_crawl_requests": sum(1 for r in first_log if r["outlet"] == key),
                "first_crawl_source_requests": sum(first["report"]["outlets"][key]["requests"].get(k, 0) for k in SOURCES),
            }
        totals = {k: sum(o[k] for o in outlets.values()) for k in (
            "requests", "conditional", "answered_304", "source_requests", "sources_304",
            "sources_200_recognised_unchanged", "sources_not_recognised", "article_pages")}
        totals["robots_requests"] = sum(o["by_kind"].get("robots", 0) for o in outlets.values())
        totals["sources_requested_twice"] = sum(len(o["sources_requested_twice"]) for o in outlets.values())
        figures = {
            "outlets": outlets, "totals": totals,
            "poll_cpu_s": round(poll["cpu_s"], 2), "poll_wall_s": round(poll["wall_s"], 2),
            "first_crawl": {"requests": len(first_log), "article_pages": first["report"]["totals"]["articles_fetched"],
                            "cpu_s": round(first["cpu_s"], 2)},
            "target": "one request per feed, sitemap and section, each 304 or recognised unchanged; 0 article pages",
            "met": totals["article_pages"] == 0 and totals["sources_not_recognised"] == 0
                   and totals["sources_requested_twice"] == 0,
        }
        path = run.write(figures, out=args.out, es_client=client)
    print(json.dumps(figures, indent=2))
    print(f"bench.idle_poll: wrote {path}", file=sys.stderr)
    return 0


def _crawl(config: Path, stats: Path) -> dict:
    done = Child(raqib_argv(config, "-q", "crawl", "--no-alerts", "--stats-json", str(stats)), env=clean_env()).wait()
    if done.code != 0:
        raise SystemExit(f"bench.idle_poll: the crawl failed ({done.code}):\n{done.stderr[-3000:]}")
    return {"report": json.loads(stats.read_text(encoding="utf-8")), "cpu_s": done.cpu_s, "wall_s": done.wall_s}


if __name__ == "__main__":
    sys.exit(main())
