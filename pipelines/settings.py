"""`settings.toml`: operational settings (politeness, the cluster, SMTP, state), with
environment overrides for what differs per deployment or is secret.

The schema below is the single list of settings: their section, type and default. Unknown
keys are errors, so a misspelt setting is reported instead of silently ignored.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.configfile import Checker, join, load_toml, parse_duration, resolve
from pipelines.paths import state_dir as default_state_dir

# The alias the articles are written to and searched through when `[elasticsearch] alias` is
# not set: the one place the name is spelled (index, search, Kibana's data view, the spider).
DEFAULT_ALIAS = "raqib-articles"
DEFAULT_CRAWLS_INDEX = "raqib-crawls"      # `[elasticsearch] crawls_index`: the crawl metrics (crawler/report/crawls.py)

_str, _int, _float, _bool, _list, _dur = "str", "int", "float", "bool", "list", "duration"

SCHEMA: dict[str, dict[str, tuple[str, Any]]] = {
    "crawl": {
        # Identify honestly: a name, a version and where to read about the crawler.
        "user_agent": (_str, "raqib/{version} (news monitoring crawler; +{contact})"),
        "contact": (_str, "https://github.com/raqib-monitor/raqib#crawler"),
        "download_delay": (_float, 2.0),          # seconds between requests to one host
        "concurrency_per_domain": (_int, 2),
        "concurrency": (_int, 16),                # all hosts together
        "autothrottle": (_bool, True),
        "autothrottle_target_concurrency": (_float, 1.0),
        "autothrottle_max_delay": (_float, 60.0),
        "timeout": (_float, 30.0),
        "retries": (_int, 3),
        "max_page_bytes": (_int, 8 * 1024 * 1024),   # larger responses are cut off and counted
        "max_decompressed_bytes": (_int, 32 * 1024 * 1024),
        "max_articles_per_outlet": (_int, 0),       # 0: no cap beyond --max-pages
        "refetch_after": (_dur, 0.0),             # revisit known articles after this long (0: only on a sign of change)
        "retry_backoff": (_dur, 5.0),             # pause of a host after a 5xx or timeout; doubled per retry
        "retry_after_max": (_dur, 600.0),         # a longer Retry-After gives the URL up until the next crawl
        "sitemap_window": (_dur, 7 * 86400.0),    # sitemap entries older than this wait for --backfill (0: take all)
        "first_crawl_window": (_dur, 30 * 86400.0),  # ... on an outlet's first crawl (never narrower than sitemap_window)
        "proxy": (_str, ""),
        "progress_interval": (_dur, 30.0),        # per-outlet progress lines in the log during a crawl (0: none)
    },
    "elasticsearch": {
        "url": (_list, ["http://127.0.0.1:9200"]),
        "alias": (_str, DEFAULT_ALIAS),
        "crawls_index": (_str, DEFAULT_CRAWLS_INDEX),
        "request_timeout": (_float, 30.0),
        "bulk_size": (_int, 200),
        "replicas": (_int, -1),                   # -1: 0 on a single node, 1 when the cluster has more
        "sniff": (_bool, False),                  # ask the cluster for its other nodes (only where their addresses reach them)
    },
    "state": {
        "dir": (_str, ""),                        # default: $XDG_STATE_HOME/raqib
        "redis_url": (_str, ""),                  # shared state, frontier and locks for several workers (README: Scaling)
        "redis_ttl": (_dur, 30.0),                # a silent worker's leases, spool and locks are taken over after this
    },
    "smtp": {
        "host": (_str, "127.0.0.1"),
        "port": (_int, 25),
        "starttls": (_bool, False),
        "ssl": (_bool, False),
        "username": (_str, ""),
        "password_env": (_str, "RAQIB_SMTP_PASSWORD"),
        "sender": (_str, "raqib <raqib@localhost>"),
        "timeout": (_float, 30.0),
        "ca_certs": (_str, ""),                   # CA file for a relay with a private certificate
    },
    "alerts": {
        "ledger": (_str, ""),                     # default: <state dir>/alerts.sqlite3
        "retry_max": (_dur, 3600.0),              # longest wait between two tries of a failing channel
        "retry_base": (_dur, 10.0),               # first wait; doubles per failed try up to retry_max
        "give_up_after": (_dur, 7 * 86400.0),     # an undeliverable alert is abandoned (and logged) after this
        "sweep_interval": (_dur, 60.0),           # `raqib run`: how often to evaluate articles indexed by others and retry
        "overlap": (_dur, 120.0),                 # the sweep re-reads this far before its checkpoint (refresh lag, clock skew)
        "send_budget": (_dur, 20.0),              # longest a crawl's bulk write waits for alert sends; the rest is retried later
    },
    "service": {
        "jitter": (_dur, 30.0),
        "min_interval": (_dur, 300.0),            # adaptive polling never crawls an outlet more often than this
        "max_interval": (_dur, 6 * 3600.0),       # ... nor a silent or failing one less often than this
        "adaptive": (_bool, True),                # shorten the interval of an outlet that keeps publishing, lengthen a quiet one
        "max_parallel_crawls": (_int, 2),         # child crawl processes at once (each outlet runs alone)
        "stop_timeout": (_dur, 120.0),            # on SIGTERM, how long a crawl may take to finish its in-flight batch
        "crawl_timeout": (_dur, 3 * 3600.0),      # a crawl running longer is asked to stop
    },
    "web": {                                      # `raqib web` (README: Web); auth only from the environment
        "enabled": (_bool, False),                # `raqib run` serves it too
        "host": (_str, "127.0.0.1"),              # another address needs RAQIB_WEB_TOKEN or RAQIB_WEB_USER/PASSWORD
        "port": (_int, 8080),
    },
}

# Environment variables that override a setting: deployment-specific or secret.
ENV_OVERRIDES = {
    "RAQIB_ES_URL": ("elasticsearch", "url"),
    "RAQIB_ES_ALIAS": ("elasticsearch", "alias"),
    "RAQIB_REDIS_URL": ("state", "redis_url"),
    "RAQIB_STATE_DIR": ("state", "dir"),
    "RAQIB_SMTP_HOST": ("smtp", "host"),
    "RAQIB_SMTP_PORT": ("smtp", "port"),
    "RAQIB_SMTP_USER": ("smtp", "username"),
}


@dataclass
class Settings:
    values: dict[str, dict[str, Any]]
    source: str

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.values[section]

    def get(self, section: str, key: str) -> Any:
        return self.values[section][key]

    @property
    def state_dir(self) -> Path:
        """Where crawl state, the spool and the alert ledger live: `[state] dir` (or
        $RAQIB_STATE_DIR, folded in above), else the per-user default."""

        configured = self.values["state"]["dir"]
        return Path(configured).expanduser() if configured else default_state_dir()


def load_settings(config_dir: Path | None = None, *, overrides: dict[tuple[str, str], Any] | None = None) -> Settings:
    path = resolve("settings.toml", config_dir)
    raw = load_toml(path) if path.exists() else {}
    return parse_settings(raw, str(path), overrides=overrides)


def parse_settings(raw: dict, file: str = "settings.toml", *, overrides: dict[tuple[str, str], Any] | None = None) -> Settings:
    check = Checker(file)
    values = {section: {k: default for k, (_, default) in keys.items()} for section, keys in SCHEMA.items()}
    raw = check.mapping(raw, "", allowed=SCHEMA)
    for section, keys in SCHEMA.items():
        given = check.mapping(raw.get(section), section, allowed=keys)
        for key, value in given.items():
            if key in keys:
                values[section][key] = _coerce(check, join(section, key), keys[key][0], value)
    for env, (section, key) in ENV_OVERRIDES.items():
        if os.environ.get(env):
            values[section][key] = _coerce(check, f"${env}", SCHEMA[section][key][0], os.environ[env], from_env=True)
    for (section, key), value in (overrides or {}).items():
        if value is not None:
            values[section][key] = _coerce(check, f"{section}.{key}", SCHEMA[section][key][0], value, from_env=True)
    check.raise_if_any()
    return Settings(values, file)


def _coerce(check: Checker, path: str, kind: str, value: Any, *, from_env: bool = False) -> Any:
    if from_env and isinstance(value, str):
        if kind == "int":
            try:
                return int(value)
            except ValueError:
                check.add(path, f"expected an integer, got {value!r}")
                return None
        if kind == "list":
            return [v.strip() for v in value.split(",") if v.strip()]
    if kind == "str":
        if not isinstance(value, str):
            check.add(path, f"expected a string, got {value!r}")
        return value
    if kind == "int":
        return check.number(value, path, integer=True)
    if kind == "float":
        return check.number(value, path)
    if kind == "bool":
        return check.boolean(value, path)
    if kind == "duration":
        seconds = parse_duration(value)
        if seconds is None:
            check.add(path, f"expected a duration such as 90s, 15m, 2h or 1d, got {value!r}")
        return seconds
    if kind == "list":
        if isinstance(value, str):
            return [value]
        return check.string_list(value, path)
    raise AssertionError(kind)
