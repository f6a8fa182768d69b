"""The shared crawl state and the fleet's primitives, against a real redis-server: the same
`CrawlState` behaviour as the local SQLite state, plus what only a fleet needs (atomic
discovery, per-member spools taken over when a member dies, locks with expiry, a host's
delay across processes, leases given back)."""
from __future__ import annotations

import threading
import time

import pytest

from crawler.fleet.members import Fleet, FleetError, connect
from crawler.state.factory import open_state
from crawler.state.redis_store import RedisState
from crawler.state.store import FAILED, INDEXED, MAX_ATTEMPTS, PENDING, SPOOLED, SourceRecord
from pipelines.settings import parse_settings


def settings(url: str, ttl: str = "2s"):
    return parse_settings({"state": {"redis_url": url, "redis_ttl": ttl}})


@pytest.fixture
def state(redis_url):
    st = open_state(settings(redis_url))
    yield st
    st.close()


def test_open_state_chooses_redis_and_a_new_process_sees_everything(redis_url, state):
    assert isinstance(state, RedisState)
    state.save_source(SourceRecord(url="https://x.org/robots.txt", outlet="x", kind="robots", etag='"e"',
                                   body=b"User-agent: *\nDisallow: /print/\n", fetched_at=1.0,
                                   children=[["https://x.org/s.xml", None]]))
    before, rec = state.discovered("x", "https://x.org/1", "https://www.x.org/1", "feed",
                                   "2024-04-01T00:00:00+00:00", 1)
    assert before is None and rec.status == PENDING
    state.save_outlet("x", blocked_reason="HTTP 403", last_new=3)

    other = open_state(settings(redis_url))          # another member, maybe on another machine
    try:
        src = other.source("https://x.org/robots.txt")
        assert src.body == b"User-agent: *\nDisallow: /print/\n" and src.children == [["https://x.org/s.xml", None]]
        assert other.article("https://x.org/1").url == "https://www.x.org/1"
        assert [r.key for r in other.pending("x", 10)] == ["https://x.org/1"]
        assert other.numbers("x") == {1}
        assert other.outlet("x") == {"blocked_reason": "HTTP 403", "last_new": 3}
    finally:
        other.close()


def test_discovery_keeps_the_newest_lastmod_and_the_first_channel(state):
    state.discovered("x", "k", "u", "sitemap", "2024-04-02T00:00:00+00:00")
    before, rec = state.discovered("x", "k", "u", "feed", "2024-04-01T00:00:00+00:00")
    assert before.lastmod == rec.lastmod == "2024-04-02T00:00:00+00:00" and rec.channel == "sitemap"
    _, rec = state.discovered("x", "k", "u", "feed", "2024-04-03T00:00:00+00:00")
    assert state.article("k").lastmod == rec.lastmod == "2024-04-03T00:00:00+00:00"


def test_a_lastmod_raised_by_discovery_does_not_undo_a_workers_status(state):
    """The coordinator raises a lastmod while a worker marks the article spooled: both stay."""
    state.discovered("x", "k", "u", "feed", "2024-04-01T00:00:00+00:00")
    rec = state.article("k")
    rec.status, rec.fetched_at = SPOOLED, 5.0
    state.save_article(rec)
    state.discovered("x", "k", "u", "sitemap", "2024-04-05T00:00:00+00:00")
    now = state.article("k")
    assert (now.status, now.fetched_at, now.lastmod) == (SPOOLED, 5.0, "2024-04-05T00:00:00+00:00")


def test_only_one_of_many_concurrent_discoveries_is_the_first(redis_url):
    states = [open_state(settings(redis_url)) for _ in range(4)]
    firsts = []
    barrier = threading.Barrier(len(states))

    def discover(st):
        barrier.wait()
        for i in range(50):
            before, _ = st.discovered("x", f"k{i}", f"u{i}", "feed")
            if before is None:
                firsts.append(i)

    threads = [threading.Thread(target=discover, args=(st,)) for st in states]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert sorted(firsts) == list(range(50))
    finally:
        for st in states:
            st.close()


