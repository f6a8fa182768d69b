"""Which crawl state a process uses: the settings decide between the local SQLite file
(crawler/state/store.py) and the fleet's Redis (crawler/state/redis_store.py). The choice sits above
both implementations, so neither imports the other's module to make it.
"""
from __future__ import annotations

from pathlib import Path

from crawler.state.redis_store import RedisState
from crawler.state.store import CrawlState, SqliteState
from pipelines.paths import state_dir as default_state_dir
from pipelines.settings import Settings


def open_state(settings: Settings | None, *, state_dir: Path | None = None) -> CrawlState:
    """The state the settings ask for: `[state] redis_url` for a shared one, else the local
    SQLite file in `[state] dir` (default: the user's state directory)."""
    if settings is not None and settings.get("state", "redis_url"):
        return RedisState.open(settings)
    if state_dir is None:
        state_dir = settings.state_dir if settings is not None else default_state_dir()
    return SqliteState(state_dir)
