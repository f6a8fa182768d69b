"""`raqib web` speed: search and article pages on an index of ≥ 50,000 articles, the first
page's weight, and the live page's delay from indexed to shown.

    python -m bench.web [--es URL] [--quick] [--docs N]

The index is grown from the mirror's generated articles (crawler.mirror.catalog: the real
texts of the five outlets, re-cut into new articles by `expand`), enriched, tagged and
fingerprinted as the crawl does, then copied under new URLs, outlets and dates up to N and
bulk-written (tagging 50,000 texts would take the two cores half an hour; what a search costs
depends on the index's size and terms, not on every text being unique). A real `raqib web`
server then runs in this process on a free port, and a loopback client asks it:

* search: a fixed mix of queries (Arabic words without hamza, entity names, phrases,
  exclusions, facets, date sort, a date range, page 3), each page's server time taken
  from the Server-Timing header the app sets (handler time, excluding the client);
* article: random articles' pages (the tagger's explanation and the other-coverage queries
  included), and the two ways to find other coverage timed on their own: more_like_this (what
  the page uses) and the MinHash bands (the near-duplicate detector's);
* first page weight: the bytes on the wire (gzip as the server sends it) of `/` and of
  everything it loads;
* live: an SSE client on /live/stream while articles are bulk-written with the crawl's
  bulk_index; the delay from the write's return to the event's arrival.
Results: bench/results/web.json. Targets: search p95 ≤ 150 ms, article ≤ 100 ms, first page
≤ 250 KB, live ≤ 2 s.
"""
from __future__ import annotations

import argparse
import gzip
import http.client
import json
import random
import re
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

from bench import common

QUERIES = [
    {"q": "الامريكية"}, {"q": "داعش"}, {"q": "تنظيم الدولة"}, {"q": "دير الزور"}, {"q": "الرقة"},
    {"q": "قوات سوريا الديمقراطية"}, {"q": "\"التحالف الدولي\""}, {"q": "داعش -العراق"},
    {"q": "هجوم", "sort": "date"}, {"q": "سوريا", "outlet": "almayadeen"}, {"q": "القوات الامريكية", "topic": "us_presence"},
    {"q": ""}, {"q": "", "topic": "isis", "lang": "ar"}, {"q": "الاسد", "page": "3"},
    {"q": "داعش", "since": "2025-01-01", "until": "2025-06-30"}, {"q": "Syria"}, {"q": "سجن*"},
]


def base_docs(per_outlet: int) -> list[dict]:
    """The mirror's articles (real and generated), as the crawl stores them."""
    from crawler.mirror import catalog
    from pipelines import dedupe, document
    from pipelines.index import mapping

    fields = set(mapping()["properties"])
    now = datetime.now(UTC)
    articles = catalog.build(catalog.load_records(), now)
    outlets = sorted({a.outlet for a in articles})
    for outlet in outlets:
        articles += catalog.expand(articles, outlet, per_outlet)
    tagger = document.default_tagger()
    out = []
    for a in articles:
        if a.role != "article" or not a.paragraphs:
            continue
        doc = document.enrich({"title": a.title, "text": "\n".join(a.body_lines()),
                               "outlet": a.outlet, "outlet_name": a.outlet, "discovered_via": "sitemap",
                               "published_at": (a.published or now).isoformat()}, lang_hint=a.lang, tagger=tagger)
        doc.update(dedupe.fingerprint(doc).fields())
        out.append({k: v for k, v in doc.items() if k in fields})
    return out


