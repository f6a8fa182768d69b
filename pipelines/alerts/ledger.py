"""The durable record of what was matched and what was delivered: the reason an alert goes
out once.

One SQLite file in the state directory, shared by every process on the machine (the service,
each crawl it starts, `raqib crawl` run by hand). Three facts live here:

* `matches`: (rule, article) pairs, with a snapshot of the article as it was matched. A pair
  is inserted once; a re-crawled or updated article finds its pair already there and so
  never alerts again.
* `deliveries`: one row per (rule, article, channel), pending until the channel accepted it.
  A failed send is rescheduled with exponential back-off; a process that claims a delivery
  holds a lease on it, so two processes never send the same one, and a process that dies
  mid-send lets the lease run out instead of losing the delivery (at once when the dead
  holder was on this machine: `owner_is_dead`).
* `checkpoints`: how far the sweep over newly indexed articles has got.

The one window in which a delivery can be repeated is a crash between a channel accepting a
message and the row being marked sent; every message therefore carries a stable delivery id
(webhook header, mail Message-ID, file field) that a receiver can deduplicate on.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.backoff import backoff
from pipelines.process import pid_alive
from pipelines.storage import StateWriteError, storage_fault

SCHEMA = """
CREATE TABLE IF NOT EXISTS matches (
    rule        TEXT NOT NULL,
    article_id  TEXT NOT NULL,
    matched_at  REAL NOT NULL,
    article     TEXT NOT NULL,
    PRIMARY KEY (rule, article_id)
);
CREATE TABLE IF NOT EXISTS deliveries (
    rule        TEXT NOT NULL,
    article_id  TEXT NOT NULL,
    channel     TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | abandoned
    due_at      REAL NOT NULL,
    created_at  REAL NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_until REAL,
    lease_owner TEXT,
    last_error  TEXT,
    sent_at     REAL,
    PRIMARY KEY (rule, article_id, channel)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, due_at);
CREATE TABLE IF NOT EXISTS checkpoints (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Delivery:
    rule: str
    article_id: str
    channel: str
    attempts: int
    created_at: float
    article: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.rule, self.article_id, self.channel)


def owner_id() -> str:
    """Who holds a lease: `host:pid:random`, so that a process on the same machine can tell
    that the holder died (a crash or kill -9 mid-send) and take its deliveries over at once,
    instead of waiting for the lease to run out."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """Whether the holder of a lease is a process of this machine that no longer runs. Never
    true for another machine's process, or when unsure: then the lease runs out as usual."""
    host, _, rest = (owner or "").partition(":")
    pid, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    return not pid_alive(int(pid))


@dataclass(frozen=True)
class Backoff:
    """Retry timing for a failed channel: base · 2^(attempts-1), capped, with ±20% jitter so
    that many deliveries to one recovering endpoint do not all return in the same second."""

    base: float = 10.0
    cap: float = 3600.0
    give_up_after: float = 7 * 86400.0

    def delay(self, attempts: int) -> float:
        return backoff(attempts - 1, self.base, self.cap, jitter=0.2)