def test_pending_lists_pending_and_retryable_articles_oldest_first(state):
    for i in range(5):
        state.discovered("x", f"k{i}", f"u{i}", "feed", now=100.0 + i)
    done, failed, spent = state.article("k1"), state.article("k2"), state.article("k3")
    done.status = INDEXED
    failed.status, failed.attempts = FAILED, 1
    spent.status, spent.attempts = FAILED, MAX_ATTEMPTS
    for rec in (done, failed, spent):
        state.save_article(rec)
    assert [r.key for r in state.pending("x", 10)] == ["k0", "k2", "k4"]
    assert [r.key for r in state.pending("x", 2)] == ["k0", "k2"]
    assert state.pending("y", 10) == []


def test_a_members_spool_is_its_own_and_is_taken_over_when_it_dies(redis_url):
    a = open_state(settings(redis_url, ttl="1s"))
    b = open_state(settings(redis_url, ttl="1s"))
    try:
        a.spool_put("d1", "x", "k1", {"title": "عنوان", "text": "نص"})
        a.spool_put("d2", "y", "k2", {"title": "t"})
        b.spool_put("d3", "x", "k3", {"title": "t3"})
        assert [e[0] for e in a.spooled()] == ["d1", "d2"] and [e[0] for e in b.spooled()] == ["d3"]
        assert (a.spool_count("x"), a.spool_count("y")) == (2, 1)
        a.fleet.member._stop.set()               # a stops beating, as if killed: its heartbeat expires
        time.sleep(1.5)
        requeued, adopted = b.fleet.member.reclaim_dead()
        assert adopted == 2
        assert sorted(e[0] for e in b.take_adopted()) == ["d1", "d2"]
        assert b.take_adopted() == []
        assert sorted(e[0] for e in b.spooled()) == ["d1", "d2", "d3"]
        assert b.spooled(limit=1)[0][3] in ({"title": "عنوان", "text": "نص"}, {"title": "t"}, {"title": "t3"})
        assert (b.spool_count("x"), b.spool_count("y")) == (2, 1)       # moved, not lost nor doubled
        b.spool_remove(["d1", "d3", "unknown"])
        assert (b.spool_count("x"), b.spool_count("y")) == (0, 1)
        assert b.fleet.member.reclaim_dead() == (0, 0)                  # taken over once
    finally:
        a.close()
        b.close()


def test_a_spooled_document_and_its_article_marked_fetched_are_one_transaction(state):
    """A member killed between the two would leave a spooled document whose article looks
    unfetched: the member that takes over its requests would fetch the article again."""
    _, rec = state.discovered("x", "k", "u", "feed")
    rec.status, rec.fetched_at = SPOOLED, 5.0
    state.spool_put("doc1", "x", "k", {"title": "t"}, article=rec)
    assert state.article("k").status == SPOOLED and state.article("k").fetched_at == 5.0
    assert [e[0] for e in state.spooled()] == ["doc1"] and state.spool_count("x") == 1
    assert state.pending("x", 10) == []
    _, other = state.discovered("x", "k2", "u2", "feed")
    other.status = "bogus"
    with pytest.raises(ValueError, match="unknown article status"):
        state.spool_put("doc2", "x", "k2", {"title": "t2"}, article=other)
    assert [e[0] for e in state.spooled()] == ["doc1"] and state.spool_count("x") == 1
    assert state.article("k2").status == PENDING


def test_a_lock_is_held_by_one_renewed_and_taken_over_after_its_holder_dies(redis_url):
    one, two = Fleet(connect(redis_url), ttl=1.0), Fleet(connect(redis_url), ttl=1.0)
    first = one.lock("scheduler")
    second = two.lock("scheduler")
    assert first.acquire() and not second.acquire()
    time.sleep(2.5)                               # several TTLs: the holder's thread renewed it
    assert not second.acquire() and one.lock_holder("scheduler") == one.member.id
    first._stop.set()                             # the holder dies: nobody renews
    time.sleep(1.3)
    assert second.acquire() and two.lock_holder("scheduler") == two.member.id
    lost = threading.Event()
    first.on_lost = lost.set
    second.release()
    assert first.acquire()
    first.release()
    assert one.lock_holder("scheduler") is None


