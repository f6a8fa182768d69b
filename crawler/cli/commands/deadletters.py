"""`raqib dead-letters list|replay`: the documents Elasticsearch refused, and sending them again."""
from __future__ import annotations

import argparse
import json
import sys
import time

from crawler.cli import commands
from crawler.cli.commands import Subcommands


def register(sub: Subcommands, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "dead-letters", parents=[common],
        help="list or replay the articles Elasticsearch refused (mapping errors)",
        description="A crawled article the cluster refuses (a mapping conflict, a limit of the index) is not "
                    "dropped: it is kept in dead-letters.jsonl in the state directory, with the cluster's reason "
                    "and the time, and the rest of its batch is indexed. Fix the cause the reason names (the "
                    "mapping, the index's limits), then replay: what the cluster now accepts is indexed (once: "
                    "document ids are stable) and leaves the file; what it still refuses stays, with the new reason.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    ls = actions.add_parser("list", parents=[common], help="one line per refused article (default)")
    ls.add_argument("--json", action="store_true", help="one JSON object per letter per line, document included")
    ls.set_defaults(run=run_list)
    rp = actions.add_parser("replay", parents=[common], help="send the refused articles again")
    rp.add_argument("ids", nargs="*", metavar="DOC_ID", help="only these documents (default: all)")
    rp.set_defaults(run=run_replay)
    p.set_defaults(run=run_list, json=False)


def _letters(args: argparse.Namespace):
    from pipelines.deadletters import DeadLetters, path_in

    cfg = commands.load_settings(args)
    return cfg, DeadLetters(path_in(cfg.state_dir))


def run_list(args: argparse.Namespace) -> int:
    from pipelines.safetext import one_line

    _, letters = _letters(args)
    found, bad = letters.read()
    if getattr(args, "json", False):
        for letter in found:
            print(json.dumps(letter, ensure_ascii=False))
        return 0
    if not found:
        print(f"no dead letters ({letters.path})")
    else:
        print(f"{len(found)} article(s) refused by Elasticsearch, in {letters.path}:")
        for letter in found:
            print(f"  {letter.get('time', '?')}  {letter.get('outlet') or '-'}  {one_line(letter.get('url') or letter['doc_id'])}")
            print(f"      {one_line(letter.get('reason') or '?', 300)}")
        print("fix the cause each reason names, then: raqib dead-letters replay")
    if bad:
        print(f"{len(bad)} line(s) of the file are not dead letters (cut short by a crash?) and are left as they are",
              file=sys.stderr)
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from crawler.state.factory import open_state
    from crawler.state.store import INDEXED
    from pipelines.index import ensure_index

    cfg, letters = _letters(args)
    pending, _ = letters.read()
    only = set(args.ids) if args.ids else None
    if only:
        unknown = only - {x["doc_id"] for x in pending}
        if unknown:
            print(f"raqib dead-letters: no dead letter with id {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
    if not pending:
        print(f"no dead letters to replay ({letters.path})")
        return 0
    client = commands.es_client(args, cfg)
    alias = commands.alias(cfg)
    ensure_index(client, alias, replicas=cfg.get("elasticsearch", "replicas"))
    result = letters.replay(client, alias, only=only, bulk_size=int(cfg.get("elasticsearch", "bulk_size")))
    keys = {x["doc_id"]: x.get("key") for x in pending}
    if result.written:
        state = open_state(cfg)
        try:
            now = time.time()
            for doc_id in result.written:
                rec = state.article(keys.get(doc_id) or "")
                if rec is not None:
                    rec.status, rec.indexed_at, rec.doc_id, rec.error = INDEXED, now, doc_id, None
                    state.save_article(rec)
        finally:
            state.close()
        _alerts(client, cfg, args)
    print(f"{len(result.written)} article(s) indexed, {len(result.rejected)} still refused"
          + (f" (kept in {letters.path})" if result.rejected else ""))
    for doc_id, reason in result.rejected[:20]:
        print(f"  {doc_id}: {reason}")
    return 1 if result.rejected else 0


def _alerts(client, cfg, args) -> None:
    """Replayed articles are new to the index: the alert sweep finds them as after a crawl."""
    from pipelines.alerts.evaluate import evaluate_pending

    evaluate_pending(client, commands.alias(cfg), commands.config_dir(args), settings=cfg)
