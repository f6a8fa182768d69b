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
from pathlib import Path

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


def render(results: dict[str, dict]) -> str:
    rows: list[tuple[str, str, str, str]] = []
    ex, crawl, idx = results.get("extraction"), results.get("crawl"), results.get("indexing")
    al, idle, mem, tag = results.get("alert_latency"), results.get("idle_poll"), results.get("memory"), results.get("tagging")
    if ex:
        rows.append(("Extraction alone, CPU per page: 181 benchmark pages (F1 " + _fmt(_get(ex, "scrapinghub", "f1"), digits=3) + ")",
                     _fmt(_get(ex, "scrapinghub", "cpu_ms_per_page_mean"), " ms", 2), "the bound", "–"))
    if crawl:
        bound = _get(crawl, "extraction_bound", "cpu_ms_per_page")
        one = _get(crawl, "one_process") or {}
        rows.append(("Extraction alone, CPU per page: the crawl's mirror pages", _fmt(bound, " ms", 2), "the bound", "–"))
        rows.append((f"Crawl, 1 process: article pages per second ({_fmt(one.get('article_pages'))} pages, "
                     f"{len(_get(crawl, 'one_process', 'article_pages_by_outlet', default={}))} outlets)",
                     _fmt(one.get("article_pages_per_s"), "/s"), "–", "–"))
        rows.append(("Crawl, 1 process: CPU per article page, whole crawl (reactor thread of it)",
                     f"{_fmt(one.get('cpu_ms_per_article_page'), ' ms', 2)} ({_fmt(one.get('main_thread_cpu_ms_per_article_page'), ' ms', 2)})",
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
        if proj:
            rows.append(("… the same overhead on pages as heavy as the 181 benchmark pages", _fmt(proj, digits=2),
                         f"≤ {crawl.get('target_cpu_ratio', 1.25)}", _met(proj <= crawl.get("target_cpu_ratio", 1.25))))
        rows.append(("Crawl, 1 process: peak memory", _fmt((one.get("peak_rss_mb_per_process") or [None])[0], " MB"), "–", "–"))
        two = _get(crawl, "processes_2")
        if two:
            rows.append(("Crawl, 2 processes: article pages per second, speed-up over 1",
                         f"{_fmt(two.get('article_pages_per_s'), '/s')}, {_fmt(two.get('speedup_vs_1'), '×', 2)}",
                         f"≥ {crawl.get('target_speedup_2_processes', 1.7)}×",
                         _met((two.get("speedup_vs_1") or 0) >= crawl.get("target_speedup_2_processes", 1.7))))
        server = crawl.get("server") or {}
        rows.append(("Mirror server against the crawl (same run)", _fmt(server.get("x_faster_than_crawl"), "× faster"),
                     "≥ 10×", _met(server.get("verified_10x"))))
    fleet = results.get("crawl_workers")
    if fleet:
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
    if idx:
        rows.append((f"Bulk indexing, documents per second (batch {idx.get('best_batch_size')}; the crawl's {idx.get('crawl_bulk_size')})",
                     f"{_fmt(idx.get('best_docs_per_s'), '/s', 0)} ({_fmt(idx.get('crawl_bulk_size_docs_per_s'), '/s', 0)})", "–", "–"))
    if al:
        topics = _get(al, "rules", "topics") or {}
        query = _get(al, "rules", "query") or {}
        p95 = max(filter(None, (topics.get("p95_seconds"), query.get("p95_seconds"))), default=None)
        rows.append(("Alert latency, indexed → webhook received, p50 / p95 (topic rule; query rule)",
                     f"{_fmt(topics.get('p50_seconds'), ' s', 2)} / {_fmt(topics.get('p95_seconds'), ' s', 2)}; "
                     f"{_fmt(query.get('p50_seconds'), ' s', 2)} / {_fmt(query.get('p95_seconds'), ' s', 2)}",
                     f"p95 < {al.get('target_p95_seconds', 2.0)} s", _met(al.get("passed") if p95 is not None else None)))
    if idle:
        t = idle.get("totals") or {}
        rows.append(("Idle poll of the five outlets: requests (feeds, sitemaps, sections + robots.txt)",
                     f"{t.get('requests')} ({t.get('source_requests')} + {t.get('robots_requests')}): "
                     f"{t.get('sources_304')} answered 304, {t.get('sources_200_recognised_unchanged')} recognised unchanged",
                     "one per source, each 304 or unchanged", _met(t.get("sources_not_recognised") == 0 and t.get("sources_requested_twice") == 0)))
        rows.append(("Idle poll: article pages fetched", _fmt(t.get("article_pages")), "0", _met(t.get("article_pages") == 0)))
    if mem:
        rows.append((f"`raqib run` over {_fmt(mem.get('seconds'), ' s', 0)}: service RSS growth after warm-up; largest crawl child",
                     f"{_fmt(mem.get('service_growth_after_warmup_mb'), ' MB')}; {_fmt(mem.get('crawl_child_peak_rss_mb'), ' MB', 0)}",
                     f"≤ {_get(mem, 'bound', 'service_growth_mb')} MB; ≤ {_get(mem, 'bound', 'crawl_child_mb')} MB",
                     _met(mem.get("within_bound"))))
    if tag:
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
        rows.append(("Tagging, CPU per article (corpus)", _fmt(_get(tag, "timing", "ms_per_article"), " ms", 2),
                     f"≤ {_get(tag, 'target', 'ms_per_article') or 2.0} ms",
                     _met((_get(tag, "timing", "ms_per_article") or 99) <= (_get(tag, "target", "ms_per_article") or 2.0))))
    lines = [INTRO, "", "| figure | measured | target | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    for note in notes(results):
        lines += ["", note]
    lines += ["", "Where each figure comes from:", ""]
    for name, data in results.items():
        m = data.get("machine") if isinstance(data.get("machine"), dict) else {}
        load0, load1 = m.get("load_avg_1_5_15_start"), m.get("load_avg_1_5_15_end")
        loads = f", load {load0[0]}→{load1[0]}" if load0 and load1 else ""
        lines.append(f"- `bench/results/{name}.json`: {data.get('mode', '?')} run, {data.get('measured_at', '?')}, "
                     f"{m.get('cpus', '?')} cores{loads}")
    return "\n".join(lines)


INTRO = """`make bench` runs every benchmark and rewrites this section from `bench/results/*.json`
(`BENCH_QUICK=1 make bench`: reduced sizes, about three minutes on two cores; a node is started
for the run unless `RAQIB_ES_URL` names one). Each also runs alone: `python -m bench.crawl`
(`--profile FILE` samples a crawl with py-spy), `bench.indexing`, `bench.alert_latency`,
`bench.idle_poll`, `bench.memory`, `bench.extraction_eval`, `bench.tagging_eval`; the last two,
`bench.indexing` and `bench.alert_latency` measure on third-party data that is not part of the
project (a corpus of real articles, the extraction benchmark's pages), looked for in `../shared`
beside the checkout or where `RAQIB_BENCH_DATA` says. CPU figures
are CPU time (user + system of every thread of the processes named), not wall time, so a busy
machine changes them little; the load average of each run is listed at the end."""


def notes(results: dict[str, dict]) -> list[str]:
    """What the table cannot say: how the crawl was measured and why a target is missed."""
    crawl, ba = results.get("crawl"), results.get("crawl_before_after")
    out: list[str] = []
    if crawl:
        one = crawl.get("one_process") or {}
        grown = _get(crawl, "mirror", "grown") or {}
        out.append(
            f"The crawl benchmark serves the offline mirror with {', '.join(f'{k} grown to {v}' for k, v in grown.items())} "
            "article pages (real texts re-cut) and the other outlets as they are, on loopback, and runs `raqib crawl` as the "
            "service does, with no politeness delay and four connections per host, into a throw-away alias of a real node. "
            f"The node's own CPU is not in the crawl's figure: {_fmt(one.get('elasticsearch_cpu_ms_per_article_page'), ' ms', 2)} "
            "per article page more, on the same cores.")
        overhead, bound = crawl.get("overhead_cpu_ms_per_article_page"), _get(crawl, "extraction_bound", "cpu_ms_per_page")
        main = one.get("main_thread_cpu_ms_per_article_page")
        if overhead is not None and crawl.get("cpu_ratio_vs_extraction", 0) > crawl.get("target_cpu_ratio", 1.25):
            out.append(
                f"**`cpu_ratio_vs_extraction` misses its target.** Besides extraction, a crawled page costs "
                f"{_fmt(overhead, ' ms', 1)} of CPU: {_fmt(main, ' ms', 1)} in the reactor thread (Scrapy's scheduler, "
                "download handler and middlewares, the spider's discovery, the crawl state and the spool that make a "
                "crash lose nothing) and the rest in the worker threads beyond extraction (language, normalised index "
                "fields, tagging, the near-duplicate fingerprint, bulk requests). Most of it is per article, not per "
                f"byte, while the mirror's pages are light: {_fmt(bound, ' ms', 1)} to extract against "
                f"{_fmt(crawl.get('extraction_cpu_ms_per_page_181_pages'), ' ms', 1)} for the 181 real pages of the "
                f"extraction benchmark, on which the same overhead makes a ratio of "
                f"{_fmt(crawl.get('projected_ratio_on_181_pages'), '', 2)}. Reaching 1.25 on real pages would need the "
                f"overhead under a quarter of their extraction, "
                f"{_fmt((crawl.get('extraction_cpu_ms_per_page_181_pages') or 0) / 4, ' ms', 1)}, and the reactor thread "
                f"alone takes {_fmt(main, ' ms', 1)}: what is left to gain is inside Scrapy and in the per-article "
                "analysis itself, not in an obvious hot spot (`python -m bench.crawl --profile FILE` shows the rest).")
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
