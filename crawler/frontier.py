"""The shared frontier: article requests in Redis, fetched by whichever member of the fleet
(crawler/fleet.py) is free, each exactly once. A thin layer over scrapy-redis.

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

from scrapy import signals
from scrapy.statscollectors import MemoryStatsCollector
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import Base as RedisQueueBase
from scrapy_redis.scheduler import Scheduler as RedisScheduler

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


# KEYS: frontier, seq, job. ARGV: data, priority, counted ('1': add to the job's outstanding).
# Equal priorities leave in the order they came (the sequence breaks ties), as Scrapy's own queue.
_PUSH = """
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], -tonumber(ARGV[2]) * 1e10 + seq, ARGV[1])
if ARGV[3] == '1' then redis.call('HINCRBY', KEYS[3], 'outstanding', 1) end
return seq
"""
# KEYS: frontier, lease-seq, inflight, inflight-score, leases:<me>. Returns {lease, data} or nil.
_POP = """
local item = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #item == 0 then return false end
redis.call('ZREM', KEYS[1], item[1])
local lease = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[3], lease, item[1])
redis.call('HSET', KEYS[4], lease, item[2])
redis.call('SADD', KEYS[5], lease)
return {tostring(lease), item[1]}
"""
# KEYS: inflight, inflight-score, leases:<me>, job. ARGV: lease. A lease already taken back
# (this member was thought dead) is not counted twice.
_ACK = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('HINCRBY', KEYS[4], 'outstanding', -1) end
return 1
"""
# KEYS: leases:<me>, inflight, inflight-score, frontier. Every lease held goes back to the queue.
_RELEASE = """
local leases = redis.call('SMEMBERS', KEYS[1])
local n = 0
for _, l in ipairs(leases) do
  local data = redis.call('HGET', KEYS[2], l)
  if data then
    redis.call('ZADD', KEYS[4], redis.call('HGET', KEYS[3], l) or '0', data)
    n = n + 1
  end
  redis.call('HDEL', KEYS[2], l)
  redis.call('HDEL', KEYS[3], l)
end
redis.call('DEL', KEYS[1])
return n
"""


class FleetQueue(RedisQueueBase):
    """scrapy-redis's queue with leases: `push` counts the request in its job, `pop` takes
    it under this member's name, `ack` finishes it, `release` gives back all it holds."""

    def __init__(self, server, spider, key, serializer=None, *, fleet=None):
        super().__init__(server, spider, key, serializer or JsonSerializer)
        self.fleet = fleet
        self._push = server.register_script(_PUSH)
        self._pop = server.register_script(_POP)
        self._ack = server.register_script(_ACK)
        self._release = server.register_script(_RELEASE)

    def __len__(self) -> int:
        return self.server.zcard(self.key)

    def push(self, request, job: str | None = None) -> None:
        f = self.fleet
        self._push(keys=[self.key, f.key("frontier-seq"), f.key("job", job or "-")],
                   args=[self._encode_request(request), int(request.priority), "1" if job else "0"])

    def pop(self, timeout: int = 0):
        f = self.fleet
        me = f.member.id
        out = self._pop(keys=[self.key, f.key("lease-seq"), f.key("inflight"), f.key("inflight-score"),
                              f.key("leases", me)])
        if not out:
            return None
        lease, data = out[0].decode() if isinstance(out[0], bytes) else str(out[0]), out[1]
        return lease, self._decode_request(data)

    def ack(self, lease: str, job: str | None) -> bool:
        f = self.fleet
        return bool(self._ack(keys=[f.key("inflight"), f.key("inflight-score"), f.key("leases", f.member.id),
                                    f.key("job", job or "-")], args=[lease]))

    def release(self) -> int:
        f = self.fleet
        return int(self._release(keys=[f.key("leases", f.member.id), f.key("inflight"), f.key("inflight-score"),
                                       self.key]))


class JobDupeFilter(RFPDupeFilter):
    """scrapy-redis's duplicate filter, per crawl job: an article (by its canonical key) is
    put in the frontier at most once per job, whichever code path asks. A later crawl is a
    new job, so a changed article can be fetched again then."""

    def request_fingerprint(self, request) -> str:
        info = request.meta.get("raqib") or {}
        return f"{info.get('job')}|{info.get('key') or request.url}"

    def request_seen(self, request) -> bool:
        info = request.meta.get("raqib") or {}
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
                   queue_cls="crawler.frontier.FleetQueue", serializer=JsonSerializer,
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
        self.fleet.member.join()
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
        info = request.meta.get("raqib") or {}
        return info.get("kind") == "article" and "raqib_lease" not in request.meta and bool(info.get("job"))

    def enqueue_request(self, request) -> bool:
        if not self._shared(request):
            heapq.heappush(self._local, (-request.priority, next(self._seq), request))
            return True
        if self.df.request_seen(request):
            info = request.meta["raqib"]
            self.stats.inc_value(f"raqib/{info['outlet']}/skipped/duplicate_request")
            return False
        info = request.meta["raqib"]
        info["queued_at"] = time.time()
        info["fid"] = secrets.token_hex(6)      # two equal requests stay two queue entries
        self.queue.push(request, info.get("job"))
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self):
        if self._local:
            return heapq.heappop(self._local)[2]
        while not self.fleet.draining:
            popped = self.queue.pop()
            if popped is None:
                return None
            lease, request = popped
            self.stats.inc_value("scheduler/dequeued/redis")
            info = request.meta.get("raqib") or {}
            if self._done_already(request, info):
                self.queue.ack(lease, info.get("job"))
                self.stats.inc_value(f"raqib/{info.get('outlet')}/skipped/already_fetched")
                continue
            return self._leased(request, lease, info.get("job"))
        return None

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
        from crawler.items import FetchedPage

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
            if time.monotonic() - self._last_reclaim >= RECLAIM_EVERY:
                self._reclaim()
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
        with self._lock:
            deltas, self._deltas = self._deltas, {}
            extremes, self._extremes = self._extremes, {}
        try:
            for outlet in set(deltas) | set(extremes):
                fleet.add_stats(outlet, deltas.get(outlet, {}),
                                [(name, op, value) for name, (op, value) in extremes.get(outlet, {}).items()])
        except Exception:
            with self._lock:          # not lost: sent with the next flush
                for outlet, d in deltas.items():
                    mine = self._deltas.setdefault(outlet, {})
                    for name, v in d.items():
                        mine[name] = mine.get(name, 0) + v
                for outlet, e in extremes.items():
                    self._extremes.setdefault(outlet, {}).update({k: v for k, v in e.items()
                                                                  if k not in self._extremes[outlet]})
            raise
