"""The shared frontier: article requests in Redis, fetched by whichever member of the fleet
(crawler/fleet/members.py) is free, each exactly once. A thin layer over scrapy-redis.

What goes where. A crawl's *coordinator* (the `raqib crawl` that started it) discovers: it
reads robots.txt, home, sections, feeds and sitemaps itself, because those decisions need
the whole crawl's memory (what this crawl has seen, its page budget, backfill progress).
Every article request it decides to send goes into the Redis frontier instead of its own
queue, and any member (the coordinator too, and every `raqib crawl --worker`) takes it from
there: the fetch, the extraction (most of the CPU) and the index write are shared.

Exactly once, and nothing lost:
* a request is taken from the queue with a *lease* in the same atomic step (a Lua script):
  the request moves to an in-flight table under this member's name;
* the lease is given back (acknowledged) only when the request is finished: its callback or
  errback has run and, for a fetched article, the document has reached the spool (the
  `item_scraped`, `item_dropped` or `item_error` signal). Retries and redirects of a leased
  request stay with the member that holds it;
* a member that stops normally puts what it still holds back in the queue; one that dies
  has its leases put back by the first member that notices its heartbeat has stopped
  (`Member.reclaim_dead`). A request given back after its article was in fact fetched is
  recognised by the crawl state and not fetched again.

One queue per host, taken in turn. The frontier is not one line but a queue per host (in
priority, then arrival, order) and a schedule of hosts by the moment each may be served
next: a member takes the next request of a host that is due, and the host is then not due
again before its delay (the larger of `download_delay` and its robots.txt Crawl-delay) has
passed. So a worker never holds requests it would only wait on, and a large outlet's
thousands of queued articles cannot hold up a small one's few: with a delay, hosts are
served side by side; without one, in turns. The download handler still takes each host's
turn at the moment of sending (crawler/engine/middlewares.py), which is what bounds the rate.

Requests are stored as JSON, never pickle: whoever can write to Redis must not be able to
run code on the workers.

The coordinator counts its job's articles in the queue or in flight (`outstanding`): it
closes when that reaches zero and its own discovery is done.
"""
from __future__ import annotations

import base64
import heapq
import itertools
import json
import logging
import secrets
import threading
import time
from typing import Any

from redis.exceptions import RedisError
from scrapy import signals
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.httpobj import urlparse_cached
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import Base as RedisQueueBase
from scrapy_redis.scheduler import Scheduler as RedisScheduler

from crawler.fleet.members import REQUEUE
from crawler.items import FetchedPage, request_info

log = logging.getLogger("raqib.frontier")

TICK = 0.25                   # seconds between looks at the shared queue while this member is idle
SLOW_TICKS = 4                # stats flushed and blocks read every SLOW_TICKS ticks
RECLAIM_EVERY = 5.0           # seconds between looks for members that died


