"""Crawl throughput on a large generated mirror, held against the cost of extraction alone.

    python -m bench.crawl [--es URL] [--quick] [--processes 1,2] [--profile FILE]

The offline mirror (crawler/mirror) is grown to thousands of article pages on the two outlets
whose sitemaps list every article (Noon Post, Al Mayadeen; real texts re-cut, see the
mirror's README); the four other sites keep their real articles, reached through home pages
and feeds. `raqib crawl` runs as the service runs it, in its own process(es): robots.txt,
discovery, fetching, extraction, language, tagging, dedupe and bulk indexing into a throw-away
alias of a real node, with politeness set for a loopback server (no delay, four connections
per host). Then:

* first a short crawl that is not measured (a node just started is still compiling);
* 1 process, every outlet: article pages per second, CPU ms per article page of the crawl
  process (every thread, from getrusage when it ends; the mirror's CPU is the benchmark
  process's and is excluded), its peak memory;
* the extraction bound on the same pages: the mirror serves them again to a separate client
  process (which also checks that the server is at least 10× faster than the crawl), and
  `pipelines.extract.extract_article` runs on a sample of them in this process, called as the
  crawl's ExtractPipeline calls it. `cpu_ratio_vs_extraction` = crawl CPU per article page /
  extraction CPU per article page (weighted by the crawl's pages per outlet); target ≤ 1.25;
* the pages' weight: the mirror serves pages as heavy as real ones (crawler/mirror/weight.py);
  the replay records the mean and median raw and gzip size of the article pages crawled, and
  `by_page_weight` repeats a shorter crawl and its bound on the mirror's bare pages ("light")
  and on heavy ones (the real distribution's top decile): CPU per page against page size;
* 2 processes, the outlets split in two halves of equal size (as `raqib run` runs up to
  [service] max_parallel_crawls children, one outlet each): pages per second of both together,
  against one process; target ≥ 1.7×.

`--profile FILE` instead runs one crawl under py-spy (raw collapsed stacks to FILE, a summary
of the hottest functions on stdout) and writes no result.
Results: bench/results/crawl.json.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench import common
from bench.common import ROOT, Child, clean_env, raqib_argv

TARGET_RATIO = 1.25
TARGET_SPEEDUP = 1.7
SERVER_FACTOR = 10
SIZES = {"full": {"noonpost": 2500, "almayadeen": 2500}, "quick": {"noonpost": 450, "almayadeen": 450}}
# Two halves of equal size: a grown outlet and two small ones each.
HALVES = [["noonpost", "alittihad", "almarjie"], ["almayadeen", "strategic_observatory", "levant_monitor"]]
SAMPLE_PER_OUTLET = {"full": 300, "quick": 80}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_replay"]:
        return _replay(Path(argv[1]), Path(argv[2]), int(argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--es", help="a running node (default: RAQIB_ES_URL, else one started for the run)")
    parser.add_argument("--quick", action="store_true", default=common.quick_default(),
                        help=f"{sum(SIZES['quick'].values())} grown pages instead of {sum(SIZES['full'].values())}")
    parser.add_argument("--processes", default="1,2", help="crawl process counts to measure (default: 1,2)")
    parser.add_argument("--profile", type=Path, metavar="FILE", help="profile one crawl with py-spy instead")
    parser.add_argument("--before", metavar="COMMIT",
                        help="also crawl the same pages with the code of COMMIT (one process) and write "
                             "bench/results/crawl_before_after.json")
    parser.add_argument("--no-weights", action="store_true",
                        help="skip the light and heavy page points (CPU per page against page size)")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "crawl.json")
    return _measure(parser.parse_args(argv))


def _measure(args: argparse.Namespace) -> int:
    mode = "quick" if args.quick else "full"
    counts = sorted({int(n) for n in args.processes.split(",")})

    from crawler.mirror import Mirror
    from pipelines.es import connect

    run = common.Run("crawl", quick=args.quick)
    with common.es_node(args.es) as es_url, tempfile.TemporaryDirectory(prefix="raqib-bench-crawl-") as tmpdir, \
            Mirror(articles_per_outlet=SIZES[mode]) as mirror:
        tmp = Path(tmpdir)
        client = connect(es_url)
        if args.profile:
            return _profile(mirror, tmp, es_url, client, args.profile)
        result: dict = {"mirror": {"grown": SIZES[mode], "outlets": len(mirror.sites)},
                        "settings": {**common.LOOPBACK, "note": "shipped defaults otherwise (bulk_size, timeouts, retries)"}}
        espid = common.es_pid(es_url)
        warm_up(mirror, tmp / "warm-up", es_url, client)
        runs: dict[int, dict] = {}
        for n in counts:
            groups = [sum(HALVES, [])] if n == 1 else _split(HALVES, n)
            runs[n] = crawl(mirror, tmp / f"p{n}", es_url, client, groups, espid)
            print(f"bench.crawl: {n} process(es): {runs[n]['article_pages']} article pages, "
                  f"{runs[n]['article_pages_per_s']} pages/s, {runs[n]['cpu_ms_per_article_page']} ms CPU/page",
                  file=sys.stderr)
            if n == counts[0]:
                result["server"], samples = server_check(mirror, tmp, runs[n], SAMPLE_PER_OUTLET[mode])
                result["extraction_bound"] = extraction_bound(samples, runs[n]["article_pages_by_outlet"], tmp)
        if 1 in runs and not args.no_weights:
            result["by_page_weight"] = by_page_weight(mirror, tmp, es_url, client, espid, runs[1], result, mode)
        result["startup"] = startup_cost(runs[counts[0]])
        base = runs[counts[0]]
        result["one_process" if counts[0] == 1 else f"processes_{counts[0]}"] = base
        _cpu_ratios(result, base)
        if args.before and 1 in runs:
            _before_after(args.before, mode, run, runs[1], crawl(
                mirror, tmp / "before", es_url, client, [sum(HALVES, [])], espid,
                code=_export(args.before, tmp / "code-before")), result)
        result["server"]["x_faster_than_crawl"] = round(result["server"]["pages_per_s"] / base["article_pages_per_s"], 1)
        result["server"]["verified_10x"] = result["server"]["x_faster_than_crawl"] >= SERVER_FACTOR
        for n in counts[1:]:
            runs[n]["speedup_vs_1"] = round(runs[n]["article_pages_per_s"] / base["article_pages_per_s"], 2)
            result[f"processes_{n}"] = runs[n]
        if 2 in runs and 1 in runs:
            result["target_speedup_2_processes"] = TARGET_SPEEDUP
            result["ceiling_2_processes"] = _ceiling_2_processes(runs[1], runs[2])
        path = run.write(result, out=args.out, es_client=client)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"bench.crawl: wrote {path}", file=sys.stderr)
    return 0


def _cpu_ratios(result: dict[str, Any], base: dict[str, Any]) -> None:
    """The crawl's CPU per article page against extraction alone, on these pages and
    projected onto pages as heavy as the 181 real ones."""
    bound = result["extraction_bound"]["cpu_ms_per_page"]
    result["cpu_ratio_vs_extraction"] = round(base["cpu_ms_per_article_page"] / bound, 3)
    result["target_cpu_ratio"] = TARGET_RATIO
    # What the crawl adds per page (fetching, scheduling, language, tagging, dedupe, indexing,
    # the crawl state) hardly depends on the page's weight; extraction does. The mirror's
    # pages are lighter than real ones, so the same overhead is also set against the 181
    # real pages of the extraction benchmark (bench/results/extraction.json).
    overhead = base["cpu_ms_per_article_page"] - bound
    result["overhead_cpu_ms_per_article_page"] = round(overhead, 2)
    extraction = _read(common.RESULTS / "extraction.json")
    ms = (extraction or {}).get("scrapinghub", {}).get("cpu_ms_per_page_mean")
    if ms:
        result["extraction_cpu_ms_per_page_181_pages"] = ms
        result["projected_ratio_on_181_pages"] = round((ms + overhead) / ms, 3)


def _before_after(commit: str, mode: str, run: common.Run, after: dict[str, Any], before: dict[str, Any],
                  result: dict[str, Any]) -> None:
    """bench/results/crawl_before_after.json: the same pages crawled by COMMIT's code and this one."""
    common.write_json(common.RESULTS / "crawl_before_after.json", {
        "benchmark": "crawl_before_after", "mode": mode, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {**common.machine(), "load_avg_1_5_15_start": run.load_start, "load_avg_1_5_15_end": common.load()},
        "pages": "the same mirror pages, crawled by each code in turn",
        "before": {"commit": commit, **{k: before[k] for k in _COMPARED}},
        "after": {"commit": _head(), **{k: after[k] for k in _COMPARED}},
        "extraction_bound_cpu_ms_per_page": result["extraction_bound"]["cpu_ms_per_page"],
    })


