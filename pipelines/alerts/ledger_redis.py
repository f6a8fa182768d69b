"""The alert ledger in Redis, for a fleet (crawler/fleet/members.py): the same interface and rules as
the SQLite `Ledger` (pipelines/alerts/ledger.py), shared by every process on every machine,
so that a (rule, article) pair is matched once and each of its deliveries sent once by the
whole fleet, whichever worker indexed the article and whichever `raqib run` leads when a
retry falls due. A per-machine ledger could not promise that: a new leader would not know
what the old one had sent.

Layout (prefix `raqib:alerts:`): `matches` hash "rule␟article" → {matched_at, article};
`deliveries` hash "rule␟article␟channel" → the delivery's fields as JSON; `due` sorted set of
the pending deliveries by the time they may next be claimed (their due time, or the end of
the lease that holds them); `window:rule␟channel` the end of a digest's open window;
`checkpoints` hash. Every change is one Lua script, atomic like the SQLite transactions.
Times are whole milliseconds inside Redis (Lua's JSON keeps 14 digits: enough for those,
not for fractional seconds), seconds outside.
"""
from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable
from typing import Any

from pipelines.alerts.ledger import Backoff, Delivery
from pipelines.redisconn import connect

SEP = "\x1f"

# KEYS: matches, deliveries, due. ARGV: rule, now, digest, window key prefix, n channels,
# channels…, then (article id, article json) pairs. Returns the new article ids.
_RECORD = """
local rule, now, digest, wprefix, nch = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local channels = {}
for i = 1, nch do channels[i] = ARGV[5 + i] end
local new = {}
local i = 6 + nch
while i <= #ARGV do
  local aid, art = ARGV[i], ARGV[i + 1]
  if redis.call('HSETNX', KEYS[1], rule .. '\\31' .. aid, cjson.encode({matched_at = now, article = cjson.decode(art)})) == 1 then
    table.insert(new, aid)
  end
  i = i + 2
end
if #new == 0 then return new end
for _, ch in ipairs(channels) do
  local due = now
  if digest > 0 then
    local wkey = wprefix .. rule .. '\\31' .. ch
    local open = tonumber(redis.call('GET', wkey) or '')
    if open ~= nil and open > now then
      due = open
    else
      due = now + digest
      redis.call('SET', wkey, string.format('%d', due), 'PX', digest + 1000)
    end
  end
  for _, aid in ipairs(new) do
    local key = rule .. '\\31' .. aid .. '\\31' .. ch
    local d = {rule = rule, article_id = aid, channel = ch, state = 'pending', due_at = due, created_at = now, attempts = 0}
    if redis.call('HSETNX', KEYS[2], key, cjson.encode(d)) == 1 then
      redis.call('ZADD', KEYS[3], due, key)
    end
  end
end
return new
"""

# KEYS: matches, deliveries, due. ARGV: now, lease, owner, limit. Returns {delivery, article} JSON pairs.
_CLAIM = """
local now, lease, owner, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local keys = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)
local out = {}
for _, key in ipairs(keys) do
  local raw = redis.call('HGET', KEYS[2], key)
  if raw then
    local d = cjson.decode(raw)
    if d.state == 'pending' and d.due_at <= now and (d.lease_until == nil or d.lease_until == cjson.null or d.lease_until < now) then
      d.lease_until, d.lease_owner = now + lease, owner
      redis.call('HSET', KEYS[2], key, cjson.encode(d))
      redis.call('ZADD', KEYS[3], now + lease, key)
      local m = redis.call('HGET', KEYS[1], d.rule .. '\\31' .. d.article_id)
      table.insert(out, cjson.encode(d))
      table.insert(out, m or '{}')
    elseif d.state ~= 'pending' then
      redis.call('ZREM', KEYS[3], key)
    end
  else
    redis.call('ZREM', KEYS[3], key)
  end
end
return out
"""

