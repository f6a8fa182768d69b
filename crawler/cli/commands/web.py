"""`raqib web`: the analyst workspace (search, article, live, alerts, overview, crawler health)."""
from __future__ import annotations

import argparse
import sys

from crawler.cli import commands
from crawler.cli.commands import Subcommands


def register(sub: Subcommands, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("web", parents=[common],
                       help="serve the analyst workspace in a browser (search, live, alerts, overview, health)",
                       description="Serves raqib's web workspace from the same configuration and cluster as the "
                                   "other commands. It listens on 127.0.0.1 unless told otherwise; any other "
                                   "address needs RAQIB_WEB_TOKEN (or RAQIB_WEB_USER and RAQIB_WEB_PASSWORD) in "
                                   "the environment. Defaults come from settings.toml [web].")
    p.add_argument("--host", help="address to listen on (default: [web] host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: [web] port, 8080)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from crawler.web.security import WebConfigError
    from crawler.web.server import WebServer

    cfg = commands.load_settings(args)
    host = args.host or cfg.get("web", "host")
    port = args.port if args.port is not None else cfg.get("web", "port")
    try:
        server = WebServer(cfg, commands.config_dir(args), host=host, port=port, es_override=getattr(args, "es", None))
    except WebConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    commands.es_client(args, cfg)      # an unreachable cluster is one clear line now, not a page later
    print(f"raqib web: serving on {server.url} (Ctrl-C to stop)", flush=True)
    try:
        server.serve()
    except OSError as exc:
        print(f"raqib web: cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port", file=sys.stderr)
        return 1
    return 0
