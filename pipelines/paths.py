"""Where raqib finds its shipped files and keeps its own state.

The shipped `config/` and `seeds/` directories sit beside the `crawler` package in the
source tree (raqib is installed editable, or copied whole into its container), so they are
located relative to this file; `RAQIB_HOME` overrides that for unusual layouts.
"""
from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    env = os.environ.get("RAQIB_HOME")
    return Path(env).resolve() if env else Path(__file__).resolve().parent.parent


def shipped_config_dir() -> Path:
    return project_root() / "config"


def seeds_dir() -> Path:
    return project_root() / "seeds"


def cache_dir() -> Path:
    """Downloads (the Elasticsearch distribution) and local node data.

    As root the default is /var/cache/raqib rather than ~/.cache: Elasticsearch refuses to
    run as root, so the node runs as an unprivileged user, who cannot enter /root.
    """
    env = os.environ.get("RAQIB_CACHE_DIR")
    if env:
        return Path(env)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/cache/raqib")
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "raqib"


def demo_dir() -> Path:
    """Where `raqib demo` keeps its configuration, state and node between runs."""
    return state_dir() / "demo"


def state_dir() -> Path:
    """Crawl state, spool, alert ledger: things that must survive restarts."""
    env = os.environ.get("RAQIB_STATE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "raqib"
