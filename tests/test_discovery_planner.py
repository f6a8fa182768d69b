"""The planner's rules (crawler/discovery/planner.py): what one crawl of one outlet fetches of
the links its sources list, and the counters that say why the rest was not fetched. Plain
objects, a real SQLite crawl state, no Scrapy."""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from crawler.discovery.planner import (
    COMPLETE_MARK,
    FIRST_CRAWL,
    LATER_CRAWL,
    Planner,
    Window,
    choose_window,
    first_contact,
)
from crawler.state.store import INDEXED, PENDING, SqliteState
from pipelines.outlets import parse_outlets

NOW = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)        # the first minute of a year
DAY = 86400.0


def outlet(**extra):
    entry = {"name": "Example", "home": "https://www.example.org/", "domains": ["example.org"],
             "article_pattern": r"/news/\d+-[^/?#]+\.html$", **extra}
    return parse_outlets({"outlets": {"ex": entry}})["ex"]


@pytest.fixture
def state(tmp_path):
    s = SqliteState(tmp_path)
    yield s
    s.close()


def planner(state, out=None, *, window=7 * DAY, budget=None, kind=LATER_CRAWL):
    counts: Counter = Counter()

    def count(name, n):
        counts[name] += n
    p = Planner(out or outlet(), state, count, window=Window(window, kind), now=NOW.timestamp(), budget=budget)
    return p, counts


def ago(days):
    return NOW - timedelta(days=days)


# --- rule 1: patterns on the raw or the canonical spelling ---------------------------------

def test_a_feed_link_with_tracking_parameters_matches_a_pattern_written_for_the_clean_url(state):
    p, counts = planner(state)
    raw = "https://www.example.org/news/1234-slug.html?utm_source=rss&utm_medium=feed"
    fetch = p.consider(raw, "feed", ago(1))
    assert fetch is not None
    assert fetch.url == raw                                   # fetched as the outlet gave it ...
    assert fetch.key == "https://example.org/news/1234-slug.html"   # ... named by its canonical URL
    assert fetch.fallback == fetch.key                        # tried when the given spelling is not served
    assert counts["skipped/not_article_url"] == 0 and counts["discovered/feed"] == 1


def test_a_pattern_written_for_the_raw_spelling_still_matches():
    out = outlet(article_pattern=r"^https://www\.example\.org/news/\d+")
    assert out.is_article("https://www.example.org/news/12-x.html?utm_source=rss")
    assert not out.is_article("https://www.example.org/about")


def test_a_pattern_with_an_arabic_slug_matches_the_percent_encoded_link():
    out = outlet(article_pattern=r"/news/\d+-عاجل")
    assert out.is_article("https://example.org/news/7-%D8%B9%D8%A7%D8%AC%D9%84")
    assert out.is_article("https://example.org/news/7-عاجل")


def test_exclude_pattern_on_either_spelling_excludes():
    out = outlet(exclude_pattern=r"/news/\d+-video-")
    assert not out.is_article("https://example.org/news/3-video-clip.html?utm_source=x")
    out = outlet(exclude_pattern=r"\?print=1")
    assert not out.is_article("https://example.org/news/3-a.html?print=1")


def test_amp_copies_match_as_the_article_they_copy(state):
    p, _ = planner(state)
    fetch = p.consider("https://example.org/amp/news/5-a.html", "section")
    assert fetch is not None and fetch.key == "https://example.org/news/5-a.html"


def test_refused_links_are_counted_for_feeds_and_sitemaps_only(state):
    p, counts = planner(state)
    assert p.consider("https://example.org/about", "feed") is None
    assert p.consider("https://example.org/contact", "sitemap") is None
    assert p.consider("https://example.org/tags", "section") is None
    assert p.consider("https://elsewhere.org/news/1-a.html", "feed") is None
    assert counts["skipped/not_article_url"] == 2 and counts["errors/offsite"] == 1


# --- rule 2: one article, whatever spelling, counted once per channel -----------------------

def test_spellings_of_one_article_are_one_decision(state):
    p, counts = planner(state)
    first = p.consider("https://www.example.org/news/9-a.html?utm_source=rss", "feed", ago(1))
    again = p.consider("https://example.org/news/9-a.html#comments", "section")
    assert first is not None and again is None
    assert counts["discovered/total"] == 1 and counts["discovered/feed"] == 1 and counts["discovered/section"] == 1
    assert counts["scheduled/new"] == 1


# --- rule 3: the window belongs to a sitemap's backlog ---------------------------------------

def test_an_old_sitemap_entry_is_held_back(state):
    p, counts = planner(state)
    assert p.consider("https://example.org/news/1-old.html", "sitemap", ago(20), windowed=True) is None
    assert p.consider("https://example.org/news/2-new.html", "sitemap", ago(2), windowed=True) is not None
    assert counts["skipped/older_than_window"] == 1
    assert state.article("https://example.org/news/1-old.html") is None     # left for --backfill
    assert p.held_back() == ["https://example.org/news/1-old.html"]


