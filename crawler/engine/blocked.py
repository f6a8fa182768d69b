"""Which outlets block this crawl (a challenge page, a run of 403s): one registry per Scrapy
crawler, and the `outlet_blocked` signal that tells who must act on a new block.

The middlewares that see a block (robots.txt behind a challenge, BLOCK_THRESHOLD blocked
answers in a row) call `BlockedOutlets.of(crawler).block(...)`; the spider, connected to the
signal, records it in the stats and the crawl state and tells the fleet; the download
handler and the block middleware drop the outlet's remaining requests by asking the
registry. None of them needs to know the others.
"""
from __future__ import annotations

from typing import Any

from twisted.python.failure import Failure

# Scrapy signal, sent once per outlet and crawl: receivers get `outlet` and `reason`.
outlet_blocked = object()


class BlockedOutlets:
    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.reasons: dict[str, str] = {}      # outlet key -> why (also set from the fleet's shared blocks)

    @classmethod
    def of(cls, crawler: Any) -> BlockedOutlets:
        """The crawler's registry (created on first use)."""
        registry = getattr(crawler, "raqib_blocked", None)
        if registry is None:
            registry = crawler.raqib_blocked = cls(crawler)
        return registry

    def __contains__(self, outlet: object) -> bool:
        return outlet in self.reasons

    def reason(self, outlet: str) -> str | None:
        return self.reasons.get(outlet)

    def block(self, outlet: str, reason: str) -> bool:
        """Record a new block and send `outlet_blocked`; False when it was known already. A
        receiver's failure (the crawl state cannot be written) is raised here, as before."""
        if outlet in self.reasons:
            return False
        self.reasons[outlet] = reason
        for _, result in self.crawler.signals.send_catch_log(signal=outlet_blocked, outlet=outlet, reason=reason):
            if isinstance(result, Failure):
                result.raiseException()
        return True
