"""Nothing fetched is lost: a crawl killed half-way, or a cluster that goes away during a
crawl, ends with every article indexed exactly once after the next crawl."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from crashkit import EsProxy
from crawlrun import ROOT, crawl, write_config
from localsite import Site, article_html, listing_html, recent
from test_crawl import AR, docs, outlet_yaml


class FlakyProxy(EsProxy):
    """A real HTTP proxy in front of the Elasticsearch node. Armed, it goes down at the first
    request whose path contains `break_on`: from then on every connection is closed
    unanswered, as when a node dies. (A proxy, because the shared test node must not be
    stopped: the only way to take the cluster away from one crawl and not from the others.)"""
    timeout = 30

    def __init__(self, target: str, break_on: str = "/_bulk"):
        self.break_on = break_on
        self.down = False
        self.armed = False
        super().__init__(target)

    def handle(self, handler) -> None:
        if self.armed and self.break_on in handler.path:
            self.down = True
        if self.down:
            self.hang_up(handler)
            return
        super().handle(handler)


def _site_with_articles(site: Site, n: int) -> list[str]:
    paths = [f"/news/{i}" for i in range(1, n + 1)]
    for i, path in enumerate(paths):
        row = AR[i % len(AR)]
        site.add(path, article_html(f"{row['title']} ({i})", row["text"], published=recent(1).isoformat()))
    site.add("/", listing_html([site.url(p) for p in paths]))
    return paths


def test_a_cluster_outage_during_the_crawl_loses_nothing(tmp_path, es_url, es, alias):
    proxy = FlakyProxy(es_url)
    try:
        with Site() as site:
            paths = _site_with_articles(site, 6)
            config = write_config(tmp_path / "c", es_url=proxy.url, alias=alias, state_dir=tmp_path / "s",
                                  outlets_yaml="outlets:\n" + outlet_yaml("local", site))
            proxy.armed = True
            first = crawl(config)
            assert proxy.down
            assert first.code == 0, first.err
            stats = first.outlet("local")
            assert stats["errors"] == {"index_unavailable": 6}
            assert "cannot write to Elasticsearch" in first.err and "Traceback" not in first.err
            assert docs(es, alias) == {}
            # the cluster is back: the next crawl writes what was fetched, without fetching it again
            proxy.armed = proxy.down = False
            site.log.clear()
            second = crawl(config)
            assert second.code == 0, second.err
            assert site.requests("/news/") == []
            stored = docs(es, alias)
            assert set(stored) == {site.url(p) for p in paths}
            assert all(d["version"] == 1 for d in stored.values())
            assert second.outlet("local")["indexed"]["new"] == 6
    finally:
        proxy.close()


def test_a_crawl_killed_half_way_is_finished_by_the_next(tmp_path, es_url, es, alias):
    release = threading.Event()
    with Site() as site:
        paths = _site_with_articles(site, 8)
        slow = paths[4:]
        site.hang(slow, release)
        config = write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s",
                              outlets_yaml="outlets:\n" + outlet_yaml("local", site), timeout=30.0,
                              concurrency_per_domain=8)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
        proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "--config", str(config), "crawl"],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                hanging = {r.path for r in site.requests("/news/")} & set(slow)
                if es.indices.exists(index=alias) and len(docs(es, alias)) >= 4 and hanging:
                    break
                time.sleep(0.3)
            else:
                raise AssertionError("the crawl did not reach the point where it is killed")
            os.kill(proc.pid, signal.SIGKILL)            # no clean shutdown: a crash
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        release.set()
        before = docs(es, alias)
        assert 4 <= len(before) < 8
        site.log.clear()
        result = crawl(config)
        assert result.code == 0, result.err
        stored = docs(es, alias)
        assert set(stored) == {site.url(p) for p in paths}
        assert all(d["version"] == 1 for d in stored.values())
        refetched = {r.path for r in site.requests("/news/")}
        assert refetched <= set(slow) and refetched                   # what was indexed is not fetched again
        assert not {site.url(p) for p in refetched} & set(before)


def test_sigterm_to_raqib_run_stops_its_crawl_taking_new_work_at_once_and_loses_nothing(tmp_path, es_url, es, alias):
    """`raqib run`, then SIGTERM, as systemd stops it. The service asks its child crawl to stop
    once; the child then sends no request it had not sent yet: with a per-host delay, the
    requests Scrapy had queued for the host were fetched one by one first (38 s of fetching
    after SIGTERM on a real outlet). What it did not fetch is fetched by the next crawl."""
    with Site() as site:
        paths = _site_with_articles(site, 30)
        config = write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s",
                              outlets_yaml="outlets:\n" + outlet_yaml("local", site),
                              download_delay=0.5, concurrency_per_domain=1)
        with (config / "settings.toml").open("a", encoding="utf-8") as fh:
            fh.write("[service]\njitter = 0\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
        proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "--config", str(config), "run", "--every", "1h"],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while len(site.requests("/news/")) < 3:
                assert time.monotonic() < deadline and proc.poll() is None, "the crawl did not start"
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            asked = len(site.requests("/news/"))
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        fetched = len(site.requests("/news/"))
        # at most the one request in flight per host (concurrency_per_domain = 1) when the signal came
        assert fetched <= asked + 1, (asked, fetched)
        assert fetched < len(paths)
        site.log.clear()
        result = crawl(config)
        assert result.code == 0, result.err
        stored = docs(es, alias)
        assert set(stored) == {site.url(p) for p in paths}          # nothing lost
        assert all(d["version"] == 1 for d in stored.values())     # nothing indexed twice
