"""`raqib`: the one command-line entry point.

Each command lives in its own module under `crawler/cli/commands/` with two functions,
`register(subparsers, common_parent)` and `run(args) -> int`; this file only wires them together, sets up
logging, and turns the errors a user can act on into one clear line and a non-zero exit.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from pipelines.configfile import ConfigError

# Order is the order of `raqib --help`.
COMMAND_MODULES = (
    "demo", "seed", "crawl", "run", "status", "search", "extract", "tag",
    "outlets", "alerts", "deadletters", "es", "kibana", "web",
)

EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_CLUSTER = 4
EXIT_FAILED = 1


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The global options, accepted before or after the command name."""
    default = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    parser.add_argument("--config", metavar="DIR", default=default(None),
                        help="directory with outlets.yaml, topics.yaml, entities.yaml, alerts.yaml, settings.toml "
                             "(env: RAQIB_CONFIG); a file absent there is taken from the shipped config/, but a "
                             "DIR that does not exist or a misnamed file in it (outlet.yaml, alerts.yml) is an error")
    parser.add_argument("--es", metavar="URL", default=default(None),
                        help="Elasticsearch URL(s), comma-separated (env: RAQIB_ES_URL; credentials: "
                             "RAQIB_ES_API_KEY or RAQIB_ES_USER/RAQIB_ES_PASSWORD, RAQIB_ES_CA_CERTS)")
    parser.add_argument("--log-format", choices=("text", "json"), default=default("text"),
                        help="text (default) or one JSON object per line")
    parser.add_argument("-v", "--verbose", action="count", default=default(0), help="more logging (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False), help="only warnings and errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raqib",
        description="raqib (رقيب): a streaming news-monitoring crawler for coverage of ISIS, Syria and the US presence there.",
        epilog="Run `raqib COMMAND --help` for a command's options.",
    )
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"crawler.cli.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"crawler.cli.commands.{name}":
                continue   # a command still being built is simply absent
            raise
        module.register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USAGE
    from crawler.logs import setup_logging

    setup_logging(args.log_format, verbosity=-1 if args.quiet else args.verbose)
    from crawler.ops.esnode import NodeError
    from crawler.run.crawl import CrawlError
    from pipelines.es import ClusterError, redact
    from pipelines.redisconn import is_redis_error
    from pipelines.storage import StateWriteError

    try:
        if getattr(args, "checks_config", True):   # a command that checks its own opts out (demo, status)
            from crawler.cli.commands import validate_config

            validate_config(args)
        return int(args.run(args) or 0)
    except ConfigError as exc:
        print(f"raqib: configuration error:\n{_indent(str(exc))}", file=sys.stderr)
        return EXIT_CONFIG
    except ClusterError as exc:
        print(f"raqib: {redact(str(exc))}", file=sys.stderr)
        return EXIT_CLUSTER
    except NodeError as exc:
        print(f"raqib: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (CrawlError, StateWriteError) as exc:       # the crawl state or a ledger cannot be written (a full disk)
        print(f"raqib: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("raqib: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if not is_redis_error(exc):
            raise
        # the fleet's Redis failed outside the crawl state (which says so itself)
        print(f"raqib: {_redis_failure(args, exc)}", file=sys.stderr)
        return EXIT_CLUSTER


def _redis_failure(args, exc: Exception) -> str:
    from crawler.cli.commands import load_settings
    from crawler.fleet.members import redis_failure
    from pipelines.es import redact_url

    try:
        where = redact_url(load_settings(args).get("state", "redis_url"))
    except Exception:  # noqa: BLE001 - the settings were read once already; the message must not fail
        where = ""
    return f"stopped: {redis_failure(where or 'the fleet', exc)}"


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


if __name__ == "__main__":
    sys.exit(main())
