"""raqib beside the tools a user would pick instead, crawling the same real-weight mirror.

    python -m bench.peers [--es URL] [--quick] [--tools raqib,trafilatura,news-please]

The mirror (crawler/mirror, pages at the real web's weight) serves every outlet; each tool
starts from what it is given on the web (raqib: the shipped config/outlets.yaml rewritten to
the mirror; the peers: each outlet's home page, from which they find robots.txt, sitemaps and
feeds themselves), with no delay and 16 connections, 4 per host, where the tool has such
settings. Measured for each: articles found of the mirror's ground truth (what home pages,
sections, feeds and sitemaps link to), body F1 against the truth's text (bag of words, mean
over the articles found), wall time, pages/s (HTML pages the mirror served it per second), CPU
ms per article found (every process of the tool: getrusage when it ends) and peak RSS.

The peers run in their own virtual environment, bench/.peers-venv (RAQIB_PEERS_VENV to put
it elsewhere), created on first use with the pinned versions in PEERS, so their pins never
touch raqib's. Fundus is not run: it has a parser per publisher and no generic mode for a
site it does not know (see README).
Results: bench/results/peers.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bench import common
from bench.common import ROOT, Child, Finished, clean_env, raqib_argv

# newspaper4k[nlp]: news-please's default extractor needs nltk for Arabic text
PEERS = {"trafilatura": "trafilatura==2.3.1", "news-please": "news-please==1.6.16", "newspaper4k": "newspaper4k[nlp]==0.9.6"}
VENV = Path(os.environ.get("RAQIB_PEERS_VENV") or ROOT / "bench" / ".peers-venv")
RUNNER = ROOT / "bench" / "peer_runner.py"
SIZES = {"full": {"noonpost": 600, "almayadeen": 600}, "quick": None}
CHANNELS = ("home", "feed", "sitemap", "section")
CONCURRENCY, PER_DOMAIN = 16, 4
TOOLS = ("raqib", "trafilatura", "news-please")


class PeersError(Exception):
    """A peer could not be set up or run; the message says why and what to do."""


@dataclass
class ToolResult:
    version: str | None
    articles_expected: int
    articles_found: int
    body_f1: float | None
    wall_s: float
    pages_per_s: float
    cpu_ms_per_article: float | None
    peak_rss_mb: float


# --- the peers' environment ----------------------------------------------------------------
def ensure_venv(where: Path = VENV, python: str = sys.executable, requirements: dict[str, str] = PEERS) -> Path:
    """The peers' interpreter, with `requirements` installed (created on first use)."""
    py = where / "bin" / "python"
    stamp = where / (".installed-" + "-".join(sorted(requirements.values())).replace("=", "").replace("/", "_"))
    if stamp.exists():
        return py
    steps = []
    if not py.exists():
        steps.append([python, "-m", "venv", str(where)])
    steps += [[str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"],
              [str(py), "-m", "pip", "install", "-q", *requirements.values()]]
    for argv in steps:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True)
        except OSError as exc:
            raise PeersError(f"cannot create the peers' environment in {where}: {argv[0]}: {exc.strerror}. "
                             "Give a working Python 3 (--python) or set RAQIB_PEERS_VENV to an environment "
                             f"that has {', '.join(requirements.values())}") from None
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise PeersError(f"cannot create the peers' environment in {where}: `{' '.join(argv[2:5])}` failed: "
                             f"{' / '.join(tail)}. The peers install from the package registry: check that it "
                             f"is reachable, or set RAQIB_PEERS_VENV to an environment that has "
                             f"{', '.join(requirements.values())}")
    stamp.touch()
    return py


def peer_version(py: Path, dist: str) -> str | None:
    proc = subprocess.run([str(py), "-c", f"from importlib.metadata import version; print(version({dist!r}))"],
                          capture_output=True, text=True)
    return proc.stdout.strip() or None


# --- scoring -------------------------------------------------------------------------------
_WORD = re.compile(r"\w+", re.UNICODE)


def key_of(url: str) -> str:
    """One spelling per page: decoded path, no fragment, no trailing slash, host lower-cased."""
    parts = urlsplit(url.strip())
    path = unquote(parts.path).rstrip("/") or "/"
    return f"{parts.netloc.lower()}{path}" + (f"?{unquote(parts.query)}" if parts.query else "")


def body_f1(found: str, truth: str) -> float:
    a, b = Counter(_WORD.findall(found.lower())), Counter(_WORD.findall(truth.lower()))
    common_ = sum((a & b).values())
    if not common_:
        return 0.0
    precision, recall = common_ / sum(a.values()), common_ / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def score(truth: list[dict], docs: list[dict]) -> tuple[int, float | None]:
    """(articles found, mean body F1 over them) of `docs` ({"url", "text"}) against the truth.
    A truth entry is found when a document's URL is its URL, canonical URL or an alias."""
    by_key: dict[str, dict] = {}
    for t in truth:
        for u in (t["url"], t.get("canonical_url"), *t.get("also_at", ()), *t.get("redirects_from", ())):
            if u:
                by_key.setdefault(key_of(u), t)
    best: dict[str, float] = {}
    for d in docs:
        match = by_key.get(key_of(d.get("url") or ""))
        if match is not None:
            f1 = body_f1(d.get("text") or "", match["text"])
            best[match["url"]] = max(best.get(match["url"], 0.0), f1)
    if not best:
        return 0, None
    return len(best), round(sum(best.values()) / len(best), 3)


def read_jsonl(path: Path) -> list[dict]:
    """The runner's output; a line that is not JSON is an error naming the file and line."""
    out: list[dict] = []
    if not path.exists():
        return out
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            raise PeersError(f"{path}:{n}: not a JSON line: {line[:80]!r}") from None
    return out