def _ceiling_2_processes(one: dict[str, Any], two: dict[str, Any]) -> dict[str, Any]:
    # The machine's cores serve the crawl processes, the node and the mirror together:
    # with every core busy, pages/s cannot pass cores / (CPU per page of all three), as the
    # two-process run spent it (the first run also warms the mirror's caches of page furniture).
    per_page = two["cpu_ms_per_article_page"] + (two.get("elasticsearch_cpu_ms_per_article_page") or 0.0) \
        + two["server_cpu_ms_per_request"] * two["requests"] / max(two["article_pages"], 1)
    ceiling = 1000 * (os.cpu_count() or 1) / per_page
    # one process on a core of its own (and the node and mirror on the others)
    alone = min(1000 / one["cpu_ms_per_article_page"], ceiling)
    return {
        "cores": os.cpu_count(), "cpu_ms_per_article_page_crawl_node_mirror": round(per_page, 2),
        "article_pages_per_s_all_cores_busy": round(ceiling, 1),
        "article_pages_per_s_one_process_with_a_core": round(alone, 1),
        "speedup_ceiling": round(ceiling / alone, 2),
        "why": "one crawl process keeps about one core busy (its threads share one interpreter lock); "
               "two can use both cores, which they share with the node's indexing and the mirror, and "
               "with whatever else the machine runs",
    }