def grow(client, alias: str, base: list[dict], n: int) -> float:
    """n documents from `base` under new URLs, outlets and dates (two years back), bulk-written."""
    from elasticsearch import helpers

    from pipelines.document import doc_id_for
    from pipelines.index import ensure_index

    ensure_index(client, alias)
    outlets = sorted({d["outlet"] for d in base})
    run = uuid.uuid4().hex[:6]
    rng = random.Random(7)
    now = datetime.now(UTC)
    t0 = time.perf_counter()

    def actions():
        for i in range(n):
            d = dict(base[i % len(base)])
            url = f"https://bench.invalid/{run}/{i}"
            when = (now - timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60))).isoformat(timespec="seconds")
            d.update(url=url, canonical_url=url, outlet=outlets[(i // len(base) + i) % len(outlets)],
                     published_at=when, first_indexed_at=when, indexed_at=when, first_seen_at=when)
            d.pop("duplicate_of", None)
            yield {"_index": alias, "_id": doc_id_for(url), "_source": d}

    helpers.bulk(client.options(request_timeout=120), actions(), chunk_size=1000, refresh=False)
    client.indices.refresh(index=alias)
    return time.perf_counter() - t0


def es_took(headers: dict) -> float:
    m = re.search(r"es;dur=([\d.]+)", headers.get("server-timing", ""))
    return float(m.group(1)) if m else float("nan")


def fetch(port: int, path: str, cookie: str = "") -> tuple[int, float, int, bytes, dict]:
    """(status, server ms from Server-Timing, bytes on the wire, body, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Accept-Encoding": "gzip", **({"Cookie": cookie} if cookie else {})})
    resp = conn.getresponse()
    raw = resp.read()
    headers: dict[str, str] = {}
    for k, v in resp.getheaders():     # Server-Timing comes twice (the app's and the node's share)
        headers[k.lower()] = f"{headers[k.lower()]}, {v}" if k.lower() in headers else v
    conn.close()
    m = re.search(r"app;dur=([\d.]+)", headers.get("server-timing", ""))
    body = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
    return resp.status, float(m.group(1)) if m else float("nan"), len(raw), body, headers


def page_weight(port: int) -> dict:
    status, _, wire, body, _ = fetch(port, "/")
    html = body.decode("utf-8")
    assets = sorted(set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html)))
    css = [a for a in assets if a.endswith(".css")]
    for c in css:   # fonts the stylesheet loads
        assets += sorted(set(re.findall(r'url\("(/static/[^"]+)"\)', fetch(port, c)[3].decode("utf-8"))))
    sizes = {a: fetch(port, a)[2] for a in dict.fromkeys(assets)}
    return {"html_bytes": wire, "assets": sizes, "total_bytes": wire + sum(sizes.values()),
            "total_kb": round((wire + sum(sizes.values())) / 1024, 1)}


def live_delays(port: int, client, alias: str, base: list[dict], samples: int) -> list[float]:
    """Seconds from bulk_index's return to the SSE event's arrival, one article at a time."""
    from pipelines.document import doc_id_for
    from pipelines.index import bulk_index

    arrived: dict[str, float] = {}
    stop = threading.Event()

    def listen():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/live/stream")
        resp = conn.getresponse()
        while not stop.is_set():
            line = resp.fp.readline().decode("utf-8", "replace")
            if not line:
                break
            m = re.search(r'data-id="([^"]+)"', line)
            if m:
                arrived.setdefault(m.group(1), time.perf_counter())
        conn.close()

    threading.Thread(target=listen, daemon=True).start()
    time.sleep(1.5)
    delays = []
    for i in range(samples):
        url = f"https://bench.invalid/live/{uuid.uuid4().hex}"
        doc = dict(base[i % len(base)], url=url, canonical_url=url)
        for k in ("first_indexed_at", "indexed_at", "first_seen_at"):
            doc.pop(k, None)
        doc_id = doc_id_for(url)
        bulk_index(client, [(doc_id, doc)], alias)
        written = time.perf_counter()
        deadline = written + 15
        while doc_id not in arrived and time.perf_counter() < deadline:
            time.sleep(0.01)
        delays.append(arrived[doc_id] - written if doc_id in arrived else float("inf"))
        time.sleep(random.uniform(0.2, 1.0))      # writes at random moments against the poll
    stop.set()
    return delays


def related_timing(client, alias: str, ids: list[str]) -> dict:
    from crawler.web import queries

    mlt, mh, found_mlt, found_mh = [], [], [], []
    for doc_id in ids:
        doc = queries.get_article(client, alias, doc_id)
        if doc is None:
            raise SystemExit(f"bench.web: article {doc_id} is not in {alias} any more")
        t0 = time.perf_counter()
        r = queries.related(client, alias, doc_id, doc)
        mlt.append(1000 * (time.perf_counter() - t0))
        found_mlt.append(len(r["related"]))
        t0 = time.perf_counter()
        resp = client.search(index=alias, size=8, query={"bool": {
            "should": [{"terms": {"minhash_bands": doc.get("minhash_bands") or []}}], "minimum_should_match": 1,
            "must_not": [{"ids": {"values": [doc_id]}}, {"term": {"outlet": doc.get("outlet") or ""}}]}}).body
        mh.append(1000 * (time.perf_counter() - t0))
        found_mh.append(len(resp["hits"]["hits"]))
    return {"more_like_this_ms_p50": round(common.percentile(mlt, 0.5), 1), "more_like_this_ms_p95": round(common.percentile(mlt, 0.95), 1),
            "more_like_this_found_mean": round(sum(found_mlt) / len(found_mlt), 2),
            "minhash_ms_p50": round(common.percentile(mh, 0.5), 1), "minhash_ms_p95": round(common.percentile(mh, 0.95), 1),
            "minhash_found_mean": round(sum(found_mh) / len(found_mh), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--es")
    parser.add_argument("--quick", action="store_true", default=common.quick_default())
    parser.add_argument("--docs", type=int, default=50_000)
    args = parser.parse_args(argv)
    run = common.Run("web", quick=args.quick)
    rounds, articles, samples = (3, 40, 8) if args.quick else (10, 200, 30)
    from crawler.ops.esnode import free_port
    from crawler.web.security import Auth
    from crawler.web.server import WebServer
    from pipelines.es import connect
    from pipelines.settings import parse_settings

    with common.es_node(args.es) as es_url:
        client = connect(es_url)
        alias = common.new_alias("raqib-bench-web")
        state = Path("/tmp") / f"raqib-bench-web-{uuid.uuid4().hex[:6]}"
        try:
            t0 = time.perf_counter()
            base = base_docs(400 if args.quick else 1000)
            prep = time.perf_counter() - t0
            print(f"bench.web: {len(base)} distinct articles prepared in {prep:.0f} s; growing to {args.docs}",
                  file=sys.stderr, flush=True)
            took = grow(client, alias, base, args.docs)
            count = client.count(index=alias).body["count"]
            print(f"bench.web: {count} articles indexed in {took:.0f} s", file=sys.stderr, flush=True)
            settings = parse_settings({"elasticsearch": {"url": [es_url], "alias": alias}, "state": {"dir": str(state)}})
            server = WebServer(settings, None, port=free_port(18100, 18999), auth=Auth()).start()
            port = server.port
            for q in QUERIES[:3]:       # warm: the tagger's gazetteer and the node's caches
                fetch(port, "/?" + urlencode(q))
            search_ms: list[float] = []
            es_ms: list[float] = []
            by_query: dict[str, list[float]] = {}
            for _ in range(rounds):
                for q in QUERIES:
                    status, ms, _, _, headers = fetch(port, "/?" + urlencode(q))
                    assert status == 200, (q, status)
                    search_ms.append(ms)
                    es_ms.append(es_took(headers))
                    by_query.setdefault(urlencode(q), []).append(ms)
            ids = [h["_id"] for h in client.search(index=alias, size=articles, query={"function_score": {
                "random_score": {"seed": 3, "field": "_seq_no"}}}, source=False).body["hits"]["hits"]]
            fetch(port, f"/article/{quote(ids[0])}")
            article_ms = []
            for doc_id in ids:
                status, ms, _, _, _ = fetch(port, f"/article/{quote(doc_id)}")
                assert status == 200, (doc_id, status)
                article_ms.append(ms)
            weight = page_weight(port)
            coverage = related_timing(client, alias, ids[:20])
            delays = live_delays(port, client, alias, base, samples)
            server.stop()
            figures = {
                "index": {"articles": count, "distinct_texts": len(base), "bulk_seconds": round(took, 1),
                          "prepare_seconds": round(prep, 1)},
                "search": {"requests": len(search_ms), "server_ms_p50": round(common.percentile(search_ms, 0.5), 1),
                           "server_ms_p95": round(common.percentile(search_ms, 0.95), 1),
                           "server_ms_max": round(max(search_ms), 1), "target_p95_ms": 150,
                           "elasticsearch_took_ms_p50": round(common.percentile(es_ms, 0.5), 1),
                           "elasticsearch_took_ms_p95": round(common.percentile(es_ms, 0.95), 1),
                           "p95_by_query": {k: round(common.percentile(v, 0.95), 1) for k, v in by_query.items()}},
                "article": {"requests": len(article_ms), "server_ms_p50": round(common.percentile(article_ms, 0.5), 1),
                            "server_ms_p95": round(common.percentile(article_ms, 0.95), 1), "target_ms": 100},
                "other_coverage": coverage,
                "first_page": {**weight, "target_kb": 250},
                "live": {"samples": len(delays), "delay_s_p50": round(common.percentile(delays, 0.5), 2),
                         "delay_s_max": round(max(delays), 2), "target_s": 2.0,
                         "poll_interval_s": 0.4, "index_refresh_interval": "1s"},
            }
            path = run.write(figures, es_client=client)
            print(json.dumps(figures, indent=1, ensure_ascii=False))
            print(f"bench.web: wrote {path}", file=sys.stderr)
        finally:
            common.drop_alias(client, alias)
    return 0


if __name__ == "__main__":
    sys.exit(main())
