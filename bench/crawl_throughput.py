"""End-to-end crawl throughput on a large local mirror.

    python -m bench.crawl_throughput [--es URL] [--articles-per-outlet N]

Serves the offline mirror (crawler/mirror) grown to N articles per outlet, runs `raqib crawl`
in its own process as the service does (discovery, robots.txt, fetching, extraction,
language, tagging, dedupe, bulk indexing into a throw-away alias of a real Elasticsearch
node), then crawls again unchanged. Politeness is set for a loopback server (no delay, four
connections per host); against the real outlets the per-host delay, not the crawler, bounds
the rate. Recorded: wall time, article pages per second, CPU ms per page of the crawl
process, its peak memory, and what the second crawl asked for.
Results: bench/results/crawl_throughput.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

DEFAULT_OUT = ROOT / "bench" / "results" / "crawl_throughput.json"


def run_crawl(config: Path, stats_path: Path) -> tuple[dict, float, float, int]:
    """(stats, wall seconds, CPU seconds, peak RSS in MB) of one `raqib crawl` process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "crawler.cli", "--config", str(config), "-q", "crawl", "--no-alerts",
                           "--stats-json", str(stats_path)], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"the crawl failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(stats_path.read_text(encoding="utf-8")), wall, cpu, after.ru_maxrss // 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--es", default=os.environ.get("RAQIB_TEST_ES_URL") or "http://127.0.0.1:9200")
    parser.add_argument("--articles-per-outlet", type=int, default=600)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    from crawler.mirror import Mirror
    from crawlrun import write_config
    from pipelines.es import connect

    client = connect(args.es)
    alias = f"raqib-bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp, Mirror(articles_per_outlet=args.articles_per_outlet) as m:
        tmp = Path(tmp)
        config = write_config(tmp / "config", es_url=args.es, alias=alias, state_dir=tmp / "state",
                              download_delay=0.0, concurrency_per_domain=4, concurrency=16, autothrottle=False,
                              retries=1, sitemap_window=0)
        m.write_config(config)
        try:
            first, wall1, cpu1, rss1 = run_crawl(config, tmp / "first.json")
            first_requests = len(m.requests())
            m.clear_requests()
            second, wall2, cpu2, rss2 = run_crawl(config, tmp / "second.json")
            second_log = m.requests()
        finally:
            client.indices.delete(index=f"{alias}-*", ignore_unavailable=True, allow_no_indices=True)
            client.options(ignore_status=404).indices.delete_index_template(name=alias)
    articles = first["totals"]["articles_fetched"]
    result = {
        "benchmark": "crawl_throughput",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "mirror": {"articles_per_outlet": args.articles_per_outlet, "outlets": len(first["outlets"])},
        "settings": "no delay, 4 connections per host, 16 in all, AutoThrottle off (loopback server)",
        "first_crawl": {
            "wall_s": round(wall1, 1), "requests": first_requests, "article_pages": articles,
            "indexed_new": first["totals"]["indexed_new"], "errors": first["totals"]["errors"],
            "article_pages_per_s": round(articles / wall1, 1),
            "cpu_ms_per_article_page": round(1000 * cpu1 / max(articles, 1), 1),
            "peak_rss_mb": rss1,
        },
        "second_crawl": {
            "wall_s": round(wall2, 1), "requests": len(second_log),
            "conditional_requests": sum(1 for r in second_log if r["if_none_match"] or r["if_modified_since"]),
            "answered_304": sum(1 for r in second_log if r["status"] == 304),
            "article_pages": second["totals"]["articles_fetched"],
            "cpu_s": round(cpu2, 1),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