class Ledger:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        # One connection per Ledger; the lock keeps threads of one process (the service's
        # scheduler runs jobs in a pool) from interleaving transactions on it.
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")   # a delivery marked sent survives a power cut
            self._db.execute("PRAGMA busy_timeout=30000")
            with self._tx() as db:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                columns = {row[1] for row in db.execute("PRAGMA table_info(deliveries)")}
                if "lease_owner" not in columns:   # a ledger written by the first release
                    db.execute("ALTER TABLE deliveries ADD COLUMN lease_owner TEXT")
        except (sqlite3.Error, OSError) as exc:
            if storage_fault(exc, self.path) is None:
                raise
            why = str(exc) if isinstance(exc, sqlite3.Error) else (exc.strerror or str(exc))
            raise StateWriteError(f"cannot write the alert ledger {self.path}: {why}. Free disk space (or make the "
                                  "directory writable) and start again; no alert is lost meanwhile: articles are "
                                  "matched when the ledger can record them") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front: a claim is read-then-update and must not
        # interleave with another process's claim.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # --- matches ------------------------------------------------------------------------

    def record(self, rule: str, channels: Iterable[str], articles: Iterable[dict[str, Any]], *,
               digest: float = 0.0, now: float | None = None) -> list[str]:
        """Record that `articles` (each with an `id`) matched `rule`, and queue a delivery per
        channel for each pair not seen before. Returns the ids that were new for this rule.

        A digesting rule's deliveries share one due time per channel: the end of the window
        opened by the first match that is still waiting, so they leave as one message.
        """
        now = time.time() if now is None else now
        channels = list(channels)
        new: list[str] = []
        with self._tx() as db:
            for art in articles:
                cur = db.execute(
                    "INSERT OR IGNORE INTO matches (rule, article_id, matched_at, article) VALUES (?, ?, ?, ?)",
                    (rule, art["id"], now, json.dumps(art, ensure_ascii=False, default=str)))
                if cur.rowcount:
                    new.append(art["id"])
            for channel in channels:
                due = now
                if digest > 0:
                    row = db.execute(
                        "SELECT MIN(due_at) FROM deliveries WHERE rule = ? AND channel = ? AND state = 'pending' "
                        "AND attempts = 0 AND due_at > ?", (rule, channel, now)).fetchone()
                    due = row[0] if row and row[0] is not None else now + digest
                db.executemany(
                    "INSERT OR IGNORE INTO deliveries (rule, article_id, channel, due_at, created_at) VALUES (?, ?, ?, ?, ?)",
                    [(rule, aid, channel, due, now) for aid in new])
        return new

    def matched(self, rule: str, article_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM matches WHERE rule = ? AND article_id = ?", (rule, article_id)))

    # --- deliveries ---------------------------------------------------------------------

    def claim_due(self, *, owner: str, now: float | None = None, lease: float = 120.0,
                  limit: int = 200) -> list[Delivery]:
        """Take the deliveries that are due and not held by another process, for `lease`
        seconds, in the name of `owner`. A long batch renews its lease before each send
        (`renew`), so a lease only runs out when its holder is gone; a holder on this machine
        that is known to be gone (killed mid-send) does not even make the others wait for that
        (see `owner_id`)."""
        now = time.time() if now is None else now
        with self._tx() as db:
            held = [r[0] for r in db.execute("SELECT DISTINCT lease_owner FROM deliveries WHERE state = 'pending' "
                                              "AND lease_until >= ? AND lease_owner IS NOT NULL", (now,))]
            dead = [o for o in held if owner_is_dead(o)]
            rows = db.execute(
                "SELECT d.rule, d.article_id, d.channel, d.attempts, d.created_at, m.article "
                "FROM deliveries d JOIN matches m ON m.rule = d.rule AND m.article_id = d.article_id "
                "WHERE d.state = 'pending' AND d.due_at <= ? AND (d.lease_until IS NULL OR d.lease_until < ? "
                f"OR d.lease_owner IN ({', '.join('?' * len(dead))})) "
                "ORDER BY d.due_at, d.created_at LIMIT ?", (now, now, *dead, limit)).fetchall()
            db.executemany(
                "UPDATE deliveries SET lease_until = ?, lease_owner = ? WHERE rule = ? AND article_id = ? AND channel = ?",
                [(now + lease, owner, r[0], r[1], r[2]) for r in rows])
        return [Delivery(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def renew(self, keys: Iterable[tuple[str, str, str]], *, owner: str, lease: float = 120.0,
              now: float | None = None) -> list[tuple[str, str, str]]:
        """Extend the lease on deliveries `owner` still holds; returns those (a delivery whose
        lease expired and was taken by another process is no longer ours to send)."""
        now = time.time() if now is None else now
        held = []
        with self._tx() as db:
            for key in keys:
                cur = db.execute("UPDATE deliveries SET lease_until = ? WHERE rule = ? AND article_id = ? AND channel = ? "
                                 "AND state = 'pending' AND lease_owner = ?", (now + lease, *key, owner))
                if cur.rowcount:
                    held.append(key)
        return held

    def mark_sent(self, keys: Iterable[tuple[str, str, str]], *, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._tx() as db:
            db.executemany(
                "UPDATE deliveries SET state = 'sent', sent_at = ?, lease_until = NULL, attempts = attempts + 1, "
                "last_error = NULL WHERE rule = ? AND article_id = ? AND channel = ?",
                [(now, *k) for k in keys])

    def mark_failed(self, keys: Iterable[tuple[str, str, str]], error: str, backoff: Backoff, *,
                    now: float | None = None, attempted: bool = True) -> list[tuple[str, str, str]]:
        """Reschedule after a failed send (`attempted`), or release without counting an attempt
        (the channel was skipped because it had just failed). Deliveries older than
        `give_up_after` are abandoned instead; their keys are returned."""
        now = time.time() if now is None else now
        abandoned = []
        with self._tx() as db:
            for key in keys:
                row = db.execute("SELECT attempts, created_at FROM deliveries WHERE rule = ? AND article_id = ? AND channel = ?",
                                 key).fetchone()
                if row is None:
                    continue
                attempts = row[0] + (1 if attempted else 0)
                if now - row[1] >= backoff.give_up_after:
                    db.execute("UPDATE deliveries SET state = 'abandoned', attempts = ?, lease_until = NULL, last_error = ? "
                               "WHERE rule = ? AND article_id = ? AND channel = ?", (attempts, error, *key))
                    abandoned.append(key)
                    continue
                db.execute("UPDATE deliveries SET attempts = ?, due_at = ?, lease_until = NULL, last_error = ? "
                           "WHERE rule = ? AND article_id = ? AND channel = ?",
                           (attempts, now + backoff.delay(max(attempts, 1)), error, *key))
        return abandoned

    def release(self, keys: Iterable[tuple[str, str, str]]) -> None:
        """Give back claimed deliveries untouched (out of time budget): due again at once."""
        with self._tx() as db:
            db.executemany("UPDATE deliveries SET lease_until = NULL WHERE rule = ? AND article_id = ? AND channel = ?",
                           list(keys))

    def abandon(self, keys: Iterable[tuple[str, str, str]], reason: str) -> None:
        with self._tx() as db:
            db.executemany("UPDATE deliveries SET state = 'abandoned', lease_until = NULL, last_error = ? "
                           "WHERE rule = ? AND article_id = ? AND channel = ?", [(reason, *k) for k in keys])

    def next_due(self) -> float | None:
        return self._read("SELECT MIN(due_at) FROM deliveries WHERE state = 'pending'")[0][0]

    def summary(self) -> dict[str, Any]:
        """Counts per channel and state, with the last error of what is still pending."""
        out: dict[str, Any] = {"matches": self._read("SELECT COUNT(*) FROM matches")[0][0], "channels": {}}
        for channel, state, n in self._read(
                "SELECT channel, state, COUNT(*) FROM deliveries GROUP BY channel, state ORDER BY channel"):
            out["channels"].setdefault(channel, {"pending": 0, "sent": 0, "abandoned": 0})[state] = n
        for channel, err, due, attempts in self._read(
                "SELECT channel, last_error, MIN(due_at), MAX(attempts) FROM deliveries "
                "WHERE state = 'pending' AND attempts > 0 GROUP BY channel"):
            out["channels"][channel].update(last_error=err, retry_at=due, attempts=attempts)
        return out

    def deliveries(self, *, rule: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT rule, article_id, channel, state, attempts, last_error, sent_at FROM deliveries"
        args: tuple = ()
        if rule:
            sql += " WHERE rule = ?"
            args = (rule,)
        cols = ("rule", "article_id", "channel", "state", "attempts", "last_error", "sent_at")
        return [dict(zip(cols, r)) for r in self._read(sql + " ORDER BY created_at", args)]

    # --- checkpoints --------------------------------------------------------------------

    def checkpoint(self, name: str) -> str | None:
        rows = self._read("SELECT value FROM checkpoints WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    def set_checkpoint(self, name: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO checkpoints (name, value, updated_at) VALUES (?, ?, ?) "
                       "ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                       (name, value, time.time()))
