"""`python -m crawler.mirror serve`: run the mirror until interrupted (for the demo and for
poking at it with a browser or curl)."""
from __future__ import annotations

import argparse
import http.client
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from pipelines.process import raqib_command


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
    serve.add_argument("--port", type=int, default=0, help="port on every mirror address (default: chosen by the system)")
    serve.add_argument("--config-dir", type=Path, help="where to write outlets.yaml (default: a new temporary directory)")
    sub.add_parser("faults", help="print the table of faults (kind, outlet, channel, what a crawl must do)")
    bench = sub.add_parser("bench", help="measure how fast the mirror serves article pages to a concurrent client")
    bench.add_argument("--articles-per-outlet", type=int, default=1000, metavar="N")
    bench.add_argument("--clients", type=int, default=8, help="concurrent keep-alive connections (default 8)")
    args = parser.parse_args(argv)
    if args.command == "faults":
        from crawler.mirror import Mirror
        from crawler.mirror.faults import markdown_table
        print(markdown_table(Mirror(faults=True).fault_urls()))
        return 0
    if args.command == "bench":
        return run_bench(args.articles_per_outlet, args.clients)

    from crawler.mirror import Mirror, MirrorError
    from crawler.mirror.config import LOCAL_CRAWL_SETTINGS

    try:
        mirror = Mirror(outlets=args.outlets, faults=args.faults, articles_per_outlet=args.articles_per_outlet,
                        blocked=args.blocked, port=args.port).start()
    except MirrorError as exc:
        print(f"mirror: {exc}", file=sys.stderr)
        return 2
    temporary = args.config_dir is None          # made here, so removed here when serving ends
    config_dir = args.config_dir or Path(tempfile.mkdtemp(prefix="raqib-mirror-"))
    try:
        try:
            mirror.write_config(config_dir, include_new_site=args.new_site)
        except MirrorError as exc:
            mirror.close()
            print(f"mirror: {exc}", file=sys.stderr)
            return 2
        settings = config_dir / "settings.toml"
        if not settings.exists():                # a directory of the user's keeps their settings
            settings.write_text("# written by `python -m crawler.mirror serve`: delays for a mirror on this machine\n"
                                + LOCAL_CRAWL_SETTINGS, encoding="utf-8")
        return _serve(mirror, config_dir, removed=temporary)
    finally:
        if temporary:
            shutil.rmtree(config_dir, ignore_errors=True)


def _serve(mirror, config_dir: Path, *, removed: bool) -> int:
    for key, site in mirror.sites.items():
        print(f"{key:<22} {mirror.base_url(key)}/  ({len(mirror.truth(key))} articles)")
    print(f"config directory: {config_dir}" + (" (removed when the mirror stops)" if removed else ""))
    print(f"  e.g.  {raqib_command()} --config {config_dir} crawl --dry-run")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())   # before the line a supervisor waits for
    print("serving until interrupted (Ctrl-C)", flush=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        mirror.close()
    print(f"stopped; {len(mirror.requests())} requests served")
    return 0


def run_bench(per_outlet: int, clients: int) -> int:
    """Fetch every article page of a large mirror, as a crawler would (gzip, keep-alive,
    several connections), and print pages per second and the server's CPU time per page."""
    import json
    import resource
    import time

    from crawler.mirror import Mirror
    from crawler.mirror.client import fetch_all

    started = time.perf_counter()
    with Mirror(articles_per_outlet=per_outlet) as m:
        build = time.perf_counter() - started
        urls = [t["url"] for key in m.outlets for t in m.truth(key)]
        sizes: list[int] = []
        errors: list[str] = []

        def on_reply(url: str, resp: http.client.HTTPResponse, body: bytes) -> None:   # list.append is atomic
            if resp.status == 200:
                sizes.append(len(body))
            else:
                errors.append(url)

        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        fetch_all(urls, clients, on_reply)
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    result = {"pages": len(sizes), "errors": len(errors), "seconds": round(wall, 2),
              "pages_per_second": round(len(sizes) / wall, 1), "cpu_ms_per_page_incl_client": round(1000 * cpu / max(1, len(sizes)), 2),
              "mean_gzip_bytes": round(sum(sizes) / max(1, len(sizes))), "build_seconds": round(build, 2)}
    print(json.dumps(result))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
