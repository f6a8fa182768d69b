"""Nothing fetched is lost: a crawl killed half-way, or a cluster that goes away during a
crawl, ends with every article indexed exactly once after the next crawl."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from tests.support.crashkit import FlakyProxy
from tests.support.crawlrun import ROOT, crawl, docs, outlet_yaml, site_with_articles, write_config
from tests.support.localsite import Site


def test_a_cluster_outage_during_the_crawl_loses_nothing(tmp_path, es_url, es, alias):
    proxy = FlakyProxy(es_url)
    try:
        with Site() as site:
            paths = site_with_articles(site, 6)
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
        paths = site_with_articles(site, 8)
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
