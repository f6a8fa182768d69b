"""Per-outlet health (crawler/report/health.py): graded failure points, back-off, last success and
last new article, kept in the crawl state by every real crawl, shown by `raqib status`,
honoured by `raqib run` (one rule: the service schedules with the same function) and by
`raqib crawl --respect-backoff`."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from crawler.report import health
from crawler.report.health import backoff_seconds, failure_of
from crawler.state.store import SqliteState
from tests.support.crawlrun import AR, ROOT, crawl, outlet_yaml, write_config
from tests.support.localsite import Site, article_html, listing_html, recent, rss

CHALLENGE = ("<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
             "<body>Enable JavaScript and cookies to continue</body></html>")


def entry(status="ok", errors=None, **extra) -> dict:
    base = {"status": status, "errors": errors or {}, "discovered": {"total": 3}, "fetched": {"article": 3},
            "not_modified": {}, "skipped": {}, "blocked": None}
    return base | extra


# --- the rule --------------------------------------------------------------------------------

def test_failures_are_graded_by_kind():
    assert failure_of(entry()) is None
    assert failure_of(entry("ok with errors", {"timeout": 2, "http_404": 1})) is None     # the outlet was reached
    assert failure_of(entry("ok with errors", {"index_unavailable": 5})) is None          # the cluster, not the site
    assert failure_of(entry("blocked", {"blocked": 3}, blocked="a challenge page on /"))[0] == "blocked"
    kind, message = failure_of(entry("failed", {"timeout": 5, "connection": 1}, fetched={}))
    assert kind == "timeout" and "timeout 5" in message
    # the weightiest kind names the failure: a 403 outweighs timeouts
    assert failure_of(entry("failed", {"timeout": 5, "http_4xx": 1}, fetched={}))[0] == "http_4xx"
    assert health.weight("timeout") < health.weight("http_4xx") == health.weight("blocked") < health.weight("config")


def test_a_listing_that_matches_no_article_pattern_is_a_config_failure():
    wrong = entry(discovered={"total": 0}, fetched={"feed": 1, "section": 1, "robots": 1},
                  skipped={"not_article_url": 12})
    kind, message = failure_of(wrong)
    assert kind == "config" and "12 URLs" in message and "article_pattern" in message
    # the same counts on an incremental crawl whose sources were unchanged are not a failure
    assert failure_of(wrong | {"not_modified": {"sitemap": 1}}) is None
    assert failure_of(wrong | {"skipped": {"not_article_url": 12, "source_unchanged": 1}}) is None


def test_the_back_off_doubles_per_point_between_the_schedule_and_the_ceiling():
    assert backoff_seconds(0, 900, 21600) == 900
    assert backoff_seconds(1, 900, 21600) == 1800
    assert backoff_seconds(3, 900, 21600) == 7200
    assert backoff_seconds(10, 900, 21600) == 21600
    assert backoff_seconds(2, 900, 600) == 900          # a ceiling under the schedule is the schedule


def test_points_accumulate_and_a_success_clears_them(tmp_path):
    state = SqliteState(tmp_path)
    t = 1_000_000.0
    h = health.record(state, "x", failure=("timeout", "nothing could be fetched"), finished_at=t, base=600, hi=7200)
    assert (h.consecutive_failures, h.failure_points, h.backoff_until) == (1, 1.0, t + 1200)
    h = health.record(state, "x", failure=("blocked", "challenge"), finished_at=t + 10, base=600, hi=7200)
    assert (h.consecutive_failures, h.failure_points, h.backoff_until) == (2, 4.0, t + 10 + 7200)
    assert h.last_success_at is None and h.last_failure_kind == "blocked"
    h = health.record(state, "x", failure=None, finished_at=t + 20, base=600, hi=7200, new=3)
    assert (h.consecutive_failures, h.failure_points, h.backoff_until) == (0, 0.0, None)
    assert h.last_success_at == h.last_new_at == t + 20
    h = health.record(state, "x", failure=None, finished_at=t + 30, base=600, hi=7200, new=0)
    assert h.last_new_at == t + 20 and h.last_success_at == t + 30
    state.close()
    again = SqliteState(tmp_path)           # it is the crawl state's, across processes
    assert health.read(again, "x") == h
    again.close()


# --- end to end ------------------------------------------------------------------------------

@pytest.fixture
def sites(tmp_path, es_url, alias):
    """`walled` answers everything with a challenge page; `fine` is a small news site."""
    with Site("127.0.0.1") as walled, Site("127.0.0.2") as fine:
        for path in ("/robots.txt", "/"):
            walled.add(path, CHALLENGE, status=403)
        paths = [f"/news/{i}" for i in range(1, 4)]
        for i, path in enumerate(paths):
            fine.add(path, article_html(AR[i]["title"], AR[i]["text"], published=recent(1).isoformat()))
        fine.add("/", listing_html([fine.url(p) for p in paths]))
        yaml = ("outlets:\n" + outlet_yaml("walled", walled, schedule="5m")
                + outlet_yaml("fine", fine, schedule="5m"))
        config = write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s", outlets_yaml=yaml)
        yield walled, fine, config


def status(config, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crawler.cli.main", "--config", str(config), "status", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_crawls_record_health_status_shows_it_and_respect_backoff_skips_a_failing_outlet(sites, tmp_path):
    walled, fine, config = sites
    first = crawl(config)
    assert first.code == 0, first.err
    h = first.outlet("walled")["health"]
    assert h["consecutive_failures"] == 1 and h["failure_points"] == 3 and h["last_failure_kind"] == "blocked"
    assert h["backoff_until"] == pytest.approx(h["last_finished_at"] + 300 * 8)      # 5m schedule, 3 points
    assert first.outlet("fine")["health"]["consecutive_failures"] == 0
    assert first.outlet("fine")["health"]["last_new_at"] == first.outlet("fine")["health"]["last_success_at"]
    assert re.search(r"walled: blocked.*\n(.*\n)*  health       1 failure in a row \(3 points; last: blocked", first.out)
    assert "outlet_failing" not in first.err and "walled: 1 failure(s) in a row (blocked" in first.err

    second = crawl(config)
    h = second.outlet("walled")["health"]
    assert h["consecutive_failures"] == 2 and h["failure_points"] == 6
    assert h["backoff_until"] == pytest.approx(h["last_finished_at"] + 300 * 2 ** 6)
    assert second.outlet("fine")["health"]["last_new_at"] == first.outlet("fine")["health"]["last_new_at"]

    shown = status(config)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"walled\s+never.*\n\s+health: 2 failures in a row \(6 points; last: blocked: .*\); "
                     r"backing off until .* \(in [56]\.\d+h\); last success never; last new article never", shown.stdout)
    assert re.search(r"fine\s+never.*\n\s+health: healthy, last success \d+s ago; last new article \d+s ago", shown.stdout)
    info = json.loads(status(config, "--json").stdout)
    assert info["health"]["walled"]["consecutive_failures"] == 2 and info["health"]["fine"]["last_new"] == 0

    walled.log.clear()
    cron = crawl(config, "--respect-backoff")
    assert cron.code == 0, cron.err
    assert "raqib crawl: walled skipped: 2 failures in a row" in cron.err
    assert walled.requests() == [] and set(cron.stats["outlets"]) == {"fine"}

    # the site lets us in again: one crawl clears the failures
    walled.add("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    walled.add("/news/7", article_html(AR[5]["title"], AR[5]["text"], published=recent(0).isoformat()))
    walled.add("/", listing_html([walled.url("/news/7")]))
    back = crawl(config, "--outlet", "walled")            # asked for by name: crawled despite the back-off
    assert back.code == 0, back.err
    h = back.outlet("walled")["health"]
    assert (h["consecutive_failures"], h["failure_points"], h["backoff_until"]) == (0, 0.0, None)
    assert h["last_new_at"] == h["last_success_at"] and back.outlet("walled")["indexed"]["new"] == 1


def test_a_wrong_article_pattern_is_a_config_failure(tmp_path, es_url, alias):
    with Site("127.0.0.1") as site:
        paths = [f"/story/{i}" for i in range(1, 4)]          # the pattern expects /news/<n>
        site.add("/", listing_html([site.url(p) for p in paths], feeds=[site.url("/feed")]))
        site.add("/feed", rss([(site.url(p), recent(1)) for p in paths]), content_type="application/rss+xml")
        config = write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s",
                              outlets_yaml="outlets:\n" + outlet_yaml("local", site))
        result = crawl(config)
        assert result.code == 0, result.err
        h = result.outlet("local")["health"]
        assert h["last_failure_kind"] == "config" and "none matched article_pattern" in h["last_failure"]
        assert h["failure_points"] == 4


def test_the_service_schedules_a_failing_outlet_by_the_recorded_back_off(sites, tmp_path, es_url):
    """`raqib run` with real child crawls: the child records the outlet's health, and the
    service's next run of it is the same back-off, from the same rule."""
    from crawler.run.service import Service, default_command
    from pipelines.es import connect
    from pipelines.outlets import load_outlets
    from pipelines.settings import load_settings

    walled, fine, config = sites
    with open(config / "settings.toml", "a", encoding="utf-8") as fh:
        fh.write("[service]\njitter = 0\nmax_interval = \"1h\"\n")
    settings = load_settings(config)
    outlets = [load_outlets(config)["walled"]]
    svc = Service(config_dir=config, settings=settings, outlets=outlets, state_dir=tmp_path / "s",
                  command=default_command(config, None), es_client_factory=lambda: connect(es_url, check=False))
    svc.start()
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not svc.state["walled"].runs:
            time.sleep(0.2)
    finally:
        svc.stopping.set()
        svc.stop()
    st = svc.state["walled"]
    assert st.runs == 1 and st.failures == 1
    assert st.interval == backoff_seconds(3, 300, 3600) == 2400
    assert st.next_run - st.last_end == pytest.approx(2400)
    state = SqliteState(tmp_path / "s")
    recorded = health.read(state, "walled")
    state.close()
    assert recorded.consecutive_failures == 1 and recorded.last_failure_kind == "blocked"
    assert recorded.backoff_until == pytest.approx(st.next_run, abs=30)       # same rule, same schedule
