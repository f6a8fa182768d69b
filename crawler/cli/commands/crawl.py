"""`raqib crawl`: one crawl now, then alert evaluation; per-outlet, per-channel stats."""
from __future__ import annotations

import argparse
import json
import sys

from crawler.cli import commands
from crawler.cli.commands import Subcommands
from crawler.report.stats import CrawlReport

# A backfill walks sequential ids down to the outlet's id_min: unbounded, one crawl would send
# tens of thousands of requests to a site whose ids are sparse.
BACKFILL_PAGES = 500
# A dry run remembers nothing, so each one fetches its articles again: a sample is enough to
# tune an outlet's entry.
DRY_RUN_PAGES = 20


def register(sub: Subcommands, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "crawl", parents=[common], help="crawl the outlets once now, then evaluate alerts",
        description="Discovers new articles of each outlet (its feeds, sitemaps, home and section pages), fetches "
                    "them politely (robots.txt, per-host delay, conditional requests: an article already indexed "
                    "is fetched again only when a feed or sitemap shows it changed), extracts, tags, deduplicates "
                    "and indexes them, then evaluates alert rules. Prints per-outlet statistics: articles "
                    "discovered per channel, pages fetched and not modified, articles indexed, duplicates, and "
                    "errors by kind. One failing outlet never stops the others.",
    )
    p.add_argument("--outlet", action="append", default=[], metavar="NAME",
                   help="only this outlet (repeatable; default: every enabled outlet)")
    p.add_argument("--backfill", action="store_true",
                   help="also walk older monthly sitemaps and numeric ids (the outlet's `backfill:` settings), "
                        f"bounded by --max-pages (default with --backfill: {BACKFILL_PAGES})")
    p.add_argument("--max-pages", type=int, metavar="N",
                   help="request at most N article pages per outlet in this crawl (the rest wait for the next one)")
    p.add_argument("--stats-json", metavar="PATH", help="also write the statistics as JSON to PATH")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON instead of text")
    p.add_argument("--no-alerts", action="store_true", help="do not evaluate alert rules after the crawl")
    p.add_argument("--dry-run", action="store_true",
                   help="discover, fetch and extract, but write nothing (no index, no crawl state, no metrics, no "
                        "alerts); print what would be indexed: URL, title, date, language, topics, duplicate_of. "
                        f"At most {DRY_RUN_PAGES} article pages per outlet unless --max-pages says otherwise. "
                        "With --json: one JSON object per article and line")
    p.add_argument("--respect-backoff", action="store_true",
                   help="skip outlets whose recent crawls failed and which are backing off (as `raqib run` does); "
                        "for crawls started by cron. `raqib status` shows each outlet's back-off")
    p.add_argument("--worker", action="store_true",
                   help="with a shared state in Redis ([state] redis_url or RAQIB_REDIS_URL): discover nothing, fetch, "
                        "extract and index the articles other `raqib crawl` processes put in the shared frontier, on "
                        "this or any machine, until stopped (SIGTERM or Ctrl-C: what it holds goes back to the "
                        "frontier). See the README's Scaling section")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from crawler.report.stats import format_report
    from crawler.run.crawl import CrawlError, run_crawl
    from pipelines.outlets import select

    if args.max_pages is not None and args.max_pages < 1:
        print("raqib crawl: --max-pages must be at least 1", file=sys.stderr)
        return 2
    if args.worker:
        return _worker(args)
    config_dir = commands.config_dir(args)
    outlets = select(commands.load_outlets(args), args.outlet)     # a wrong config stops here, before any request
    if not outlets:
        print("raqib crawl: no enabled outlet to crawl (outlets.yaml: enabled: false on all?)", file=sys.stderr)
        return 3
    cfg = commands.load_settings(args)
    if args.respect_backoff and not args.dry_run:
        outlets = _not_backing_off(cfg, outlets)
        if not outlets:
            return 0
    if args.dry_run:
        return _dry_run(args, cfg, config_dir, outlets)
    client = commands.es_client(args, cfg)
    max_pages = args.max_pages or (BACKFILL_PAGES if args.backfill else None)
    try:
        report = run_crawl(outlets, cfg, config_dir, backfill=args.backfill, max_pages=max_pages,
                           stats_json=args.stats_json, client=client, verbosity=getattr(args, "verbose", 0))
    except CrawlError as exc:
        return _stopped(exc, args)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(format_report(report))
    if not args.no_alerts:
        _alerts(client, cfg, config_dir, report.get("alerts") or {}, quiet=args.json)
    return _exit_code(report)