def test_a_lock_taken_over_tells_the_old_holder(redis_url):
    one, two = Fleet(connect(redis_url), ttl=1.0), Fleet(connect(redis_url), ttl=1.0)
    lost = threading.Event()
    first = one.lock("alerts", on_lost=lost.set)
    assert first.acquire()
    two.redis.set(two.key("lock", "alerts"), b"someone-else", px=60_000)   # e.g. after a long pause
    assert lost.wait(3) and not first.held


def test_a_hosts_delay_holds_across_processes(redis_url):
    members = [Fleet(connect(redis_url)) for _ in range(3)]
    taken: list[float] = []

    def send_twice(fleet):
        for _ in range(2):
            while (wait := fleet.take_turn("news.example", 0.3)) > 0:
                time.sleep(wait)
            taken.append(time.monotonic())

    threads = [threading.Thread(target=send_twice, args=(m,)) for m in members]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken.sort()
    assert len(taken) == 6 and min(b - a for a, b in zip(taken, taken[1:])) >= 0.29
    assert members[0].take_turn("other.example", 0.3) == 0.0
    members[1].pause("news.example", 10)
    assert members[2].take_turn("news.example", 0.0) >= 9.5 and members[0].paused("news.example") >= 9.5


def test_a_redis_that_cannot_be_reached_is_one_clear_error():
    with pytest.raises(FleetError, match=r"cannot reach Redis at redis://127\.0\.0\.1:1/0 .*redis_url"):
        connect("redis://127.0.0.1:1/0", timeout=1)
    with pytest.raises(FleetError, match="not a Redis URL"):
        connect("http://127.0.0.1:6379/")
    with pytest.raises(FleetError) as err:
        connect("redis://raqib:topsecret-pass@127.0.0.1:1/0", timeout=1)
    assert "redis://127.0.0.1:1/0" in str(err.value) and "topsecret-pass" not in str(err.value)
    from pipelines.es import redact

    assert "topsecret-pass" not in redact("a log line with topsecret-pass in it")


def test_a_wrong_password_is_named_without_showing_it(tmp_path):
    from tests.support.redisserver import RedisServer

    server = RedisServer(password="s3cret-redis-pass")
    try:
        wrong = server.url.replace("s3cret-redis-pass", "not-the-password")
        with pytest.raises(FleetError) as err:
            connect(wrong, timeout=2)
        assert "refused the credentials" in str(err.value) and "not-the-password" not in str(err.value)
        assert isinstance(open_state(settings(server.url)), RedisState)
    finally:
        server.stop()


def test_the_frontier_serves_hosts_in_turn_at_their_pace_and_keeps_what_is_leased(redis_url):
    from scrapy import Request

    from crawler.fleet.frontier import FleetQueue

    class Spider:
        name = "raqib"

    one, two = Fleet(connect(redis_url)), Fleet(connect(redis_url))
    q1 = FleetQueue(one.redis, Spider(), one.key("frontier"), fleet=one)
    q2 = FleetQueue(two.redis, Spider(), two.key("frontier"), fleet=two)
    for host, delay in (("slow.example", 60.0), ("fast.example", 0.0)):
        for i in range(3):
            q1.push(Request(f"http://{host}/{i}", meta={"raqib": {"kind": "article"}}), host=host, delay=delay)
    assert len(q1) == len(q2) == 6
    taken = [q1.pop(), q2.pop(), q1.pop(), q2.pop()]
    assert [t[1].url for t in taken] == ["http://slow.example/0", "http://fast.example/0",
                                         "http://fast.example/1", "http://fast.example/2"]
    assert q1.pop() is None                      # the slow host is not due for a minute; the fast one is empty
    assert q2.give_back(taken[1][0]) == 1        # back in its host's queue, as it was
    assert q1.pop()[1].url == "http://fast.example/0"
    assert q1.ack(taken[0][0], None) and not q1.ack(taken[0][0], None)     # acknowledged once
    assert q2.release() == 1                     # what the second member still held: fast/2
    assert sorted(r.url for r in (q2.pop()[1],)) == ["http://fast.example/2"]
    assert len(q1) == 2                          # slow/1 and slow/2 wait for their turn
