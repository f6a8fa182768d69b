"""Everything alerting needs from the configuration, loaded once per process and reloaded
when a file changes: the rules, the settings, the ledger and the channels built from them.

`on_indexed` runs after every bulk write of a crawl, so re-reading YAML each time would be
waste; a changed alerts.yaml is still picked up by a running service without a restart.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.alerts.channels import Channel, build
from pipelines.alerts.ledger import Backoff, Ledger
from pipelines.alerts.ledger_redis import RedisLedger
from pipelines.alerts.rules import Rule, known_topics, load_rules, load_saved_rules, saved_rules_path
from pipelines.configfile import resolve
from pipelines.outlets import load_outlets
from pipelines.settings import Settings, load_settings

_lock = threading.Lock()
_cache: dict[str, tuple[tuple, Alerting]] = {}
_ledgers: dict[str, Ledger] = {}


@dataclass
class Alerting:
    rules: list[Rule]
    settings: Settings
    ledger: Ledger
    state_dir: Path
    backoff: Backoff
    channels: dict[str, Channel] = field(default_factory=dict)

    @property
    def active_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled and r.channels]

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def channel(self, rule: Rule, key: str) -> Channel | None:
        spec = rule.channel(key)
        if spec is None:
            return None
        if key not in self.channels:
            self.channels[key] = build(spec, self.settings, self.state_dir)
        return self.channels[key]


def state_dir_for(settings) -> Path:
    return settings.state_dir


def ledger_path(settings) -> Path:
    configured = settings.get("alerts", "ledger")
    return Path(configured).expanduser() if configured else state_dir_for(settings) / "alerts.sqlite3"


def ledger_for(path: Path) -> Ledger:
    with _lock:
        key = str(path.resolve()) if path.exists() else str(path)
        if key not in _ledgers:
            _ledgers[key] = Ledger(path)
        return _ledgers[key]


def ledger_of(settings):
    """The ledger the settings ask for: in Redis when the crawl state is shared by a fleet
    (pipelines/alerts/ledger_redis.py: every machine must see what was sent), else the
    SQLite file."""
    url = settings.get("state", "redis_url")
    if not url:
        return ledger_for(ledger_path(settings))

    with _lock:
        if url not in _ledgers:
            _ledgers[url] = RedisLedger.open(settings)
        return _ledgers[url]


def load(config_dir: Path | None = None, *, settings=None) -> Alerting:
    """The alerting context for `config_dir`; cached until one of its files changes."""
    files = [resolve(n, config_dir) for n in ("alerts.yaml", "settings.toml", "outlets.yaml", "topics.yaml")]
    given, settings = settings, settings or load_settings(config_dir)
    files.append(saved_rules_path(state_dir_for(settings)))     # rules saved from `raqib web`
    stamp = tuple(_mtime(f) for f in files) + (id(given),)
    key = str(config_dir)
    with _lock:
        hit = _cache.get(key)
        if hit and hit[0] == stamp:
            return hit[1]
    outlets, topics = load_outlets(config_dir), known_topics(config_dir)
    rules = load_rules(config_dir, outlets=outlets, topics=topics)
    rules += load_saved_rules(state_dir_for(settings), taken=[r.name for r in rules], outlets=outlets, topics=topics)
    a = settings["alerts"]
    ctx = Alerting(
        rules=rules, settings=settings, ledger=ledger_of(settings),
        state_dir=state_dir_for(settings),
        backoff=Backoff(base=a["retry_base"], cap=a["retry_max"], give_up_after=a["give_up_after"]),
    )
    with _lock:
        _cache[key] = (stamp, ctx)
    return ctx


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0
