"""What one crawl works with, hung on Scrapy's Crawler so every component finds it there.

crawler/run/crawl.py builds one `CrawlContext` per crawl and attaches it to the crawler before
the spider exists; the spider, the middlewares, the item pipelines, the progress line and
the storage guard read it with `context_of(crawler)` instead of reaching into the spider.
"""
from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.state.store import CrawlState
from pipelines.outlets import Outlet
from pipelines.settings import DEFAULT_ALIAS

_ATTRIBUTE = "raqib_context"


@dataclass
class CrawlContext:
    """What one crawl works with; built by crawler.run.crawl.run_crawl and shared with the pipelines."""
    outlets: list[Outlet]
    settings: Any                     # pipelines.settings.Settings
    state: CrawlState
    client: Any = None                # elasticsearch.Elasticsearch (None: nothing is written)
    alias: str = DEFAULT_ALIAS
    config_dir: Path | None = None
    backfill: bool = False
    max_pages: int | None = None
    tagger: Any = None
    cpu: Executor | None = None       # executor for extraction and enrichment
    io: Executor | None = None        # executor for cluster calls
    started_at: float = field(default_factory=time.time)
    alerts: dict[str, int] = field(default_factory=dict)   # what the alerting hook reported during the crawl
    dry_run: bool = False             # crawler/run/dryrun.py: nothing is written anywhere
    fleet: Any = None                 # crawler.fleet.members.Fleet when the state is shared through Redis
    worker: bool = False              # `raqib crawl --worker`: serve the fleet's frontier, discover nothing
    would_index: list[dict[str, Any]] = field(default_factory=list)   # a dry run's articles


def attach(crawler: Any, context: CrawlContext) -> None:
    """Hang `context` on a Scrapy Crawler (before its spider is created)."""
    setattr(crawler, _ATTRIBUTE, context)


def context_of(crawler: Any) -> CrawlContext | None:
    """The context crawler/run/crawl.py attached to `crawler`, or None outside such a crawl
    (a test driving one component on a bare Crawler)."""
    context = getattr(crawler, _ATTRIBUTE, None)
    return context if isinstance(context, CrawlContext) else None
