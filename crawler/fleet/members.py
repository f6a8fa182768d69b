"""Several crawl processes, on several machines, sharing one Redis: the fleet.

With `[state] redis_url` (or $RAQIB_REDIS_URL) every `raqib crawl`, `raqib crawl --worker`
and `raqib run` process is a *member* of one fleet. This module holds what they agree on
through Redis, apart from the crawl state itself (crawler/state/redis_store.py) and the frontier
(crawler/fleet/frontier.py):

* membership: each process registers an id and renews a heartbeat key; a process whose
  heartbeat has expired (killed, machine gone, partitioned for longer than `[state]
  redis_ttl`) is dead, and the first member to notice takes over what it held: its leased
  frontier requests go back to the queue and its spool (documents not yet confirmed by
  Elasticsearch) becomes the taker's, so nothing it fetched is lost. A member whose process
  is known gone at once (same machine and process namespace, no such process: `kill -9`, a
  crash) is dead at once, heartbeat or not, so the very next crawl finishes its work
  instead of waiting out the TTL (or being refused the outlet's crawl lock);
* locks with expiry (`FleetLock`): renewed by their holder, taken over when it dies. The
  service's scheduler and alert sweep, and each outlet's crawl, hold one;
* jobs: a crawl started by `raqib crawl` is a job; the articles it puts in the frontier are
  counted until a member has finished each one, so its coordinator knows when the fleet is
  done with it;
* politeness across machines (`take_turn`, `pause`): a host's delay and its back-off pauses
  are kept in Redis, so three workers send to a host no faster than one would;
* blocks: an outlet that blocks one worker is left alone by all of them for the crawl;
* per-outlet counters that every member adds to, so a coordinator reports what the whole
  fleet did for its outlets.

All times that must agree between machines are taken from the Redis server's clock (TIME
inside the scripts), never from the members' own clocks.

A single Redis (with a replica or Sentinel for availability if wanted) is expected, not
Redis Cluster: the scripts touch several keys at once. Redis should persist (AOF), because
the frontier and the spool live there: see `check_persistence`.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

from crawler.report.stats import PREFIX as STATS
from pipelines.es import redact_url
from pipelines.redisconn import FleetError as FleetError  # re-exported: the fleet's error
from pipelines.redisconn import connect

log = logging.getLogger("raqib.fleet")

PREFIX = "raqib"
DEFAULT_TTL = 30.0              # seconds a silent member keeps its leases, spool and locks
BLOCK_TTL = 3600.0              # an outlet that blocked the fleet is left alone this long (or until its next crawl)
HOST_KEY_TTL_MS = 3_600_000     # politeness records of hosts not seen for an hour are dropped
JOB_TTL = 7 * 86400             # a job's bookkeeping outlives a coordinator that died by this much


class FleetBusy(RuntimeError):
    """An outlet is being crawled by another member of the fleet."""


def redis_advice(exc: BaseException) -> str:
    """What to do about a Redis failure the client did not ride out (its own retries cover
    blips): said with the error wherever one stops a command."""
    from redis import exceptions as rx

    if isinstance(exc, rx.OutOfMemoryError):
        return ("Redis is full (its maxmemory is reached): give it more memory or remove what else it holds; "
                "keep maxmemory-policy noeviction, since raqib's frontier and spool must never be evicted.")
    if isinstance(exc, rx.ReadOnlyError):
        return "That Redis is a read-only replica: point [state] redis_url at the primary."
    if isinstance(exc, (rx.ConnectionError, rx.TimeoutError)):
        return "Redis went away: start it again (or wait for its failover)."
    return "Redis's own log says more."


def redis_failure(where: str, exc: BaseException) -> str:
    """The words for a Redis failure that stops a crawl or a command: what Redis said, what to
    do, and that nothing is lost by stopping."""
    return (f"Redis at {where} failed: {str(exc).rstrip('.')}. {redis_advice(exc)} Then run the crawl again: "
            "what was not written is fetched again, nothing is indexed twice.")


def check_persistence(client, where: str) -> None:
    """Warn when Redis keeps the frontier and the spool only in memory: a Redis restart
    would then forget fetched articles not yet in Elasticsearch."""
    def setting(name: str) -> str:
        for value in client.config_get(name).values():
            return (value.decode() if isinstance(value, bytes) else str(value)).strip()
        return ""

    try:
        aof, save = setting("appendonly"), setting("save")
    except Exception:  # noqa: BLE001 - managed Redis often forbids CONFIG: nothing to say then
        return
    if aof != "yes" and not save:
        log.warning("Redis at %s persists nothing (appendonly no, no save points): if it restarts, the frontier and "
                    "the spool are lost. Set `appendonly yes` in redis.conf.", where)
    elif aof != "yes":
        log.info("Redis at %s persists by snapshots only: a crash loses the writes since the last one. "
                 "`appendonly yes` is safer for the frontier and the spool.", where)


# --------------------------------------------------------------------------- scripts

# Take the next turn to send to a host, if it is due: the fleet's last send was at least the
# delay ago and no pause runs. Returns 0 (the turn is ours, taken now) or the seconds until
# it could be (as text: Lua numbers would be truncated to integers on the way out). Taking the
# turn at the moment of sending, not reserving one ahead, keeps the spacing even when a
# member wakes up late. ARGV: delay s, key ttl ms.
# Delete a lock only while it still holds the value read from it: freeing a dead holder's
# lock must not free one a live member has taken since.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nxt = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
local pause = tonumber(redis.call('HGET', KEYS[1], 'pause') or '0')
local start = math.max(nxt, pause)
if now >= start then
  redis.call('HSET', KEYS[1], 'next', string.format('%.6f', now + tonumber(ARGV[1])))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return '0'
end
return string.format('%.6f', start - now)
"""
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local old = tonumber(redis.call('HGET', KEYS[1], 'pause') or '0')
local untl = now + tonumber(ARGV[1])
if untl > old then redis.call('HSET', KEYS[1], 'pause', string.format('%.6f', untl)) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return string.format('%.6f', math.max(untl, old) - now)
"""
_PAUSED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local pause = tonumber(redis.call('HGET', KEYS[1], 'pause') or '0')
return string.format('%.6f', math.max(0, pause - now))
"""