def _worker(args: argparse.Namespace) -> int:
    """`raqib crawl --worker`: serve the fleet's frontier until stopped, then say what was done."""
    from crawler.report.stats import format_report
    from crawler.run.crawl import CrawlError, run_crawl

    clashing = [name for name, given in (("--outlet", args.outlet), ("--backfill", args.backfill),
                                         ("--max-pages", args.max_pages), ("--dry-run", args.dry_run)) if given]
    if clashing:
        print(f"raqib crawl: --worker takes the work coordinators share; {', '.join(clashing)} belong(s) to the "
              "crawl that coordinates (`raqib crawl` without --worker)", file=sys.stderr)
        return 2
    cfg = commands.load_settings(args)
    if not cfg.get("state", "redis_url"):
        print("raqib crawl: --worker needs the shared state in Redis: set [state] redis_url in settings.toml or "
              "RAQIB_REDIS_URL (README: Scaling)", file=sys.stderr)
        return 3
    outlets = list(commands.load_outlets(args).values())   # any outlet a coordinator may crawl
    client = commands.es_client(args, cfg)
    try:
        report = run_crawl(outlets, cfg, commands.config_dir(args), stats_json=args.stats_json, client=client,
                           verbosity=getattr(args, "verbose", 0), worker=True)
    except CrawlError as exc:
        return _stopped(exc, args)
    report["outlets"] = {k: v for k, v in report["outlets"].items() if sum(v["requests"].values()) or v["errors"]}
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else format_report(report))
    return 0


def _stopped(exc, args: argparse.Namespace) -> int:
    """A crawl that had to stop (its state cannot be written): what it did, then why it stopped."""
    from crawler.report.stats import format_report

    if exc.report is not None:
        print(json.dumps(exc.report, ensure_ascii=False, indent=2) if args.json else format_report(exc.report))
    print(f"raqib crawl: stopped: {exc}", file=sys.stderr)
    return 1


def _exit_code(report: CrawlReport) -> int:
    statuses = [o["status"] for o in report["outlets"].values()]
    return 1 if statuses and all(s in ("failed", "blocked") for s in statuses) else 0


def _dry_run(args: argparse.Namespace, cfg, config_dir, outlets) -> int:
    """Crawl without writing; print the articles (text, or one JSON object per line)."""
    import logging

    from crawler.report.stats import format_report
    from crawler.run.crawl import CrawlError, run_crawl
    from crawler.run.dryrun import format_articles, json_lines
    from pipelines.es import ClusterError

    try:
        client = commands.es_client(args, cfg)
    except ClusterError as exc:
        logging.getLogger("raqib.crawl").warning(
            "dry run without Elasticsearch (%s): duplicates are looked for among this run's articles only", exc)
        client = None
    try:
        report = run_crawl(outlets, cfg, config_dir, backfill=args.backfill, max_pages=args.max_pages or DRY_RUN_PAGES,
                           stats_json=args.stats_json, client=client, verbosity=getattr(args, "verbose", 0),
                           dry_run=True)
    except CrawlError as exc:
        return _stopped(exc, args)
    if args.json:
        sys.stdout.write(json_lines(report["articles"]))
    else:
        print(format_articles(report))
        print("\n" + format_report(report))
    return _exit_code(report)


def _not_backing_off(cfg, outlets):
    """The outlets whose health allows a crawl now; a line on stderr for each one skipped."""
    import time

    from crawler.report import health
    from crawler.state.factory import open_state

    state = open_state(cfg)
    try:
        now, keep = time.time(), []
        for outlet in outlets:
            h = health.read(state, outlet.key)
            if h.backing_off(now):
                print(f"raqib crawl: {outlet.key} skipped: {health.describe(h, now)}", file=sys.stderr)
            else:
                keep.append(outlet)
        return keep
    finally:
        state.close()


def _alerts(client, cfg, config_dir, during: dict, *, quiet: bool) -> None:
    """The final sweep (articles the per-batch hook missed, deliveries due), and one line for
    everything alerting did in this crawl."""
    try:
        from pipelines.alerts.evaluate import evaluate_pending
    except ImportError:
        return
    result = evaluate_pending(client, commands.alias(cfg), config_dir, settings=cfg)
    if not quiet:
        new = result.new + during.get("new", 0)
        sent = result.sent + during.get("sent", 0)
        failed = result.failed + during.get("failed", 0)
        copies = result.copies + during.get("copies", 0)
        line = f"\nalerts: {new} new match{'es' if new != 1 else ''}, {sent} message(s) sent"
        if copies:
            line += f", {copies} cop{'ies' if copies != 1 else 'y'} of an alerted article not sent again"
        if failed:
            line += f", {failed} failed (retried later)"
        print(line)
        for error in result.errors:
            print(f"  {error}")
