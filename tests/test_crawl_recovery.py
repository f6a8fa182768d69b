"""Nothing fetched is lost: a crawl killed half-way, or a cluster that goes away during a
crawl, ends with every article indexed exactly once after the next crawl."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.support.crashkit import FlakyProxy
from tests.support.crawlrun import ROOT, by_url_and_id, crawl, docs, outlet_yaml, site_with_articles, write_config
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
        proc = subprocess.Popen([sys.executable, "-m", "crawler.cli.main", "--config", str(config), "crawl"],
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


# --- kill -9 at several moments of a first crawl (issue 13, item 5) ---------------------------------

def _unseen_site_crawl_killed(tmp_path, es_url, alias, es, hang: list[str], ready, redis_url: str | None = None) -> tuple:
    """A first crawl of the unseen outlet (test_crawl_discovery.build_unseen) in its own
    process, SIGKILLed once the pages in `hang` are in flight and `ready(site)` holds; then
    the pages answer again. Returns (site, config, expected URLs, documents before)."""
    from tests.support.unseen import build_unseen, first_crawl_expects, unseen_yaml

    release = threading.Event()
    entered: set[str] = set()
    site = Site("127.0.0.1").__enter__()
    paths, ages = build_unseen(site)
    targets = [paths[i] if isinstance(i, int) else i for i in hang]
    site.hang(targets, release, entered=entered)
    config = write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s",
                          outlets_yaml=unseen_yaml(site), sitemap_window="7d", timeout=30.0,
                          concurrency_per_domain=4)
    if redis_url:
        # a shared state whose silent members keep their leases, spool and locks a whole
        # minute: only knowing the process is gone can free them in time
        settings = config / "settings.toml"
        settings.write_text(settings.read_text().replace(
            "[state]\n", f'[state]\nredis_url = "{redis_url}"\nredis_ttl = "60s"\n'), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
    proc = subprocess.Popen([sys.executable, "-m", "crawler.cli.main", "--config", str(config), "crawl"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not (entered and ready(site)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the crawl did not reach the moment it is killed at (entered: {entered})")
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)            # no clean shutdown: a crash
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        release.set()
    before = docs(es, alias) if es.indices.exists(index=alias) else {}
    return site, config, first_crawl_expects(site, paths, ages), before


def _articles_answered(site: Site) -> int:
    return len([r for r in site.requests("/news/") if r.status == 200])


@pytest.mark.parametrize("moment, hang, ready", [
    # the sitemap in flight: home, the feed and maybe some articles are done
    ("reading the sitemap", ["/sitemap.xml"], lambda site: bool(site.requests("/feed/"))),
    # home read and stored, its next page in flight: a 304 on home must still lead there
    ("reading a section's next page", ["/?page=2"], lambda site: bool(site.requests("/sitemap.xml"))),
    # every source read; some articles fetched, others in flight
    ("fetching articles", [3, 5, 7, 10, 13], lambda site: _articles_answered(site) >= 4),
])
def test_the_crawl_after_a_killed_first_crawl_finishes_everything(tmp_path, es_url, es, alias, moment, hang, ready):
    site, config, expected, before = _unseen_site_crawl_killed(tmp_path, es_url, alias, es, hang, ready)
    try:
        assert set(before) < expected, moment                  # the kill left work undone
        site.log.clear()
        result = crawl(config)
        assert result.code == 0, result.err
        stats = result.outlet("unseen")
        assert stats["window"]["kind"] == "first_crawl"      # the killed crawl did not end first contact
        urls, ids = by_url_and_id(es, alias)
        assert set(docs(es, alias)) == expected, (moment, expected - set(docs(es, alias)))
        assert set(urls.values()) == {1} and set(ids.values()) == {1} and len(ids) == len(expected)
        # what the killed crawl indexed is not fetched again
        refetched = {site.url(r.path) for r in site.requests("/news/") if r.status == 200}
        assert not refetched & set(before), moment
    finally:
        site.__exit__(None, None, None)


def test_the_crawl_after_a_killed_first_crawl_of_a_fleet_finishes_everything(tmp_path, es_url, es, alias, redis_url):
    """With the crawl state in Redis the killed crawl leaves leased requests, an outlet's
    crawl lock and maybe a spool under its name, none of which expire for a minute; the next
    crawl on the same machine sees the process is gone, takes them over and finishes."""
    site, config, expected, before = _unseen_site_crawl_killed(
        tmp_path, es_url, alias, es, [3, 5, 7, 10, 13], lambda site: _articles_answered(site) >= 4, redis_url=redis_url)
    try:
        assert set(before) < expected
        site.log.clear()
        result = crawl(config)
        assert result.code == 0, result.err
        assert "being crawled by" not in result.err
        urls, ids = by_url_and_id(es, alias)
        assert set(docs(es, alias)) == expected, expected - set(docs(es, alias))
        assert set(urls.values()) == {1} and set(ids.values()) == {1} and len(ids) == len(expected)
        assert all(d["version"] == 1 for d in docs(es, alias).values())
    finally:
        site.__exit__(None, None, None)


def test_sigterm_to_raqib_run_stops_its_crawl_taking_new_work_at_once_and_loses_nothing(tmp_path, es_url, es, alias):
    """`raqib run`, then SIGTERM, as systemd stops it. The service asks its child crawl to stop
    once; the child then sends no request it had not sent yet: with a per-host delay, the
    requests Scrapy had queued for the host were fetched one by one first (38 s of fetching
    after SIGTERM on a real outlet). What it did not fetch is fetched by the next crawl."""
    with Site() as site:
        paths = site_with_articles(site, 30)
        config = write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s",
                              outlets_yaml="outlets:\n" + outlet_yaml("local", site),
                              download_delay=0.5, concurrency_per_domain=1)
        with (config / "settings.toml").open("a", encoding="utf-8") as fh:
            fh.write("[service]\njitter = 0\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
        proc = subprocess.Popen([sys.executable, "-m", "crawler.cli.main", "--config", str(config), "run", "--every", "1h"],
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