# A Lua function the frontier's scripts share (crawler/fleet/frontier.py, and _RECLAIM here): the
# leased request `lease`, if still in flight, goes back to its host's queue with its score,
# and the host is scheduled now unless it already is. An in-flight entry is
# "score\nhost\nrequest" (crawler/fleet/frontier.py). Returns 1 if it was requeued.
REQUEUE = """
local function requeue(inflight, lease, prefix, hosts, length)
  local entry = redis.call('HGET', inflight, lease)
  redis.call('HDEL', inflight, lease)
  if not entry then return 0 end
  local t = redis.call('TIME')
  local score, host, data = string.match(entry, '^([^\\n]*)\\n([^\\n]*)\\n(.*)$')
  redis.call('ZADD', prefix .. host, score, data)
  redis.call('ZADD', hosts, 'NX', tonumber(t[1]) + tonumber(t[2]) / 1000000, host)
  redis.call('INCR', length)
  return 1
end
"""

# Take over a dead member: its leased requests go back to their host's queue with their
# score, its spool moves into the taker's. Only one taker wins (SREM). KEYS: members,
# member:<dead>, leases:<dead>, inflight, frontier hosts, frontier length, spool:<dead>,
# spool:<taker>. ARGV: dead, the prefix of the hosts' queues. Returns {requeued, doc ids
# moved...}, or {-1} when it lives after all, {-2} when another member took it.
_RECLAIM = REQUEUE + """
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1} end
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return {-2} end
local requeued = 0
for _, l in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  requeued = requeued + requeue(KEYS[4], l, ARGV[2], KEYS[5], KEYS[6])
end
redis.call('DEL', KEYS[3])
local out = {requeued}
if KEYS[7] ~= KEYS[8] then
  local spool = redis.call('HGETALL', KEYS[7])
  for i = 1, #spool, 2 do
    redis.call('HSET', KEYS[8], spool[i], spool[i + 1])
    table.insert(out, spool[i])
  end
  redis.call('DEL', KEYS[7])
end
return out
"""

