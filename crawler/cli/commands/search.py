"""`raqib search`: Arabic-aware search of the index, with highlights."""
from __future__ import annotations

import argparse
import json
import sys

from crawler.cli import commands
from crawler.cli.commands import Subcommands

COPIES_LISTED = 5


def register(sub: Subcommands, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "search", parents=[common], help="search the index (Arabic-aware, highlighted)",
        description="Searches titles and texts. Arabic spelling variants match each other (hamza forms, taa "
                    "marbuta, alef maqsura, diacritics, prefixes such as و/ال/بال), and a query that only names "
                    "actors or places also finds them under their other names (داعش, تنظيم الدولة, ISIS). Syntax: words must all "
                    "match; \"a phrase\"; -word excludes; a | b for either; word* for a prefix. Nothing you type "
                    "is a syntax error: an unmatched bracket or quote and an asterisk after no word are left out "
                    "(and said so on stderr). A query has at most 100 words and 1,000 characters.",
    )
    p.add_argument("query", nargs="*", help="words to search for (none: the newest articles)")
    p.add_argument("--topic", action="append", default=[], metavar="T", help="only articles with this topic (repeatable)")
    p.add_argument("--outlet", action="append", default=[], metavar="O", help="only this outlet (repeatable)")
    p.add_argument("--lang", action="append", default=[], metavar="L", help="only this language, e.g. ar (repeatable)")
    p.add_argument("--since", metavar="DATE", help="published on or after DATE (2024-05-01) or within a span (7d, 12h, 2w)")
    p.add_argument("--seeds", action="store_true", help="only the seed documents")
    p.add_argument("--sort", choices=("relevance", "date"), default="relevance")
    p.add_argument("-n", "--size", type=int, default=10, help="how many hits, 1 to 10000 (default 10)")
    p.add_argument("--json", action="store_true", help="one JSON object per hit per line")
    p.add_argument("--all-copies", action="store_true",
                   help="list each copy of a story as its own hit (by default a story republished by other "
                        "outlets is one hit that names its copies)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pipelines.safetext import one_line
    from pipelines.search import check_request, parse_since, search, tidy_query

    typed = " ".join(args.query)
    try:
        check_request(typed, args.size)
        since = parse_since(args.since)
    except ValueError as exc:
        print(f"raqib search: {exc}", file=sys.stderr)
        return 2
    tidy = tidy_query(typed)
    query = tidy.text
    if tidy.notes:
        print(f"raqib search: left out {'; '.join(tidy.notes)}; searched for: {query or '(no word left: the newest articles)'}", file=sys.stderr)
    cfg = commands.load_settings(args)
    client = commands.es_client(args, cfg)
    unknown = _unknown_names(args, client, commands.alias(cfg))
    if unknown:
        print(f"raqib search: {unknown}", file=sys.stderr)
        return 2
    tty = sys.stdout.isatty() and not args.json
    marks = ("\033[1;33m", "\033[0m") if tty else (("<em>", "</em>") if args.json else ("[", "]"))
    total, hits = search(client, query, alias=commands.alias(cfg), size=args.size, sort=args.sort,
                         config_dir=commands.config_dir(args),
                         marks=marks, escape=args.json, topics=args.topic, outlets=args.outlet,
                         langs=args.lang, since=since, seed=True if args.seeds else None, fold=not args.all_copies)
    if args.json:
        for hit in hits:
            print(json.dumps(hit.as_json(), ensure_ascii=False))
        return 0
    shown = len(hits) + sum(len(h.copies) for h in hits)
    print(f"{total} article{'s' if total != 1 else ''} match" + (f"; the first {len(hits)} stories:" if total > shown else ":"))
    for i, hit in enumerate(hits, 1):
        src = hit.source
        meta = " · ".join(str(x) for x in (src.get("outlet_name") or src.get("outlet"), (src.get("published_at") or "")[:10],
                                           src.get("lang"), ",".join(src.get("topics") or []) or None,
                                           "seed" if src.get("seed") else None) if x)
        print(f"\n{i}. {hit.title_marked or '(no title)'}\n   {one_line(meta)}")
        if src.get("url"):
            print(f"   {one_line(src['url'])}")
        for snippet in hit.snippets:
            print(f"   {snippet}")
        for copy in hit.copies[:COPIES_LISTED]:
            print(f"   also: {one_line(copy['outlet_name'] or copy['outlet'] or '')} · {one_line(copy['url'] or copy['id'])}")
        if len(hit.copies) > COPIES_LISTED:
            print(f"   and {len(hit.copies) - COPIES_LISTED} more copies (--all-copies lists them as hits)")
    return 0


def _unknown_names(args: argparse.Namespace, client, alias: str) -> str | None:
    """A message naming an --outlet or --topic nothing can have (neither configured nor in
    the index) and the known ones, as `crawl --outlet` does; None when all are known."""
    from pipelines.alerts.rules import known_topics

    wanted = {"outlet": args.outlet, "topic": args.topic}
    configured = {"outlet": set(commands.load_outlets(args)),
                  "topic": known_topics(commands.config_dir(args)) or set()}
    problems = []
    for kind, names in wanted.items():
        missing = [n for n in names if n not in configured[kind]]
        if not missing:
            continue
        known = configured[kind] | _indexed(client, alias, f"{kind}s" if kind == "topic" else kind)
        for name in missing:
            if name not in known:
                problems.append(f"no {kind} named {name!r}; known {kind}s: {', '.join(sorted(known)) or 'none'}")
    return "; ".join(problems) or None


def _indexed(client, alias: str, field: str) -> set[str]:
    """The values of `field` in the index (an outlet removed from the config stays searchable)."""
    from pipelines.es import explain

    try:
        resp = client.search(index=alias, size=0, aggs={"v": {"terms": {"field": field, "size": 1000}}}).body
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, "the configured cluster") from None
    return {b["key"] for b in resp["aggregations"]["v"]["buckets"]}
