"""`raqib run`: the long-running service (crawls on schedule, alerts on new matching articles)."""
from __future__ import annotations

import argparse
import importlib.util
import logging
import signal
import sys

from crawler.cli import commands
from crawler.cli.commands import Subcommands

log = logging.getLogger("raqib.service")


def register(sub: Subcommands, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "run", parents=[common], help="the long-running service: crawl each outlet on schedule, send alerts",
        description="Crawls each enabled outlet on its `schedule` (outlets.yaml), each crawl in its own process, "
                    "never two crawls of one outlet at once; polls an outlet that keeps publishing more often and "
                    "a quiet or failing one less often, within [service] min_interval and max_interval. Evaluates "
                    "alert rules (alerts.yaml) for newly indexed articles and delivers each match once, retrying "
                    "failed channels. Resumes its schedule after a restart. SIGTERM or Ctrl-C stops it cleanly "
                    "(running crawls finish their batch); a second one stops the crawls at once. With a shared "
                    "state in Redis ([state] redis_url or RAQIB_REDIS_URL) several `raqib run`, on several machines, "
                    "form a fleet: each runs a `raqib crawl --worker`, and one at a time schedules crawls and "
                    "evaluates alerts (another takes over within [state] redis_ttl when it dies).",
        epilog="`raqib status` (or `raqib run --status`) shows the schedule, last results and back-offs from any shell.",
    )
    p.add_argument("--outlet", action="append", default=[], metavar="NAME",
                   help="only these outlets (repeatable; default: every enabled outlet)")
    p.add_argument("--every", metavar="DURATION",
                   help="crawl every outlet at this fixed interval (e.g. 30s, 5m) instead of its schedule, without "
                        "adaptive polling: for demos and tests against a local mirror")
    p.add_argument("--status", action="store_true", help="show the state of the running service and exit")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.status:
        from crawler.cli.commands import status

        args.json = False
        return status.run(args)
    from crawler.run.service import Service, ServiceError, default_command
    from crawler.web.server import start_if_enabled
    from pipelines.alerts import context as alert_context
    from pipelines.configfile import parse_duration
    from pipelines.es import client_for
    from pipelines.index import ensure_index
    from pipelines.outlets import select

    every = None
    if args.every:
        every = parse_duration(args.every)
        if not every:
            print(f"raqib run: --every expects a duration such as 30s, 5m or 1h, got {args.every!r}", file=sys.stderr)
            return 2
    cfg = commands.load_settings(args)
    config_dir = commands.config_dir(args)
    outlets = select(commands.load_outlets(args), args.outlet)
    if not outlets:
        print("raqib run: no enabled outlet to crawl (outlets.yaml: enabled: false on all?)", file=sys.stderr)
        return 3
    alert_context.load(config_dir, settings=cfg)   # a broken alerts.yaml stops the start, not a later alert
    if importlib.util.find_spec("crawler.cli.commands.crawl") is None:
        print("raqib run: this installation has no `raqib crawl` command to run", file=sys.stderr)
        return 1
    client = commands.es_client(args, cfg)          # unreachable cluster: one clear error now
    ensure_index(client, commands.alias(cfg))
    _check_queries_on_the_cluster(client, commands.alias(cfg), alert_context.load(config_dir, settings=cfg).rules)
    es_option = args.es or None
    fleet = None
    if cfg.get("state", "redis_url"):               # several `raqib run` share the work: README, Scaling
        from crawler.fleet.leadership import Leadership, worker_command

        fleet = Leadership.open(cfg, worker_argv=worker_command(config_dir, es_option, args.log_format))
    service = Service(
        config_dir=config_dir, settings=cfg, outlets=outlets, state_dir=alert_context.state_dir_for(cfg),
        command=default_command(config_dir, es_option, args.log_format), every=every, alias=commands.alias(cfg),
        es_client_factory=lambda: client_for(cfg, check=False),
        fleet=fleet, workspace=lambda: start_if_enabled(cfg, config_dir),
    )

    def on_signal(signum, frame):
        if service.stopping.is_set():
            service.stop(force=True)
        else:
            log.info("received %s", signal.Signals(signum).name)
            service.stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            service.start()
        except ServiceError as exc:
            print(f"raqib run: {exc}", file=sys.stderr)
            return 1
        service.wait()
        service.stop()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return 0


def _check_queries_on_the_cluster(client, alias: str, rules) -> None:
    """A rule whose query the cluster rejects stops the start (it would fail at every sweep)."""
    from pipelines.alerts.rules import cluster_query_problem
    from pipelines.configfile import ConfigError, Problem

    problems = [Problem("alerts.yaml", f"rule {rule.name}: match.query",
                        f"{rule.query!r} is not valid on the cluster: {reason}")
                for rule in rules if (reason := cluster_query_problem(client, alias, rule))]
    if problems:
        raise ConfigError(problems)