def _split(halves: list[list[str]], n: int) -> list[list[str]]:
    if n == 2:
        return halves
    outlets = sum(halves, [])
    return [outlets[i::n] for i in range(n)]


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def prepare(mirror, where: Path, es_url: str, alias: str) -> Path:
    config = where / "config"
    common.write_settings(config, es_url=es_url, alias=alias, state_dir=where / "state", crawl=common.LOOPBACK)
    mirror.write_config(config, include_new_site=True)
    return config


_COMPARED = ("article_pages", "article_pages_per_s", "cpu_ms_per_article_page", "main_thread_cpu_ms_per_article_page",
             "peak_rss_mb_per_process", "indexed_new", "errors")


def _export(commit: str, where: Path) -> Path:
    """The project's files at `commit`, unpacked in `where` (the git history is not touched)."""
    where.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def _head() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def warm_up(mirror, where: Path, es_url: str, client) -> None:
    """A short crawl that is not measured: a node just started compiles its hot paths while
    it works (its CPU per document falls by half over the first minute), and the first crawl
    on a machine reads the project from disk."""
    alias = common.new_alias()
    config = prepare(mirror, where, es_url, alias)
    try:
        Child(raqib_argv(config, "-q", "crawl", "--no-alerts", "--max-pages", "150"), env=clean_env()).wait()
    finally:
        common.drop_alias(client, alias)


