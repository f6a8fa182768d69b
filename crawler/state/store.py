"""What the crawler remembers between runs: the frontier of article URLs, the validators of
feeds, sitemaps and section pages, per-source health, and the spool of documents not yet
confirmed written to Elasticsearch.

Everything goes through the small `CrawlState` interface; `SqliteState` is the local default
(one file in the state directory, safe for several crawl processes at once through SQLite's
WAL mode and busy timeout). A shared implementation (Redis) plugs in behind the same methods.

The rules that decide whether a known article is fetched again live here too, as the plain
function `fetch_reason`, so that every implementation applies the same policy.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.backoff import backoff
from pipelines.storage import StateWriteError as StateWriteError  # re-exported: the name the crawl has always used
from pipelines.storage import doc_json, storage_fault

# Article statuses. `pending` and `failed` are fetched on the next occasion; `gone` (404/410)
# and `rejected` (not an article: not HTML, too large, nothing to extract) only when a source
# shows a newer lastmod; `indexed` when it changed or is older than the refetch age;
# `spooled` (extracted, waiting in the spool for Elasticsearch) never: the spool writes it.
PENDING, INDEXED, FAILED, GONE, REJECTED, DISALLOWED, SPOOLED = (
    "pending", "indexed", "failed", "gone", "rejected", "disallowed", "spooled")
STATUSES = (PENDING, INDEXED, FAILED, GONE, REJECTED, DISALLOWED, SPOOLED)


MAX_ATTEMPTS = 5                  # fetch attempts (over several crawls) before a failing URL is dropped
SOURCE_BACKOFF_BASE = 600.0       # seconds; doubled per consecutive failure of a feed/sitemap/section
SOURCE_BACKOFF_MAX = 86400.0


@dataclass
class SourceRecord:
    """A feed, sitemap, section page or robots.txt, and what we last learnt from it."""
    url: str
    outlet: str
    kind: str                                   # robots | feed | sitemap | section
    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None             # hash of what it lists, not of its bytes
    children: list[list[Any]] = field(default_factory=list)   # [url, lastmod] of child sitemaps
    body: bytes | None = None                   # kept for robots.txt only, reused on 304
    newest: str | None = None                   # newest lastmod a urlset lists (ISO, UTC)
    fetched_at: float | None = None
    changed_at: float | None = None
    failures: int = 0
    retry_at: float = 0.0
    last_status: int | None = None
    last_error: str | None = None


@dataclass
class ArticleRecord:
    """One article URL of the frontier. `key` is its canonical URL (pipelines.urls)."""
    key: str
    outlet: str
    url: str                                    # the fetchable URL as discovered
    channel: str                                # feed | sitemap | section | idwalk
    status: str = PENDING
    lastmod: str | None = None                  # newest lastmod a source has shown (ISO, UTC)
    fetched_lastmod: str | None = None          # the lastmod known when it was last fetched
    number: int | None = None                   # its numeric id, for outlets with id walks
    discovered_at: float = 0.0
    fetched_at: float | None = None
    indexed_at: float | None = None
    attempts: int = 0
    doc_id: str | None = None
    content_hash: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None


def fetch_reason(rec: ArticleRecord | None, lastmod: str | None, *, now: float,
                 refetch_after: float = 0.0, max_attempts: int = MAX_ATTEMPTS) -> str | None:
    """Why an article URL should be fetched now, or None when it should not.

    `lastmod` is what the source that listed it says now (ISO UTC, comparable as text).
    """
    if rec is None:
        return "new"
    newer = _newer(lastmod, rec)
    if rec.status == PENDING:
        return "pending"
    if rec.status == DISALLOWED:
        return "retry"          # costs nothing: robots.txt is asked again, no request is sent
    if rec.status == FAILED:
        if rec.attempts < max_attempts or newer:
            return "retry"
        return None
    if rec.status in (GONE, REJECTED):
        return "changed" if newer else None
    if rec.status == SPOOLED:
        return None
    # indexed
    if newer and rec.fetched_at is not None:
        return "changed"
    if refetch_after > 0 and rec.fetched_at is not None and now - rec.fetched_at >= refetch_after:
        return "refetch"
    return None


def _newer(lastmod: str | None, rec: ArticleRecord) -> bool:
    """Whether a source's lastmod says the article changed after we fetched it: compared
    with the lastmod known at that fetch, or, when none was known, with the fetch time."""
    if not lastmod:
        return False
    if rec.fetched_lastmod:
        return lastmod > rec.fetched_lastmod
    if rec.fetched_at is None:
        return True
    fetched = datetime.fromtimestamp(rec.fetched_at, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return lastmod > fetched


class CrawlState(ABC):
    """The crawl's memory. Implementations must be safe to call from several threads."""

    # sources
    @abstractmethod
    def source(self, url: str) -> SourceRecord | None: ...

    @abstractmethod
    def save_source(self, rec: SourceRecord) -> None: ...

    def source_failed(self, url: str, outlet: str, kind: str, *, status: int | None, error: str,
                      now: float | None = None) -> SourceRecord:
        """Count a failure and push the next attempt back exponentially."""
        now = time.time() if now is None else now
        rec = self.source(url) or SourceRecord(url=url, outlet=outlet, kind=kind)
        rec.failures += 1
        # the one back-off rule (pipelines/backoff.py), per source: 10 minutes doubled per failure after the first
        rec.retry_at = now + backoff(rec.failures - 1, SOURCE_BACKOFF_BASE, SOURCE_BACKOFF_MAX)
        rec.last_status, rec.last_error = status, error
        self.save_source(rec)
        return rec

    # the article frontier
    @abstractmethod
    def article(self, key: str) -> ArticleRecord | None: ...

    @abstractmethod
    def save_article(self, rec: ArticleRecord) -> None: ...

    @abstractmethod
    def pending(self, outlet: str, limit: int, *, max_attempts: int = MAX_ATTEMPTS) -> list[ArticleRecord]:
        """Articles of an outlet left to fetch by an earlier crawl (pending or failed)."""

    @abstractmethod
    def numbers(self, outlet: str) -> set[int]:
        """The numeric ids of the outlet's known articles (for id walks)."""

    def discovered(self, outlet: str, key: str, url: str, channel: str, lastmod: str | None = None,
                   number: int | None = None, now: float | None = None) -> tuple[ArticleRecord | None, ArticleRecord]:
        """Record that a source lists this URL; returns (the record before, the record now)."""
        now = time.time() if now is None else now
        before = self.article(key)
        if before is None:
            rec = ArticleRecord(key=key, outlet=outlet, url=url, channel=channel, lastmod=lastmod,
                                number=number, discovered_at=now)
            self.save_article(rec)
            return None, rec
        rec = ArticleRecord(**{f.name: getattr(before, f.name) for f in fields(ArticleRecord)})
        changed = False
        if lastmod and (not rec.lastmod or lastmod > rec.lastmod):
            rec.lastmod, changed = lastmod, True
        if number is not None and rec.number is None:
            rec.number, changed = number, True
        if changed:
            self.save_article(rec)
        return before, rec

    # documents extracted but not yet confirmed by Elasticsearch
    @abstractmethod
    def spool_put(self, doc_id: str, outlet: str, key: str, doc: dict[str, Any], data: str | None = None, *,
                  article: ArticleRecord | None = None) -> None:
        """Keep `doc` until the cluster has it; `data`: its `pipelines.storage.doc_json`, when the
        caller has made it already. `article` (its record, marked fetched) is saved in the same
        atomic step: a crash between the two would leave a document in the spool whose article
        looks unfetched, and a member that takes over the crash's requests would fetch it again."""

    @abstractmethod
    def spooled(self, limit: int = 1000) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(doc_id, outlet, key, document), oldest first."""

    @abstractmethod
    def spool_remove(self, doc_ids: Iterable[str]) -> None: ...

    # per-outlet health
    @abstractmethod
    def outlet(self, outlet: str) -> dict[str, Any]: ...

    @abstractmethod
    def save_outlet(self, outlet: str, **values: Any) -> None: ...

    def take_adopted(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        """Spooled documents this process has taken over from a crawl process that died
        since the last call (a shared state only: crawler/state/redis_store.py), to be written
        like its own."""
        return []

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS sources (
    url TEXT PRIMARY KEY, outlet TEXT NOT NULL, kind TEXT NOT NULL, etag TEXT, last_modified TEXT,
    content_hash TEXT, children TEXT, body BLOB, newest TEXT, fetched_at REAL, changed_at REAL,
    failures INTEGER NOT NULL DEFAULT 0, retry_at REAL NOT NULL DEFAULT 0, last_status INTEGER, last_error TEXT
);
CREATE TABLE IF NOT EXISTS articles (
    key TEXT PRIMARY KEY, outlet TEXT NOT NULL, url TEXT NOT NULL, channel TEXT NOT NULL,
    status TEXT NOT NULL, lastmod TEXT, fetched_lastmod TEXT, number INTEGER, discovered_at REAL,
    fetched_at REAL, indexed_at REAL, attempts INTEGER NOT NULL DEFAULT 0, doc_id TEXT,
    content_hash TEXT, etag TEXT, last_modified TEXT, error TEXT
);
CREATE INDEX IF NOT EXISTS articles_todo ON articles (outlet, status, discovered_at);
CREATE INDEX IF NOT EXISTS articles_number ON articles (outlet, number) WHERE number IS NOT NULL;
CREATE TABLE IF NOT EXISTS spool (
    doc_id TEXT PRIMARY KEY, outlet TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outlets (outlet TEXT PRIMARY KEY, data TEXT NOT NULL);
"""
SCHEMA_VERSION = "1"

