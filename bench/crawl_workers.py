"""Crawl throughput of a fleet: 1, 2 and 4 processes sharing one Redis frontier.

    python -m bench.crawl_workers [--es URL] [--quick] [--workers 1,2,4]

A grown offline mirror (as bench/crawl.py grows it: thousands of article pages on Noon Post
and Al Mayadeen, the other outlets with their real articles) is crawled by one `raqib crawl`
coordinator plus N-1 `raqib crawl --worker` processes on one Redis (Debian's redis-server,
started for the run on a free loopback port). The coordinator discovers; every process,
the coordinator included, fetches, extracts and indexes from the shared frontier. The
workers are started and registered first, so their start-up is not timed; the time is the
coordinator's, from its start to its report (which counts what the whole fleet did).

For each N: article pages per second, CPU ms per article page summed over all processes,
articles fetched more than once (must be 0) and documents in the index. Then, on the small
mirror with a per-host delay of 0.1 s and 3 processes: the highest request rate any host saw
over ten consecutive requests, which the fleet must keep at or below 1/delay.

Results: bench/results/crawl_workers.json.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from bench import common
from bench.common import Child, clean_env, raqib_argv

SIZES = {"full": {"noonpost": 2500, "almayadeen": 2500}, "quick": {"noonpost": 300, "almayadeen": 300}}
POLITE_DELAY = 0.1
RATE_SLACK = 0.05        # of the allowed rate, for the server-side timing (see politeness_3_processes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--es", help="a running node (default: RAQIB_ES_URL, else one started for the run)")
    parser.add_argument("--quick", action="store_true", default=common.quick_default(),
                        help=f"{sum(SIZES['quick'].values())} grown pages instead of {sum(SIZES['full'].values())}")
    parser.add_argument("--workers", default="1,2,4", help="process counts to measure (default: 1,2,4)")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "crawl_workers.json")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    counts = sorted({int(n) for n in args.workers.split(",")})

    from crawler.mirror import Mirror
    from pipelines.es import connect
    from tests.support.redisserver import RedisServer

    run = common.Run("crawl_workers", quick=args.quick)
    redis = RedisServer()
    try:
        with common.es_node(args.es) as es_url, tempfile.TemporaryDirectory(prefix="raqib-bench-fleet-") as tmpdir:
            tmp = Path(tmpdir)
            client = connect(es_url)
            result: dict = {"mirror": {"grown": SIZES[mode]}, "settings": common.LOOPBACK, "redis": _redis_version(redis)}
            with Mirror(articles_per_outlet=SIZES[mode]) as mirror:
                runs = {}
                for n in counts:
                    runs[n] = fleet_crawl(mirror, tmp / f"w{n}", es_url, client, redis, n, common.LOOPBACK)
                    print(f"bench.crawl_workers: {n} process(es): {runs[n]['article_pages']} article pages, "
                          f"{runs[n]['article_pages_per_s']} pages/s", file=sys.stderr)
            base = runs[counts[0]]
            for n in counts:
                runs[n]["speedup_vs_1"] = round(runs[n]["article_pages_per_s"] / base["article_pages_per_s"], 2)
                result[f"workers_{n}"] = runs[n]
            result["pages_per_s"] = {str(n): runs[n]["article_pages_per_s"] for n in counts}
            # the curve projected past this machine: a process's CPU per page stays what it
            # was measured to be, each process on a core of its own (node and mirror elsewhere)
            result["projection"] = {
                "cores_here": os.cpu_count(),
                "cpu_ms_per_article_page": {str(n): runs[n]["cpu_ms_per_article_page"] for n in counts},
                "article_pages_per_s_per_busy_core": {str(n): round(1000 / runs[n]["cpu_ms_per_article_page"], 1)
                                                      for n in counts if runs[n]["cpu_ms_per_article_page"]},
                "how": "pages/s with N cores for the crawl = N x article_pages_per_s_per_busy_core at N processes, "
                       "as long as the frontier (Redis) and the node keep up",
            }
            result["why"] = ("the work that grows with the pages (extraction, language, tagging) is CPU-bound and a "
                             "process uses about one core; more processes help until the machine's cores (shared "
                             "with the node, the mirror and Redis) are busy")
            with Mirror() as small:
                polite = {**common.LOOPBACK, "download_delay": POLITE_DELAY}
                check = fleet_crawl(small, tmp / "polite", es_url, client, redis, 3, polite)
                result["politeness_3_processes"] = {
                    "download_delay_s": POLITE_DELAY, "requests": check["requests"],
                    "max_requests_per_s_per_host_over_10": check["max_host_rate_10"],
                    "allowed_per_s": round(1 / POLITE_DELAY, 1),
                    # the times are the mirror's, taken when it handles a request: a few ms of
                    # jitter between sending and handling may shorten one 10-request window
                    "timing_slack": RATE_SLACK,
                    "held": check["max_host_rate_10"] <= 1 / POLITE_DELAY * (1 + RATE_SLACK),
                }
            path = run.write(result, out=args.out, es_client=client)
    finally:
        redis.stop()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"bench.crawl_workers: wrote {path}", file=sys.stderr)
    return 0


def _redis_version(redis) -> str:
    client = redis.client()
    try:
        return client.info("server").get("redis_version", "unknown")
    finally:
        client.close()


def configure(mirror, where: Path, es_url: str, alias: str, redis_url: str, crawl: dict) -> Path:
    config = where / "config"
    common.write_settings(config, es_url=es_url, alias=alias, state_dir=where / "state", crawl=crawl)
    settings = config / "settings.toml"
    settings.write_text(settings.read_text(encoding="utf-8").replace("[state]\n", f'[state]\nredis_url = "{redis_url}"\n'),
                        encoding="utf-8")
    mirror.write_config(config, include_new_site=True)
    return config


def fleet_crawl(mirror, where: Path, es_url: str, client, redis, n: int, crawl: dict) -> dict:
    """One crawl of every outlet by a coordinator and n-1 workers."""
    r = redis.client()
    r.flushall()
    alias = common.new_alias()
    config = configure(mirror, where, es_url, alias, redis.url, crawl)
    mirror.clear_requests()
    workers: list[Child] = []
    try:
        for i in range(n - 1):
            workers.append(Child(raqib_argv(config, "-q", "crawl", "--worker", "--stats-json",
                                            str(where / f"worker-{i}.json")), env=clean_env()))
        deadline = time.monotonic() + 120
        while r.scard("raqib:members") < n - 1:           # registered: their start-up is not timed
            if time.monotonic() > deadline or any(w.proc.poll() is not None for w in workers):
                raise SystemExit("bench.crawl_workers: a worker did not start:\n"
                                 + "\n".join(w.stderr_so_far()[-2000:] for w in workers))
            time.sleep(0.1)
        coordinator = Child(raqib_argv(config, "-q", "crawl", "--no-alerts", "--stats-json", str(where / "report.json")),
                            env=clean_env())
        done = coordinator.wait()
        for w in workers:
            w.proc.send_signal(signal.SIGTERM)
        stopped = [w.wait() for w in workers]
        if done.code != 0:
            raise SystemExit(f"bench.crawl_workers: the coordinator failed ({done.code}):\n{done.stderr[-3000:]}")
        report = json.loads((where / "report.json").read_text(encoding="utf-8"))
        client.indices.refresh(index=alias)
        in_index = client.count(index=alias)["count"]
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.kill()
        common.drop_alias(client, alias)
        r.close()
    requests = mirror.requests()
    pages = Counter((q["server"], q["path"]) for q in requests if q["path"] != "/robots.txt")
    by_host: dict[str, list[float]] = defaultdict(list)
    for q in requests:
        by_host[q["server"]].append(q["time"])
    rates = []
    for times in by_host.values():
        times.sort()
        rates += [10 / (b - a) for a, b in zip(times, times[10:]) if b > a]
    articles = report["totals"]["articles_fetched"]
    cpu = done.cpu_s + sum(s.cpu_s for s in stopped)
    return {
        "processes": n, "wall_s": round(done.wall_s, 1), "requests": len(requests), "article_pages": articles,
        "article_pages_per_s": round(articles / done.wall_s, 1),
        "indexed_new": report["totals"]["indexed_new"], "indexed_updated": report["totals"]["indexed_updated"],
        "documents_in_index": in_index,
        "pages_fetched_twice": sum(1 for c in pages.values() if c > 1),
        "cpu_s": round(cpu, 1), "cpu_ms_per_article_page": round(1000 * cpu / max(articles, 1), 2),
        "cpu_s_per_process": [round(done.cpu_s, 1)] + [round(s.cpu_s, 1) for s in stopped],
        "cpu_utilisation_per_process": [round(c.cpu_s / max(c.wall_s, 1e-6), 2) for c in (done, *stopped)],
        "errors": report["totals"]["errors"],
        "max_host_rate_10": round(max(rates), 2) if rates else None,
    }


if __name__ == "__main__":
    sys.exit(main())
