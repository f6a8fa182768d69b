"""`raqib status`: what the service is doing, read from its persisted state (works from any shell)."""
from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from typing import Any

from crawler.cli import commands
from crawler.cli.commands import Subcommands
from crawler.run import status
from pipelines.configfile import span
from pipelines.process import raqib_command


def register(sub: Subcommands, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("status", parents=[common],
                       help="show the service: next run of each outlet, last results, health and back-offs, alerts",
                       description="Reads the state `raqib run` persists in the state directory, so it works from "
                                   "another shell and while the service is stopped. Each outlet's health (last "
                                   "success, failures in a row and their weighted points, back-off, last new "
                                   "article) comes from the crawl state, so crawls started by hand count too.")
    p.add_argument("--json", action="store_true", help="print the state as one JSON object")
    # The state is shown even when a config file is broken (that is when one wants to see
    # it); the configuration's problems follow it, and the exit code says so.
    p.set_defaults(run=run, checks_config=False)


def gather(args: argparse.Namespace) -> dict[str, Any]:
    cfg = commands.load_settings(args)
    try:
        configured = list(commands.load_outlets(args))
    except Exception:  # noqa: BLE001 - status must work even with a broken outlets.yaml
        configured = []
    return status.gather(cfg, configured)


def run(args: argparse.Namespace) -> int:
    commands.config_dir(args)         # a wrong --config / RAQIB_CONFIG: nothing to show
    info = gather(args)
    if getattr(args, "json", False):
        print(json.dumps(info, ensure_ascii=False, default=str))
    else:
        show(info)
    commands.validate_config(args)
    return 0


def show(info: dict) -> None:
    now = time.time()
    svc = info["service"]
    if info["running"]:
        mode = f"every outlet every {svc['every']:g}s" if svc.get("every") else "each outlet on its schedule"
        print(f"service: running (pid {svc.get('pid')} on {svc.get('host')}, since {_when(svc.get('started_at'), now)}; {mode})")
    elif svc:
        print(f"service: not running (last seen {_when(svc.get('stopped_at') or svc.get('heartbeat'), now)}); "
              f"start it with `raqib run`")
    else:
        print(f"service: has never run with the state directory {info['state_dir']}; start it with `raqib run`")
    if info.get("demo_config") and not svc and not info["health"]:
        print(f"(the demo keeps its own configuration and state; see them with "
              f"`{raqib_command()} --config {info['demo_config']} status`)")
    if info.get("fleet"):
        _print_fleet(info["fleet"], svc)
    outlets = info["outlets"]
    names = list(dict.fromkeys([*info["configured"], *outlets]))
    if names:
        rows = [("outlet", "last run", "result", "next run", "interval")]
        for name in names:
            st = outlets.get(name)
            line = _health_line(info["health"].get(name), now)
            if not st:
                rows.append((name, "never", "-", "when the service starts", "-"))
                if line:
                    rows.append(("", "", "  " + line, "", ""))
                continue
            result = st.get("last_status") or "-"
            if st.get("running_pid"):
                result = f"running (pid {st['running_pid']})"
            if st.get("failures"):
                result += f", back-off after {st['failures']} failure{'s' if st['failures'] > 1 else ''}"
            detail = st.get("last_summary") or ""
            if st.get("last_error"):
                detail = (detail + "; " if detail else "") + st["last_error"]
            rows.append((name, _when(st.get("last_end") or st.get("last_start"), now), result,
                         _next_run(st, now) if info["running"] else "(service stopped)",
                         _span(st.get("interval"))))
            if detail:
                rows.append(("", "", "  " + detail, "", ""))
            if line:
                rows.append(("", "", "  " + line, "", ""))
        widths = [max(len(r[i]) for r in rows if r[0] or i == 0) for i in range(5)]
        for r in rows:
            if not r[0] and r[2].startswith("  "):
                print(" " * (widths[0] + 2) + r[2].strip())
                continue
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    alerts = info["alerts"]
    line = "alerts:"
    if alerts.get("last_run"):
        line += f" last sweep {_when(alerts['last_run'], now)};"
    line += f" {alerts.get('matches', 0)} match(es) recorded"
    print(line)
    for channel, counts in (alerts.get("channels") or {}).items():
        text = f"  {channel}: {counts.get('sent', 0)} sent, {counts.get('pending', 0)} pending"
        if counts.get("abandoned"):
            text += f", {counts['abandoned']} abandoned"
        if counts.get("last_error"):
            text += f"; retry {_when(counts.get('retry_at'), now)} (attempt {counts.get('attempts', 0) + 1}): {counts['last_error']}"
        print(text)
    if alerts.get("last_error"):
        print(f"  last error: {alerts['last_error']}")
    dead = info["dead_letters"]
    if dead["waiting"]:
        print(f"dead letters: {dead['waiting']} article(s) refused by Elasticsearch wait in {dead['file']}; "
              f"`raqib dead-letters list` shows why, `raqib dead-letters replay` sends them again once the cause is fixed")


def _print_fleet(fleet: dict, svc: dict) -> None:
    members = fleet["members"]
    hosts = sorted({(b or {}).get("host", "?") for b in members.values()})
    roles = ", ".join(f"{n} {role}" for role, n in sorted(
        {r: sum(1 for b in members.values() if b.get("role") == r) for r in {b.get("role") for b in members.values()}}.items()))
    print(f"fleet: {len(members)} process(es) on {len(hosts)} machine(s) ({roles or 'none'}); "
          f"scheduling: {fleet['scheduler'] or 'nobody (no raqib run holds the lock)'}")
    crawling = ", ".join(f"{o} (by {m})" for o, m in sorted(fleet["crawling"].items())) or "nothing"
    spooled = sum(fleet["spooled"].values())
    print(f"  frontier: {fleet['queued']} article(s) queued for {fleet['hosts']} host(s), {fleet['in_flight']} in "
          f"flight; crawling now: {crawling}" + (f"; {spooled} document(s) waiting for Elasticsearch" if spooled else ""))
    if fleet["silent"]:
        print(f"  silent (their work is taken over): {', '.join(fleet['silent'])}")


def _health_line(data: dict | None, now: float) -> str:
    from crawler.report.health import Health, describe

    return f"health: {describe(Health.from_state(data['outlet'], data), now)}" if data else ""


def _next_run(st: dict, now: float) -> str:
    """A next run in the past means the run is due and waiting (for its turn among
    [service] max_parallel_crawls, or for the scheduler), never that it happened."""
    if st.get("running_pid"):
        return "now (running)"
    epoch = st.get("next_run")
    if epoch and float(epoch) <= now:
        return f"due now (since {_span(now - float(epoch))}; waits for a free crawl slot)"
    return _when(epoch, now)


def _when(epoch, now: float) -> str:
    if not epoch:
        return "-"
    t = datetime.fromtimestamp(float(epoch)).strftime("%Y-%m-%d %H:%M:%S")
    delta = float(epoch) - now
    return f"{t} ({'in ' + _span(delta) if delta > 0 else _span(-delta) + ' ago'})"


def _span(seconds) -> str:
    return span(float(seconds)) if seconds is not None else "-"