@pytest.mark.parametrize("channel", ["feed", "section", "idwalk"])
def test_a_held_back_url_listed_later_by_another_channel_is_fetched_and_not_counted_skipped(state, channel):
    p, counts = planner(state)
    url = "https://example.org/news/1-old.html"
    assert p.consider(url, "sitemap", ago(20), windowed=True) is None
    fetch = p.consider(url + "?utm_source=x", channel)
    assert fetch is not None and fetch.url == url and fetch.reason == "new"
    assert counts["skipped/older_than_window"] == 0
    assert counts["discovered/total"] == 1 and counts["scheduled/new"] == 1
    assert p.held_back() == []
    assert state.article(fetch.key).status == PENDING


def test_a_url_listed_first_by_a_section_is_not_windowed_by_a_sitemap_after(state):
    p, counts = planner(state)
    assert p.consider("https://example.org/news/1-old.html", "section") is not None
    assert p.consider("https://example.org/news/1-old.html", "sitemap", ago(90), windowed=True) is None
    assert counts["skipped/older_than_window"] == 0


def test_a_sitemap_entry_the_frontier_already_knows_is_not_backlog(state):
    """An article an earlier (killed) crawl found through its section page and left pending
    is fetched even when this crawl meets it first in a sitemap, dated before the window."""
    key = "https://example.org/news/1-old.html"
    state.discovered("ex", key, key, "section", None, now=NOW.timestamp() - 60)
    p, counts = planner(state)
    fetch = p.consider(key, "sitemap", ago(40), windowed=True)
    assert fetch is not None and fetch.reason == "pending"
    assert counts["skipped/older_than_window"] == 0


def test_no_window_and_backfill_take_every_entry(state):
    p, counts = planner(state, window=0)
    assert p.consider("https://example.org/news/1-a.html", "sitemap", ago(3000), windowed=True) is not None
    p2, _ = planner(state)
    assert p2.consider("https://example.org/news/2-a.html", "sitemap", ago(3000), windowed=False) is not None
    assert counts["skipped/older_than_window"] == 0


def test_an_undated_sitemap_entry_is_taken(state):
    p, _ = planner(state)
    assert p.consider("https://example.org/news/1-a.html", "sitemap", None, windowed=True) is not None


# --- rules 4 and 5: the frontier and the budget ----------------------------------------------

def test_a_known_indexed_article_is_not_fetched_again(state):
    key = "https://example.org/news/1-a.html"
    _, rec = state.discovered("ex", key, key, "feed", None)
    rec.status, rec.fetched_at = INDEXED, NOW.timestamp() - 3600
    state.save_article(rec)
    p, counts = planner(state)
    assert p.consider(key, "feed") is None
    assert counts["skipped/known"] == 1


def test_beyond_the_budget_an_article_is_deferred_and_left_pending(state):
    p, counts = planner(state, budget=2)
    fetched = [p.consider(f"https://example.org/news/{i}-a.html", "feed") for i in range(4)]
    assert sum(f is not None for f in fetched) == 2
    assert counts["deferred"] == 2
    assert state.article("https://example.org/news/3-a.html").status == PENDING
    # the next crawl takes what this one deferred, after its own discoveries
    later, _ = planner(state, budget=10)
    left = later.leftovers(100)
    assert {f.key for f in left} >= {"https://example.org/news/2-a.html", "https://example.org/news/3-a.html"}
    assert all(f.reason == "pending" for f in left)


def test_leftovers_skip_what_this_crawl_already_decided(state):
    key = "https://example.org/news/1-a.html"
    state.discovered("ex", key, key, "feed", None)
    p, counts = planner(state)
    assert p.consider(key, "feed") is not None
    assert p.leftovers(100) == []
    assert counts["scheduled/pending"] == 1


def test_a_blocked_outlet_schedules_nothing_more(state):
    p, counts = planner(state)
    p.blocked = True
    assert p.consider("https://example.org/news/1-a.html", "feed") is None
    assert counts["skipped/outlet_blocked"] == 1


# --- which window applies --------------------------------------------------------------------

def test_first_contact_takes_the_first_crawl_window_until_a_crawl_completes():
    out = outlet()
    first = choose_window(out, 7 * DAY, 30 * DAY, {})
    assert first == Window(30 * DAY, FIRST_CRAWL) and first_contact({"last_crawl_at": 5.0})
    # a crawl that started (or was killed) leaves the outlet in first contact
    assert choose_window(out, 7 * DAY, 30 * DAY, {"last_crawl_at": 5.0}).kind == FIRST_CRAWL
    later = choose_window(out, 7 * DAY, 30 * DAY, {COMPLETE_MARK: 5.0})
    assert later == Window(7 * DAY, LATER_CRAWL)


def test_the_outlets_own_first_crawl_window_wins_and_is_never_narrower_than_later_crawls():
    assert choose_window(outlet(first_crawl_window="90d"), 7 * DAY, 30 * DAY, {}).seconds == 90 * DAY
    assert choose_window(outlet(first_crawl_window="1d"), 7 * DAY, 30 * DAY, {}).seconds == 7 * DAY
    assert choose_window(outlet(), 0, 30 * DAY, {}).seconds == 0          # no window stays no window
    assert choose_window(outlet(first_crawl_window=0), 7 * DAY, 30 * DAY, {}).seconds == 0


def test_a_wrong_first_crawl_window_is_a_config_error_naming_it():
    from pipelines.configfile import ConfigError

    with pytest.raises(ConfigError, match="first_crawl_window.*duration"):
        outlet(first_crawl_window="a month")
