"""What every benchmark shares: the machine it ran on, one JSON file per benchmark, a node to
run against, throw-away aliases, and CPU time of child processes.

Benchmarks measure CPU time (getrusage of the processes that did the work) wherever they can,
because this machine is shared and wall time follows the neighbours' load; the load average
at the start and the end of each run is recorded with the figures so a reader can tell.
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines import process

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# The third-party data some benchmarks measure on is not in the repository: the corpus's
# licences (non-commercial, BBC copyright) do not allow redistributing it, and the extraction
# pages belong to their benchmark. It is looked for beside the checkout (`../shared`, where
# the project keeps it) or where RAQIB_BENCH_DATA says. One place for what each set is, where
# it comes from and under which licence: the message of a run without it, and README
# "Benchmark data", say the same.
SHARED = Path(os.environ.get("RAQIB_BENCH_DATA") or ROOT.parent / "shared")

DATASETS = {
    "corpus": ("585 real news articles with topic labels (articles.jsonl, labels-dev.jsonl): Arabic from "
               "SaudiNewsNet (github.com/parallelfold/SaudiNewsNet, CC BY-NC-SA 4.0), English from FA-KES "
               "(Zenodo 2607278, CC BY 4.0) and BBC News 2004-05 (BBC copyright, research use); labelled for "
               "the project, which keeps it outside the repository because of those licences"),
    "extraction": ("the 181 pages and ground truth of the Scrapinghub/Zyte article-extraction benchmark "
                   "(github.com/scrapinghub/article-extraction-benchmark, MIT) in scrapinghub/, and one "
                   "Arabic page with expected passages from trafilatura's tests (Apache-2.0) in arabic/"),
}


def require_data(path: Path, option: str) -> Path:
    """`path`, or an exit that names the data set, where it comes from and how to point at it."""
    if path.exists():
        return path
    name = next((n for n in DATASETS if n in path.parts), None)
    what = f"{name}/: {DATASETS[name]}" if name else "the project's benchmark data (corpus/, extraction/)"
    raise SystemExit(
        f"{path} is missing. This benchmark measures on {what}.\n"
        f"Put that directory beside the checkout ({ROOT.parent / 'shared'}), set RAQIB_BENCH_DATA to the "
        f"directory that holds it, or pass {option}. The other benchmarks (bench.crawl, bench.idle_poll, "
        f"bench.memory) need nothing beyond the repository.")


def quick_default() -> bool:
    """BENCH_QUICK=1 (as `make bench` passes it on): reduced sizes."""
    return os.environ.get("BENCH_QUICK", "").strip() not in ("", "0", "false", "no")


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("raqib", "scrapy", "twisted", "trafilatura", "lxml", "langdetect", "elasticsearch"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "machine": platform.machine()}


def es_version(client) -> str:
    # GET / answers 405 on the minimal distribution; the nodes API works on every kind.
    try:
        nodes = client.nodes.info(filter_path="nodes.*.version").body["nodes"]
        return sorted({n["version"] for n in nodes.values()})[0]
    except Exception:  # noqa: BLE001
        return "unknown"


class Run:
    """One benchmark run: collects the header (what, where, when, load) and writes the file.

        run = Run("crawl", quick=args.quick)
        ...
        run.write({"figures": ...})
    """

    def __init__(self, name: str, *, quick: bool):
        self.name = name
        self.quick = quick
        self.started = time.time()
        self.load_start = load()

    def write(self, figures: dict, *, out: Path | None = None, es_client=None) -> Path:
        result: dict[str, Any] = {
            "benchmark": self.name,
            "mode": "quick" if self.quick else "full",
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "duration_s": round(time.time() - self.started, 1),
            "machine": {**machine(), "load_avg_1_5_15_start": self.load_start, "load_avg_1_5_15_end": load()},
            "versions": versions(),
        }
        if es_client is not None:
            result["versions"]["elasticsearch_node"] = es_version(es_client)
        result.update(figures)
        path = out or RESULTS / f"{self.name}.json"
        write_json(path, result)
        return path


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


# --- Elasticsearch -----------------------------------------------------------------------
@contextlib.contextmanager
def es_node(url: str | None) -> Iterator[str]:
    """`url` when given (or RAQIB_ES_URL), else a node started for this run on a free port,
    as the tests start theirs, and removed afterwards."""
    url = url or os.environ.get("RAQIB_ES_URL")
    if url:
        yield url
        return
    from crawler.ops.esnode import throwaway_node

    print("bench: starting an Elasticsearch node for the run …", file=sys.stderr)
    with throwaway_node("bench") as node:
        yield node.url


def new_alias(prefix: str = "raqib-bench") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def drop_alias(client, alias: str) -> None:
    client.indices.delete(index=f"{alias}-*", ignore_unavailable=True, allow_no_indices=True)
    for template in (alias, f"{alias}-crawls"):
        client.options(ignore_status=404).indices.delete_index_template(name=template)


def es_pid(url: str) -> int | None:
    """The pid of the node serving `url` on this machine (to read its CPU time), if found."""
    from urllib.parse import urlsplit

    try:
        import psutil
    except ImportError:
        return None
    port = urlsplit(url).port or 9200
    with contextlib.suppress(Exception):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return conn.pid
    return None


def process_cpu(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (all its threads) so far."""
    if not pid:
        return None
    try:
        import psutil

        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except Exception:  # noqa: BLE001
        return None