def html_pages(requests: list[dict]) -> int:
    return sum(1 for r in requests if r["status"] == 200 and r["method"] == "GET"
               and not r["path"].endswith((".xml", ".gz", ".txt", ".json", "/feed/", "/rss/", ".css", ".js"))
               and "/rss" not in r["path"] and "/feed" not in r["path"])


def result(version: str | None, truth: list[dict], docs: list[dict], done: Finished, requests: list[dict]) -> ToolResult:
    found, f1 = score(truth, docs)
    return ToolResult(version=version, articles_expected=len(truth), articles_found=found, body_f1=f1,
                      wall_s=round(done.wall_s, 1), pages_per_s=round(html_pages(requests) / max(done.wall_s, 1e-6), 1),
                      cpu_ms_per_article=round(1000 * done.cpu_s / found, 2) if found else None,
                      peak_rss_mb=round(done.maxrss_mb, 1))


# --- running the tools ---------------------------------------------------------------------
def run_raqib(mirror, where: Path, es_url: str, client) -> tuple[list[dict], Finished]:
    alias = common.new_alias()
    config = where / "config"
    common.write_settings(config, es_url=es_url, alias=alias, state_dir=where / "state", crawl=common.LOOPBACK)
    mirror.write_config(config, include_new_site=True)
    try:
        done = Child(raqib_argv(config, "-q", "crawl", "--no-alerts"), env=clean_env()).wait()
        if done.code != 0:
            raise PeersError(f"raqib crawl failed ({done.code}):\n{done.stderr[-2000:]}")
        client.indices.refresh(index=alias)
        docs = [h["_source"] for h in _scan(client, alias)]
    finally:
        common.drop_alias(client, alias)
    return docs, done


def _scan(client, alias: str):
    from elasticsearch.helpers import scan

    return scan(client, index=alias, query={"query": {"match_all": {}}}, _source=["url", "canonical_url", "text"])


def run_peer(tool: str, py: Path, mirror, where: Path) -> tuple[list[dict], Finished]:
    where.mkdir(parents=True, exist_ok=True)
    spec = {"outlets": [{"key": k, "home": mirror.site(k).url("/")} for k in mirror.sites],
            "concurrency": CONCURRENCY, "per_domain": PER_DOMAIN, "work": str(where),
            "max_seen_urls": 200}
    (where / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    out = where / "out.jsonl"
    env = {k: v for k, v in clean_env(HOME=str(where)).items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = Child([str(py), str(RUNNER), tool, str(where / "spec.json"), str(out)], env=env, cwd=where).wait()
    if done.code != 0:
        raise PeersError(f"{tool} failed ({done.code}):\n{done.stderr[-2000:]}")
    return read_jsonl(out), done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--es", help="a running node (default: RAQIB_ES_URL, else one started for the run)")
    parser.add_argument("--quick", action="store_true", default=common.quick_default(),
                        help="the mirror's real articles only (no grown outlets)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, of {', '.join(TOOLS)}")
    parser.add_argument("--python", default=sys.executable, help="the interpreter the peers' venv is made from")
    parser.add_argument("--out", type=Path, default=common.RESULTS / "peers.json")
    args = parser.parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        print(f"bench.peers: no tool named {', '.join(sorted(unknown))}; they are {', '.join(TOOLS)}", file=sys.stderr)
        return 2
    mode = "quick" if args.quick else "full"
    try:
        py = ensure_venv(python=args.python) if set(tools) - {"raqib"} else None
    except PeersError as exc:
        print(f"bench.peers: {exc}", file=sys.stderr)
        return 1

    from crawler.mirror import Mirror
    from pipelines.es import connect

    run = common.Run("peers", quick=args.quick)
    figures: dict = {"tools": {}}
    with common.es_node(args.es) as es_url, tempfile.TemporaryDirectory(prefix="raqib-bench-peers-") as tmpdir, \
            Mirror(articles_per_outlet=SIZES[mode]) as mirror:
        tmp = Path(tmpdir)
        client = connect(es_url)
        truth = [t for k in mirror.sites for t in mirror.truth(k, channels=CHANNELS) if not t.get("fault")]
        for tool in tools:
            mirror.clear_requests()
            try:
                if tool == "raqib":
                    docs, done = run_raqib(mirror, tmp / tool, es_url, client)
                    version = common.versions().get("raqib")
                else:
                    assert py is not None
                    docs, done = run_peer(tool, py, mirror, tmp / tool)
                    version = peer_version(py, tool)
            except PeersError as exc:
                print(f"bench.peers: {exc}", file=sys.stderr)
                figures["tools"][tool] = {"error": str(exc)[:500]}
                continue
            figures["tools"][tool] = asdict(result(version, truth, docs, done, mirror.requests()))
            print(f"bench.peers: {tool}: {figures['tools'][tool]}", file=sys.stderr)
        figures["mirror"] = {"grown": SIZES[mode], "outlets": sorted(mirror.sites), "page_weight": "real",
                             "truth": f"articles linked from {', '.join(CHANNELS)} (faults left out)"}
        figures["settings"] = {"download_delay": 0, "concurrency": CONCURRENCY, "concurrency_per_domain": PER_DOMAIN,
                               "start": "raqib: config/outlets.yaml on the mirror; peers: each outlet's home page"}
        figures["fundus"] = ("not run: Fundus parses only the publishers it has a parser for and has no generic "
                             "mode for an unknown site")
        figures["how"] = ("cpu_ms_per_article: CPU of every process of the tool / articles found; pages_per_s: HTML "
                          "pages the mirror served the tool / wall s; body_f1: bag-of-words F1 of the text against the "
                          "truth, mean over the articles found; raqib's CPU excludes the Elasticsearch node's")
        path = run.write(figures, out=args.out, es_client=client)
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    print(f"bench.peers: wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
