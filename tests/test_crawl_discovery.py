"""What a first crawl of an outlet nobody wrote code for takes, by its YAML entry alone
(issue 13): feed links with tracking parameters against a pattern written for the clean
addresses, a sitemap backlog under a date window, section pages listing articles the window
would hold back, and the wider window of first contact. `raqib crawl` in its own process,
a real loopback site, the real Elasticsearch node."""
from __future__ import annotations

import pytest

from crawler.state.store import SqliteState
from tests.support.crawlrun import AR, crawl, docs, write_config
from tests.support.localsite import Site, article_html, listing_html, recent, urlset
from tests.support.unseen import TRACKING, build_unseen, unseen_yaml


@pytest.fixture
def unseen(tmp_path, es_url, alias):
    with Site("127.0.0.1") as site:
        paths, ages = build_unseen(site)
        config = write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s",
                              outlets_yaml=unseen_yaml(site), sitemap_window="7d")
        yield site, config, paths, ages


def test_a_first_crawl_takes_feed_items_with_tracking_parameters_the_month_and_what_sections_list(unseen, es, alias):
    site, config, paths, ages = unseen
    result = crawl(config)
    assert result.code == 0, result.err
    stats = result.outlet("unseen")
    held = {i for i, age in ages.items() if age > 30 and i not in (10, 11)}     # sitemap only, older than 30 days
    expected = {site.url(p) for i, p in paths.items() if i not in held}
    stored = docs(es, alias)
    assert set(stored) == expected
    assert all(d["version"] == 1 for d in stored.values())
    # the feed's items: refused by no pattern, fetched where the site serves them, named without tracking
    assert stats["discovered"]["feed"] == 4 and "not_article_url" not in stats["skipped"]
    assert all("utm_" not in url for url in stored)
    # ... at the clean address after the given one answered 404, which later fetches go to at once
    feed_paths = [paths[i] for i in (12, 13, 14, 15)]
    assert sorted(r.path for r in site.requests("/news/") if r.status == 404) == sorted(p + TRACKING for p in feed_paths)
    state = SqliteState(config.parent / "s")
    try:
        assert all(state.article(site.url(p)).url == site.url(p) for p in feed_paths)
    finally:
        state.close()
    # why the rest was not fetched: each URL once, under what finally happened to it
    assert stats["skipped"].get("older_than_window") == len(held)
    assert stats["discovered"]["total"] == len(paths)
    assert stats["indexed"]["new"] == len(expected)
    assert stats["window"] == {"kind": "first_crawl", "days": 30.0}
    assert "window       sitemap entries of the last 30 days (first crawl of the outlet)" in result.out
    assert not any(site.url(paths[i]).endswith(r.path) for i in held for r in site.requests("/news/"))


def test_later_crawls_take_the_sitemap_window_and_a_windowed_url_another_channel_lists(unseen, es, alias):
    site, config, paths, ages = unseen
    assert crawl(config).code == 0
    # Published since: one article dated today, one whose sitemap entry says 10 days ago
    # (new to the crawl, outside the 7-day window), and one 20 days old that the home page lists.
    extra = {16: 0.2, 17: 10, 18: 20}
    for i, age in extra.items():
        paths[i] = f"/news/{1000 + i}-slug-{i}.html"
        row = AR[i % len(AR)]
        site.add(paths[i], article_html(f"{row['title']} ({i})", row["text"] + f"\nالخبر رقم {i}.",
                                        published=recent(age).isoformat()))
    dates = {**site.dates, **{i: recent(age) for i, age in extra.items()}}
    site.add("/sitemap.xml", urlset([(site.url(paths[i]), d) for i, d in dates.items()]),
             content_type="application/xml")
    site.add("/", listing_html([site.url(paths[0]), site.url(paths[18])], next_url=site.url("/?page=2"),
                               feeds=[site.url("/feed/")]))
    site.log.clear()
    result = crawl(config)
    assert result.code == 0, result.err
    stats = result.outlet("unseen")
    assert stats["window"] == {"kind": "sitemap_window", "days": 7.0}
    fetched = {r.path for r in site.requests("/news/")}
    assert fetched == {paths[16], paths[18]}
    assert stats["indexed"]["new"] == 2
    assert stats["skipped"].get("older_than_window") == 1 + 2      # #17, and the two 45/50-day-old ones
    assert site.url(paths[17]) not in docs(es, alias)


def test_a_first_crawl_that_could_not_reach_the_outlet_leaves_it_in_first_contact(unseen, es, alias):
    """The wide window lasts until a crawl reaches its end having reached the outlet: a first
    crawl that met a site answering 503 everywhere does not end it."""
    site, config, paths, ages = unseen
    pages = dict(site.pages)
    for path in pages:
        site.add(path, b"down for maintenance", status=503)
    first = crawl(config)
    assert first.outlet("unseen")["status"] == "failed", first.outlet("unseen")
    assert first.outlet("unseen")["window"]["kind"] == "first_crawl"
    site.pages.update(pages)
    second = crawl(config)
    assert second.code == 0, second.err
    assert second.outlet("unseen")["window"] == {"kind": "first_crawl", "days": 30.0}
    held = {i for i, age in ages.items() if age > 30 and i not in (10, 11)}
    assert set(docs(es, alias)) == {site.url(p) for i, p in paths.items() if i not in held}
