"""`raqib seed`: index the five seed documents (idempotent)."""
from __future__ import annotations

import argparse

from crawler.cli import commands
from crawler.cli.commands import Subcommands


def register(sub: Subcommands, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("seed", parents=[common], help="index the five seed documents (running it twice changes nothing)",
                       description="Indexes the seed documents in seeds/ with seed: true, through the same "
                                   "enrichment (language, topics, entities) as crawled articles.")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pipelines import document
    from pipelines.index import bulk_index, ensure_index
    from pipelines.seeding import load_seeds, seed_documents

    cfg = commands.load_settings(args)
    outlets = commands.load_outlets(args)
    seeds = load_seeds()
    docs = seed_documents(seeds, outlets, tagger=document.default_tagger(commands.config_dir(args)))
    client = commands.es_client(args, cfg)
    alias = commands.alias(cfg)
    ensure_index(client, alias)
    result = bulk_index(client, docs, alias, refresh="wait_for")
    print(f"seeds: {len(docs)} ({len(result.created)} new, {len(result.updated)} updated, "
          f"{len(result.unchanged)} unchanged) in {alias}")
    for doc_id, reason in result.rejected:
        print(f"  rejected {doc_id}: {reason}")
    return 1 if result.rejected else 0
