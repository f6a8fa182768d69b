"""`raqib kibana import|export|check`: the analysts' Kibana workspace (data views, saved searches,
dashboards) put into Kibana through its saved-objects API, or written out as ndjson."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crawler.cli import commands
from crawler.cli.commands import Subcommands

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 4


def register(sub: Subcommands, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "kibana", parents=[common], help="import the Kibana data views, saved searches and dashboards",
        description="The Kibana side of raqib: a data view over the article index (and one over the crawl "
                    "statistics), saved searches in Lucene syntax, an overview dashboard and a crawler-health "
                    "dashboard. They are built from the index fields, config/outlets.yaml (one saved search per "
                    "outlet) and settings.toml (index names), so re-importing after adding an outlet adds its search. "
                    "Object ids are fixed: importing again updates the objects instead of copying them.",
    )
    actions = p.add_subparsers(dest="kibana_action", metavar="ACTION")
    imp = actions.add_parser(
        "import", parents=[common], help="import the objects into Kibana (overwrite=true)",
        description="POSTs the objects to Kibana's /api/saved_objects/_import?overwrite=true and reports each one "
                    "as created, updated or failed. Credentials come from the environment: RAQIB_KIBANA_API_KEY, or "
                    "RAQIB_KIBANA_USER and RAQIB_KIBANA_PASSWORD; when neither is set, the Elasticsearch ones "
                    "(RAQIB_ES_API_KEY, RAQIB_ES_USER/RAQIB_ES_PASSWORD). A private CA: RAQIB_KIBANA_CA_CERTS "
                    "(else RAQIB_ES_CA_CERTS). Exit status: 0 all imported, 1 some objects failed, 4 Kibana "
                    "unreachable or refused the request.",
    )
    imp.add_argument("--kibana", metavar="URL",
                     help="Kibana's URL, with its base path if it has one (env: RAQIB_KIBANA_URL; default "
                          "http://127.0.0.1:5601)")
    imp.add_argument("--space", metavar="ID", help="a Kibana space other than the default one")
    imp.add_argument("--file", metavar="NDJSON", action="append", default=[], type=Path,
                     help="import this ndjson file instead of the built objects (repeatable)")
    imp.add_argument("--wait", metavar="SECONDS", type=float, default=0.0,
                     help="keep retrying this long while Kibana is starting (connection refused, 503)")
    imp.add_argument("--timeout", metavar="SECONDS", type=float, default=60.0, help="per-request timeout (default 60)")
    imp.set_defaults(run=run_import)

    exp = actions.add_parser(
        "export", parents=[common], help="write the objects as ndjson files",
        description="Writes raqib-articles.ndjson and raqib-crawls.ndjson, importable through Kibana's Stack "
                    "Management > Saved Objects > Import. The shipped deploy/kibana/ files are written this way "
                    "from the shipped configuration.",
    )
    exp.add_argument("directory", type=Path, help="where to write the files")
    exp.set_defaults(run=run_export)

    chk = actions.add_parser(
        "check", parents=[common], help="check ndjson files offline",
        description="Parses each object, checks that every reference resolves within the files, that every "
                    "field named exists in the index, and that the attributes are ones Kibana accepts.",
    )
    chk.add_argument("files", nargs="*", type=Path, help="ndjson files (default: the built objects)")
    chk.set_defaults(run=run_check)
    p.set_defaults(run=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _bundles(args: argparse.Namespace) -> tuple[dict[str, list[dict]], dict[str, dict[str, str]]]:
    from crawler.ops.kibana import build_bundles, default_fields_by_view

    cfg = commands.load_settings(args)
    alias, crawls = commands.alias(cfg), cfg.get("elasticsearch", "crawls_index")
    return (build_bundles(alias, commands.load_outlets(args), crawls), default_fields_by_view(alias, crawls))


def run_import(args: argparse.Namespace) -> int:
    from crawler.ops.kibana import KibanaError, KibanaTarget, import_objects, read_ndjson

    try:
        objects = [o for path in args.file for o in read_ndjson(path)]
    except KibanaError as exc:
        print(f"raqib kibana: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.file:
        bundles, _ = _bundles(args)
        objects = [o for objs in bundles.values() for o in objs]
    try:
        target = KibanaTarget.from_env(args.kibana, space=args.space, timeout=args.timeout)
        report = import_objects(target, objects, wait=args.wait,
                                log=lambda m: print(f"raqib kibana: {m}", file=sys.stderr, flush=True))
    except KibanaError as exc:
        print(f"raqib kibana: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(_summary(target, report))
    width = max([len(str(e["id"])) for e in report.created + report.updated + [f for f, _ in report.failed]] + [0])
    for word, entries in (("created", report.created), ("updated", report.updated)):
        for e in entries:
            print(f"  {word:8} {e['type']:14} {e['id']:{width}}  {e['title']}")
    for e, reason in report.failed:
        print(f"  {'FAILED':8} {e['type']:14} {e['id']:{width}}  {e['title']}: {reason}")
    if not report.ok:
        return EXIT_FAILED
    # links only after a clean import: a dashboard that failed, or whose panels did, does not open
    for e in (e for e in report.created + report.updated if e["type"] == "dashboard"):
        print(f"open: {target.endpoint('/app/dashboards#/view/' + e['id'])}")
    return EXIT_OK


def _summary(target, report) -> str:
    where = f"Kibana at {target.shown_url}"
    if report.nothing_imported:
        n = len(report.withheld)
        return (f"{where}: nothing imported, {len(report.failed)} failed: Kibana imports no object while any has "
                f"a missing reference or a conflict ({n} other object{'s' if n != 1 else ''} would have been). "
                "Fix the failures below and import again")
    done = len(report.created) + len(report.updated)
    return (f"{where}: {done} object{'s' if done != 1 else ''} imported "
            f"({len(report.created)} created, {len(report.updated)} updated), {len(report.failed)} failed")


def run_export(args: argparse.Namespace) -> int:
    from crawler.ops.kibana import export, validate

    bundles, fields = _bundles(args)
    problems = validate([o for objs in bundles.values() for o in objs], fields)
    if problems:   # a bug in the declarations, not the user's doing: refuse to write broken files
        print("raqib kibana: the built objects have problems:\n  " + "\n  ".join(problems), file=sys.stderr)
        return EXIT_FAILED
    for path in export(args.directory, bundles):
        count = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        print(f"wrote {path} ({count} objects)")
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    from crawler.ops.kibana import KibanaError, read_ndjson, validate

    bundles, fields = _bundles(args)
    try:
        objects = [o for path in args.files for o in read_ndjson(path)] if args.files else \
            [o for objs in bundles.values() for o in objs]
    except KibanaError as exc:
        print(f"raqib kibana: {exc}", file=sys.stderr)
        return EXIT_FAILED
    problems = validate(objects, fields)
    for line in problems:
        print(line)
    print(f"{len(objects)} objects, {len(problems)} problem{'s' if len(problems) != 1 else ''}")
    return EXIT_FAILED if problems else EXIT_OK