# --- child processes ---------------------------------------------------------------------
@dataclass
class Finished:
    code: int
    wall_s: float
    cpu_s: float            # user + system of the process and every thread it ran
    maxrss_mb: float        # its own peak resident memory
    stderr: str
    main_thread_cpu_s: float | None = None   # of cpu_s: the main thread (Scrapy's reactor), last sampled


class Child:
    """A child process whose own CPU time and peak memory are read when it ends (wait4), so
    that several children running at once are measured apart."""

    def __init__(self, argv: list[str], *, env: dict | None = None, cwd: Path = ROOT, sample_threads: bool = False):
        # stderr to a file, not a pipe: a chatty child must never block on a full pipe
        self.err = tempfile.TemporaryFile()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=self.err)
        self._main_cpu: float | None = None
        self._done = threading.Event()
        if sample_threads:
            threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        """The main thread's CPU time, read twice a second (a process's threads can only be
        read while it runs; the last reading before it exits is kept)."""
        try:
            import psutil

            proc = psutil.Process(self.proc.pid)
            while not self._done.wait(0.5):
                for t in proc.threads():
                    if t.id == self.proc.pid:
                        self._main_cpu = t.user_time + t.system_time
        except Exception:  # noqa: BLE001 - the process ended or psutil is missing
            return

    def stderr_so_far(self) -> str:
        """What the child has written to stderr until now (it may still be running)."""
        fd = self.err.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self) -> Finished:
        _, status, usage = os.wait4(self.proc.pid, 0)
        wall = time.perf_counter() - self.started
        self._done.set()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.err.seek(0)
        stderr = self.err.read().decode("utf-8", "replace")
        self.err.close()
        return Finished(self.proc.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stderr,
                        self._main_cpu)


def raqib_argv(config: Path, *args: str) -> list[str]:
    return process.raqib_argv(*args, config_dir=config)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a raqib child: no RAQIB_* from the caller's shell (the config
    directory says everything), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
    env.update(extra)
    return env


def self_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def write_settings(config: Path, *, es_url: str, alias: str, state_dir: Path, crawl: dict | None = None,
                   extra: str = "") -> Path:
    """settings.toml for a benchmark: the shipped defaults, except what `crawl` overrides
    (politeness for a loopback server), the node, a throw-away alias (and crawl-metrics index)
    and a fresh state dir."""
    config.mkdir(parents=True, exist_ok=True)
    lines = ["[crawl]"] + [f"{k} = {_toml(v)}" for k, v in (crawl or {}).items()]
    lines += ["[elasticsearch]", f"url = [{json.dumps(es_url)}]", f"alias = {json.dumps(alias)}",
              f"crawls_index = {json.dumps(alias + '-crawls')}",     # the run's metrics go with it, never into raqib-crawls
              "[state]", f"dir = {json.dumps(str(state_dir))}",
              "[alerts]", f"ledger = {json.dumps(str(state_dir / 'alerts.sqlite3'))}"]
    (config / "settings.toml").write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    if not (config / "alerts.yaml").exists():
        (config / "alerts.yaml").write_text("alerts: []\n", encoding="utf-8")
    return config


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)


# Politeness for a loopback server the benchmark owns: no delay, no AutoThrottle. Against the
# real outlets the per-host delay, not the crawler, bounds the rate.
LOOPBACK = {"download_delay": 0.0, "autothrottle": False, "concurrency_per_domain": 4, "concurrency": 16,
            "sitemap_window": 0}
