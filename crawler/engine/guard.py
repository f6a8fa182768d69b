"""Stopping a crawl that can no longer keep what it fetches.

When the crawl state or the spool cannot be written (a full disk, a file-size limit, a
read-only directory), every article fetched from then on could be neither spooled nor
remembered. Scrapy's default is to log the exception of each callback or pipeline and go
on, which would drop those articles one by one; `StorageGuard` instead stops the crawl at
the first such fault, once, with one clear message. What the crawl had not written is
fetched again by the next crawl (it is still `pending` in the state), and what it had written
is not written twice (stable document ids).
"""
from __future__ import annotations

import logging

from scrapy import signals
from scrapy.utils.defer import deferred_from_coro

from crawler.engine.context import context_of
from crawler.fleet.members import redis_failure
from pipelines.redisconn import is_redis_error
from pipelines.storage import StateWriteError

logger = logging.getLogger("raqib.crawl")

FATAL_STAT = "raqib-fatal/error"
FINISH_REASON = "state_unwritable"


def is_storage_fault(exc: BaseException | None) -> bool:
    """A fault of what the crawl keeps its work in: the local state or spool, or the fleet's
    Redis (an error that outlived the client's retries: Redis is gone, full or read-only)."""
    return isinstance(exc, StateWriteError) or is_redis_error(exc)


def describe(crawler, exc: BaseException) -> str:
    if isinstance(exc, StateWriteError):
        return str(exc)

    ctx = context_of(crawler)
    fleet = ctx.fleet if ctx is not None else None
    return f"cannot use the fleet's shared state: {redis_failure(fleet.where if fleet else 'the fleet', exc)}"


def stop_crawl(crawler, exc: BaseException) -> None:
    """Record the fault (the first one wins) and close the spider."""
    if crawler.stats.get_value(FATAL_STAT) is not None:
        return
    message = describe(crawler, exc)
    crawler.stats.set_value(FATAL_STAT, message)
    logger.error("%s", message)
    engine = getattr(crawler, "engine", None)
    if engine is None or engine.spider is None:
        return

    deferred_from_coro(engine.close_spider_async(reason=FINISH_REASON)).addErrback(lambda f: None)


class _HideStorageTracebacks(logging.Filter):
    """Scrapy logs each failing callback with its traceback; a storage fault is reported
    once, by `stop_crawl`, in words."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not is_storage_fault(exc)


class StorageGuard:
    """A Scrapy extension: a storage fault raised by a callback, an errback or an item
    pipeline stops the crawl."""

    _filter = _HideStorageTracebacks()

    def __init__(self, crawler):
        self.crawler = crawler
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)
        crawler.signals.connect(self.item_error, signal=signals.item_error)
        for name in ("scrapy.core.scraper", "scrapy.utils.signal", "scrapy.core.engine"):
            log = logging.getLogger(name)
            if self._filter not in log.filters:
                log.addFilter(self._filter)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def spider_error(self, failure, response=None, spider=None) -> None:
        if is_storage_fault(failure.value):
            stop_crawl(self.crawler, failure.value)

    def item_error(self, item=None, response=None, spider=None, failure=None) -> None:
        if failure is not None and is_storage_fault(failure.value):
            stop_crawl(self.crawler, failure.value)