# A member's counters are in Redis up to now: KEYS[1] hash member → Redis time. ARGV: member.
_FLUSHED = """
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d.%06d', t[1], t[2]))
return 1
"""

# Stats: add deltas, and keep the earliest first_at and latest last_at. KEYS[1]: the outlet's
# hash; ARGV: n, then n pairs (field, delta), then the rest as (field, op, value).
_STATS = """
local n = tonumber(ARGV[1])
local i = 2
for _ = 1, n do
  redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  local f, op, v = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local old = tonumber(redis.call('HGET', KEYS[1], f) or '')
  if old == nil or (op == 'min' and v < old) or (op == 'max' and v > old) then
    redis.call('HSET', KEYS[1], f, ARGV[i + 2])
  elseif op == 'set' then
    redis.call('HSET', KEYS[1], f, ARGV[i + 2])
  end
  i = i + 3
end
return 1
"""


# --------------------------------------------------------------------------- the fleet

class Fleet:
    """One process's handle on the fleet. Thread-safe (redis-py's client is)."""

    def __init__(self, client, *, url: str = "", ttl: float = DEFAULT_TTL, role: str = "crawl",
                 prefix: str = PREFIX):
        self.redis = client
        self.where = redact_url(url) if url else "Redis"
        self.ttl = float(ttl)
        self.prefix = prefix
        self.member = Member(self, role=role)
        self.draining = False          # a coordinator whose job is done takes no more work
        self.job: str | None = None
        self._scripts = {name: client.register_script(src) for name, src in (
            ("unlock", _UNLOCK), ("reserve", _RESERVE), ("pause", _PAUSE),
            ("paused", _PAUSED), ("reclaim", _RECLAIM), ("stats", _STATS), ("flushed", _FLUSHED))}
        self._locks: list[FleetLock] = []
        self._stats_start: dict[str, dict[str, float]] = {}

    @classmethod
    def open(cls, settings, *, role: str = "crawl") -> Fleet:
        url = settings.get("state", "redis_url")
        client = connect(url)
        check_persistence(client, redact_url(url))
        return cls(client, url=url, ttl=float(settings.get("state", "redis_ttl") or DEFAULT_TTL), role=role)

    def key(self, *parts: Any) -> str:
        return ":".join([self.prefix, *(str(p) for p in parts)])

    def script(self, name: str, keys: list[str], args: list[Any]):
        return self._scripts[name](keys=keys, args=args)

    def close(self) -> None:
        for lock in list(self._locks):
            lock.release()
        self.member.leave()

    # --- locks --------------------------------------------------------------------------

    def lock(self, name: str, *, ttl: float | None = None, on_lost=None) -> FleetLock:
        lock = FleetLock(self, name, ttl=ttl or self.ttl, on_lost=on_lost)
        self._locks.append(lock)
        return lock

    def _free_from_the_dead(self, name: str) -> bool:
        """Release lock `name` when its holder's process is gone from this machine
        (`Member.gone`). What the holder left (leases, spool) is taken over first. True when
        the lock was freed."""
        raw = self.redis.get(self.key("lock", name))
        if not raw:
            return True
        holder = raw.decode("utf-8", "replace").split("|", 1)[0]
        beat_raw = self.redis.get(self.key("member", holder))
        if not beat_raw or not Member.gone(json.loads(beat_raw)):
            return False        # alive, or silent: its lock expires by itself (redis_ttl)
        log.warning("fleet member %s, holding the lock %s, is dead; its work is taken over", holder, name)
        self.member.reclaim_dead()
        return bool(self.script("unlock", [self.key("lock", name)], [raw]))

    def lock_holder(self, name: str) -> str | None:
        value = self.redis.get(self.key("lock", name))
        return value.decode("utf-8", "replace").split("|", 1)[0] if value else None

    # --- jobs ---------------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise Redis's error now when it refuses writes (full, or a read-only replica), before
        a crawl starts that could keep nothing there."""
        self.redis.set(self.key("probe", self.member.id), "1", px=10_000)

    def start_job(self, outlets: Iterable[str]) -> str:
        """Register a crawl of `outlets` coordinated by this process; takes each outlet's
        crawl lock (FleetBusy when another member holds one) and resets the outlets' fleet
        counters and blocks, so the crawl's report starts from zero."""
        outlets = list(outlets)
        taken: list[FleetLock] = []
        self.member.join()       # a heartbeat before any lock: a crash from here on is recognised (Member.gone)
        for outlet in outlets:
            lock = self.lock(f"crawl:{outlet}")
            if not lock.acquire() and lock.error is None and self._free_from_the_dead(f"crawl:{outlet}"):
                lock.acquire()
            if not lock.held:
                for held in taken:
                    held.release()
                if lock.error is not None:
                    raise lock.error
                holder = self.lock_holder(f"crawl:{outlet}") or "another process"
                raise FleetBusy(f"{outlet} is being crawled by {holder} in the fleet; try again when it has finished")
            taken.append(lock)
        self.job = job = f"{int(time.time())}-{secrets.token_hex(4)}"
        pipe = self.redis.pipeline()
        pipe.hset(self.key("job", job), mapping={"outlets": json.dumps(outlets), "owner": self.member.id,
                                                 "started_at": time.time(), "outstanding": 0})
        pipe.expire(self.key("job", job), JOB_TTL)
        for outlet in outlets:
            pipe.delete(self.key("blocked", outlet))
            pipe.hdel(self.key("stats", outlet), "first_at", "last_at", "blocked")
        pipe.execute()
        self._stats_start = {o: self.outlet_stats(o) for o in outlets}
        return job

    def outstanding(self, job: str | None = None) -> int:
        value = self.redis.hget(self.key("job", job or self.job), "outstanding")
        return int(value or 0)

    def finish_job(self) -> None:
        if self.job:
            self.redis.delete(self.key("job", self.job))
        for lock in list(self._locks):
            if lock.name.startswith("crawl:"):
                lock.release()
        self.job = None

    def keep_open(self, worker: bool) -> bool:
        """Whether a spider with nothing to do right now must stay open: a worker until it
        is stopped, a coordinator while the fleet still holds articles of its job."""
        if worker:
            return True
        if self.job and self.outstanding() > 0:
            return True
        return False

    # --- politeness ---------------------------------------------------------------------

    def take_turn(self, host: str, delay: float) -> float:
        """0 when this process may send to `host` now (the turn is taken), else the seconds
        to wait before asking again: the fleet's requests to a host leave at least `delay`
        apart, and not before a pause any member set has ended."""
        return float(self.script("reserve", [self.key("host", host)], [f"{max(0.0, delay):.6f}", HOST_KEY_TTL_MS]))

    def pause(self, host: str, seconds: float) -> float:
        if seconds <= 0:
            return 0.0
        return float(self.script("pause", [self.key("host", host)], [f"{seconds:.6f}", HOST_KEY_TTL_MS]))

    def paused(self, host: str) -> float:
        return float(self.script("paused", [self.key("host", host)], []))

    # --- blocks -------------------------------------------------------------------------

    def block(self, outlet: str, reason: str) -> None:
        self.redis.set(self.key("blocked", outlet), reason.encode("utf-8"), ex=int(BLOCK_TTL), nx=True)

    def blocked(self, outlets: Iterable[str]) -> dict[str, str]:
        outlets = list(outlets)
        if not outlets:
            return {}
        values = self.redis.mget([self.key("blocked", o) for o in outlets])
        return {o: v.decode("utf-8", "replace") for o, v in zip(outlets, values) if v}

    # --- counters -----------------------------------------------------------------------

    def add_stats(self, outlet: str, deltas: dict[str, float], extremes: list[tuple[str, str, Any]]) -> None:
        args: list[Any] = [len(deltas)]
        for name, value in deltas.items():
            args += [name, repr(float(value))]
        for name, op, value in extremes:
            args += [name, op, value if isinstance(value, str) else repr(float(value))]
        self.script("stats", [self.key("stats", outlet)], args)

    def flushed(self) -> None:
        """Note that this member's counters are in Redis up to now (Redis's clock)."""
        self.script("flushed", [self.key("flushed")], [self.member.id])

    def now(self) -> float:
        seconds, micros = self.redis.time()
        return seconds + micros / 1e6

    def outlet_stats(self, outlet: str) -> dict[str, Any]:
        raw = self.redis.hgetall(self.key("stats", outlet))
        out: dict[str, Any] = {}
        for k, v in raw.items():
            text = v.decode("utf-8", "replace")
            try:
                out[k.decode()] = float(text)
            except ValueError:
                out[k.decode()] = text
        return out

    def job_stats(self, local: dict[str, Any], outlets: Iterable[str]) -> dict[str, Any]:
        """The stats of this coordinator's crawl as the whole fleet counted them: for each of
        its outlets, the fleet's counters now minus at the job's start (one coordinator per
        outlet at a time makes that difference this job's)."""
        merged = {k: v for k, v in local.items() if not any(k.startswith(f"{STATS}/{o}/") for o in outlets)}
        for outlet in outlets:
            start = self._stats_start.get(outlet, {})
            for name, value in self.outlet_stats(outlet).items():
                if name in ("first_at", "last_at", "blocked"):
                    merged[f"{STATS}/{outlet}/{name}"] = value
                    continue
                delta = value - float(start.get(name, 0) or 0) if isinstance(value, float) else value
                if isinstance(delta, float):
                    delta = int(round(delta))
                if delta:
                    merged[f"{STATS}/{outlet}/{name}"] = delta
        return merged


