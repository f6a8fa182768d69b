"""What `raqib status` and the workspace's health page show, gathered in one place: the
service's state file, the alert ledger (local or the fleet's), each outlet's health from the
crawl state and the dead letters. It only reads: a state that does not exist is not created."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from crawler.fleet.members import Fleet, describe
from crawler.report import health
from crawler.run.service import read_state, service_alive
from crawler.state.factory import open_state
from crawler.state.store import SqliteState
from pipelines.alerts import context as alert_context
from pipelines.alerts.ledger import Ledger
from pipelines.deadletters import summary
from pipelines.paths import demo_dir
from pipelines.settings import Settings


def gather(cfg: Settings, configured: list[str]) -> dict[str, Any]:
    """Everything `raqib status --json` prints; `configured` are the outlets of outlets.yaml
    (empty when that file is broken: status must still show what ran)."""
    state_dir = alert_context.state_dir_for(cfg)
    data = read_state(state_dir)
    alerts = {**(data.get("alerts") or {}), **_ledger_summary(cfg)}
    fleet = None
    if cfg.get("state", "redis_url"):              # a fleet: its ledger and frontier are in Redis
        handle = Fleet.open(cfg, role="status")
        try:
            fleet = describe(handle)
        finally:
            handle.close()
    names = list(dict.fromkeys([*configured, *(data.get("outlets") or {})]))
    return {"state_dir": str(state_dir), "running": service_alive(data), "service": data.get("service") or {},
            "demo_config": _demo_config(state_dir),
            "outlets": data.get("outlets") or {}, "configured": configured, "alerts": alerts,
            "health": _health(cfg, names), "dead_letters": _dead_letters(cfg), "fleet": fleet}


def _ledger_summary(cfg: Settings) -> dict[str, Any]:
    if cfg.get("state", "redis_url"):
        return dict(alert_context.ledger_of(cfg).summary())
    path = alert_context.ledger_path(cfg)
    if not path.exists():
        return {}
    with Ledger(path) as ledger:
        return dict(ledger.summary())


def _demo_config(state_dir: Path) -> str | None:
    """The demo's configuration directory when the demo has run and this is not its state."""
    demo = demo_dir()
    if (demo / "config").is_dir() and (demo / "state").resolve() != state_dir.resolve():
        return str(demo / "config")
    return None


def _dead_letters(cfg: Settings) -> dict[str, Any]:
    """Articles Elasticsearch refused, waiting for `raqib dead-letters replay`."""
    found = summary(cfg.state_dir)
    return {"waiting": found["waiting"], "file": found["file"]}


def _health(cfg: Settings, names: list[str]) -> dict[str, Any]:
    """Each outlet's health from the crawl state (crawler/report/health.py); {} before any crawl."""
    if not cfg.get("state", "redis_url") and not (cfg.state_dir / SqliteState.FILENAME).exists():
        return {}
    state = open_state(cfg)
    try:
        found = {name: health.read(state, name) for name in names}
    finally:
        state.close()
    return {name: h.to_dict() for name, h in found.items() if h.crawled}