def crawl(mirror, where: Path, es_url: str, client, groups: list[list[str]], espid: int | None,
          code: Path = ROOT, extra: tuple[str, ...] = ()) -> dict:
    """One crawl of every outlet by len(groups) processes at once, each with its outlets
    (`code`: the project directory whose crawler runs)."""
    alias = common.new_alias()
    config = prepare(mirror, where, es_url, alias)
    mirror.clear_requests()
    try:
        es0, server0, load0 = common.process_cpu(espid), common.self_cpu(), common.load()
        children = []
        for i, group in enumerate(groups):
            flags = [a for key in group for a in ("--outlet", key)]
            children.append(Child(raqib_argv(config, "-q", "crawl", "--no-alerts", "--stats-json",
                                             str(where / f"stats-{i}.json"), *extra, *flags), env=clean_env(),
                                  sample_threads=True, cwd=code))
        done = [c.wait() for c in children]
        server_cpu, es1 = common.self_cpu() - server0, common.process_cpu(espid)
        for c in done:
            if c.code not in (0,):
                raise SystemExit(f"bench.crawl: a crawl process failed ({c.code}):\n{c.stderr[-3000:]}")
        reports = [json.loads((where / f"stats-{i}.json").read_text(encoding="utf-8")) for i in range(len(groups))]
        client.indices.refresh(index=alias)
        in_index = client.count(index=alias)["count"]
    finally:
        common.drop_alias(client, alias)
    wall = max(c.wall_s for c in done)
    cpu = sum(c.cpu_s for c in done)
    main_cpu = [c.main_thread_cpu_s for c in done if c.main_thread_cpu_s is not None]
    by_outlet = {k: v["fetched"].get("article", 0) for r in reports for k, v in r["outlets"].items()}
    articles = sum(r["totals"]["articles_fetched"] for r in reports)
    requests = mirror.requests()
    out = {
        "processes": len(groups), "outlets": groups, "wall_s": round(wall, 1),
        "requests": len(requests), "article_pages": articles, "article_pages_by_outlet": by_outlet,
        "indexed_new": sum(r["totals"]["indexed_new"] for r in reports), "documents_in_index": in_index,
        "duplicates": sum(o.get("duplicates", 0) for r in reports for o in r["outlets"].values()),
        "errors": sum(r["totals"]["errors"] for r in reports),
        "article_pages_per_s": round(articles / wall, 1),
        "cpu_s": round(cpu, 1), "cpu_ms_per_article_page": round(1000 * cpu / max(articles, 1), 2),
        "cpu_s_per_process": [round(c.cpu_s, 1) for c in done],
        # the reactor (Scrapy: scheduling, downloads, middlewares, the spider, pipeline glue)
        # against the worker threads (extraction, enrichment, dedupe; cluster calls)
        "main_thread_cpu_ms_per_article_page": (round(1000 * sum(main_cpu) / max(articles, 1), 2)
                                                if len(main_cpu) == len(done) else None),
        "cpu_utilisation_per_process": [round(c.cpu_s / c.wall_s, 2) for c in done],
        "peak_rss_mb_per_process": [round(c.maxrss_mb) for c in done],
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(len(requests), 1), 2),
        "load_avg_before": load0,
    }
    parts = _cpu_parts(reports, cpu, articles)
    if parts:
        out["cpu_ms_per_article_page_by_part"] = parts
    if es0 is not None and es1 is not None:
        out["elasticsearch_cpu_ms_per_article_page"] = round(1000 * (es1 - es0) / max(articles, 1), 2)
    return out


def _cpu_parts(reports: list[dict], cpu_s: float, articles: int) -> dict[str, float] | None:
    """The crawl's CPU per article page split as its processes reported it (crawl report `cpu`):
    each CPU-thread step, Scrapy's thread, the other threads, and start-up (what the process
    spent before and after the crawl proper). None for a crawler without that report."""
    if not articles or not all("cpu" in r for r in reports):
        return None
    total: Counter = Counter()
    for r in reports:
        total.update(r["cpu"]["steps_s"])
        total["scrapy_thread"] += r["cpu"]["reactor_s"]
        total["other_threads"] += r["cpu"]["other_s"]
    total["start_up_and_exit"] = cpu_s - sum(r["cpu"]["process_s"] for r in reports)
    return {k: round(1000 * v / articles, 2) for k, v in total.items()}


WEIGHT_PAGES = {"full": 1500, "quick": 120}   # article pages per outlet (--max-pages)
# What a crawl process loads before its first request: the modules `raqib crawl` imports and
# the language profiles (its other start-up work, config and state, is small).
STARTUP = ("import crawler.cli.main, crawler.run.crawl, crawler.engine.spider, pipelines.item_pipelines, pipelines.extract, "
           "pipelines.tagging, pipelines.es; from pipelines import language; language._get_factory()")


def startup_cost(run: dict) -> dict:
    """A crawl process's fixed start-up CPU (imports, language profiles), measured in a child
    that does only that, and the crawl's CPU per article page without it: a short crawl pays
    it over few pages, `raqib run` once per crawl child."""
    done = Child([sys.executable, "-c", STARTUP], env=clean_env()).wait()
    per_page = (run["cpu_s"] - done.cpu_s) * 1000 / max(run["article_pages"], 1)
    return {"cpu_s": round(done.cpu_s, 2), "cpu_ms_per_article_page_without_it": round(per_page, 2),
            "how": "a child importing what `raqib crawl` imports and loading langdetect's profiles"}


def by_page_weight(mirror, tmp: Path, es_url: str, client, espid: int | None, real: dict, result: dict,
                   mode: str) -> dict:
    """CPU per article page of the crawl and of extraction alone on small (the mirror's bare
    pages), real-weight and heavy pages (the real distribution's top decile): how the cost
    grows with the work. The light and heavy crawls stop after WEIGHT_PAGES pages per outlet."""
    points = {"real": _point(real, result["server"]["page_size"], result["extraction_bound"])}
    for weight in ("light", "heavy"):
        mirror.set_weight(weight)
        try:
            run = crawl(mirror, tmp / f"w-{weight}", es_url, client, [sum(HALVES, [])], espid,
                        extra=("--max-pages", str(WEIGHT_PAGES[mode])))
            server, samples = server_check(mirror, tmp, run, 40 if mode == "quick" else 120)
            bound = extraction_bound(samples, run["article_pages_by_outlet"], tmp)
        finally:
            mirror.set_weight("real")
        points[weight] = _point(run, server["page_size"], bound)
        print(f"bench.crawl: {weight} pages: {points[weight]}", file=sys.stderr)
    return {w: points[w] for w in ("light", "real", "heavy")}