def describe(fleet: Fleet) -> dict[str, Any]:
    """What `raqib status` shows of the fleet: its live processes, who schedules, the
    frontier, the outlets being crawled and by whom, and what waits in spools."""
    r = fleet.redis
    members = fleet.member.members()
    crawls = {}
    for key in r.scan_iter(match=fleet.key("lock", "crawl:*")):
        holder = r.get(key)
        if holder:
            crawls[key.decode().split("crawl:", 1)[1]] = holder.decode("utf-8", "replace").split("|", 1)[0]
    spooled = {k.decode(): int(v) for k, v in r.hgetall(fleet.key("spool-count")).items()}
    return {
        "members": {m: b for m, b in members.items() if b}, "silent": [m for m, b in members.items() if not b],
        "scheduler": fleet.lock_holder("scheduler"), "queued": int(r.get(fleet.key("frontier", "len")) or 0),
        "in_flight": int(r.hlen(fleet.key("inflight"))), "hosts": int(r.zcard(fleet.key("frontier", "hosts"))),
        "crawling": crawls, "spooled": spooled,
    }


SETTLE_MAX = 20.0       # seconds a coordinator waits for the other members' last index writes


def settle(fleet: Fleet, state, stats, outlets: list[str], *, timeout: float = SETTLE_MAX) -> dict[str, Any]:
    """The end of a coordinator's crawl: wait (at most `timeout`) until the documents other
    members extracted for `outlets` are written (none left in any spool; a member sends its
    counters before it takes documents out of its spool), then until every live crawl process
    has sent its counters once more (a few seconds at most), and return the crawl's stats as
    the fleet counted them. Documents still spooled then (the
    cluster is down) are counted as index_unavailable: their members write them when it is
    back."""
    count = getattr(state, "spool_count", None)
    deadline = time.monotonic() + timeout
    waiting = {o: count(o) for o in outlets} if count is not None else {}
    while count is not None and any(waiting.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
        waiting = {o: count(o) for o in outlets}
    # and every live crawl process has sent what it counted until now (they send every second)
    since = fleet.now()
    barrier = time.monotonic() + 5.0
    while time.monotonic() < barrier:
        crawlers = [m for m, beat in fleet.member.members().items()
                    if beat is not None and beat.get("role") == "crawl" and m != fleet.member.id]
        flushed = {k.decode(): float(v) for k, v in fleet.redis.hgetall(fleet.key("flushed")).items()}
        if all(flushed.get(m, 0.0) >= since for m in crawlers):
            break
        time.sleep(0.1)
    flush = getattr(stats, "flush", None)
    if flush is not None:
        flush(fleet)
    merged = fleet.job_stats(stats.get_stats(), outlets)
    for outlet, left in waiting.items():
        key = f"{STATS}/{outlet}/errors/index_unavailable"
        if left > int(merged.get(key, 0) or 0):
            merged[key] = left
    return merged


class FleetLock:
    """A lock with expiry in Redis (redis-py's redis.lock.Lock: a token set with NX and PX,
    renewed and released only by its owner): `acquire` takes it if free (or renews it when
    already ours), a thread renews it every third of its TTL, and it expires by itself when
    the holder dies, so another member takes it over. When renewal fails (Redis unreachable
    for longer than the TTL, or the lock was taken after an expiry) `on_lost` is called: the
    holder must stop acting on it."""

    def __init__(self, fleet: Fleet, name: str, *, ttl: float, on_lost=None):
        self.fleet = fleet
        self.name = name
        self.ttl = ttl
        self.on_lost = on_lost
        self.token = f"{fleet.member.id}|{secrets.token_hex(6)}"
        self._key = fleet.key("lock", name)
        self._lock = fleet.redis.lock(self._key, timeout=ttl, blocking=False, thread_local=False)
        self._held = False
        self.error: Exception | None = None     # why the last acquire failed, when Redis did
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> bool:
        """Whether this process holds the lock now. False also when Redis failed; `error`
        then holds why, for a caller that must not mistake that for another holder."""
        from redis.exceptions import LockNotOwnedError

        self.error = None
        try:
            # free: take it; ours already (held, or left by a renewal thread that stopped): renew it
            got = self._lock.acquire(token=self.token) or (self._lock.owned() and self._lock.reacquire())
        except LockNotOwnedError:
            got = False      # it expired and another member took it: the renewal thread says so
        except Exception as exc:  # noqa: BLE001 - Redis away: not ours
            log.warning("cannot take the fleet lock %s: %s", self.name, exc)
            self.error, got = exc, False
        if got and not self._held:
            self._held = True
            self._stop.clear()
            self._thread = threading.Thread(target=self._renew, name=f"raqib-lock-{self.name}", daemon=True)
            self._thread.start()
        return got

    def _renew(self) -> None:
        from redis.exceptions import LockNotOwnedError

        last_ok = time.monotonic()
        while not self._stop.wait(self.ttl / 3):
            try:
                ok = self._lock.reacquire()
            except LockNotOwnedError:
                ok = False
            except Exception as exc:  # noqa: BLE001 - retried while the lock may still be ours
                log.warning("cannot renew the fleet lock %s: %s", self.name, exc)
                if time.monotonic() - last_ok < self.ttl * 0.9:
                    continue
                ok = False
            if ok:
                last_ok = time.monotonic()
                continue
            if self._stop.is_set():
                return
            self._held = False
            log.warning("lost the fleet lock %s (not renewed in time); another member may hold it now", self.name)
            if self.on_lost is not None:
                try:
                    self.on_lost()
                except Exception:  # noqa: BLE001
                    log.exception("handling the loss of %s failed", self.name)
            return

    def release(self) -> None:
        self._stop.set()
        if self._held:
            try:
                self._lock.release()
            except Exception:  # noqa: BLE001 - not ours any more, or Redis away: it expires by itself
                pass
        self._held = False
        if self in self.fleet._locks:
            self.fleet._locks.remove(self)


def _namespace() -> str:
    """This machine's boot and process namespace: two processes with the same host name are
    comparable by pid only when these agree (containers share host names, not pids)."""
    try:
        boot = open("/proc/sys/kernel/random/boot_id", encoding="ascii").read().strip()
        return f"{boot}:{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return ""       # no /proc: nothing can be told about other processes


def _process_gone(pid: int) -> bool:
    """Whether no process `pid` runs here (a zombie, dead but not reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False        # someone else's live process
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().split(") ", 1)[1][:1] == "Z"
    except (OSError, IndexError):
        return False


_NAMESPACE = _namespace()


class Member:
    """This process in the fleet: an id, a heartbeat renewed by a thread, and the taking over
    of members whose heartbeat stopped (or whose process is gone from this machine)."""

    def __init__(self, fleet: Fleet, *, role: str):
        self.fleet = fleet
        self.role = role
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._joined = False
        self._join_lock = threading.Lock()
        self._stop = threading.Event()
        self._adopted: list[str] = []
        self._adopted_lock = threading.Lock()

    @property
    def heartbeat_key(self) -> str:
        return self.fleet.key("member", self.id)

    def join(self) -> None:
        """Register (once); from then on this member's spool and leases are taken over by the
        others if it stops beating."""
        with self._join_lock:
            if self._joined:
                return
            self._beat()
            self.fleet.redis.sadd(self.fleet.key("members"), self.id)
            self._joined = True
            threading.Thread(target=self._beat_forever, name="raqib-heartbeat", daemon=True).start()

    def _beat(self) -> None:
        info = {"host": socket.gethostname(), "pid": os.getpid(), "ns": _NAMESPACE, "role": self.role,
                "at": time.time()}
        self.fleet.redis.set(self.heartbeat_key, json.dumps(info), px=int(self.fleet.ttl * 1000))

    def _beat_forever(self) -> None:
        while not self._stop.wait(max(0.5, self.fleet.ttl / 5)):
            try:
                self._beat()
                # declared dead during a long partition: join again (what we held is gone)
                if self.fleet.redis.sadd(self.fleet.key("members"), self.id):
                    log.warning("this process was taken for dead by the fleet (no heartbeat for %gs); its leased "
                                "requests and spool were taken over by another member", self.fleet.ttl)
            except Exception as exc:  # noqa: BLE001 - keep beating; the TTL tolerates a blip
                log.warning("fleet heartbeat failed: %s", exc)

    def members(self) -> dict[str, dict[str, Any] | None]:
        """Every registered member and its heartbeat (None: it has stopped beating)."""
        ids = sorted(m.decode() for m in self.fleet.redis.smembers(self.fleet.key("members")))
        beats = self.fleet.redis.mget([self.fleet.key("member", m) for m in ids]) if ids else []
        return {m: (json.loads(b) if b else None) for m, b in zip(ids, beats)}

    @staticmethod
    def gone(beat: dict[str, Any] | None) -> bool:
        """Whether a member's heartbeat was sent by a process of this machine (and process
        namespace) that no longer runs."""
        if not beat or not _NAMESPACE or beat.get("ns") != _NAMESPACE or beat.get("host") != socket.gethostname():
            return False
        pid = beat.get("pid")
        return isinstance(pid, int) and pid != os.getpid() and _process_gone(pid)

    def reclaim_dead(self) -> tuple[int, int]:
        """Take over every member whose heartbeat expired, or whose process is gone from
        this machine: (requests requeued, documents adopted into this member's spool)."""
        self.join()
        requeued = adopted = 0
        f = self.fleet
        for other, beat in self.members().items():
            if other == self.id or (beat is not None and not self.gone(beat)):
                continue
            if beat is not None:
                f.redis.delete(f.key("member", other))    # the reclaim script takes only the silent
            out = f.script("reclaim", [f.key("members"), f.key("member", other), f.key("leases", other),
                                       f.key("inflight"), f.key("frontier", "hosts"), f.key("frontier", "len"),
                                       f.key("spool", other), f.key("spool", self.id)], [other, f.key("frontier", "h", "")])
            if not out or int(out[0]) < 0:
                continue
            ids = [i.decode() if isinstance(i, bytes) else str(i) for i in out[1:]]
            f.redis.hdel(f.key("flushed"), other)
            requeued += int(out[0])
            adopted += len(ids)
            with self._adopted_lock:
                self._adopted.extend(ids)
            if int(out[0]) or ids:
                log.warning("fleet member %s stopped without finishing its work: %d request(s) put back in the "
                            "frontier, %d document(s) not yet in Elasticsearch taken over", other, int(out[0]), len(ids))
        return requeued, adopted

    def take_adopted(self) -> list[str]:
        with self._adopted_lock:
            ids, self._adopted = self._adopted, []
        return ids

    def leave(self) -> None:
        """Stop beating. Leases were given back by the frontier already; a spool that still
        holds documents stays registered, so another member adopts it at once."""
        self._stop.set()
        if not self._joined:
            return
        try:
            f = self.fleet
            f.redis.delete(self.heartbeat_key)
            f.redis.hdel(f.key("flushed"), self.id)
            if not f.redis.exists(f.key("spool", self.id)) and not f.redis.exists(f.key("leases", self.id)):
                f.redis.srem(f.key("members"), self.id)
        except Exception:  # noqa: BLE001 - the heartbeat expires by itself
            pass
        self._joined = False