class JsonSerializer:
    """scrapy-redis serializer: JSON with bytes (headers, bodies) as tagged base64."""

    @staticmethod
    def _enc(value: Any) -> Any:
        if isinstance(value, bytes):
            return {"$b": base64.b64encode(value).decode("ascii")}
        if isinstance(value, dict):
            if any(not isinstance(k, str) for k in value):
                return {"$d": [[JsonSerializer._enc(k), JsonSerializer._enc(v)] for k, v in value.items()]}
            return {k: JsonSerializer._enc(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [JsonSerializer._enc(v) for v in value]
        return value

    @staticmethod
    def _dec(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"$b"}:
                return base64.b64decode(value["$b"])
            if set(value) == {"$d"}:
                return {JsonSerializer._dec(k): JsonSerializer._dec(v) for k, v in value["$d"]}
            return {k: JsonSerializer._dec(v) for k, v in value.items()}
        if isinstance(value, list):
            return [JsonSerializer._dec(v) for v in value]
        return value

    @classmethod
    def dumps(cls, obj: Any) -> bytes:
        return json.dumps(cls._enc(obj), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def loads(cls, data: bytes) -> Any:
        return cls._dec(json.loads(data))


# Keys: <frontier>:h:<host> one sorted set per host (score: priority, then arrival), <frontier>:hosts
# the hosts by the time each may next be served, <frontier>:delay the delay of each host,
# <frontier>:len the number of queued requests. In flight: `inflight` lease → "score\nhost\nrequest".

# KEYS: hosts, delay, len, seq, job. ARGV: data, priority, counted ('1': the job's), host, delay,
# prefix of the host queues. Equal priorities leave in the order they came, as in Scrapy's queue.
_PUSH = """
local seq = redis.call('INCR', KEYS[4])
redis.call('ZADD', ARGV[6] .. ARGV[4], -tonumber(ARGV[2]) * 1e10 + seq, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], 'NX', tonumber(t[1]) + tonumber(t[2]) / 1000000, ARGV[4])
redis.call('INCR', KEYS[3])
if ARGV[3] == '1' then redis.call('HINCRBY', KEYS[5], 'outstanding', 1) end
return seq
"""
# KEYS: hosts, delay, len, lease-seq, inflight, leases:<me>. ARGV: prefix of the host queues.
# The first due host's next request, leased to this member; the host is due again after its
# delay. A host whose queue ran empty stays scheduled (its pace holds for what comes next)
# until it is found due and empty. Returns {lease, request} or nil.
_POP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for _ = 1, 20 do
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)
  if #due == 0 then return false end
  local host = due[1]
  local q = ARGV[1] .. host
  local item = redis.call('ZRANGE', q, 0, 0, 'WITHSCORES')
  if #item == 0 then
    redis.call('ZREM', KEYS[1], host)
    redis.call('HDEL', KEYS[2], host)
  else
    redis.call('ZREM', q, item[1])
    redis.call('DECR', KEYS[3])
    redis.call('ZADD', KEYS[1], now + tonumber(redis.call('HGET', KEYS[2], host) or '0'), host)
    local lease = redis.call('INCR', KEYS[4])
    redis.call('HSET', KEYS[5], lease, item[2] .. '\\n' .. host .. '\\n' .. item[1])
    redis.call('SADD', KEYS[6], lease)
    return {tostring(lease), item[1]}
  end
end
return false
"""
# KEYS: inflight, leases:<me>, job. ARGV: lease. A lease already taken back (this member was
# thought dead) is not counted twice.
_ACK = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HINCRBY', KEYS[3], 'outstanding', -1) end
return 1
"""
# KEYS: leases:<me>, inflight, hosts, len. ARGV: prefix of the host queues[, one lease]. Every
# lease held (or the one given) goes back to its host's queue.
_RELEASE = REQUEUE + """
local n = 0
local leases = ARGV[2] and {ARGV[2]} or redis.call('SMEMBERS', KEYS[1])
for _, l in ipairs(leases) do
  n = n + requeue(KEYS[2], l, ARGV[1], KEYS[3], KEYS[4])
  redis.call('SREM', KEYS[1], l)
end
return n
"""


class FleetQueue(RedisQueueBase):
    """scrapy-redis's queue, one per host, with leases: `push` counts the request in its job,
    `pop` takes the next request of the first due host under this member's name, `ack`
    finishes it, `release` gives back all it holds."""

    def __init__(self, server, spider, key, serializer=None, *, fleet=None):
        super().__init__(server, spider, key, serializer or JsonSerializer)
        self.fleet = fleet
        self.hosts, self.delays, self.length = f"{self.key}:hosts", f"{self.key}:delay", f"{self.key}:len"
        self.per_host = f"{self.key}:h:"
        self._push = server.register_script(_PUSH)
        self._pop = server.register_script(_POP)
        self._ack = server.register_script(_ACK)
        self._release = server.register_script(_RELEASE)

    def __len__(self) -> int:
        return int(self.server.get(self.length) or 0)

    def push(self, request, job: str | None = None, *, host: str = "", delay: float = 0.0) -> None:
        f = self.fleet
        self._push(keys=[self.hosts, self.delays, self.length, f.key("frontier-seq"), f.key("job", job or "-")],
                   args=[self._encode_request(request), int(request.priority), "1" if job else "0", host,
                         f"{max(0.0, delay):.6f}", self.per_host])

    def pop(self, timeout: int = 0):
        f = self.fleet
        out = self._pop(keys=[self.hosts, self.delays, self.length, f.key("lease-seq"), f.key("inflight"),
                              f.key("leases", f.member.id)], args=[self.per_host])
        if not out:
            return None
        lease = out[0].decode() if isinstance(out[0], bytes) else str(out[0])
        return lease, self._decode_request(out[1])

    def ack(self, lease: str, job: str | None) -> bool:
        f = self.fleet
        return bool(self._ack(keys=[f.key("inflight"), f.key("leases", f.member.id), f.key("job", job or "-")],
                              args=[lease]))

    def give_back(self, lease: str) -> int:
        """Put one leased request back in its host's queue."""
        f = self.fleet
        return int(self._release(keys=[f.key("leases", f.member.id), f.key("inflight"), self.hosts, self.length],
                                 args=[self.per_host, lease]))

    def release(self) -> int:
        f = self.fleet
        return int(self._release(keys=[f.key("leases", f.member.id), f.key("inflight"), self.hosts, self.length],
                                 args=[self.per_host]))

    def clear(self) -> None:
        for key in self.server.scan_iter(match=f"{self.key}:*"):
            self.server.delete(key)


class JobDupeFilter(RFPDupeFilter):
    """scrapy-redis's duplicate filter, per crawl job: an article (by its canonical key) is
    put in the frontier at most once per job, whichever code path asks. A later crawl is a
    new job, so a changed article can be fetched again then."""

    def request_fingerprint(self, request) -> str:
        info = request_info(request)
        # the second try of an article at its canonical spelling (crawler/engine/spider.py errback) is
        # another request than the first
        spelling = "|canonical" if info.get("spelling") == "canonical" else ""
        return f"{info.get('job')}|{info.get('key') or request.url}{spelling}"

    def request_seen(self, request) -> bool:
        info = request_info(request)
        key = f"{self.key}:{info.get('job') or '-'}"
        pipe = self.server.pipeline()
        pipe.sadd(key, self.request_fingerprint(request))
        pipe.expire(key, 7 * 86400)
        added, _ = pipe.execute()
        return added == 0


class FleetScheduler(RedisScheduler):
    """The scheduler of a fleet member (see the module doc): article requests of this
    member's crawl go to the shared frontier; everything else (discovery, retries and
    redirects of a leased request) stays in a local priority queue, served first."""

    @classmethod
    def from_crawler(cls, crawler):
        fleet = crawler.spider.ctx.fleet
        if fleet is None:
            raise RuntimeError("the fleet scheduler needs [state] redis_url")
        inst = cls(server=fleet.redis, persist=True, queue_key=fleet.key("frontier"),
                   queue_cls="crawler.fleet.frontier.FleetQueue", serializer=JsonSerializer,
                   dupefilter=JobDupeFilter(fleet.redis, key=fleet.key("seen")))
        inst.stats = crawler.stats
        inst.crawler = crawler
        inst.fleet = fleet
        return inst

    # --- lifecycle ----------------------------------------------------------------------

    def open(self, spider):
        from twisted.internet import task

        self.spider = spider
        self.queue = FleetQueue(self.server, spider, self.queue_key, self.serializer, fleet=self.fleet)
        self._local: list[tuple[int, int, Any]] = []
        self._seq = itertools.count()
        self._ticks = 0
        self._last_reclaim = 0.0
        self._from_fleet: set[str] = set()
        self._last_trouble = 0.0
        self._unknown: set[str | None] = set()
        self.fleet.member.join()
        if hasattr(spider.state, "before_spool_remove"):
            spider.state.before_spool_remove = self._flush_stats
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            self.crawler.signals.connect(self._item_done, signal=signal)
        self._reclaim()
        self._loop = task.LoopingCall(self._tick)
        self._loop.start(TICK, now=False)
        if len(self.queue):
            log.info("the shared frontier holds %d request(s)", len(self.queue))

    def close(self, reason):
        if getattr(self, "_loop", None) is not None and self._loop.running:
            self._loop.stop()
        self._local.clear()
        try:
            n = self.queue.release()
            if n:
                log.info("%d request(s) this process had taken were put back in the shared frontier", n)
        except Exception as exc:  # noqa: BLE001 - they are reclaimed when our heartbeat stops
            log.warning("could not give back this process's requests (%s); another member takes them over "
                        "once this one has stopped", exc)
        self._flush_stats()

    # --- the scheduler interface ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._local)

    def has_pending_requests(self) -> bool:
        return bool(self._local)

    def _shared(self, request) -> bool:
        info = request_info(request)
        return info.get("kind") == "article" and "raqib_lease" not in request.meta and bool(info.get("job"))

    def enqueue_request(self, request) -> bool:
        if not self._shared(request):
            heapq.heappush(self._local, (-request.priority, next(self._seq), request))
            return True
        info = request_info(request)
        info["queued_at"] = time.time()
        info["fid"] = secrets.token_hex(6)      # two equal requests stay two queue entries
        host = urlparse_cached(request).hostname or ""
        slot = self.crawler.engine.downloader.slots.get(request.meta.get("download_slot") or host)
        delay = max(self.crawler.settings.getfloat("DOWNLOAD_DELAY"), getattr(slot, "delay", 0.0) or 0.0)
        try:
            if self.df.request_seen(request):
                self.stats.inc_value(f"raqib/{info['outlet']}/skipped/duplicate_request")
                return False
            self.queue.push(request, info.get("job"), host=host, delay=delay)
        except RedisError as exc:
            # Redis away for longer than the client's retries: this process fetches the article
            # itself rather than lose it (the crawl state stops the crawl if Redis stays away)
            self._redis_trouble("put an article in the shared frontier", exc)
            heapq.heappush(self._local, (-request.priority, next(self._seq), request))
            return True
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self):
        if self._local:
            return heapq.heappop(self._local)[2]
        while not self.fleet.draining:
            try:
                popped = self.queue.pop()
            except RedisError as exc:
                self._redis_trouble("take work from the shared frontier", exc)
                return None
            if popped is None:
                return None
            lease, request = popped
            self.stats.inc_value("scheduler/dequeued/redis")
            info = request_info(request)
            if info.get("outlet") not in self.spider.outlets:
                self._not_mine(lease, info.get("outlet"))
                return None
            if self._done_already(request, info):
                self.queue.ack(lease, info.get("job"))
                self.stats.inc_value(f"raqib/{info.get('outlet')}/skipped/already_fetched")
                continue
            return self._leased(request, lease, info.get("job"))
        return None

    def _not_mine(self, lease: str, outlet: str | None) -> None:
        """An article of an outlet this process's outlets.yaml does not have (a member
        started before the outlet was added): give it back for a member that knows it."""
        self.queue.give_back(lease)
        if outlet not in self._unknown:
            self._unknown.add(outlet)
            log.warning("the shared frontier holds articles of the outlet %r, which this process's outlets.yaml does "
                        "not have; they are left to the members that do. Restart this process with the fleet's "
                        "configuration.", outlet)

    def _redis_trouble(self, what: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_trouble > 30:
            self._last_trouble = now
            log.warning("cannot %s: Redis at %s: %s", what, self.fleet.where, exc)

    # --- leases -------------------------------------------------------------------------

    def _done_already(self, request, info: dict) -> bool:
        """A request given back by a member that died after fetching it: the crawl state
        has its fetch, later than the request was queued."""
        key, queued = info.get("key"), info.get("queued_at")
        if not key or not queued:
            return False
        rec = self.spider.state.article(key)
        return rec is not None and rec.fetched_at is not None and rec.fetched_at >= queued

    def _leased(self, request, lease: str, job: str | None):
        """The request, with its callbacks wrapped so the lease is acknowledged once it is
        finished (an article handed to the pipelines: when the pipelines are done with it)."""
        request.meta["raqib_lease"] = lease
        callback, errback = request.callback, request.errback
        ack = self.ack

        def finished_callback(response, **kwargs):
            handed = False
            try:
                for out in callback(response, **kwargs) or ():
                    if isinstance(out, FetchedPage):
                        out.extras["lease"] = (lease, job)
                        handed = True
                    yield out
            finally:
                if not handed:
                    ack(lease, job)

        def finished_errback(failure):
            try:
                return errback(failure) if errback is not None else None
            finally:
                ack(lease, job)

        request.callback = finished_callback
        request.errback = finished_errback
        return request

    def ack(self, lease: str, job: str | None) -> None:
        try:
            self.queue.ack(lease, job)
        except Exception as exc:  # noqa: BLE001 - the lease is reclaimed and the request found done
            log.warning("could not acknowledge a finished request (%s)", exc)

    def _item_done(self, item, **kwargs) -> None:
        extras = getattr(item, "extras", None)
        held = extras.pop("lease", None) if isinstance(extras, dict) else None
        if held:
            self.ack(*held)

    # --- the periodic look ----------------------------------------------------------------

    def _tick(self) -> None:
        """While this member has room, look at the shared queue (Scrapy's engine only looks
        when its own work changes, or every five seconds); now and then flush the counters,
        read the fleet's blocks and take over members that died."""
        self._ticks += 1
        try:
            engine = self.crawler.engine
            if not self.fleet.draining and not engine.needs_backout() and len(self.queue):
                engine._slot.nextcall.schedule()      # Scrapy 2.19's engine: no public "look again"
            if self._ticks % SLOW_TICKS == 0:
                self._flush_stats()
                self._refresh_blocks()
            closing = getattr(engine._slot, "closing", None) if engine._slot is not None else True
            if time.monotonic() - self._last_reclaim >= RECLAIM_EVERY and not self.fleet.draining and not closing:
                self._reclaim()      # not while closing: the index step could no longer write what is taken over
        except Exception as exc:  # noqa: BLE001 - Redis away for a moment: the next tick tries again
            log.warning("fleet upkeep failed: %s", exc)

    def _reclaim(self) -> None:
        self._last_reclaim = time.monotonic()
        requeued, adopted = self.fleet.member.reclaim_dead()
        if requeued:
            self.crawler.engine._slot.nextcall.schedule()

    def _flush_stats(self) -> None:
        flush = getattr(self.stats, "flush", None)
        if flush is not None:
            try:
                flush(self.fleet)
            except Exception as exc:  # noqa: BLE001 - kept and sent with the next flush
                log.warning("could not send crawl counters to the fleet: %s", exc)

    def _refresh_blocks(self) -> None:
        spider = self.spider
        blocked = self.fleet.blocked(spider.outlets)
        for outlet, reason in blocked.items():
            if outlet not in spider.blocked_outlets:
                spider.blocked_outlets[outlet] = reason
                self._from_fleet.add(outlet)
        for outlet in list(self._from_fleet - set(blocked)):
            spider.blocked_outlets.pop(outlet, None)       # the block expired or a new crawl cleared it
            self._from_fleet.discard(outlet)


class FleetStats(MemoryStatsCollector):
    """Scrapy's stats collector, whose per-outlet counters (`raqib/<outlet>/…`) are also
    added to the fleet's (sent in batches by the scheduler), so that the coordinator of a
    crawl reports what every member did for it."""

    def __init__(self, crawler):
        super().__init__(crawler)
        self._lock = threading.Lock()
        self._deltas: dict[str, dict[str, float]] = {}
        self._extremes: dict[str, dict[str, tuple[str, Any]]] = {}

    @staticmethod
    def _split(key: str) -> tuple[str, str] | None:
        if not key.startswith("raqib/"):
            return None
        parts = key.split("/", 2)
        return (parts[1], parts[2]) if len(parts) == 3 else None

    def inc_value(self, key, count=1, start=0, spider=None):
        super().inc_value(key, count, start)
        split = self._split(key)
        if split and isinstance(count, (int, float)):
            with self._lock:
                d = self._deltas.setdefault(split[0], {})
                d[split[1]] = d.get(split[1], 0) + count

    def _extreme(self, key, value, op) -> None:
        split = self._split(key)
        if split:
            with self._lock:
                e = self._extremes.setdefault(split[0], {})
                old = e.get(split[1])
                if old is None or op == "set" or (op == "min" and value < old[1]) or (op == "max" and value > old[1]):
                    e[split[1]] = (op, value)

    def max_value(self, key, value, spider=None):
        super().max_value(key, value)
        self._extreme(key, value, "max")

    def min_value(self, key, value, spider=None):
        super().min_value(key, value)
        self._extreme(key, value, "min")

    def set_value(self, key, value, spider=None):
        super().set_value(key, value)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            self._extreme(key, str(value) if isinstance(value, str) else value, "set")

    def flush(self, fleet) -> None:
        """Send what was counted since the last flush, then note when (Redis's clock) in
        `flushed`, which a coordinator waits on (crawler.fleet.members.settle)."""
        with self._lock:
            deltas, self._deltas = self._deltas, {}
            extremes, self._extremes = self._extremes, {}
        pending = sorted(set(deltas) | set(extremes))
        try:
            while pending:
                outlet = pending[0]
                fleet.add_stats(outlet, deltas.get(outlet, {}),
                                [(name, op, value) for name, (op, value) in extremes.get(outlet, {}).items()])
                pending.pop(0)
            fleet.flushed()
        except Exception:
            with self._lock:          # what was not sent goes with the next flush
                for outlet in pending:
                    mine = self._deltas.setdefault(outlet, {})
                    for name, v in deltas.get(outlet, {}).items():
                        mine[name] = mine.get(name, 0) + v
                    later = self._extremes.setdefault(outlet, {})
                    for name, entry in extremes.get(outlet, {}).items():
                        later.setdefault(name, entry)
            raise
