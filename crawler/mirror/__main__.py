"""`python -m crawler.mirror serve`: run the mirror until interrupted (for the demo and for
poking at it with a browser or curl)."""
from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.mirror", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the mirror and write a config directory pointing at it")
    serve.add_argument("--outlet", action="append", dest="outlets", metavar="NAME",
                       help="serve only this outlet (repeatable; default: all)")
    serve.add_argument("--faults", action="store_true", help="serve the faults too (see the package README)")
    serve.add_argument("--articles-per-outlet", type=int, metavar="N",
                       help="grow each outlet to N articles (for benchmarks)")
    serve.add_argument("--blocked", action="append", default=[], metavar="NAME",
                       help="this outlet answers every request with a CDN challenge")
    serve.add_argument("--new-site", action="store_true", help="include the sixth site in the written config")
    serve.add_argument("--config-dir", type=Path, help="where to write outlets.yaml (default: a new temporary directory)")
    args = parser.parse_args(argv)

    from crawler.mirror import Mirror, MirrorError

    try:
        mirror = Mirror(outlets=args.outlets, faults=args.faults, articles_per_outlet=args.articles_per_outlet,
                        blocked=args.blocked).start()
    except MirrorError as exc:
        print(f"mirror: {exc}", file=sys.stderr)
        return 2
    config_dir = args.config_dir or Path(tempfile.mkdtemp(prefix="raqib-mirror-"))
    try:
        path = mirror.write_config(config_dir, include_new_site=args.new_site)
    except MirrorError as exc:
        mirror.close()
        print(f"mirror: {exc}", file=sys.stderr)
        return 2
    for key, site in mirror.sites.items():
        print(f"{key:<22} {mirror.base_url(key)}/  ({len(mirror.truth(key))} articles)")
    print(f"config directory: {config_dir}")
    print(f"  e.g.  raqib --config {config_dir} crawl")
    print("serving until interrupted (Ctrl-C)", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        mirror.close()
    print(f"stopped; {len(mirror.requests())} requests served")
    return 0


if __name__ == "__main__":
    sys.exit(main())
