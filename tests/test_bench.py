"""The benchmark harness itself (bench/): what it measures and what it writes to the README.

No timing is asserted here: the figures are the benchmarks' business (`make bench`); these
tests check the machinery that takes and reports them.
"""
from __future__ import annotations

import sys
import textwrap

import pytest

from bench import common, crawl, memory, run


def test_a_child_is_measured_by_its_own_cpu_time_and_memory():
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\nx = b\"x\" * (60 * 2**20)"
    done = common.Child([sys.executable, "-c", burn], sample_threads=True).wait()
    assert done.code == 0
    assert done.cpu_s >= 0.25                  # the child's CPU, not the test's
    assert done.maxrss_mb >= 60                # its 60 MB buffer
    failing = common.Child([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"]).wait()
    assert failing.code == 3 and failing.stderr == "boom"


def test_the_readme_section_is_added_once_then_replaced_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# raqib\n\nIntro.\n\n## Other\n\nText.\n", encoding="utf-8")
    run.update_readme("| a | b |", readme)
    first = readme.read_text(encoding="utf-8")
    assert first.startswith("# raqib\n\nIntro.\n\n## Other\n\nText.\n\n## Performance\n\n<!-- bench:start -->\n| a | b |\n")
    readme.write_text(first + "\n## After\n\nKept.\n", encoding="utf-8")
    run.update_readme("| c | d |", readme)
    second = readme.read_text(encoding="utf-8")
    assert "| a | b |" not in second and "| c | d |" in second
    assert second.count("## Performance") == 1 and second.endswith("## After\n\nKept.\n")
    assert second.startswith("# raqib\n\nIntro.\n\n## Other\n\nText.\n")


def test_the_table_shows_each_figure_against_its_target():
    results = {
        "crawl": {
            "mode": "full", "measured_at": "2026-01-01T00:00:00Z", "machine": {"cpus": 2},
            "mirror": {"grown": {"noonpost": 2500}}, "extraction_bound": {"cpu_ms_per_page": 3.0},
            "one_process": {"article_pages": 5000, "article_pages_per_s": 60.0, "cpu_ms_per_article_page": 12.0,
                            "main_thread_cpu_ms_per_article_page": 4.5, "peak_rss_mb_per_process": [300],
                            "article_pages_by_outlet": {"noonpost": 2500, "almayadeen": 2500},
                            "elasticsearch_cpu_ms_per_article_page": 2.0},
            "cpu_ratio_vs_extraction": 4.0, "target_cpu_ratio": 1.25, "overhead_cpu_ms_per_article_page": 9.0,
            "extraction_cpu_ms_per_page_181_pages": 19.0, "projected_ratio_on_181_pages": 1.47,
            "processes_2": {"article_pages_per_s": 96.0, "speedup_vs_1": 1.6}, "target_speedup_2_processes": 1.7,
            "ceiling_2_processes": {"cores": 2, "cpu_ms_per_article_page_crawl_node_mirror": 15.0,
                                    "article_pages_per_s_all_cores_busy": 133.3,
                                    "article_pages_per_s_one_process_with_a_core": 83.3, "speedup_ceiling": 1.6},
            "server": {"x_faster_than_crawl": 25.0, "verified_10x": True},
        },
        "idle_poll": {"totals": {"requests": 23, "source_requests": 18, "robots_requests": 5, "sources_304": 14,
                                 "sources_200_recognised_unchanged": 4, "sources_not_recognised": 0,
                                 "sources_requested_twice": 0, "article_pages": 0}},
        "memory": {"seconds": 600, "service_growth_after_warmup_mb": 1.5, "crawl_child_peak_rss_mb": 500,
                   "bound": {"service_growth_mb": 20, "crawl_child_mb": 400}, "within_bound": False},
    }
    table = run.render(results)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines() if line.startswith("| ")}

    def row(prefix: str) -> str:
        return next(v for k, v in rows.items() if k.startswith(prefix))

    assert "4.00" in row("`cpu_ratio_vs_extraction`") and row("`cpu_ratio_vs_extraction`").endswith("**missed** |")
    assert "1.47" in row("… the same overhead") and "**missed**" in row("… the same overhead")
    assert "1.60×" in row("Crawl, 2 processes") and "≥ 1.7×" in row("Crawl, 2 processes")
    assert row("Mirror server").endswith("| met |")
    assert row("Idle poll: article pages").endswith("| met |")
    assert "500 MB" in row("`raqib run`") and "**missed**" in row("`raqib run`")
    # a missed target comes with its cause, from the same results
    assert "**`cpu_ratio_vs_extraction` misses its target.**" in table and "9.0 ms" in table
    assert "**Two processes miss 1.7×.**" in table and "133.3/s" in table and "1.60×" in table
    assert "`bench/results/crawl.json`: full run, 2026-01-01T00:00:00Z, 2 cores" in table


def test_memory_growth_is_read_after_the_warm_up_and_as_a_slope():
    flat = [(float(t), 100.0) for t in range(0, 120)]
    assert memory.summarize(flat, {1: 180.0}, 120)["service_growth_after_warmup_mb"] == 0.0
    growing = [(float(t), 100.0 + t / 10) for t in range(0, 120)]      # 0.1 MB per second
    result = memory.summarize(growing, {1: 180.0, 2: 220.0}, 120)
    assert result["service_slope_mb_per_hour_second_half"] == 360.0
    assert result["crawl_child_peak_rss_mb"] == 220.0
    assert result["within_bound"] is True                     # 9 MB after warm-up, under 20
    assert memory.summarize(growing, {1: 500.0}, 120)["within_bound"] is False


def test_a_profile_summary_counts_self_and_inclusive_samples(tmp_path):
    raw = tmp_path / "profile.txt"
    raw.write_text(textwrap.dedent("""\
        thread (1): MainThread;main (a/cli.py:1);crawl (a/crawl.py:5);parse (a/spider.py:9) 30
        thread (1): MainThread;main (a/cli.py:1);crawl (a/crawl.py:5) 10
        thread (2): raqib-cpu_0;work (a/thread.py:3);extract (p/extract.py:7) 60
        """), encoding="utf-8")
    summary = crawl.summarize(raw)
    assert summary.startswith("100 samples")
    own = summary.split("incl %")[0]
    incl = summary.split("incl %")[1]
    assert " 60.0  extract (extract.py)" in own and " 30.0  parse (spider.py)" in own
    assert " 40.0  crawl (crawl.py)" in incl and " 60.0  work (thread.py)" in incl


def test_page_sizes_and_the_weight_points_are_read_as_the_crawl_json_records_them():
    sizes = crawl.page_sizes({"raw": [100 * 1024, 200 * 1024, 600 * 1024], "gzip": [20 * 1024, 40 * 1024, 120 * 1024]})
    assert sizes == {"mean_raw_kb": 300.0, "median_raw_kb": 200.0, "mean_gzip_kb": 60.0, "median_gzip_kb": 40.0}
    point = crawl._point({"article_pages": 10, "cpu_ms_per_article_page": 30.0}, sizes, {"cpu_ms_per_page": 20.0})
    assert point["overhead_cpu_ms_per_article_page"] == 10.0 and point["cpu_ratio_vs_extraction"] == 1.5
    table = run.render({"crawl": {"server": {"page_size": sizes}, "by_page_weight": {"light": point, "heavy": point}},
                        "peers": {"tools": {"raqib": {"version": "0.1", "articles_found": 9, "articles_expected": 10,
                                                      "body_f1": 0.99, "wall_s": 3.0, "pages_per_s": 5.0,
                                                      "cpu_ms_per_article": 30.0, "peak_rss_mb": 200.0},
                                            "news-please": {"error": "news-please failed (1)"}},
                                  "settings": {"concurrency": 16, "concurrency_per_domain": 4}}})
    assert "300.0 KB / 200.0 KB (60.0 KB / 40.0 KB)" in table
    assert "| raqib (0.1) | 9 / 10 | 0.990 | 3.0 s | 5.0/s | 30.0 ms | 200 MB |" in table
    assert "| news-please | could not run: news-please failed (1) |" in table


def test_a_benchmark_without_its_data_names_the_data_its_source_and_where_to_put_it(tmp_path):
    """A user's checkout has no ../shared: `python -m bench.tagging_eval` (the README's step
    after adding a term) and the three other benchmarks on third-party data stop with one
    message, no traceback, before starting anything."""
    import os
    import subprocess

    env = dict(os.environ, RAQIB_BENCH_DATA=str(tmp_path / "nothing-here"))
    expected = {"bench.tagging_eval": ("corpus", "SaudiNewsNet", "--corpus DIR"),
                "bench.indexing": ("corpus", "CC BY-NC-SA 4.0", "--corpus DIR"),
                "bench.alert_latency": ("corpus", "FA-KES", "--corpus FILE"),
                "bench.extraction_eval": ("extraction", "article-extraction-benchmark, MIT", "--data DIR")}
    for module, (name, source, option) in expected.items():
        proc = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=120,
                              cwd=common.ROOT)
        assert proc.returncode == 1 and proc.stdout == "", (module, proc.stdout, proc.stderr)
        assert proc.stderr.startswith(f"{tmp_path / 'nothing-here' / name}"), (module, proc.stderr)
        assert f"This benchmark measures on {name}/: " in proc.stderr and source in proc.stderr, proc.stderr
        assert f"set RAQIB_BENCH_DATA to the directory that holds it, or pass {option}." in proc.stderr
        assert "Traceback" not in proc.stderr


def test_the_before_is_measured_on_a_named_commit_of_the_rules(tmp_path):
    """`--before REV` records a commit, which anyone can measure again, not a scratch path;
    a revision git does not know stops with its name."""
    import subprocess

    from bench.tagging_eval import rules_at

    named = rules_at("HEAD", tmp_path)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=common.ROOT, capture_output=True, text=True).stdout
    committed = subprocess.run(["git", "show", "HEAD:config/topics.yaml"], cwd=common.ROOT, capture_output=True, text=True).stdout
    assert named.startswith(f"config/topics.yaml at {head[:12]} (")
    assert (tmp_path / "topics.yaml").read_text(encoding="utf-8") == committed
    assert (tmp_path / "entities.yaml").exists()
    with pytest.raises(SystemExit, match="--before no-such-revision: git rev-parse"):
        rules_at("no-such-revision", tmp_path)