def _point(run: dict, size: dict, bound: dict) -> dict:
    ms = bound["cpu_ms_per_page"]
    return {"page_size": size, "article_pages": run["article_pages"],
            "crawl_cpu_ms_per_article_page": run["cpu_ms_per_article_page"],
            "extraction_cpu_ms_per_page": ms,
            "overhead_cpu_ms_per_article_page": round(run["cpu_ms_per_article_page"] - ms, 2),
            "cpu_ratio_vs_extraction": round(run["cpu_ms_per_article_page"] / ms, 3) if ms else None}


# --- the server check and the extraction bound --------------------------------------------
def server_check(mirror, tmp: Path, crawled: dict, sample_per_outlet: int) -> tuple[dict, Path]:
    """Serve the article pages the crawl fetched again, to a client in its own process with
    as many connections as the crawl had; keep a sample of the bodies for the bound."""
    from pipelines.outlets import load_outlets

    outlets = load_outlets(tmp / "p1" / "config") if (tmp / "p1" / "config").exists() else None
    urls: dict[str, list[str]] = defaultdict(list)
    for r in mirror.requests():
        if r["status"] == 200 and r["method"] == "GET" and outlets and r["outlet"] in outlets:
            url = f"http://{r['host']}{r['path']}"
            if outlets[r["outlet"]].is_article(url):
                urls[r["outlet"]].append(url)
    todo = tmp / "replay.json"
    todo.write_text(json.dumps({k: sorted(set(v)) for k, v in urls.items()}), encoding="utf-8")
    samples = tmp / "samples.json.gz"
    mirror.clear_requests()
    server0 = common.self_cpu()
    child = Child([sys.executable, "-m", "bench.crawl", "_replay", str(todo), str(samples), str(sample_per_outlet)],
                  env=clean_env())
    done = child.wait()
    server_cpu = common.self_cpu() - server0
    if done.code != 0:
        raise SystemExit(f"bench.crawl: the replay client failed:\n{done.stderr[-2000:]}")
    figures = json.loads((tmp / "replay.json.out").read_text(encoding="utf-8"))
    figures["server_cpu_ms_per_page"] = round(1000 * server_cpu / max(figures["pages"], 1), 2)
    figures["client_cpu_ms_per_page"] = round(1000 * done.cpu_s / max(figures["pages"], 1), 2)
    figures["note"] = ("a Python client in its own process, 16 connections; its own CPU is the limit, so this is "
                       "a lower bound of what the server can do")
    return figures, samples


