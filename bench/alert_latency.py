"""Alert latency: from an article's bulk write returning to the webhook receiving its alert.

    python -m bench.alert_latency [--es URL] [--articles N] [--batch B]

Real corpus articles (../shared/corpus) are enriched and tagged exactly as the crawl does,
bulk-written in batches to a throw-away alias on a real Elasticsearch node, and handed to
`pipelines.alerts.on_indexed` as the crawl's index pipeline does after each bulk write. Two
rules deliver to a local HTTP receiver: one on topics only (checked in Python on a realtime
GET), one with a Lucene query (run by Elasticsearch, after a refresh). Recorded per rule:
p50/p95/max latency from "bulk write returned" to "webhook request received", and what the
alert step costs the crawl per bulk write. Target: p95 < 2 s. Results: bench/results/alert_latency.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

DEFAULT_CORPUS = common.SHARED / "corpus" / "articles.jsonl"
DEFAULT_OUT = ROOT / "bench" / "results" / "alert_latency.json"
TARGET_P95 = 2.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--es", help="a running node (default: RAQIB_ES_URL, else one started for the run)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--articles", type=int, help="default 400 (quick: 200)")
    ap.add_argument("--quick", action="store_true", default=common.quick_default())
    ap.add_argument("--batch", type=int, default=20, help="articles per bulk write (the crawl writes in small batches)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    args.articles = args.articles or (200 if args.quick else 400)
    common.require_data(args.corpus, "--corpus FILE")
    bench_run = common.Run("alert_latency", quick=args.quick)
    with common.es_node(args.es) as es_url:
        return _measure(args, es_url, bench_run)


def _measure(args: argparse.Namespace, es_url: str, bench_run: common.Run) -> int:
    from pipelines.es import connect
    from tests.support.alert_receivers import HttpReceiver

    docs = _documents(args.corpus, args.articles)
    client = connect(es_url)
    alias = f"raqib-bench-alerts-{uuid.uuid4().hex[:8]}"
    topics_hook, query_hook = HttpReceiver().start(), HttpReceiver().start()
    tmp = Path(tempfile.mkdtemp(prefix="raqib-bench-alerts-"))
    config = _write_config(tmp, es_url, alias, topics_hook.url, query_hook.url)
    try:
        indexed_at, call_seconds = _index_in_batches(client, alias, config, docs, args.batch)
        expected = _expected_alerts(tmp / "state" / "alerts.sqlite3")
        topics_hook.wait_for(len(expected["topics"]), timeout=30)
        query_hook.wait_for(len(expected["query"]), timeout=30)
    finally:
        topics_hook.stop()
        query_hook.stop()
        client.indices.delete(index=f"{alias}-*", ignore_unavailable=True, allow_no_indices=True)
        client.options(ignore_status=404).indices.delete_index_template(name=alias)

    result: dict[str, Any] = {"articles": len(docs), "batch": args.batch, "target_p95_seconds": TARGET_P95,
                              "rules": {name: _rule_figures(hook.requests, indexed_at, expected[name])
                                        for name, hook in (("topics", topics_hook), ("query", query_hook))}}
    result["on_indexed_per_bulk_write"] = {
        "calls": len(call_seconds), "p50_seconds": round(common.percentile(call_seconds, 0.5), 4),
        "p95_seconds": round(common.percentile(call_seconds, 0.95), 4), "mean_seconds": round(statistics.mean(call_seconds), 4)}
    result["passed"] = all(r["p95_seconds"] < TARGET_P95 and r["alerts_received"] == r["alerts_expected"]
                           and r["duplicates"] == 0 for r in result["rules"].values())
    bench_run.write(result, out=args.out, es_client=client)
    print(json.dumps(result, indent=2))
    return 0


def _documents(corpus: Path, articles: int) -> list[tuple[str, dict[str, Any]]]:
    """`articles` corpus records (repeated as needed), enriched and tagged as the crawl does."""
    from pipelines import document

    records = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = (records * (articles // len(records) + 1))[:articles]
    tagger = document.default_tagger()
    run = uuid.uuid4().hex[:8]
    docs = []
    for i, r in enumerate(records):
        url = f"https://bench.invalid/{run}/{i}/{r['id']}"
        docs.append((document.doc_id_for(url), document.enrich(
            {"url": url, "canonical_url": url, "outlet": r.get("outlet") or "bench", "title": r.get("title") or "",
             "text": r["text"], "published_at": _iso(r.get("date"))}, lang_hint=r.get("lang"), tagger=tagger)))
    return docs


def _write_config(tmp: Path, es_url: str, alias: str, topics_url: str, query_url: str) -> Path:
    """Settings and the two rules: one on topics only, one with a Lucene query."""
    config = tmp / "config"
    config.mkdir()
    (config / "settings.toml").write_text(
        f'[elasticsearch]\nurl = ["{es_url}"]\nalias = "{alias}"\n[state]\ndir = "{tmp / "state"}"\n', encoding="utf-8")
    (config / "alerts.yaml").write_text(
        "alerts:\n"
        f"  - name: topics\n    match: {{topics_any: [isis, syria, us_presence]}}\n"
        f"    notify: [{{type: webhook, url: \"{topics_url}\"}}]\n"
        f"  - name: query\n    match: {{query: 'سوريا OR الرقة OR Syria OR Raqqa'}}\n"
        f"    notify: [{{type: webhook, url: \"{query_url}\"}}]\n", encoding="utf-8")
    return config


def _index_in_batches(client: Any, alias: str, config: Path, docs: list[tuple[str, dict[str, Any]]],
                      batch: int) -> tuple[dict[str, float], list[float]]:
    """(when each document's bulk write returned, seconds of each on_indexed call), writing
    `batch` documents at a time and handing each write to the alert step as the crawl does."""
    from pipelines.alerts import on_indexed
    from pipelines.index import bulk_index, ensure_index

    indexed_at: dict[str, float] = {}
    call_seconds: list[float] = []
    ensure_index(client, alias)
    on_indexed(client, alias, [], config)     # loads rules, opens the ledger: not a per-write cost
    for i in range(0, len(docs), batch):
        written = bulk_index(client, docs[i:i + batch], alias)
        if written.rejected:
            raise SystemExit(f"bulk write rejected: {written.rejected[0]}")
        done = time.time()
        for doc_id in written.created:
            indexed_at[doc_id] = done
        t = time.perf_counter()
        report = on_indexed(client, alias, written.created, config)
        call_seconds.append(time.perf_counter() - t)
        if report.errors:
            print("alert errors:", report.errors[:3], file=sys.stderr)
    return indexed_at, call_seconds


def _expected_alerts(ledger_path: Path) -> dict[str, set[str]]:
    """The articles each rule's ledger says it delivered: what the receivers must see."""
    from pipelines.alerts.ledger import Ledger

    expected: dict[str, set[str]] = {"topics": set(), "query": set()}
    for row in Ledger(ledger_path).deliveries():
        expected[row["rule"]].add(row["article_id"])
    return expected


def _rule_figures(requests: list[dict[str, Any]], indexed_at: dict[str, float], expected: set[str]) -> dict[str, Any]:
    latencies = [req["time"] - indexed_at[art["id"]] for req in requests for art in json.loads(req["body"])["articles"]]
    return {
        "alerts_received": len(requests), "alerts_expected": len(expected),
        "duplicates": len(requests) - len({json.loads(r["body"])["articles"][0]["id"] for r in requests}),
        "p50_seconds": round(common.percentile(latencies, 0.5), 4), "p95_seconds": round(common.percentile(latencies, 0.95), 4),
        "max_seconds": round(max(latencies), 4) if latencies else None,
    }


def _iso(value: str | None) -> str | None:
    """The corpus writes '2015-07-21 10:51:56' (Saudi outlets, UTC+3); the index wants ISO 8601."""
    if not value:
        return None
    value = value.strip().replace(" ", "T", 1)
    return value if "T" not in value or "+" in value or value.endswith("Z") else value + "+03:00"


if __name__ == "__main__":
    sys.exit(main())
