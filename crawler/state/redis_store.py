"""The crawl state in Redis, shared by every member of a fleet (crawler/fleet/members.py): the
`CrawlState` interface of crawler/state/store.py, so the spider and the pipelines do not know
which one they use.

Layout (prefix `raqib:`):

  src                    hash  url → SourceRecord as JSON (robots.txt bodies in base64)
  art:<key>              hash  one ArticleRecord, one JSON value per field
  todo:<outlet>          zset  keys left to fetch (pending, or failed and worth retrying), by discovery time
  num:<outlet>           set   numeric ids seen (id walks)
  outlet:<outlet>        hash  per-outlet health, one JSON value per name
  spool:<member>         hash  doc_id → "outlet\\nkey\\nadded_at\\n{document}"
  spool-count            hash  outlet → documents spooled fleet-wide

Each article is its own hash so that a change is written field by field: the coordinator
raising an article's lastmod never undoes a worker marking it spooled a moment earlier, and
`discovered` creates a record atomically (WATCH on that one key), so two members seeing a
URL at once agree on which saw it first.

The spool is per member, not shared: a document is written by the member that extracted
it, while it still holds it in memory, so no other member writes it a second time. When a
member dies its spool is moved, in one step, into the spool of the member that notices
(`fleet.Member.reclaim_dead`), which writes it: nothing extracted is lost with a machine.
"""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from crawler.fleet.members import Fleet, redis_failure
from crawler.state.store import FAILED, MAX_ATTEMPTS, PENDING, STATUSES, ArticleRecord, CrawlState, SourceRecord
from pipelines.storage import StateWriteError, doc_json

if TYPE_CHECKING:
    from redis.client import Pipeline

    from pipelines.settings import Settings

_ARTICLE_FIELDS = [f.name for f in fields(ArticleRecord)]
_SCAN = 500

# Put a document in a member's spool, counting it per outlet when it is new there.
_SPOOL_PUT = """
if redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) == 1 then redis.call('HINCRBY', KEYS[2], ARGV[2], 1) end
return 1
"""
# Remove documents from a member's spool; the outlet is the first line of each entry.
_SPOOL_REMOVE = """
local n = 0
for i = 1, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v then
    local outlet = string.match(v, '^[^\\n]*')
    redis.call('HDEL', KEYS[1], ARGV[i])
    if redis.call('HINCRBY', KEYS[2], outlet, -1) <= 0 then redis.call('HDEL', KEYS[2], outlet) end
    n = n + 1
  end
end
return n
"""