# KEYS: deliveries, due. ARGV: op, now, owner, lease, error, then per key: key, jitter factor.
# op: renew | sent | release | abandon | failed | skipped (failed without counting an attempt);
# for failed/skipped ARGV[6], ARGV[7], ARGV[8] are backoff base, cap, give_up_after and keys
# start at ARGV[9]. Returns the keys the op applied to (renew: still held; failed: abandoned).
_UPDATE = """
local op, now, owner, lease, err = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), ARGV[5]
local first = 6
local base, cap, give_up
if op == 'failed' or op == 'skipped' then
  base, cap, give_up = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
  first = 9
end
local out = {}
local i = first
while i <= #ARGV do
  local key, jitter = ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  local raw = redis.call('HGET', KEYS[1], key)
  if raw then
    local d = cjson.decode(raw)
    if op == 'renew' then
      if d.state == 'pending' and d.lease_owner == owner then
        d.lease_until = now + lease
        redis.call('ZADD', KEYS[2], d.lease_until, key)
        table.insert(out, key)
      end
    elseif op == 'sent' then
      d.state, d.sent_at, d.lease_until, d.attempts, d.last_error = 'sent', now, cjson.null, d.attempts + 1, cjson.null
      redis.call('ZREM', KEYS[2], key)
    elseif op == 'release' then
      d.lease_until = cjson.null
      redis.call('ZADD', KEYS[2], d.due_at, key)
    elseif op == 'abandon' then
      d.state, d.lease_until, d.last_error = 'abandoned', cjson.null, err
      redis.call('ZREM', KEYS[2], key)
    else
      local attempts = d.attempts + ((op == 'failed') and 1 or 0)
      d.attempts, d.lease_until, d.last_error = attempts, cjson.null, err
      if now - d.created_at >= give_up then
        d.state = 'abandoned'
        redis.call('ZREM', KEYS[2], key)
        table.insert(out, key)
      else
        local n = math.max(attempts, 1)
        d.due_at = now + math.floor(math.min(cap, base * (2 ^ math.max(0, n - 1))) * jitter)
        redis.call('ZADD', KEYS[2], d.due_at, key)
      end
    end
    redis.call('HSET', KEYS[1], key, cjson.encode(d))
  end
end
return out
"""


