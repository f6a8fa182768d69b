"""The one back-off rule: wait `base` after the first failure, doubled for each one after,
never more than `cap`; optionally with jitter, so that many waiters on one recovering
server do not all return in the same second.

Everything in raqib that waits after a failure uses it: an outlet's next crawl and a feed's
next fetch (crawler/report/health.py, crawler/state/store.py), a throttled host's pause
(crawler/engine/middlewares.py), the index pipeline during a cluster outage
(crawler/engine/item_pipelines.py), an alert channel's retry (pipelines/alerts/ledger.py) and the
fleet worker's restart (crawler/fleet/leadership.py).
"""
from __future__ import annotations

import math
import random


def backoff(failures: float, base: float, cap: float, *, jitter: float = 0.0) -> float:
    """`base * 2**failures` seconds, at most `cap`; `failures` counts the failures *before*
    the last one (0: the first wait is `base`). With `jitter` 0.2 the wait is spread ±20%."""
    wait = min(cap, base * math.pow(2.0, max(0.0, failures)))
    return wait * random.uniform(1.0 - jitter, 1.0 + jitter) if jitter else wait
