"""`make bench`: every benchmark, one JSON file each in bench/results/, then the README's
Performance table.

    python -m bench.run [--es URL] [--quick] [--only NAME,...] [--readme-only]

BENCH_QUICK=1 (or --quick) runs reduced sizes, within five minutes on two cores. Without
--es (or RAQIB_ES_URL) one Elasticsearch node is started for the whole run, as the tests
start theirs, and removed afterwards. Each benchmark runs in its own process (a crawl owns
its process's reactor); one that fails is reported and the others still run. The table in
README.md between `<!-- bench:start -->` and `<!-- bench:end -->` is rebuilt from whatever
results are in bench/results/, each with its target and the run it came from.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import common

# name (results file stem), module, needs a node, time limit in seconds (full run)
BENCHMARKS = [
    ("extraction", "bench.extraction_eval", False, 600),
    ("tagging", "bench.tagging_eval", False, 900),   # 5x5-fold CV with inner folds: ~1 min CPU, more wall on a busy machine
    ("indexing", "bench.indexing", True, 900),
    ("alert_latency", "bench.alert_latency", True, 900),
    ("idle_poll", "bench.idle_poll", True, 600),
    ("crawl", "bench.crawl", True, 3600),
    ("memory", "bench.memory", True, 1800),
    ("crawl_workers", "bench.crawl_workers", True, 3600),    # the Redis fleet's, when present
    ("peers", "bench.peers", True, 2400),
    ("generated_outlets", "bench.generated_outlets", True, 1800),
    ("web", "bench.web", True, 1800),
]
README = common.ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--es", help="a running node (default: RAQIB_ES_URL, else one started for the run)")
    parser.add_argument("--quick", action="store_true", default=common.quick_default())
    parser.add_argument("--only", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--readme-only", action="store_true", help="only rebuild the README table from bench/results/")
    parser.add_argument("--crawl-before", metavar="COMMIT",
                        help="also crawl the same pages with the code of COMMIT (bench.crawl --before)")
    args = parser.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else None
    unknown = (wanted or set()) - {b[0] for b in BENCHMARKS}
    if unknown:
        print(f"bench.run: no benchmark named {', '.join(sorted(unknown))}; "
              f"they are {', '.join(b[0] for b in BENCHMARKS)}", file=sys.stderr)
        return 2
    outcome: dict[str, str] = {}
    if not args.readme_only:
        todo = [b for b in BENCHMARKS if (wanted is None or b[0] in wanted)
                and (common.ROOT / (b[1].replace(".", "/") + ".py")).exists()]
        started = time.monotonic()
        node = common.es_node(args.es) if any(b[2] for b in todo) else contextlib.nullcontext(None)
        with node as es_url:
            for name, module, needs_es, limit in todo:
                argv_ = [sys.executable, "-m", module] + (["--quick"] if args.quick else [])
                if needs_es:
                    assert es_url is not None      # the node was started because one needs it
                    argv_ += ["--es", es_url]
                if name == "crawl" and args.crawl_before:
                    argv_ += ["--before", args.crawl_before]
                print(f"bench.run: {name} …", file=sys.stderr, flush=True)
                t0 = time.monotonic()
                try:
                    proc = subprocess.run(argv_, cwd=common.ROOT, capture_output=True, text=True,
                                          timeout=limit / (4 if args.quick else 1))
                    code = proc.returncode
                    tail = (proc.stderr or "").strip().splitlines()[-3:]
                except subprocess.TimeoutExpired:
                    code, tail = -1, ["timed out"]
                took = time.monotonic() - t0
                outcome[name] = ("ok" if code == 0 else f"exit {code}" if code > 0 else "timed out") + f", {took:.0f} s"
                print(f"bench.run: {name}: {outcome[name]}" + ("" if code == 0 else "\n  " + "\n  ".join(tail)),
                      file=sys.stderr, flush=True)
        print(f"bench.run: {len(todo)} benchmarks in {time.monotonic() - started:.0f} s", file=sys.stderr)
    table = render(load_results())
    update_readme(table)
    print(table)
    # a missed target is a finding, shown in the table; only a benchmark that could not run
    # (it exits non-zero) fails `make bench`
    return 1 if any(not v.startswith("ok") for v in outcome.values()) else 0


def load_results() -> dict[str, dict]:
    out = {}
    for path in sorted(common.RESULTS.glob("*.json")):
        try:
            out[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return out


def _get(data: dict | None, *keys, default=None):
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def _fmt(value, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        value = f"{value:.{digits}f}"
    return f"{value}{unit}"


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


def _at_most(value: float | None, bound: float) -> bool | None:
    """Whether a figure is within its bound; None (not measured) when it is missing or zero."""
    return value <= bound if value else None


Row = tuple[str, str, str, str]          # figure, measured, target, met
Results = dict[str, dict[str, Any]]      # bench/results/NAME.json by NAME


def render(results: Results) -> str:
    rows = [row for rows_of in ROWS for row in rows_of(results)]
    lines = [INTRO, "", "| figure | measured | target | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    peers = results.get("peers")
    if peers:
        lines += ["", peers_table(peers), "", PEERS_NOTE]
    for note in notes(results):
        lines += ["", note]
    lines += ["", "Where each figure comes from:", ""]
    for name, data in results.items():
        m: dict[str, Any] = data["machine"] if isinstance(data.get("machine"), dict) else {}
        load0, load1 = m.get("load_avg_1_5_15_start"), m.get("load_avg_1_5_15_end")
        loads = f", load {load0[0]}→{load1[0]}" if load0 and load1 else ""
        lines.append(f"- `bench/results/{name}.json`: {data.get('mode', '?')} run, {data.get('measured_at', '?')}, "
                     f"{m.get('cpus', '?')} cores{loads}")
    return "\n".join(lines)


def _extraction_rows(results: Results) -> list[Row]:
    ex: dict[str, Any] = results.get("extraction") or {}
    rows: list[Row] = []
    if not ex:
        return rows
    rows.append(("Extraction alone, CPU per page: 181 benchmark pages (F1 " + _fmt(_get(ex, "scrapinghub", "f1"), digits=3) + ")",
                 _fmt(_get(ex, "scrapinghub", "cpu_ms_per_page_mean"), " ms", 2), "the bound", "–"))
    return rows


def _crawl_rows(results: Results) -> list[Row]:
    crawl: dict[str, Any] = results.get("crawl") or {}
    rows: list[Row] = []
    if not crawl:
        return rows
    bound = _get(crawl, "extraction_bound", "cpu_ms_per_page")
    one = _get(crawl, "one_process") or {}
    rows.append(("Extraction alone, CPU per page: the crawl's mirror pages", _fmt(bound, " ms", 2), "the bound", "–"))
    rows.append((f"Crawl, 1 process: article pages per second ({_fmt(one.get('article_pages'))} pages, "
                 f"{len(_get(crawl, 'one_process', 'article_pages_by_outlet', default={}))} outlets)",
                 _fmt(one.get("article_pages_per_s"), "/s"), "–", "–"))
    rows.append(("Crawl, 1 process: CPU per article page, whole crawl (reactor thread of it)",
                 f"{_fmt(one.get('cpu_ms_per_article_page'), ' ms', 2)} ({_fmt(one.get('main_thread_cpu_ms_per_article_page'), ' ms', 2)})",
                 "–", "–"))
    parts = one.get("cpu_ms_per_article_page_by_part") or {}
    if parts:
        rows.append(("… of it by part, from the crawl's report: " + ", ".join(parts),
                     ", ".join(_fmt(v, " ms", 2) for v in parts.values()), "–", "–"))
    start = crawl.get("startup") or {}
    if start:
        rows.append(("… of it, a crawl process's start-up (imports, language profiles), once per process; "
                     "CPU per article page without it",
                     f"{_fmt(start.get('cpu_s'), ' s', 2)}; {_fmt(start.get('cpu_ms_per_article_page_without_it'), ' ms', 2)}",
                     "–", "–"))
    ba = results.get("crawl_before_after")
    if ba:
        rows.append((f"… before the optimisations (`{_get(ba, 'before', 'commit')}`) → after (`{_get(ba, 'after', 'commit')}`), "
                     "same pages, same run",
                     f"{_fmt(_get(ba, 'before', 'cpu_ms_per_article_page'), ' ms', 1)} → "
                     f"{_fmt(_get(ba, 'after', 'cpu_ms_per_article_page'), ' ms', 1)}; "
                     f"{_fmt(_get(ba, 'before', 'article_pages_per_s'), '/s')} → {_fmt(_get(ba, 'after', 'article_pages_per_s'), '/s')}",
                     "–", "–"))
    ratio = crawl.get("cpu_ratio_vs_extraction")
    rows.append(("`cpu_ratio_vs_extraction`: crawl CPU / extraction CPU, same pages", _fmt(ratio, digits=2),
                 f"≤ {crawl.get('target_cpu_ratio', 1.25)}", _met(ratio <= crawl.get("target_cpu_ratio", 1.25) if ratio else None)))
    proj = crawl.get("projected_ratio_on_181_pages")
    if proj and not crawl.get("by_page_weight"):      # a run on the mirror's old, light pages
        rows.append(("… the same overhead on pages as heavy as the 181 benchmark pages", _fmt(proj, digits=2),
                     f"≤ {crawl.get('target_cpu_ratio', 1.25)}", _met(proj <= crawl.get("target_cpu_ratio", 1.25))))
    rows.append(("Crawl, 1 process: peak memory", _fmt((one.get("peak_rss_mb_per_process") or [None])[0], " MB"), "–", "–"))
    two = _get(crawl, "processes_2")
    if two:
        rows.append(("Crawl, 2 processes: article pages per second, speed-up over 1",
                     f"{_fmt(two.get('article_pages_per_s'), '/s')}, {_fmt(two.get('speedup_vs_1'), '×', 2)}",
                     f"≥ {crawl.get('target_speedup_2_processes', 1.7)}×",
                     _met((two.get("speedup_vs_1") or 0) >= crawl.get("target_speedup_2_processes", 1.7))))
    size = _get(crawl, "server", "page_size") or {}
    if size:
        rows.append(("Article pages crawled: mean / median size, raw (gzip)",
                     f"{_fmt(size.get('mean_raw_kb'), ' KB')} / {_fmt(size.get('median_raw_kb'), ' KB')} "
                     f"({_fmt(size.get('mean_gzip_kb'), ' KB')} / {_fmt(size.get('median_gzip_kb'), ' KB')})",
                     "as the 181 real pages: median 112 KB (24 KB)", "–"))
    weights = crawl.get("by_page_weight") or {}
    if weights:
        rows.append(("CPU per article page against page weight, crawl / extraction alone (median raw size): "
                     + ", ".join(weights),
                     "; ".join(f"{_fmt(w.get('crawl_cpu_ms_per_article_page'), ' ms')} / "
                               f"{_fmt(w.get('extraction_cpu_ms_per_page'), ' ms')} "
                               f"({_fmt(_get(w, 'page_size', 'median_raw_kb'), ' KB', 0)})" for w in weights.values()),
                     "–", "–"))
    server = crawl.get("server") or {}
    rows.append(("Mirror server against the crawl (same run)", _fmt(server.get("x_faster_than_crawl"), "× faster"),
                 "≥ 10×", _met(server.get("verified_10x"))))
    return rows


def _fleet_rows(results: Results) -> list[Row]:
    fleet: dict[str, Any] = results.get("crawl_workers") or {}
    rows: list[Row] = []
    if not fleet:
        return rows
    counts = sorted(int(k.split("_")[1]) for k in fleet if k.startswith("workers_"))
    rows.append(("Fleet on one Redis frontier: article pages per second with " + ", ".join(map(str, counts)) + " processes",
                 ", ".join(f"{_fmt(_get(fleet, f'workers_{n}', 'article_pages_per_s'), '/s')}"
                           f" ({_fmt(_get(fleet, f'workers_{n}', 'speedup_vs_1'), '×', 2)})" for n in counts)
                 + "; pages fetched twice: " + str(sum(_get(fleet, f"workers_{n}", "pages_fetched_twice", default=0) for n in counts)),
                 "0 fetched twice", _met(all(_get(fleet, f"workers_{n}", "pages_fetched_twice") == 0 for n in counts))))
    polite = fleet.get("politeness_3_processes") or {}
    if polite:
        rows.append(("Fleet of 3 processes, per-host delay 0.1 s: highest rate one host saw over 10 requests",
                     _fmt(polite.get("max_requests_per_s_per_host_over_10"), "/s", 2),
                     f"≤ {polite.get('allowed_per_s')}/s (+{round(100 * polite.get('timing_slack', 0.05))} % for timing at the server)",
                     _met(polite.get("held"))))
    return rows


def _generated_outlets_rows(results: Results) -> list[Row]:
    gen: dict[str, Any] = results.get("generated_outlets") or {}
    rows: list[Row] = []
    if not gen:
        return rows
    weakest: tuple[str | None, dict[str, Any]] = min((gen.get("traits") or {}).items(), key=lambda kv: kv[1]["recall"], default=(None, {}))
    rows.append((f"Generated outlets (seeds {gen.get('seeds')}, {gen.get('outlets')} outlets, {gen.get('articles')} articles): "
                 f"first crawl correct (weakest trait: {weakest[0]} {_fmt(weakest[1].get('recall'), digits=3)})",
                 _fmt(gen.get("recall"), digits=4), "≥ 0.99", _met((gen.get("recall") or 0) >= 0.99)))
    return rows


def _indexing_rows(results: Results) -> list[Row]:
    idx: dict[str, Any] = results.get("indexing") or {}
    rows: list[Row] = []
    if not idx:
        return rows
    rows.append((f"Bulk indexing, documents per second (batch {idx.get('best_batch_size')}; the crawl's {idx.get('crawl_bulk_size')})",
                 f"{_fmt(idx.get('best_docs_per_s'), '/s', 0)} ({_fmt(idx.get('crawl_bulk_size_docs_per_s'), '/s', 0)})", "–", "–"))
    return rows


def _alert_latency_rows(results: Results) -> list[Row]:
    al: dict[str, Any] = results.get("alert_latency") or {}
    rows: list[Row] = []
    if not al:
        return rows
    topics = _get(al, "rules", "topics") or {}
    query = _get(al, "rules", "query") or {}
    p95 = max(filter(None, (topics.get("p95_seconds"), query.get("p95_seconds"))), default=None)
    rows.append(("Alert latency, indexed → webhook received, p50 / p95 (topic rule; query rule)",
                 f"{_fmt(topics.get('p50_seconds'), ' s', 2)} / {_fmt(topics.get('p95_seconds'), ' s', 2)}; "
                 f"{_fmt(query.get('p50_seconds'), ' s', 2)} / {_fmt(query.get('p95_seconds'), ' s', 2)}",
                 f"p95 < {al.get('target_p95_seconds', 2.0)} s", _met(al.get("passed") if p95 is not None else None)))
    return rows


def _idle_poll_rows(results: Results) -> list[Row]:
    idle: dict[str, Any] = results.get("idle_poll") or {}
    rows: list[Row] = []
    if not idle:
        return rows
    t = idle.get("totals") or {}
    rows.append(("Idle poll of the five outlets: requests (feeds, sitemaps, sections + robots.txt)",
                 f"{t.get('requests')} ({t.get('source_requests')} + {t.get('robots_requests')}): "
                 f"{t.get('sources_304')} answered 304, {t.get('sources_200_recognised_unchanged')} recognised unchanged",
                 "one per source, each 304 or unchanged", _met(t.get("sources_not_recognised") == 0 and t.get("sources_requested_twice") == 0)))
    rows.append(("Idle poll: article pages fetched", _fmt(t.get("article_pages")), "0", _met(t.get("article_pages") == 0)))
    return rows


def _memory_rows(results: Results) -> list[Row]:
    mem: dict[str, Any] = results.get("memory") or {}
    rows: list[Row] = []
    if not mem:
        return rows
    rows.append((f"`raqib run` over {_fmt(mem.get('seconds'), ' s', 0)}: service RSS growth after warm-up; largest crawl child",
                 f"{_fmt(mem.get('service_growth_after_warmup_mb'), ' MB')}; {_fmt(mem.get('crawl_child_peak_rss_mb'), ' MB', 0)}",
                 f"≤ {_get(mem, 'bound', 'service_growth_mb')} MB; ≤ {_get(mem, 'bound', 'crawl_child_mb')} MB",
                 _met(mem.get("within_bound"))))
    return rows


def _tagging_rows(results: Results) -> list[Row]:
    tag: dict[str, Any] = results.get("tagging") or {}
    rows: list[Row] = []
    if not tag:
        return rows
    for topic in ("isis", "syria", "us_presence"):
        w, k = _get(tag, "weights", topic) or {}, _get(tag, "keywords", topic) or {}
        if not w:
            continue
        target = _get(tag, "target") or {}
        floor = (target.get("precision") or {}).get(topic)
        rows.append((f"Tagging {topic}, cross-validated P / R / F1 ± sd ({_get(tag, 'protocol', 'folds')} folds × "
                     f"{_get(tag, 'protocol', 'repeats')}; keyword baseline F1)",
                     f"{_fmt(w.get('precision'), digits=3)} / {_fmt(w.get('recall'), digits=3)} / "
                     f"{_fmt(w.get('f1'), digits=3)} ± {_fmt(w.get('f1_sd'), digits=3)} ({_fmt(k.get('f1'), digits=3)})",
                     f"F1 ≥ {target.get('f1')}, ≥ baseline + {target.get('margin_over_keywords')}"
                     + (f", P ≥ {floor}" if floor else ""),
                     _met(_get(tag, "meets_target", topic))))
    held = tag.get("new_outlet") or {}
    if held:
        rows.append((f"Tagging on outlets never in training ({_get(held, 'outlets')} outlets in {_get(tag, 'protocol', 'folds')} "
                     "folds): F1 ± sd of isis / syria / us_presence (keyword baseline)",
                     " / ".join(f"{_fmt(_get(held, 'weights', t, 'f1'), digits=3)} ± {_fmt(_get(held, 'weights', t, 'f1_sd'), digits=3)}"
                                f" ({_fmt(_get(held, 'keywords', t, 'f1'), digits=3)})" for t in ("isis", "syria", "us_presence")),
                     "–", "–"))
    rows.append(("Tagging, CPU per article (corpus)", _fmt(_get(tag, "timing", "ms_per_article"), " ms", 2),
                 f"≤ {_get(tag, 'target', 'ms_per_article') or 2.0} ms",
                 _met((_get(tag, "timing", "ms_per_article") or 99) <= (_get(tag, "target", "ms_per_article") or 2.0))))
    return rows


def _web_rows(results: Results) -> list[Row]:
    web: dict[str, Any] = results.get("web") or {}
    rows: list[Row] = []
    if not web:
        return rows
    n = _get(web, "index", "articles")
    search, art, first, live = (web.get(k) or {} for k in ("search", "article", "first_page", "live"))
    rows.append((f"`raqib web` search page, server time p50 / p95 ({_fmt(n)} articles)",
                 f"{_fmt(search.get('server_ms_p50'), ' ms', 0)} / {_fmt(search.get('server_ms_p95'), ' ms', 0)}",
                 "p95 ≤ 150 ms", _met(_at_most(search.get("server_ms_p95"), 150))))
    rows.append(("`raqib web` article page, server time p50 / p95",
                 f"{_fmt(art.get('server_ms_p50'), ' ms', 0)} / {_fmt(art.get('server_ms_p95'), ' ms', 0)}",
                 "≤ 100 ms", _met(_at_most(art.get("server_ms_p95"), 100))))
    rows.append(("`raqib web` first page weight on the wire", _fmt(first.get("total_kb"), " KB"), "≤ 250 KB",
                 _met(_at_most(first.get("total_kb"), 250))))
    rows.append(("`raqib web` live page, bulk write → event received, p50 / max",
                 f"{_fmt(live.get('delay_s_p50'), ' s', 2)} / {_fmt(live.get('delay_s_max'), ' s', 2)}", "≤ 2 s",
                 _met(_at_most(live.get("delay_s_max"), 2))))
    return rows


# the README table, one function per benchmark in the order of the rows
ROWS: list[Callable[[Results], list[Row]]] = [
    _extraction_rows, _crawl_rows, _fleet_rows, _generated_outlets_rows, _indexing_rows, _alert_latency_rows,
    _idle_poll_rows, _memory_rows, _tagging_rows, _web_rows]


INTRO = """`make bench` runs every benchmark and rewrites this section from `bench/results/*.json`
(`BENCH_QUICK=1 make bench`: reduced sizes, under ten minutes on two cores; a node is started
for the run unless `RAQIB_ES_URL` names one). Each also runs alone: `python -m bench.crawl`
(`--profile FILE` samples a crawl with py-spy), `bench.indexing`, `bench.alert_latency`,
`bench.idle_poll`, `bench.memory`, `bench.crawl_workers`, `bench.peers` (raqib beside trafilatura
and news-please, installed into `bench/.peers-venv`), `bench.generated_outlets`, `bench.extraction_eval`, `bench.tagging_eval`; the last two,
`bench.indexing` and `bench.alert_latency` measure on third-party data that is not in the
repository (see Benchmark data above). CPU figures
are CPU time (user + system of every thread of the processes named), not wall time, so a busy
machine changes them little; the load average of each run is listed at the end."""


PEER_COLUMNS = ("tool (version)", "articles found / expected", "body F1", "wall", "pages/s", "CPU per article",
                "peak RSS")


PEERS_NOTE = (
    "Each tool starts as a user would start it: raqib from the shipped `config/outlets.yaml` (rewritten to the "
    "mirror), trafilatura and news-please from each outlet's home page, finding robots.txt, sitemaps and feeds "
    "themselves. trafilatura: `sitemap_search` and `find_feed_urls` (`focused_crawler` where neither finds "
    "anything), `buffered_downloads`, `bare_extraction` with its defaults, SLEEP_TIME 0. news-please: its command "
    "line with its shipped config.cfg (SitemapCrawler, default extractors and heuristics, JSON files), Scrapy's "
    "concurrency set as raqib's. Two changes let the peers reach a mirror on loopback at all, and nothing else: "
    "trafilatura's SSRF filter off and its URL library (courlan) told that 127.0.0.x:port is a host; news-please's "
    "allowed domain is host:port, which Scrapy's offsite filter never matches, so a host:port-aware filter replaces "
    "it (bench/peer_runner.py). news-please keeps only what its heuristics call an article (og:type and "
    "headline links), hence its low count; its CPU per article counts every page it fetched and extracted. "
    "raqib's figure includes language, tagging, the near-duplicate check and indexing, and its process's "
    "start-up; the Elasticsearch node's CPU is not in it. The peers run in `bench/.peers-venv`, pinned: "
    "trafilatura 2.3.1, news-please 1.6.16 (with newspaper4k[nlp] 0.9.6, which it needs for Arabic).")


def peers_table(peers: dict) -> str:
    """raqib and the peers on the same real-weight mirror, one row each."""
    lines = ["raqib beside the peers, crawling the same real-weight mirror in one run (`bench.peers`, "
             f"{peers.get('mode', '?')} run; delay 0, {_get(peers, 'settings', 'concurrency')} connections, "
             f"{_get(peers, 'settings', 'concurrency_per_domain')} per host). Fundus: {peers.get('fundus', 'not run')}.",
             "", "| " + " | ".join(PEER_COLUMNS) + " |", "|" + "---|" * len(PEER_COLUMNS)]
    for name, t in (peers.get("tools") or {}).items():
        if "error" in t:
            lines.append(f"| {name} | could not run: {t['error'][:120]} |" + " |" * (len(PEER_COLUMNS) - 2))
            continue
        lines.append(f"| {name} ({t.get('version')}) | {t.get('articles_found')} / {t.get('articles_expected')} | "
                     f"{_fmt(t.get('body_f1'), digits=3)} | {_fmt(t.get('wall_s'), ' s')} | {_fmt(t.get('pages_per_s'), '/s')} | "
                     f"{_fmt(t.get('cpu_ms_per_article'), ' ms')} | {_fmt(t.get('peak_rss_mb'), ' MB', 0)} |")
    return "\n".join(lines)


def notes(results: dict[str, dict]) -> list[str]:
    """What the table cannot say: how the crawl was measured and why a target is missed."""
    crawl, ba = results.get("crawl"), results.get("crawl_before_after")
    out: list[str] = []
    if crawl:
        one = crawl.get("one_process") or {}
        grown = _get(crawl, "mirror", "grown") or {}
        out.append(
            f"The crawl benchmark serves the offline mirror with {', '.join(f'{k} grown to {v}' for k, v in grown.items())} "
            "article pages (real texts re-cut) and the other outlets as they are, at the real web's page weight "
            f"(median {_fmt(_get(crawl, 'server', 'page_size', 'median_raw_kb'), ' KB')} of HTML), on loopback, and runs `raqib crawl` as the "
            "service does, with no politeness delay and four connections per host, into a throw-away alias of a real node. "
            f"The node's own CPU is not in the crawl's figure: {_fmt(one.get('elasticsearch_cpu_ms_per_article_page'), ' ms', 2)} "
            "per article page more, on the same cores.")
        overhead, bound = crawl.get("overhead_cpu_ms_per_article_page"), _get(crawl, "extraction_bound", "cpu_ms_per_page")
        if overhead is not None and crawl.get("cpu_ratio_vs_extraction", 0) > crawl.get("target_cpu_ratio", 1.25):
            out.append(
                f"**`cpu_ratio_vs_extraction` misses its target.** Besides extraction, a crawled page costs "
                f"{_fmt(overhead, ' ms', 1)} of CPU" + _overhead_split(one.get("cpu_ms_per_article_page_by_part"), bound)
                + " The overhead hardly grows with the page (`by_page_weight`: light, real and heavy pages), so the ratio "
                "falls as pages get heavier, and rises as extraction gets cheaper: trafilatura's fast path, with its "
                "comparison against readability and jusText kept for the pages where that path finds only a fragment "
                "(README: Extraction), costs less than half as much on these pages at the same body F1, which lowered "
                "both the crawl's CPU per article and the bound. Reaching 1.25 would need the overhead under a quarter of "
                f"extraction, {_fmt((bound or 0) / 4, ' ms', 1)}.")
        if ba:
            out.append(
                "Optimised where the profile pointed (before → after on the same pages, `crawl_before_after.json`): "
                "a one-permutation MinHash instead of 63 hash permutations per shingle, Arabic recognised by its letters "
                "before langdetect (which reads only the first 1,000 characters), the tagger's tokenizer and the URL "
                "encoder rewritten as tight loops, stems and band keys computed once per article, Scrapy's "
                "CONCURRENT_ITEMS lowered from 100 (a hundred asyncio tasks per page), the garbage collector kept off "
                "the objects that live for the whole crawl, and the cluster asked about duplicates twenty articles at "
                "a time (one search per article cost the node more CPU than indexing it).")
        ceiling = crawl.get("ceiling_2_processes")
        two = crawl.get("processes_2")
        if isinstance(ceiling, dict) and two and (two.get("speedup_vs_1") or 0) < crawl.get("target_speedup_2_processes", 1.7):
            out.append(
                f"**Two processes miss 1.7×.** One crawl process keeps about one core busy (its threads share one "
                f"interpreter lock); two use both of this machine's {ceiling.get('cores')} cores, which they share with "
                "the node's indexing and the mirror. At "
                f"{_fmt(ceiling.get('cpu_ms_per_article_page_crawl_node_mirror'), ' ms', 1)} of CPU per article page for the "
                f"three together, all cores busy give at most {_fmt(ceiling.get('article_pages_per_s_all_cores_busy'), '/s')}, "
                f"against {_fmt(ceiling.get('article_pages_per_s_one_process_with_a_core'), '/s')} for one process with a core "
                f"of its own: a ceiling of {_fmt(ceiling.get('speedup_ceiling'), '×', 2)}, before any other load on the "
                "machine, and the cheaper a page gets the lower it is. With the node elsewhere or more cores, processes "
                "scale further (README: Scaling).")
        out.append(
            "Against the real outlets politeness, not CPU, bounds a crawl: at the shipped 2 s per host, five outlets "
            "give at most 2.5 pages/s, a small fraction of what one process can extract.")
    return out


def _overhead_split(parts: dict[str, float] | None, bound: float | None) -> str:
    """The crawl report's split of a page's CPU (`cpu` in `raqib crawl --stats-json`), as a sentence."""
    if not parts:
        return "."
    names = {"enrich": "enrichment (language, tokens, topics, entities)", "fingerprint": "the near-duplicate fingerprint",
             "scrapy_thread": "Scrapy's thread (scheduler, download handler and middlewares, decompression, discovery, "
                              "the crawl state, the spool, the bulk requests)",
             "other_threads": "the cluster and state threads", "start_up_and_exit": "the process's start-up and exit"}
    said = [f"{names[k]} {_fmt(v, ' ms', 1)}" for k, v in parts.items() if k in names]
    extraction = parts.get("extract_article")
    return (", as the crawl's own report splits it: " + ", ".join(said)
            + (f"; extraction itself took {_fmt(extraction, ' ms', 1)} in the crawl against {_fmt(bound, ' ms', 1)} alone."
               if extraction is not None else "."))


def update_readme(table: str, readme: Path = README) -> None:
    """Replace what is between the markers; without them, add a `## Performance` section
    holding them at the end. Nothing else in the file changes."""
    text = readme.read_text(encoding="utf-8")
    block = f"{START}\n{table}\n{END}"
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Performance\n\n" + block + "\n"
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(readme)


if __name__ == "__main__":
    sys.exit(main())