_SOURCE_COLS = [f.name for f in fields(SourceRecord)]
_ARTICLE_COLS = [f.name for f in fields(ArticleRecord)]
_SAVE_ARTICLE = (f"INSERT OR REPLACE INTO articles ({', '.join(_ARTICLE_COLS)}) "
                 f"VALUES ({', '.join('?' * len(_ARTICLE_COLS))})")


class SqliteState(CrawlState):
    """The local crawl state: `crawl.sqlite3` in the state directory."""

    FILENAME = "crawl.sqlite3"

    def __init__(self, path: Path | str):
        path = Path(path)
        self._lock = threading.Lock()
        try:
            if path.is_dir() or not path.suffix:
                path.mkdir(parents=True, exist_ok=True)
                path = path / self.FILENAME
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
            self.path = path
            self._db = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            found = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if found is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        except (sqlite3.Error, OSError) as exc:
            fault = storage_fault(exc, path)
            if fault is None:
                raise
            raise fault from None
        if found is not None and found[0] != SCHEMA_VERSION:
            raise RuntimeError(f"{path} holds crawl state of schema {found[0]}; this raqib reads schema {SCHEMA_VERSION}")

    @contextmanager
    def _storage(self) -> Iterator[sqlite3.Connection]:
        """The lock, and a storage fault (full disk, read-only file) raised as StateWriteError."""
        with self._lock:
            try:
                yield self._db
            except (sqlite3.Error, OSError) as exc:
                fault = storage_fault(exc, self.path)
                if fault is None:
                    raise
                raise fault from None

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._storage() as db:
            rows: list[tuple[Any, ...]] = db.execute(sql, args).fetchall()
            return rows

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._storage() as db:
            db.execute("BEGIN")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def _write(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> None:
        with self._storage() as db:
            db.execute(sql, args)

    # sources
    def source(self, url: str) -> SourceRecord | None:
        rows = self._query(f"SELECT {', '.join(_SOURCE_COLS)} FROM sources WHERE url=?", (url,))
        if not rows:
            return None
        data = dict(zip(_SOURCE_COLS, rows[0]))
        data["children"] = json.loads(data["children"] or "[]")
        data["failures"] = data["failures"] or 0
        data["retry_at"] = data["retry_at"] or 0.0
        return SourceRecord(**data)

    def save_source(self, rec: SourceRecord) -> None:
        values = [getattr(rec, c) for c in _SOURCE_COLS]
        values[_SOURCE_COLS.index("children")] = json.dumps(rec.children, ensure_ascii=False)
        self._write(f"INSERT OR REPLACE INTO sources ({', '.join(_SOURCE_COLS)}) VALUES ({', '.join('?' * len(_SOURCE_COLS))})", values)

    # articles
    def article(self, key: str) -> ArticleRecord | None:
        rows = self._query(f"SELECT {', '.join(_ARTICLE_COLS)} FROM articles WHERE key=?", (key,))
        return ArticleRecord(**dict(zip(_ARTICLE_COLS, rows[0]))) if rows else None

    @staticmethod
    def _article_row(rec: ArticleRecord) -> tuple[str, list[Any]]:
        if rec.status not in STATUSES:
            raise ValueError(f"unknown article status {rec.status!r}")
        return _SAVE_ARTICLE, [getattr(rec, c) for c in _ARTICLE_COLS]

    def save_article(self, rec: ArticleRecord) -> None:
        self._write(*self._article_row(rec))

    def pending(self, outlet: str, limit: int, *, max_attempts: int = MAX_ATTEMPTS) -> list[ArticleRecord]:
        rows = self._query(
            f"SELECT {', '.join(_ARTICLE_COLS)} FROM articles WHERE outlet=? AND "
            f"(status=? OR (status=? AND attempts<?)) ORDER BY discovered_at LIMIT ?",
            (outlet, PENDING, FAILED, max_attempts, limit),
        )
        return [ArticleRecord(**dict(zip(_ARTICLE_COLS, r))) for r in rows]

    def numbers(self, outlet: str) -> set[int]:
        return {r[0] for r in self._query("SELECT number FROM articles WHERE outlet=? AND number IS NOT NULL", (outlet,))}

    # spool
    def spool_put(self, doc_id: str, outlet: str, key: str, doc: dict[str, Any], data: str | None = None, *,
                  article: ArticleRecord | None = None) -> None:
        data = doc_json(doc) if data is None else data
        row = self._article_row(article) if article is not None else None
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO spool VALUES (?, ?, ?, ?, ?)", (doc_id, outlet, key, data, time.time()))
            if row is not None:
                db.execute(*row)

    def spooled(self, limit: int = 1000) -> list[tuple[str, str, str, dict[str, Any]]]:
        rows = self._query("SELECT doc_id, outlet, key, doc FROM spool ORDER BY added_at LIMIT ?", (limit,))
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def spool_remove(self, doc_ids: Iterable[str]) -> None:
        ids = list(doc_ids)
        with self._transaction() as db:
            db.executemany("DELETE FROM spool WHERE doc_id=?", [(i,) for i in ids])

    # outlets
    def outlet(self, outlet: str) -> dict[str, Any]:
        rows = self._query("SELECT data FROM outlets WHERE outlet=?", (outlet,))
        return json.loads(rows[0][0]) if rows else {}

    def save_outlet(self, outlet: str, **values: Any) -> None:
        with self._storage() as db:
            rows = db.execute("SELECT data FROM outlets WHERE outlet=?", (outlet,)).fetchall()
            data = json.loads(rows[0][0]) if rows else {}
            data.update(values)
            db.execute("INSERT OR REPLACE INTO outlets VALUES (?, ?)", (outlet, json.dumps(data, default=str)))

    def close(self) -> None:
        with self._lock:
            self._db.close()
