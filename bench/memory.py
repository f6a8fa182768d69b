"""Memory of `raqib run` over a long crawl of the mirror.

    python -m bench.memory [--es URL] [--quick] [--seconds N]

`raqib run --every 5s` (the service, its scheduler, and one `raqib crawl` child process per
outlet crawl, at most [service] max_parallel_crawls at once) runs against the mirror of the
five outlets, two of them grown to thousands of articles, while the mirror publishes a new
article every two seconds somewhere. The resident memory of the service process and of every
crawl child is read every second. Recorded: the service's RSS after its first minute, at the
end and at most, its growth rate over the second half of the run (least squares, MB per hour),
the largest crawl child, and what was crawled. A bound: the service grows by no more than
`BOUND_MB` after its first minute, and no crawl child exceeds `CHILD_BOUND_MB`.
Results: bench/results/memory.json.
"""
from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import common
from bench.common import clean_env, raqib_argv

SECONDS = {"full": 600, "quick": 60}
GROWN = {"full": {"noonpost": 1500, "almayadeen": 1500}, "quick": {"noonpost": 300, "almayadeen": 300}}
BOUND_MB = 20
CHILD_BOUND_MB = 400
WARMUP_S = 30


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--es", help="a running node (default: RAQIB_ES_URL, else one started for the run)")
    parser.add_argument("--quick", action="store_true", default=common.quick_default())
    parser.add_argument("--seconds", type=int, help="how long the service runs (default: 600, quick: 60)")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "memory.json")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    seconds = args.seconds or SECONDS[mode]

    import psutil

    from crawler.mirror import Mirror
    from pipelines.es import connect

    run = common.Run("memory", quick=args.quick)
    with common.es_node(args.es) as es_url, tempfile.TemporaryDirectory(prefix="raqib-bench-mem-") as tmpdir, \
            Mirror(articles_per_outlet=GROWN[mode]) as mirror:
        tmp = Path(tmpdir)
        client = connect(es_url)
        alias = common.new_alias()
        config = tmp / "config"
        common.write_settings(config, es_url=es_url, alias=alias, state_dir=tmp / "state", crawl=common.LOOPBACK,
                              extra="[service]\njitter = 0\n")
        mirror.write_config(config)
        stop = threading.Event()
        published = _publisher(mirror, stop)
        samples: list[tuple[float, float]] = []          # (seconds since start, service RSS MB)
        children: dict[int, float] = {}                    # crawl child pid -> its largest RSS seen, MB
        log = open(tmp / "service.log", "wb")
        proc = subprocess.Popen(raqib_argv(config, "run", "--every", "5s"), cwd=common.ROOT, env=clean_env(),
                                stdout=log, stderr=subprocess.STDOUT)
        start = time.monotonic()
        try:
            service = psutil.Process(proc.pid)
            while time.monotonic() - start < seconds and proc.poll() is None:
                try:
                    samples.append((time.monotonic() - start, service.memory_info().rss / 2**20))
                    for child in service.children(recursive=True):
                        try:
                            rss = child.memory_info().rss / 2**20
                        except psutil.Error:
                            continue
                        children[child.pid] = max(children.get(child.pid, 0.0), rss)
                except psutil.Error:
                    break
                time.sleep(1.0)
            crashed = proc.poll() is not None
        finally:
            stop.set()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=180)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()
            try:
                client.indices.refresh(index=alias)
                indexed = client.count(index=alias)["count"]
            except Exception:  # noqa: BLE001
                indexed = None
            common.drop_alias(client, alias)
        if crashed:
            raise SystemExit("bench.memory: raqib run stopped by itself:\n"
                             + (tmp / "service.log").read_text(encoding="utf-8", errors="replace")[-3000:])
        service_state = _read(tmp / "state" / "service.json")
        figures = summarize(samples, children, seconds)
        figures.update({
            "mirror": {"grown": GROWN[mode], "outlets": len(mirror.outlets)},
            "service": "raqib run --every 5s, [service] max_parallel_crawls default, jitter 0",
            "articles_published_during_run": published[0], "documents_in_index": indexed,
            "crawls_run": sum((o or {}).get("runs", 0) for o in (service_state.get("outlets") or {}).values()),
        })
        path = run.write(figures, out=args.out, es_client=client)
    print(json.dumps(figures, indent=2))
    print(f"bench.memory: wrote {path}", file=sys.stderr)
    return 0


def summarize(samples: list[tuple[float, float]], children: dict[int, float], seconds: float) -> dict:
    after_warmup = [(t, r) for t, r in samples if t >= min(WARMUP_S, seconds / 3)]
    second_half = [(t, r) for t, r in samples if t >= seconds / 2]
    base = after_warmup[0][1] if after_warmup else None
    peak = max((r for _, r in samples), default=None)
    growth = round(max(r for _, r in after_warmup) - base, 1) if base is not None else None
    child_peak = round(max(children.values()), 1) if children else None
    return {
        "seconds": round(samples[-1][0], 1) if samples else 0, "samples": len(samples),
        "service_rss_mb": {"after_warmup": round(base, 1) if base else None, "end": round(samples[-1][1], 1) if samples else None,
                           "max": round(peak, 1) if peak else None},
        "service_growth_after_warmup_mb": growth,
        "service_slope_mb_per_hour_second_half": _slope(second_half),
        "crawl_children": len(children), "crawl_child_peak_rss_mb": child_peak,
        "bound": {"service_growth_mb": BOUND_MB, "crawl_child_mb": CHILD_BOUND_MB},
        "within_bound": growth is not None and growth <= BOUND_MB and (child_peak or 0) <= CHILD_BOUND_MB,
        "rss_trace_mb": [[round(t), round(r, 1)] for t, r in samples[:: max(1, len(samples) // 60)]],
    }


def _slope(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mr = sum(r for _, r in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if not var:
        return None
    return round(3600 * sum((t - mt) * (r - mr) for t, r in points) / var, 1)


def _publisher(mirror, stop: threading.Event) -> list[int]:
    """A new article every two seconds on a random outlet, its text re-cut from the outlet's own."""
    count = [0]
    rng = random.Random(7)

    def loop() -> None:
        while not stop.wait(2.0):
            outlet = rng.choice(mirror.outlets)
            site = mirror.site(outlet)
            pool = [p for a in site.articles if a.role == "article" for p in a.paragraphs if not p.startswith("@@")]
            lang = site.articles[0].lang
            text = "\n".join(rng.sample(pool, min(len(pool), 6)))
            mirror.publish(outlet, title=f"{rng.choice(pool)[:60]} ({count[0]})", text=text, lang=lang)
            count[0] += 1

    threading.Thread(target=loop, daemon=True).start()
    return count


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


if __name__ == "__main__":
    sys.exit(main())
