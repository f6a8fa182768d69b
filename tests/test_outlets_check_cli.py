"""`raqib outlets check` and `raqib outlets list` end to end: against the offline mirror of the
five outlets (plus the sixth site an analyst would add) with the shipped config rewritten to
it, with an outlet behind a CDN challenge, and against a site whose layout changed."""
from __future__ import annotations

import json
import re
from datetime import UTC
from urllib.parse import unquote, urlsplit

import pytest

from crawler.cli.main import main
from crawler.mirror import Mirror
from tests.support.probe_servers import NewsSite, ProbeSite, outlet_entry, write_config


def run(capsys, config_dir, *args):
    code = main(["--config", str(config_dir), "outlets", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def mirror():
    with Mirror() as m:
        yield m


@pytest.fixture
def mirror_config(mirror, tmp_path):
    mirror.set_blocked("noonpost", False)
    d = tmp_path / "config"
    mirror.write_config(d, include_new_site=True)
    (d / "settings.toml").write_text("[crawl]\ndownload_delay = 0.0\n", encoding="utf-8")
    return d


def test_every_mirrored_outlet_is_ok(mirror, mirror_config, capsys):
    mirror.clear_requests()
    code, out, err = run(capsys, mirror_config, "check", "--json")
    assert code == 0, out + err
    reports = {r["outlet"]: r for r in map(json.loads, out.splitlines())}
    assert set(reports) == set(mirror.outlets) | {"levant_monitor"}
    disallowed = {unquote(urlsplit(u).path) for u in mirror.disallowed()}
    for key, report in reports.items():
        problems = [f for f in report["findings"] if f["level"] != "note"]
        assert report["verdict"] == "ok", (key, problems)
        assert report["robots"]["allows_home"] is True
        assert report["channels"]["total"]["matched"] > 0
        samples = [s for s in report["samples"] if s["error"] is None]
        assert len(samples) == 2, (key, report["samples"])
        truth = {t["url"]: t for t in mirror.truth(key)}
        for sample in samples:
            expected = truth[sample["url"]]
            assert sample["title"] == expected["title"]
            assert sample["published_at"][:16] == expected["published_at"][:16]
            assert sample["lang"] == expected["lang"]
        assert len(report["requests"]) <= 30
        # What robots.txt forbids was never requested (each site links one such article).
        sent = {unquote(r["decoded_path"]) for r in mirror.requests(key)}
        assert not sent & disallowed
        assert {r["user_agent"] for r in mirror.requests(key)} == {report_ua(err)}


def report_ua(err: str) -> str:
    return re.search(r"as «(.+?)»", err).group(1)


def test_mirror_suggests_the_feeds_it_discovers(mirror_config, capsys):
    code, out, _ = run(capsys, mirror_config, "check", "almarjie", "almayadeen")
    assert code == 0
    assert out.startswith("almarjie · المرجع · OK\n")
    assert "/rss/1 (linked from home) is not in feeds" in out
    assert "add it to feeds: [http://127.0.0.12:" in out
    # Al Mayadeen: the index, its newest monthly sitemap, and the news sitemap robots.txt names.
    assert "almayadeen · الميادين نت · OK" in out
    assert re.search(r"/sitemaps/all\.xml \(configured, robots\.txt\): sitemap index of \d+ sitemaps", out)
    assert re.search(r"└ 200 http://127\.0\.0\.15:\d+/sitemaps/all/sitemap-\d{4}-\d{1,2}\.xml", out)
    assert out.rstrip().endswith("2 outlets checked: 2 ok")


def test_an_outlet_behind_a_challenge_is_blocked_and_fails_the_run(mirror, mirror_config, capsys):
    mirror.set_blocked("noonpost", True)
    try:
        mirror.clear_requests()
        code, out, _ = run(capsys, mirror_config, "check", "noonpost", "almarjie")
    finally:
        mirror.set_blocked("noonpost", False)
    assert code == 1
    assert out.startswith("noonpost · نون بوست · BLOCKED\n")
    assert "challenge page (HTTP 503" in out
    assert "almarjie · المرجع · OK" in out
    assert "2 outlets checked: 1 ok, 1 blocked (noonpost)" in out
    assert [r["path"] for r in mirror.requests("noonpost")] == ["/robots.txt"]


def test_changed_layout_prints_the_fixes_and_exits_1(tmp_path, capsys):
    with ProbeSite("127.0.0.71") as site:
        NewsSite(site, article_path="/article/{id}-{slug}", feed_path="/rss.xml")
        config = write_config(tmp_path / "c", {"moved": outlet_entry(site, feeds=[site.url("/feed/")])})
        code, out, _ = run(capsys, config, "check")
        assert code == 1
        assert out.startswith("moved · موقع الاختبار · CONFIG WRONG\n")
        assert f"✗ configured feed {site.url('/feed/')} failed: HTTP 404" in out
        assert f"→ feed found at {site.url('/rss.xml')} (linked from home): put it in feeds instead of" in out
        assert "✗ no URL matched article_pattern; " in out
        assert "article_pattern: '^https?://127\\.0\\.0\\.71:" in out
        assert "(does NOT match article_pattern)" in out
        assert "1 outlet checked: 1 config wrong (moved)" in out

        code, out, _ = run(capsys, config, "check", "--json", "--samples", "0")
        report = json.loads(out)
        assert code == 1 and report["verdict"] == "config_wrong" and report["samples"] == []
        assert report["pattern_suggestion"]["count"] == 6


def test_warnings_do_not_fail_the_run(tmp_path, capsys):
    with ProbeSite("127.0.0.72") as site:
        NewsSite(site, feed_age_days=90)
        config = write_config(tmp_path / "c", {"old": outlet_entry(site, feeds=[site.url("/feed/")])})
        code, out, _ = run(capsys, config, "check", "--samples", "1")
    assert code == 0
    assert out.startswith("old · موقع الاختبار · WORKS WITH WARNINGS\n")
    assert "! feed " in out and "days old" in out


def test_usage_errors(tmp_path, capsys):
    with ProbeSite("127.0.0.73") as site:
        config = write_config(tmp_path / "c", {"one": outlet_entry(site)})
        code, _, err = run(capsys, config, "check", "nosuch")
        assert code == 3 and "no outlet named 'nosuch'; known outlets: one" in err
        code, _, err = run(capsys, config, "check", "--samples", "9")
        assert code == 2 and "--samples must be between 0 and 5" in err
        code, _, err = run(capsys, config, "check", "--timeout", "0")
        assert code == 2 and "--timeout must be a positive number" in err
        assert site.hits == []


def test_outlets_list(tmp_path, capsys):
    with ProbeSite("127.0.0.74") as site:
        config = write_config(tmp_path / "c", {"one": outlet_entry(site, feeds=[site.url("/feed/")]),
                                               "two": {**outlet_entry(site), "enabled": False}})
        code, out, _ = run(capsys, config, "list")
        assert code == 0
        assert "one  موقع الاختبار\n" in out and "two  موقع الاختبار  (disabled)" in out
        assert "1 feeds, 0 sitemaps, 0 sections configured" in out
        code, out, _ = run(capsys, config, "list", "--json")
        rows = [json.loads(line) for line in out.splitlines()]
        assert [r["outlet"] for r in rows] == ["one", "two"] and rows[1]["enabled"] is False
        assert site.hits == []


def test_a_title_with_its_own_guillemets_is_shown_once_quoted(tmp_path, capsys):
    from datetime import datetime

    from tests.support.probe_servers import article_page, articles

    with ProbeSite("127.0.0.76") as site:
        news = NewsSite(site, n=1)
        title = "«داعش» يتشبث بقشة الحياة في سوريا"
        site.route(urlsplit(news.urls[0]).path, article_page({**articles("ar")[0], "title": title},
                                                             published=datetime.now(UTC)))
        config = write_config(tmp_path / "c", {"quoted": outlet_entry(site, feeds=[site.url("/feed/")])})
        code, out, err = run(capsys, config, "check", "--samples", "1")
    assert code == 0, out + err
    assert f"title: {title}\n" in out and "««" not in out      # before: ««داعش» يتشبث … سوريا»
