"""`raqib es start|stop|status`: a local single-node Elasticsearch for development, tests and the demo."""
from __future__ import annotations

import argparse
import json

from crawler.cli.commands import Subcommands
from crawler.ops.esnode import DEFAULT_PORT, ES_VERSION, Node


def register(sub: Subcommands, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("es", parents=[common], help="start, stop or inspect a local Elasticsearch node",
                       description=f"A local single-node Elasticsearch {ES_VERSION} bound to 127.0.0.1, downloaded once "
                                   "from Maven Central into the cache directory (RAQIB_CACHE_DIR). Security is off: "
                                   "for development, tests and the demo only.")
    p.add_argument("action", choices=("start", "stop", "status"))
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"HTTP port (default {DEFAULT_PORT})")
    p.add_argument("--json", action="store_true", help="status as JSON")
    p.set_defaults(run=run, checks_config=False)   # reads no configuration: a broken file never blocks a stop


def run(args: argparse.Namespace) -> int:
    node = Node(port=args.port)
    if args.action == "start":
        started = node.start()
        print(("started" if started else "already running") + f": Elasticsearch {ES_VERSION} at {node.url}")
        from pipelines.process import raqib_command

        print(f"  use it with: {raqib_command()} --es {node.url} …  (or export RAQIB_ES_URL={node.url})")
        return 0
    if args.action == "stop":
        print(f"stopped the node at {node.url}" if node.stop() else f"no raqib node was running at {node.url}")
        return 0
    status = node.status()
    if args.json:
        print(json.dumps(status))
    elif status["running"]:
        print(f"running: {status['url']} (pid {status['pid']}, cluster {status['cluster']}, {status['status']}, "
              f"{status['nodes']} node(s)); data in {status['dir']}")
    else:
        print(f"not running at {status['url']}; start it with: raqib es start --port {args.port}")
    return 0 if status["running"] else 1
