"""`raqib demo`: the whole pipeline offline, on this machine alone."""
from __future__ import annotations

import argparse
import os

from crawler import commands


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", parents=[sub.common_parent],
                       help="run the whole pipeline offline: local Elasticsearch, seeds, search",
                       description="Starts (or reuses) a local Elasticsearch node, indexes the seeds and "
                                   "shows an Arabic search, then tells you how to search yourself.")
    p.add_argument("--port", type=int, default=9200, help="port of the local node (default 9200)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from crawler.esnode import Node
    from pipelines import document
    from pipelines.index import bulk_index, ensure_index
    from pipelines.seeding import load_seeds, seed_documents
    from pipelines.search import search

    if not args.es and not os.environ.get("RAQIB_ES_URL"):
        node = Node(port=args.port)
        started = node.start()
        print(f"[1/3] Elasticsearch {'started' if started else 'already running'} at {node.url}")
        args.es = node.url
    else:
        print(f"[1/3] using the cluster at {args.es or os.environ['RAQIB_ES_URL']}")
    cfg = commands.settings(args)
    client = commands.es_client(args, cfg)
    alias = commands.alias(cfg)
    ensure_index(client, alias)
    docs = seed_documents(load_seeds(), commands.outlets(args), tagger=document.default_tagger(commands.config_dir(args)))
    result = bulk_index(client, docs, alias, refresh="wait_for")
    print(f"[2/3] seeds indexed: {len(docs)} ({len(result.created)} new, {len(result.unchanged)} unchanged)")
    query = "الامريكية"
    total, hits = search(client, query, alias=alias, size=5, marks=("[", "]"), escape=False)
    print(f"[3/3] search «{query}» (written without hamza): {total} match")
    for hit in hits:
        print(f"      - {hit.source.get('outlet_name')}: {hit.source.get('title')}")
    print(f"\nSearch yourself:  raqib --es {args.es} search داعش --topic isis")
    return 0
