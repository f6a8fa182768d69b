"""Several crawl processes sharing one Redis (crawler/fleet/members.py, crawler/fleet/frontier.py), as
real processes against the offline mirror and the real Elasticsearch node: every article
indexed once, no page fetched twice, each host's delay kept by the fleet as a whole, and a
worker killed with SIGKILL in the middle loses nothing."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from crawler.mirror import Mirror
from pipelines.urls import canonicalize
from tests.support.crashkit import EsProxy
from tests.support.crawlrun import ROOT, crawl, write_config

pytestmark = pytest.mark.slow
CHANNELS = ("home", "feed", "sitemap", "section")


def fleet_config(path: Path, m: Mirror, *, es_url: str, alias: str, redis_url: str, ttl: str = "2s", **crawl_settings):
    config = write_config(path, es_url=es_url, alias=alias, state_dir=path / "state", **{"retries": 2, **crawl_settings})
    m.write_config(config)
    settings = config / "settings.toml"
    settings.write_text(settings.read_text(encoding="utf-8").replace(
        "[state]\n", f'[state]\nredis_url = "{redis_url}"\nredis_ttl = "{ttl}"\n'), encoding="utf-8")
    return config


def start_worker(config: Path, stats: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
    return subprocess.Popen(
        [sys.executable, "-m", "crawler.cli.main", "--config", str(config), "crawl", "--worker", "--stats-json", str(stats)],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen, timeout: float = 60) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"a worker did not stop within {timeout}s of SIGTERM:\n{err[-3000:]}")
    return err or ""


def indexed(es, alias) -> dict[str, list[dict]]:
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, size=5000, query={"match_all": {}}).body["hits"]["hits"]
    out: dict[str, list[dict]] = defaultdict(list)
    for h in hits:
        out[canonicalize(h["_source"]["url"])].append(h["_source"])
    return out


def expected(m: Mirror) -> set[str]:
    return {canonicalize(e["url"]) for o in m.outlets for e in m.truth(o, channels=CHANNELS)}


def page_requests(m: Mirror) -> Counter:
    """How often each page (not robots.txt: every process reads it once) was requested."""
    return Counter((r["server"], r["path"]) for r in m.requests() if r["path"] != "/robots.txt")


def test_workers_share_a_crawl_each_article_once_and_each_host_at_the_fleets_pace(tmp_path, es_url, es, alias,
                                                                                  redis_url, redis_server):
    delay = 0.15
    with Mirror() as m:
        configs = [fleet_config(tmp_path / f"c{i}", m, es_url=es_url, alias=alias, redis_url=redis_url,
                                download_delay=delay) for i in range(3)]
        workers = [start_worker(c, tmp_path / f"worker{i}.json") for i, c in enumerate(configs[1:])]
        try:
            # The crawl lasts a few seconds: a worker still importing when it starts (a busy
            # machine) would find nothing left to share, which says nothing about sharing.
            wait_for_members(redis_server.client(), workers)
            result = crawl(configs[0], timeout=300)
        finally:
            errors = [stop(w) for w in workers]
        assert result.code == 0, result.err
        assert all("Traceback" not in e for e in errors), errors

        # every article once, with the text of its first and only version
        stored = indexed(es, alias)
        assert set(stored) == expected(m)
        assert all(len(docs) == 1 and docs[0]["version"] == 1 for docs in stored.values())
        # no page fetched twice by the fleet
        twice = {k: n for k, n in page_requests(m).items() if n > 1}
        assert twice == {}
        # the work was shared: each worker fetched articles, and the coordinator's report counts the fleet's
        reports = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2)]
        by_worker = [r["totals"]["articles_fetched"] for r in reports]
        assert all(n > 0 for n in by_worker), by_worker
        assert result.stats["totals"]["articles_fetched"] == len(stored) == result.stats["totals"]["indexed_new"]
        # each host's requests, whoever sent them, at the fleet's pace: never more than one per delay over
        # any run of ten (the mirror logs a request when its handler thread gets to it, which may be late
        # by a few tens of milliseconds; over ten requests that evens out), and at most one per delay overall
        times: dict[str, list[float]] = defaultdict(list)
        for r in m.requests():
            times[r["server"]].append(r["time"])
        for host, seen in times.items():
            seen.sort()
            assert len(seen) > 10, host
            spans = [b - a for a, b in zip(seen, seen[10:])]
            assert min(spans) >= 10 * delay * 0.8, (host, sorted(spans)[:3])
            assert (seen[-1] - seen[0]) / (len(seen) - 1) >= delay * 0.95, host


class BulkBlackhole(EsProxy):
    """A real HTTP proxy in front of Elasticsearch that never answers a bulk write: a worker
    behind it extracts and spools articles but cannot write them, until it is killed."""
    timeout = 30

    def __init__(self, target: str):
        self.release = threading.Event()
        self.bulks = 0
        super().__init__(target)

    def handle(self, handler) -> None:
        body = self.read_body(handler)
        if "/_bulk" in handler.path:
            self.bulks += 1
            self.release.wait(120)
            handler.close_connection = True
            return
        self.forward(handler, body)

    def close(self):
        self.release.set()
        super().close()


def _member_of(redis_client, pid: int) -> str | None:
    for member in redis_client.smembers("raqib:members"):
        if member.decode().split(":")[1] == str(pid):
            return member.decode()
    return None


def wait_for_members(redis_client, procs: list[subprocess.Popen], timeout: float = 60) -> None:
    """Until each process has joined the fleet (registered, heartbeat running)."""
    deadline = time.monotonic() + timeout
    while not all(_member_of(redis_client, p.pid) for p in procs):
        for p in procs:
            assert p.poll() is None, p.stderr.read() if p.stderr else p.returncode
        assert time.monotonic() < deadline, f"the workers did not join the fleet within {timeout}s"
        time.sleep(0.1)


def test_a_worker_killed_mid_crawl_loses_nothing(tmp_path, es_url, es, alias, redis_url, redis_server):
    """The victim extracts and spools articles but its bulk writes never return (a proxy holds
    them), and pages answer slowly, so when it is killed it holds both leased requests and
    spooled documents. The coordinator and the other worker take them over and finish."""
    proxy = BulkBlackhole(es_url)
    r = redis_server.client()
    try:
        with Mirror() as m:
            victim_cfg = fleet_config(tmp_path / "victim", m, es_url=proxy.url, alias=alias, redis_url=redis_url,
                                      concurrency_per_domain=4)
            other_cfg = fleet_config(tmp_path / "other", m, es_url=es_url, alias=alias, redis_url=redis_url)
            coord_cfg = fleet_config(tmp_path / "coord", m, es_url=es_url, alias=alias, redis_url=redis_url)
            env = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
            victim = start_worker(victim_cfg, tmp_path / "victim.json")
            other = None
            coordinator = subprocess.Popen(
                [sys.executable, "-m", "crawler.cli.main", "--config", str(coord_cfg), "crawl", "--stats-json",
                 str(tmp_path / "coord.json")], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                deadline = time.monotonic() + 120
                member = None
                while time.monotonic() < deadline:
                    member = member or _member_of(r, victim.pid)
                    if member and r.hlen(f"raqib:spool:{member}") >= 3 and proxy.bulks:
                        break
                    assert victim.poll() is None, victim.stderr.read()
                    assert coordinator.poll() is None, coordinator.communicate()
                    time.sleep(0.1)
                else:
                    raise AssertionError("the victim never spooled documents it could not write")
                os.kill(victim.pid, signal.SIGSTOP)          # freeze it to look at what it holds, then crash it
                spooled = {v.decode().split("\n", 2)[1] for v in r.hvals(f"raqib:spool:{member}")}
                leased = r.scard(f"raqib:leases:{member}")
                os.kill(victim.pid, signal.SIGKILL)          # no clean shutdown: a crash
                victim.wait(10)
                other = start_worker(other_cfg, tmp_path / "other.json")
                out, err = coordinator.communicate(timeout=300)
            finally:
                for proc in (victim, coordinator):
                    if proc.poll() is None:
                        proc.kill()
                if other is not None:
                    stop(other)
            assert coordinator.returncode == 0, err
            stored = indexed(es, alias)
            assert set(stored) == expected(m)                      # nothing lost
            assert all(len(docs) == 1 and docs[0]["version"] == 1 for docs in stored.values())
            assert len(spooled) >= 3 and r.hlen(f"raqib:spool:{member}") == 0 and not r.exists(f"raqib:leases:{member}")
            assert r.zcard("raqib:frontier") == 0 and r.hlen("raqib:inflight") == 0
            # fetched again: only requests the victim had taken and not finished; what it had spooled
            # was written by another member, not fetched again
            twice = {canonicalize(f"http://{server}{path}") for (server, path), n in page_requests(m).items() if n > 1}
            assert len(twice) <= leased and not twice & spooled
    finally:
        proxy.close()


def test_a_slow_hosts_queue_does_not_hold_up_another_host(tmp_path, es_url, es, alias, redis_url):
    """The frontier keeps a queue per host: a host that asks for a pause between requests
    (Crawl-delay) gets its turns, and the other host's articles, queued after all of its,
    are fetched meanwhile instead of behind them."""
    from tests.support.crawlrun import AR, outlet_yaml
    from tests.support.localsite import Site, article_html, listing_html, recent

    with Site("127.0.0.2") as slow, Site("127.0.0.3") as fast:
        for site, n in ((slow, 16), (fast, 8)):
            paths = [f"/news/{i}" for i in range(1, n + 1)]
            for i, path in enumerate(paths):
                row = AR[(i + (0 if site is slow else 20)) % len(AR)]
                site.add(path, article_html(f"{row['title']} ({site.host} {i})", row["text"],
                                            published=recent(1).isoformat()))
            site.add("/", listing_html([site.url(p) for p in paths]))
        slow.add("/robots.txt", "User-agent: *\nCrawl-delay: 0.5\n", content_type="text/plain")
        home = fast.pages["/"]

        def late_home(handler, body=home.body):     # the fast host's articles are queued after the slow one's
            time.sleep(2)
            Site.send(handler, 200, body)
            return 200
        home.handler = late_home
        outlets = "outlets:\n" + outlet_yaml("slow", slow) + outlet_yaml("fast", fast)
        configs = []
        for name in ("coordinator", "worker"):
            config = write_config(tmp_path / name, es_url=es_url, alias=alias, state_dir=tmp_path / name / "state",
                                  outlets_yaml=outlets, concurrency=2, concurrency_per_domain=2)
            settings = config / "settings.toml"
            settings.write_text(settings.read_text().replace("[state]\n", f'[state]\nredis_url = "{redis_url}"\n'))
            configs.append(config)
        worker = start_worker(configs[1], tmp_path / "worker.json")
        try:
            result = crawl(configs[0], timeout=300)
        finally:
            stop(worker)
        assert result.code == 0, result.err
        slow_times = sorted(r.at for r in slow.requests("/news/"))
        fast_times = sorted(r.at for r in fast.requests("/news/"))
        assert len(slow_times) == 16 and len(fast_times) == 8
        assert min(b - a for a, b in zip(slow_times, slow_times[1:])) >= 0.5 * 0.8     # its pace, fleet-wide
        assert fast_times[-1] < slow_times[5], (fast_times[-1] - slow_times[0], slow_times[5] - slow_times[0])