def _key(key: tuple[str, str, str]) -> str:
    return SEP.join(key)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class RedisLedger:
    """The alert ledger shared by a fleet (see the module doc)."""

    def __init__(self, client, prefix: str = "raqib"):
        self.redis = client
        self.prefix = f"{prefix}:alerts"
        self._record = client.register_script(_RECORD)
        self._claim = client.register_script(_CLAIM)
        self._update = client.register_script(_UPDATE)

    @classmethod
    def open(cls, settings) -> RedisLedger:
        return cls(connect(settings.get("state", "redis_url")))

    def _k(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def close(self) -> None:
        pass                # the client's pool is shared with the process

    def __enter__(self) -> RedisLedger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- matches ------------------------------------------------------------------------

    def record(self, rule: str, channels: Iterable[str], articles: Iterable[dict[str, Any]], *,
               digest: float = 0.0, now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        channels = list(channels)
        args: list[Any] = [rule, _ms(now), _ms(digest), self._k("window:"), len(channels), *channels]
        for art in articles:
            args += [art["id"], json.dumps(art, ensure_ascii=False, default=str)]
        new = self._record(keys=[self._k("matches"), self._k("deliveries"), self._k("due")], args=args)
        return [n.decode() if isinstance(n, bytes) else str(n) for n in new or []]

    def matched(self, rule: str, article_id: str) -> bool:
        return bool(self.redis.hexists(self._k("matches"), f"{rule}{SEP}{article_id}"))

    # --- deliveries ---------------------------------------------------------------------

    def claim_due(self, *, owner: str, now: float | None = None, lease: float = 120.0,
                  limit: int = 200) -> list[Delivery]:
        now = time.time() if now is None else now
        out = self._claim(keys=[self._k("matches"), self._k("deliveries"), self._k("due")],
                          args=[_ms(now), _ms(lease), owner, limit])
        claimed = []
        for raw, match in zip(out[0::2], out[1::2]):
            d = json.loads(raw)
            article = json.loads(match).get("article") or {}
            claimed.append(Delivery(d["rule"], d["article_id"], d["channel"], int(d["attempts"]),
                                    d["created_at"] / 1000, article))
        claimed.sort(key=lambda d: d.created_at)
        return claimed

    def _apply(self, op: str, keys: Iterable[tuple[str, str, str]], *, now: float | None = None, owner: str = "",
               lease: float = 0.0, error: str = "", backoff: Backoff | None = None) -> list[tuple[str, str, str]]:
        now = time.time() if now is None else now
        args: list[Any] = [op, _ms(now), owner, _ms(lease), error]
        if backoff is not None:
            args += [_ms(backoff.base), _ms(backoff.cap), _ms(backoff.give_up_after)]
        for key in keys:
            args += [_key(key), repr(random.uniform(0.8, 1.2))]
        out = self._update(keys=[self._k("deliveries"), self._k("due")], args=args)
        return [tuple((k.decode() if isinstance(k, bytes) else k).split(SEP)) for k in out or []]

    def renew(self, keys: Iterable[tuple[str, str, str]], *, owner: str, lease: float = 120.0,
              now: float | None = None) -> list[tuple[str, str, str]]:
        return self._apply("renew", keys, now=now, owner=owner, lease=lease)

    def mark_sent(self, keys: Iterable[tuple[str, str, str]], *, now: float | None = None) -> None:
        self._apply("sent", keys, now=now)

    def mark_failed(self, keys: Iterable[tuple[str, str, str]], error: str, backoff: Backoff, *,
                    now: float | None = None, attempted: bool = True) -> list[tuple[str, str, str]]:
        return self._apply("failed" if attempted else "skipped", keys, now=now, error=error, backoff=backoff)

    def release(self, keys: Iterable[tuple[str, str, str]]) -> None:
        self._apply("release", keys)

    def abandon(self, keys: Iterable[tuple[str, str, str]], reason: str) -> None:
        self._apply("abandon", keys, error=reason)

    def next_due(self) -> float | None:
        first = self.redis.zrange(self._k("due"), 0, 0, withscores=True)
        return float(first[0][1]) / 1000 if first else None

    def _all(self) -> list[dict[str, Any]]:
        return [json.loads(v) for v in self.redis.hvals(self._k("deliveries"))]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"matches": int(self.redis.hlen(self._k("matches"))), "channels": {}}
        pending_errors: dict[str, dict[str, Any]] = {}
        for d in self._all():
            counts = out["channels"].setdefault(d["channel"], {"pending": 0, "sent": 0, "abandoned": 0})
            counts[d["state"]] = counts.get(d["state"], 0) + 1
            if d["state"] == "pending" and d.get("attempts", 0) > 0:
                e = pending_errors.setdefault(d["channel"], {"last_error": None, "retry_at": None, "attempts": 0})
                e["last_error"] = d.get("last_error") or e["last_error"]
                due = d["due_at"] / 1000
                e["retry_at"] = min(e["retry_at"], due) if e["retry_at"] is not None else due
                e["attempts"] = max(e["attempts"], d["attempts"])
        for channel, e in pending_errors.items():
            out["channels"][channel].update(e)
        return out

    def deliveries(self, *, rule: str | None = None) -> list[dict[str, Any]]:
        cols = ("rule", "article_id", "channel", "state", "attempts", "last_error", "sent_at")
        rows = sorted((d for d in self._all() if rule is None or d["rule"] == rule), key=lambda d: d["created_at"])
        return [{c: (d[c] / 1000 if c == "sent_at" and d.get(c) else d.get(c)) for c in cols} for d in rows]

    # --- checkpoints --------------------------------------------------------------------

    def checkpoint(self, name: str) -> str | None:
        value = self.redis.hget(self._k("checkpoints"), name)
        return value.decode() if value is not None else None

    def set_checkpoint(self, name: str, value: str) -> None:
        self.redis.hset(self._k("checkpoints"), name, value)