def _replay(todo: Path, samples_path: Path, sample_per_outlet: int) -> int:
    from crawler.mirror.client import fetch_all

    by_outlet: dict[str, list[str]] = json.loads(todo.read_text(encoding="utf-8"))
    keep = set()
    for urls in by_outlet.values():
        step = max(1, len(urls) // sample_per_outlet)
        keep.update(urls[::step][:sample_per_outlet])
    outlet_of = {u: k for k, urls in by_outlet.items() for u in urls}
    # the outlets interleaved, as the crawl has every host busy at once
    lists = [list(v) for v in by_outlet.values()]
    order = [urls[i] for i in range(max(map(len, lists), default=0)) for urls in lists if i < len(urls)]
    kept: dict[str, dict] = {}
    errors: list[str] = []
    ok: Counter[str] = Counter()
    sizes: dict[str, list[int]] = {"raw": [], "gzip": []}
    lock = threading.Lock()

    def on_reply(url, resp, body) -> None:
        with lock:
            if resp.status != 200:
                errors.append(f"{resp.status} {url}")
                return
            ok["pages"] += 1
            ok["bytes"] += len(body)
            zipped = resp.getheader("Content-Encoding") == "gzip"
            raw = gzip.decompress(body) if zipped else body
            sizes["raw"].append(len(raw))
            sizes["gzip"].append(len(body) if zipped else len(gzip.compress(body, 6)))
            if url in keep:
                body = raw
                kept[url] = {"outlet": outlet_of[url], "content_type": resp.getheader("Content-Type"),
                             "body": body.decode("latin-1")}

    start = time.perf_counter()
    fetch_all(order, 16, on_reply, headers={"User-Agent": "raqib-bench"})
    wall = time.perf_counter() - start
    with gzip.open(samples_path, "wt", encoding="utf-8") as fh:
        json.dump(kept, fh)
    out = {"pages": ok["pages"], "errors": len(errors), "wall_s": round(wall, 2),
           "pages_per_s": round(ok["pages"] / wall, 1), "page_size": page_sizes(sizes)}
    Path(str(todo) + ".out").write_text(json.dumps(out), encoding="utf-8")
    return 0 if not errors else 1


def page_sizes(sizes: dict[str, list[int]]) -> dict[str, float]:
    """Mean and median raw and gzip size (KB) of the article pages the crawl fetched."""
    out = {}
    for kind, values in sizes.items():
        values = values or [0]
        out[f"mean_{kind}_kb"] = round(statistics.fmean(values) / 1024, 1)
        out[f"median_{kind}_kb"] = round(statistics.median(values) / 1024, 1)
    return out


def extraction_bound(samples_path: Path, weights: dict[str, int], tmp: Path) -> dict:
    """CPU ms per page of extract_article alone, called as ExtractPipeline calls it, on the
    sampled pages; the mean per outlet weighted by the pages the crawl fetched there."""
    from pipelines.extract import ExtractionError, extract_article
    from pipelines.outlets import load_outlets

    outlets = load_outlets(tmp / "p1" / "config")
    with gzip.open(samples_path, "rt", encoding="utf-8") as fh:
        samples = json.load(fh)
    per_outlet: dict[str, list[float]] = defaultdict(list)
    failures = 0
    for url, s in sorted(samples.items()):        # one warm-up pass would hide first-call costs the crawl also pays
        body = s["body"].encode("latin-1")
        start = time.thread_time()
        try:
            extract_article(body, url, outlet=outlets[s["outlet"]], headers={"content-type": s["content_type"]})
        except ExtractionError:
            failures += 1
        per_outlet[s["outlet"]].append(time.thread_time() - start)
    means = {k: 1000 * sum(v) / len(v) for k, v in per_outlet.items()}
    total = sum(weights.get(k, 0) for k in means)
    weighted = sum(means[k] * weights.get(k, 0) for k in means) / max(total, 1)
    return {"pages": sum(len(v) for v in per_outlet.values()), "extraction_failures": failures,
            "cpu_ms_per_page": round(weighted, 2),
            "cpu_ms_per_page_by_outlet": {k: round(v, 2) for k, v in sorted(means.items())},
            "how": "pipelines.extract.extract_article in-process, thread CPU time, on pages the crawl fetched; "
                   "mean per outlet weighted by the crawl's article pages per outlet"}


# --- profiling ------------------------------------------------------------------------------
def _profile(mirror, tmp: Path, es_url: str, client, out: Path) -> int:
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not spy:
        print("bench.crawl: --profile needs py-spy (pip install py-spy)", file=sys.stderr)
        return 2
    alias = common.new_alias()
    where = tmp / "profile"
    config = prepare(mirror, where, es_url, alias)
    flags = [a for key in sum(HALVES, []) for a in ("--outlet", key)]
    # --gil: only samples holding the GIL, i.e. Python doing work, not threads waiting
    argv = [spy, "record", "--gil", "--threads", "--rate", "200", "--format", "raw", "--output", str(out), "--",
            *raqib_argv(config, "-q", "crawl", "--no-alerts", *flags)]
    try:
        proc = subprocess.run(argv, cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    finally:
        common.drop_alias(client, alias)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return 1
    print(summarize(out))
    return 0


def summarize(raw: Path, top: int = 45) -> str:
    """The hottest functions of a py-spy raw (collapsed) profile: self and inclusive samples."""
    own: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 2)[-1] + ")" if " (" in f else f
                  for f in stack.split(";")]
        own[frames[-1]] += count
        for f in set(frames):
            inclusive[f] += count
    lines = [f"{total} samples", "", "self %  function"]
    lines += [f"{100 * c / total:5.1f}  {f}" for f, c in own.most_common(top)]
    lines += ["", "incl %  function"]
    lines += [f"{100 * c / total:5.1f}  {f}" for f, c in inclusive.most_common(top)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
