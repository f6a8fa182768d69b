"""Stopping a crawl at once on SIGTERM or Ctrl-C: no request that was not sent yet goes out.

On the first signal Scrapy closes the spider gracefully, which waits for every request the
engine has handed to the downloader. With a per-host delay most of those are not being
fetched but waiting in the host's queue for their turn (up to CONCURRENT_REQUESTS of them):
they went out one by one, `download_delay` apart, after the signal (38 s on a real outlet,
inside `[service] stop_timeout` but fetching what nobody wanted any more). `PromptStop` drops
those queued requests as the signal arrives, so only the transfers in flight finish and are
indexed. A dropped article is still pending in the crawl state, exactly as after a crash,
and the next crawl fetches it: nothing is lost, nothing is counted as an error.
"""
from __future__ import annotations

import logging
import signal
from functools import partial

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from twisted.python.failure import Failure

logger = logging.getLogger("raqib.crawl")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StoppedBeforeSending(IgnoreRequest):
    """A queued request dropped because the crawl is stopping (never sent)."""


class PromptStop:
    def __init__(self, crawler):
        self.crawler = crawler
        self.stopping = False
        crawler.signals.connect(self._engine_started, signal=signals.engine_started)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def _engine_started(self) -> None:
        from twisted.internet import reactor

        # Scrapy installs its own shutdown handlers when the reactor starts: wrap them then.
        reactor.callWhenRunning(self._install)

    def _install(self) -> None:
        for sig in _SIGNALS:
            previous = signal.getsignal(sig)
            if callable(previous):
                signal.signal(sig, partial(self._on_signal, previous))

    def _on_signal(self, previous, signum, frame) -> None:
        if not self.stopping:
            self.stopping = True
            from twisted.internet import reactor

            reactor.callFromThread(self.drop_queued)   # before Scrapy's own stop, queued after it
        previous(signum, frame)

    def drop_queued(self) -> int:
        """Drop every request waiting in a downloader slot (not the ones being transferred)."""
        engine = getattr(self.crawler, "engine", None)
        downloader = getattr(engine, "downloader", None)
        if downloader is None:
            return 0
        dropped = 0
        for slot in list(downloader.slots.values()):
            while slot.queue:
                request, deferred = slot.queue.popleft()
                request.errback = None           # not a failure of the request: nothing to count
                deferred.errback(Failure(StoppedBeforeSending("the crawl is stopping")))
                dropped += 1
        if dropped:
            logger.info("stopping: %d queued request(s) not sent; the next crawl fetches them", dropped)
        return dropped
