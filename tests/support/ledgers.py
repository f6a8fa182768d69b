"""One contract both alert ledgers (SQLite and Redis) must keep, exercised the same way."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def claims_by_concurrent_workers(open_ledger: Callable[[], Any], *, workers: int = 4, rounds: int = 20,
                                 limit: int = 15) -> list[str]:
    """Every delivery key claimed by `workers` threads, each with its own ledger handle (as
    separate processes have), claiming `limit` at a time for `rounds` rounds; a key claimed
    twice appears twice."""
    claims: list[list[str]] = []

    def worker() -> None:
        ledger = open_ledger()
        got: list[str] = []
        for _ in range(rounds):
            got += [d.key for d in ledger.claim_due(owner=str(threading.get_ident()), limit=limit)]
        claims.append(got)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [k for c in claims for k in c]
