"""`raqib demo`: the whole pipeline offline, on this machine alone.

It starts (or reuses) a local Elasticsearch node, serves the bundled mirror of the five outlets
on loopback addresses, indexes the seeds, crawls the mirror (discovery, polite fetching,
extraction, language, tagging, dedupe, indexing), delivers alerts to a local file, and prints
what it found. The mirror listens on a fixed port and the demo keeps its crawl state, so a
second run shows an incremental crawl: conditional requests, nothing fetched twice.
"""
from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path

from crawler.cli import commands
from crawler.cli.commands import Subcommands
from pipelines.paths import demo_dir
from pipelines.process import raqib_command

DEMO_MIRROR_PORT = 8931


def register(sub: Subcommands, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common],
                       help="the whole pipeline offline: local Elasticsearch, mirror of the outlets, seed, crawl, alerts",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--port", type=int, default=9200, help="port of the local Elasticsearch node (default 9200)")
    p.add_argument("--mirror-port", type=int, default=DEMO_MIRROR_PORT,
                   help=f"port the mirror serves on, on each outlet's loopback address (default {DEMO_MIRROR_PORT})")
    p.add_argument("--fresh", action="store_true", help="forget the demo's crawl state and alert ledger first")
    p.add_argument("--faults", action="store_true", help="let the mirror inject its faults (5xx, timeouts, bad encodings, …)")
    p.set_defaults(run=run, checks_config=False)   # it writes and uses its own configuration