class RedisState(CrawlState):
    """The shared crawl state. `fleet` is this process's crawler.fleet.members.Fleet."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.redis = fleet.redis
        self._put = self.redis.register_script(_SPOOL_PUT)
        self._remove = self.redis.register_script(_SPOOL_REMOVE)
        # Set by the fleet's scheduler: sends this process's counters before documents leave
        # the spool, so a coordinator that sees its outlets' spools empty also sees every
        # member's counts of those documents (crawler.fleet.members.settle).
        self.before_spool_remove: Callable[[], None] | None = None

    @classmethod
    def open(cls, settings: Settings, *, role: str = "crawl") -> RedisState:
        return cls(Fleet.open(settings, role=role))

    def _k(self, *parts: Any) -> str:
        return str(self.fleet.key(*parts))

    def _fail(self, exc: Exception) -> StateWriteError:
        return StateWriteError(f"cannot use the crawl state: {redis_failure(self.fleet.where, exc)}")

    def _do(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a Redis call; its failure (after the client's own retries) is a StateWriteError."""
        from redis.exceptions import RedisError

        try:
            return fn(*args, **kwargs)
        except RedisError as exc:
            raise self._fail(exc) from None

    # --- sources --------------------------------------------------------------------------

    def source(self, url: str) -> SourceRecord | None:
        raw = self._do(self.redis.hget, self._k("src"), url)
        if raw is None:
            return None
        data = json.loads(raw)
        if data.get("body") is not None:
            data["body"] = base64.b64decode(data["body"])
        return SourceRecord(**data)

    def save_source(self, rec: SourceRecord) -> None:
        data = asdict(rec)
        if rec.body is not None:
            data["body"] = base64.b64encode(rec.body).decode("ascii")
        self._do(self.redis.hset, self._k("src"), rec.url, json.dumps(data, ensure_ascii=False))

    # --- articles ---------------------------------------------------------------------------

    @staticmethod
    def _decode(raw: dict[Any, Any]) -> ArticleRecord | None:
        if not raw:
            return None
        values = {k.decode(): json.loads(v) for k, v in raw.items()}
        return ArticleRecord(**{k: v for k, v in values.items() if k in _ARTICLE_FIELDS})

    def article(self, key: str) -> ArticleRecord | None:
        return self._decode(self._do(self.redis.hgetall, self._k("art", key)))

    def _write_article(self, pipe: Pipeline, rec: ArticleRecord) -> None:
        if rec.status not in STATUSES:
            raise ValueError(f"unknown article status {rec.status!r}")
        pipe.hset(self._k("art", rec.key), mapping={f: json.dumps(getattr(rec, f), ensure_ascii=False)
                                                     for f in _ARTICLE_FIELDS})
        todo = self._k("todo", rec.outlet)
        if rec.status == PENDING or (rec.status == FAILED and rec.attempts < MAX_ATTEMPTS):
            pipe.zadd(todo, {rec.key: rec.discovered_at or 0.0})
        else:
            pipe.zrem(todo, rec.key)
        if rec.number is not None:
            pipe.sadd(self._k("num", rec.outlet), rec.number)

    def save_article(self, rec: ArticleRecord) -> None:
        pipe = self.redis.pipeline(transaction=True)
        self._write_article(pipe, rec)
        self._do(pipe.execute)

    def discovered(self, outlet: str, key: str, url: str, channel: str, lastmod: str | None = None,
                   number: int | None = None, now: float | None = None) -> tuple[ArticleRecord | None, ArticleRecord]:
        now = time.time() if now is None else now
        akey = self._k("art", key)

        def tx(pipe: Pipeline) -> tuple[ArticleRecord | None, ArticleRecord]:
            before = self._decode(pipe.hgetall(akey))
            pipe.multi()
            if before is None:
                rec = ArticleRecord(key=key, outlet=outlet, url=url, channel=channel, lastmod=lastmod,
                                    number=number, discovered_at=now)
                self._write_article(pipe, rec)
                return None, rec
            rec = ArticleRecord(**asdict(before))
            if lastmod and (not rec.lastmod or lastmod > rec.lastmod):
                rec.lastmod = lastmod
                pipe.hset(akey, "lastmod", json.dumps(lastmod))
            if number is not None and rec.number is None:
                rec.number = number
                pipe.hset(akey, "number", json.dumps(number))
                pipe.sadd(self._k("num", outlet), number)
            return before, rec

        found: tuple[ArticleRecord | None, ArticleRecord] = self._do(
            self.redis.transaction, tx, akey, value_from_callable=True)
        return found

    def pending(self, outlet: str, limit: int, *, max_attempts: int = MAX_ATTEMPTS) -> list[ArticleRecord]:
        out: list[ArticleRecord] = []
        start = 0
        while len(out) < limit:
            keys = self._do(self.redis.zrange, self._k("todo", outlet), start, start + _SCAN - 1)
            if not keys:
                break
            start += len(keys)
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(self._k("art", key.decode()))
            for rec in map(self._decode, self._do(pipe.execute)):
                if rec is None:
                    continue
                if rec.status == PENDING or (rec.status == FAILED and rec.attempts < max_attempts):
                    out.append(rec)
                    if len(out) >= limit:
                        break
        return out

    def numbers(self, outlet: str) -> set[int]:
        return {int(n) for n in self._do(self.redis.smembers, self._k("num", outlet))}

    # --- the spool (this member's) --------------------------------------------------------

    @property
    def _spool(self) -> str:
        return self._k("spool", self.fleet.member.id)

    def spool_put(self, doc_id: str, outlet: str, key: str, doc: dict[str, Any], data: str | None = None, *,
                  article: ArticleRecord | None = None) -> None:
        self.fleet.member.join()       # a registered member's spool is adopted if it dies
        body = doc_json(doc) if data is None else data
        value = f"{outlet}\n{key}\n{time.time():.6f}\n{body}"
        pipe = self.redis.pipeline(transaction=True)
        self._put(keys=[self._spool, self._k("spool-count")], args=[doc_id, outlet, value.encode("utf-8")], client=pipe)
        if article is not None:
            self._write_article(pipe, article)
        self._do(pipe.execute)

    @staticmethod
    def _entry(doc_id: str, raw: bytes) -> tuple[float, tuple[str, str, str, dict[str, Any]]]:
        outlet, key, added, body = raw.decode("utf-8").split("\n", 3)
        return float(added), (doc_id, outlet, key, json.loads(body))

    def spooled(self, limit: int = 1000) -> list[tuple[str, str, str, dict[str, Any]]]:
        raw = self._do(self.redis.hgetall, self._spool)
        entries = sorted(self._entry(k.decode(), v) for k, v in raw.items())
        return [e for _, e in entries[:limit]]

    def spool_remove(self, doc_ids: Iterable[str]) -> None:
        ids = list(doc_ids)
        if ids:
            if self.before_spool_remove is not None:
                self.before_spool_remove()
            self._do(self._remove, keys=[self._spool, self._k("spool-count")], args=ids)

    def take_adopted(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        ids = self.fleet.member.take_adopted()
        if not ids:
            return []
        raw = self._do(self.redis.hmget, self._spool, ids)
        return [e for _, e in sorted(self._entry(i, v) for i, v in zip(ids, raw) if v is not None)]

    def spool_count(self, outlet: str) -> int:
        """Documents of `outlet` extracted by any member and not yet confirmed by Elasticsearch."""
        return int(self._do(self.redis.hget, self._k("spool-count"), outlet) or 0)

    # --- per-outlet health ---------------------------------------------------------------

    def outlet(self, outlet: str) -> dict[str, Any]:
        raw = self._do(self.redis.hgetall, self._k("outlet", outlet))
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def save_outlet(self, outlet: str, **values: Any) -> None:
        if values:
            self._do(self.redis.hset, self._k("outlet", outlet),
                     mapping={k: json.dumps(v, default=str, ensure_ascii=False) for k, v in values.items()})

    def close(self) -> None:
        self.fleet.close()
