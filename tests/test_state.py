"""The crawl state: what survives a restart, and the rule for refetching a known article."""
from __future__ import annotations

import threading

import pytest

from crawler.state.store import (
    FAILED,
    GONE,
    INDEXED,
    MAX_ATTEMPTS,
    PENDING,
    REJECTED,
    SPOOLED,
    ArticleRecord,
    SourceRecord,
    SqliteState,
    fetch_reason,
)


def test_state_survives_reopening(tmp_path):
    state = SqliteState(tmp_path)
    state.save_source(SourceRecord(url="https://x.org/feed", outlet="x", kind="feed", etag='"abc"',
                                   last_modified="Mon, 01 Apr 2024 00:00:00 GMT", content_hash="h",
                                   children=[["https://x.org/s1.xml", "2024-04-01T00:00:00+00:00"]], fetched_at=1.0))
    before, rec = state.discovered("x", "https://x.org/1", "https://www.x.org/1", "feed", "2024-04-01T00:00:00+00:00", 1)
    assert before is None and rec.status == PENDING
    state.spool_put("doc1", "x", "https://x.org/1", {"title": "عنوان", "text": "نص"})
    state.save_outlet("x", blocked_reason="HTTP 403")
    state.close()

    again = SqliteState(tmp_path)
    src = again.source("https://x.org/feed")
    assert (src.etag, src.content_hash, src.children) == ('"abc"', "h", [["https://x.org/s1.xml", "2024-04-01T00:00:00+00:00"]])
    assert again.article("https://x.org/1").url == "https://www.x.org/1"
    assert again.spooled() == [("doc1", "x", "https://x.org/1", {"title": "عنوان", "text": "نص"})]
    assert again.outlet("x") == {"blocked_reason": "HTTP 403"}
    assert again.numbers("x") == {1}
    again.spool_remove(["doc1"])
    assert again.spooled() == []


def test_a_spooled_document_and_its_article_marked_fetched_are_one_step(tmp_path):
    """Both or neither: a crash between them would leave a spooled document whose article
    looks unfetched, and the article would be fetched (and written) a second time."""
    state = SqliteState(tmp_path)
    _, rec = state.discovered("x", "k", "u", "feed")
    rec.status, rec.fetched_at = SPOOLED, 5.0
    state.spool_put("doc1", "x", "k", {"title": "t"}, article=rec)
    assert state.article("k").status == SPOOLED and state.article("k").fetched_at == 5.0
    assert [e[0] for e in state.spooled()] == ["doc1"] and state.pending("x", 10) == []
    _, other = state.discovered("x", "k2", "u2", "feed")
    other.status = "bogus"
    with pytest.raises(ValueError, match="unknown article status"):
        state.spool_put("doc2", "x", "k2", {"title": "t2"}, article=other)
    assert [e[0] for e in state.spooled()] == ["doc1"] and state.article("k2").status == PENDING


def test_discovery_keeps_the_newest_lastmod(tmp_path):
    state = SqliteState(tmp_path)
    state.discovered("x", "k", "u", "sitemap", "2024-04-02T00:00:00+00:00")
    before, rec = state.discovered("x", "k", "u", "feed", "2024-04-01T00:00:00+00:00")
    assert before.lastmod == rec.lastmod == "2024-04-02T00:00:00+00:00"
    assert rec.channel == "sitemap"          # the first channel that found it is kept
    _, rec = state.discovered("x", "k", "u", "feed", "2024-04-03T00:00:00+00:00")
    assert rec.lastmod == "2024-04-03T00:00:00+00:00"


def _rec(**kw):
    base = dict(key="k", outlet="x", url="u", channel="feed", status=INDEXED, fetched_at=1000.0,
                fetched_lastmod="2024-04-01T00:00:00+00:00")
    base.update(kw)
    return ArticleRecord(**base)


@pytest.mark.parametrize("rec, lastmod, refetch, expected", [
    (None, None, 0, "new"),
    (_rec(status=PENDING), None, 0, "pending"),
    (_rec(), None, 0, None),                                          # indexed, no sign of change
    (_rec(), "2024-04-01T00:00:00+00:00", 0, None),                   # same lastmod
    (_rec(), "2024-04-02T00:00:00+00:00", 0, "changed"),              # newer lastmod
    (_rec(), None, 500.0, "refetch"),                                 # older than the refetch age
    (_rec(), None, 5000.0, None),
    (_rec(status=FAILED, attempts=1), None, 0, "retry"),
    (_rec(status=FAILED, attempts=MAX_ATTEMPTS), None, 0, None),      # given up ...
    (_rec(status=FAILED, attempts=MAX_ATTEMPTS), "2024-05-01T00:00:00+00:00", 0, "retry"),   # ... unless it changed
    (_rec(status=GONE), None, 0, None),
    (_rec(status=REJECTED), "2024-05-01T00:00:00+00:00", 0, "changed"),
])
def test_fetch_reason(rec, lastmod, refetch, expected):
    assert fetch_reason(rec, lastmod, now=2000.0, refetch_after=refetch) == expected


def test_source_failures_back_off_exponentially(tmp_path):
    state = SqliteState(tmp_path)
    first = state.source_failed("https://x.org/s.xml", "x", "sitemap", status=404, error="http_404", now=0.0)
    second = state.source_failed("https://x.org/s.xml", "x", "sitemap", status=404, error="http_404", now=0.0)
    assert first.failures == 1 and second.failures == 2
    assert second.retry_at == 2 * first.retry_at > 0


def test_several_threads_share_one_state(tmp_path):
    state = SqliteState(tmp_path)

    def work(n):
        for i in range(100):
            state.discovered("x", f"k{n}-{i}", f"u{n}-{i}", "feed", number=n * 1000 + i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(state.numbers("x")) == 400
    assert len(state.pending("x", 1000)) == 400


def test_unknown_schema_is_refused(tmp_path):
    SqliteState(tmp_path).close()
    import sqlite3

    db = sqlite3.connect(tmp_path / SqliteState.FILENAME)
    db.execute("UPDATE meta SET value='99' WHERE key='schema'")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="schema 99"):
        SqliteState(tmp_path)