def mirror_clock(base: Path) -> datetime:
    """The moment the mirror's article dates count back from. The mirror dates its articles
    relative to its start (to the minute); the demo keeps its first run's moment, so that a
    later run serves the same pages and shows an incremental crawl, instead of every date
    having moved on by a minute and every article looking revised."""
    path = base / "mirror-clock"
    try:
        return datetime.fromisoformat(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        now = datetime.now(UTC).replace(microsecond=0)
        base.mkdir(parents=True, exist_ok=True)
        path.write_text(now.isoformat(), encoding="utf-8")
        return now


def write_demo_config(base: Path, mirror, es_url: str) -> Path:
    """The demo's config directory: the mirror's outlets.yaml, and settings pointing at the local
    node and at the demo's own state; topics and alert rules are the shipped ones."""
    from crawler.mirror.config import LOCAL_CRAWL_SETTINGS

    config = base / "config"
    config.mkdir(parents=True, exist_ok=True)
    mirror.write_config(config)
    (config / "settings.toml").write_text(
        "# written by `raqib demo`: the local node, the demo's own state, and delays suited to a\n"
        "# mirror on this machine (the real outlets get the shipped, slower defaults)\n"
        f'[elasticsearch]\nurl = ["{es_url}"]\n\n'
        f'[state]\ndir = "{base / "state"}"\n\n' + LOCAL_CRAWL_SETTINGS,
        encoding="utf-8",
    )
    return config


def run(args: argparse.Namespace) -> int:
    import shutil

    from crawler.mirror import Mirror
    from crawler.ops.esnode import Node
    from crawler.report.stats import format_report
    from crawler.run.crawl import run_crawl
    from pipelines import document
    from pipelines.index import bulk_index, ensure_index
    from pipelines.outlets import select
    from pipelines.seeding import load_seeds, seed_documents

    es_url = args.es or os.environ.get("RAQIB_ES_URL")
    node = None
    if not es_url:
        node = Node(port=args.port)
        started = node.start()
        es_url = node.url
        print(f"[1/5] Elasticsearch {'started' if started else 'already running'} at {es_url}")
    else:
        print(f"[1/5] using the cluster at {es_url}")

    base = demo_dir()
    if args.fresh and base.exists():
        shutil.rmtree(base)
    with Mirror(faults=args.faults, port=args.mirror_port, now=mirror_clock(base)) as mirror:
        config_dir = write_demo_config(base, mirror, es_url)
        args.config, args.es = str(config_dir), es_url
        print(f"[2/5] mirror of {len(mirror.outlets)} outlets serving on 127.0.0.11-15:{args.mirror_port} "
              f"(config: {config_dir})")
        cfg = commands.load_settings(args)
        configured = commands.load_outlets(args)
        outlets = select(configured, None)
        client = commands.es_client(args, cfg)
        alias = commands.alias(cfg)
        ensure_index(client, alias)
        tagger = document.default_tagger(config_dir)
        seeded = bulk_index(client, seed_documents(load_seeds(), configured, tagger=tagger), alias, refresh="wait_for")
        print(f"[3/5] seeds: 5 ({len(seeded.created)} new, {len(seeded.unchanged)} unchanged)")
        print("[4/5] crawling the mirror …", flush=True)
        sink = cfg.state_dir / "alerts.jsonl"
        before = _ledger_counts(cfg, sink)
        report = run_crawl(outlets, cfg, config_dir, client=client, verbosity=getattr(args, "verbose", 0))
    print(format_report(report))
    _sweep_alerts(client, alias, config_dir, cfg)
    print("[5/5] alerts: " + _alerts_line(before, _ledger_counts(cfg, sink), sink))
    print(_summary(client, alias))
    print(_seed_search(client, alias, config_dir))
    print(_hints(raqib_command(), es_url, config_dir, node))
    print(f"\nThe web workspace on the demo's data (search, articles, live, alerts, overview, health):\n"
          f"  {raqib_command()} --config {config_dir} web   then open http://127.0.0.1:{cfg.get('web', 'port')}/")
    return 0


def _hints(raqib: str, es_url: str, config_dir: Path, node) -> str:
    """What to type next, runnable as printed in a new shell (`raqib` is its full path when
    only an activated virtualenv would find it), and the node left running."""
    lines = ["\nSearch it yourself (these work in any shell):",
             f"  {raqib} --es {es_url} search داعش --topic us_presence",
             f"  {raqib} --es {es_url} search \"قوات سوريا الديمقراطية\" --since 2015-01-01 --json",
             f"  {raqib} --config {config_dir} status      # the demo's own crawl state and alerts",
             "Run the demo again to see an incremental crawl (nothing re-fetched); --fresh starts over."]
    if node is not None:
        port = "" if node.port == 9200 else f" --port {node.port}"
        lines.append(f"The Elasticsearch node at {es_url} keeps running for these searches (heap {node.heap}, "
                     f"about {_memory(node.heap)} of memory); stop it with `{raqib} es stop{port}`.")
    return "\n".join(lines)


def _memory(heap: str) -> str:
    """The heap as a reader says it: 1g -> 1 GB, 512m -> 512 MB."""
    unit = {"g": "GB", "m": "MB"}.get(heap[-1:].lower())
    return f"{heap[:-1]} {unit}" if unit and heap[:-1].isdigit() else heap


def _sweep_alerts(client, alias, config_dir, cfg):
    from pipelines.alerts.evaluate import evaluate_pending

    return evaluate_pending(client, alias, config_dir, settings=cfg)


def _ledger_counts(cfg, sink: Path) -> tuple[int, int, int, int]:
    """(matches, deliveries sent, deliveries pending, lines in the sink file), from the
    ledger and the file themselves."""
    from pipelines.alerts import context as alert_context

    summary = alert_context.ledger_of(cfg).summary()
    channels = summary.get("channels") or {}
    lines = sum(1 for _ in sink.open(encoding="utf-8")) if sink.exists() else 0
    return (summary.get("matches", 0), sum(c.get("sent", 0) for c in channels.values()),
            sum(c.get("pending", 0) for c in channels.values()), lines)


def _alerts_line(before: tuple[int, int, int, int], after: tuple[int, int, int, int], sink: Path) -> str:
    """What this run added to the ledger and the file. Counted there, not summed from the
    crawl's and the sweep's reports, which had said "24 message(s) sent" beside 29 in the
    file: the numbers printed are the ones a user can check."""
    new, delivered, _, lines = (a - b for a, b in zip(after, before))
    line = (f"{new} new match{'es' if new != 1 else ''}, {delivered} alert{'s' if delivered != 1 else ''} delivered, "
            f"{lines} message{'s' if lines != 1 else ''} appended to {sink}")
    if after[2]:
        line += f"; {after[2]} waiting for a retry"
    return line


# Every seed is about ISIS; the search also finds «تنظيم الدولة», "ISIL" and the other names.
SEED_QUERY = "داعش"


def _seed_search(client, alias: str, config_dir) -> str:
    """The five seeds found by an Arabic search, as `raqib search داعش --seeds` finds them."""
    from pipelines.safetext import one_line
    from pipelines.search import search

    total, hits = search(client, SEED_QUERY, alias=alias, size=5, config_dir=config_dir, seed=True)
    lines = [f"\nraqib search {SEED_QUERY} --seeds: {total} of the 5 seeds"]
    lines += [f"  {one_line(h.source.get('outlet') or '')}: {one_line(h.source.get('title') or '')}" for h in hits]
    return "\n".join(lines)


def _summary(client, alias: str) -> str:
    """Articles per outlet and topic, from the index itself."""
    client.indices.refresh(index=alias)
    resp = client.search(index=alias, size=0, aggs={
        "outlets": {"terms": {"field": "outlet", "size": 50},
                    "aggs": {"topics": {"terms": {"field": "topics", "size": 10}},
                             "langs": {"terms": {"field": "lang", "size": 5}}}},
    }).body
    total = resp["hits"]["total"]["value"]
    topics = sorted({t["key"] for b in resp["aggregations"]["outlets"]["buckets"] for t in b["topics"]["buckets"]})
    head = f"{'outlet':<24}{'articles':>9}" + "".join(f"{t:>13}" for t in topics) + "  languages"
    lines = [f"\nThe index now holds {total} articles:", head]
    for b in resp["aggregations"]["outlets"]["buckets"]:
        per_topic = {t["key"]: t["doc_count"] for t in b["topics"]["buckets"]}
        langs = ", ".join(f"{l['key']} {l['doc_count']}" for l in b["langs"]["buckets"])
        lines.append(f"{b['key']:<24}{b['doc_count']:>9}" + "".join(f"{per_topic.get(t, 0):>13}" for t in topics) + f"  {langs}")
    return "\n".join(lines)

