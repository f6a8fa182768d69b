"""`raqib crawl --dry-run`: discovers, fetches and extracts like a crawl, prints what would be
indexed, and writes nothing: no index, no spool, no crawl state, no metrics. Against the
offline mirror (real layouts, real texts, served faults) and local sites."""
from __future__ import annotations

import json
import socket
import sqlite3
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

from crawler.mirror import Mirror
from pipelines.urls import canonicalize
from tests.support.crawlrun import crawl, docs, syndicated_pair, write_config

FIELDS = {"outlet", "url", "title", "published_at", "date_source", "lang", "topics", "duplicate_of", "author",
          "text_chars", "discovered_via", "why", "id"}


def state_rows(state_dir: Path) -> dict[str, int]:
    """Rows per table of the local crawl state (no file: nothing)."""
    path = state_dir / "crawl.sqlite3"
    if not path.exists():
        return {}
    with sqlite3.connect(path) as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("sources", "articles", "spool", "outlets")}


def json_articles(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def nothing_written(es, alias: str, state_dir: Path) -> None:
    assert not es.indices.exists_alias(name=alias)
    assert not es.indices.exists(index=f"{alias}-crawls")
    assert set(state_rows(state_dir).values()) <= {0}
    assert not (state_dir / "crawls-spool.jsonl").exists()


def test_a_dry_run_prints_what_would_be_indexed_and_writes_nothing(mirror_config, es, alias, tmp_path):
    with Mirror(outlets=["almayadeen", "noonpost"]) as m:
        config = mirror_config(m)
        truth = {canonicalize(e["url"]): e for o in m.outlets for e in m.truth(o)}

        text = crawl(config, "--dry-run", "--max-pages", "4")
        assert text.code == 0, text.err
        assert "Traceback" not in text.err
        nothing_written(es, alias, tmp_path / "state")
        assert "dry run: nothing was written" in text.out
        for outlet in m.outlets:
            n = text.outlet(outlet)["would_index"]
            assert 1 <= n <= 4         # 4 pages asked for; one may be the article robots.txt forbids
            assert f"{outlet}: {n} article(s) would be indexed" in text.out
            assert text.outlet(outlet)["indexed"] == {"new": 0, "updated": 0, "unchanged": 0}
        assert "more found but not fetched (raise --max-pages" in text.out
        printed = [line.strip() for line in text.out.splitlines() if line.startswith("  http")]
        assert len(printed) == sum(text.outlet(o)["would_index"] for o in m.outlets)
        for url in printed:      # shown decoded, for a person: Arabic slugs as Arabic
            entry = truth[canonicalize(url)]
            assert f"title   {' '.join(entry['title'].split())}" in text.out
            assert "%D8" not in url

        as_json = crawl(config, "--dry-run", "--json", "--max-pages", "4")
        assert as_json.code == 0, as_json.err
        articles = json_articles(as_json.out)      # only articles on stdout: one JSON object per line
        assert len(articles) == sum(as_json.outlet(o)["would_index"] for o in m.outlets)
        assert {a["outlet"] for a in articles} == set(m.outlets)
        for a in articles:
            assert FIELDS <= set(a)
            entry = truth[canonicalize(a["url"])]
            assert a["title"] == " ".join(entry["title"].split())
            assert a["lang"] == entry["lang"]
            assert datetime.fromisoformat(a["published_at"]) == datetime.fromisoformat(
                entry["published_at"].replace("Z", "+00:00"))
            assert isinstance(a["topics"], list) and a["duplicate_of"] is None
        nothing_written(es, alias, tmp_path / "state")

        # The next real crawl is not shortened by the dry runs: every article is indexed, and
        # what the dry run showed is what was stored.
        real = crawl(config)
        assert real.code == 0, real.err
        for outlet in m.outlets:
            assert real.outlet(outlet)["indexed"]["new"] == len(m.truth(outlet, channels=("home", "feed", "sitemap",
                                                                                           "section")))
        stored = {canonicalize(d["url"]): d for d in docs(es, alias).values()}
        for a in articles:
            doc = stored[canonicalize(a["url"])]
            assert (doc["title"], doc["lang"], doc.get("topics", []), doc["published_at"]) == \
                (a["title"], a["lang"], a["topics"], a["published_at"])


def test_after_a_crawl_a_dry_run_shows_only_what_the_next_crawl_would_add(mirror_config, es, alias, tmp_path):
    with Mirror(outlets=["noonpost"]) as m:
        config = mirror_config(m)
        assert crawl(config).code == 0
        before = state_rows(tmp_path / "state")
        fresh = m.publish("noonpost")
        m.clear_requests()
        dry = crawl(config, "--dry-run", "--json")
        assert dry.code == 0, dry.err
        assert [canonicalize(a["url"]) for a in json_articles(dry.out)] == [canonicalize(fresh["url"])]
        # conditional requests with the stored validators, like the real crawl would send
        assert any(r["if_none_match"] for r in m.requests("noonpost"))
        assert state_rows(tmp_path / "state") == before
        real = crawl(config)
        assert real.outlet("noonpost")["indexed"]["new"] == 1
        assert canonicalize(fresh["url"]) in {canonicalize(u) for u in docs(es, alias)}


def test_a_copy_of_an_indexed_article_is_shown_with_its_original(tmp_path, es_url, es, alias):
    with syndicated_pair(tmp_path, es_url=es_url, alias=alias) as (one, two, config):
        assert crawl(config, "--outlet", "one").code == 0
        dry = crawl(config, "--outlet", "two", "--dry-run", "--json")
        assert dry.code == 0, dry.err
        [article] = json_articles(dry.out)
        ids = {h["_source"]["url"]: h["_id"] for h in es.search(index=alias, size=10).body["hits"]["hits"]}
        assert article["duplicate_of"] == ids[one.url("/news/1")]
        assert article["duplicate_of_url"] == one.url("/news/1")
        text = crawl(config, "--outlet", "two", "--dry-run")
        assert f"duplicate of {one.url('/news/1')}" in text.out
        assert list(docs(es, alias)) == [one.url("/news/1")]      # the copy was not written


def test_a_dry_run_against_served_faults_reports_them_and_still_writes_nothing(mirror_config, es, alias, tmp_path):
    with Mirror(outlets=["almarjie", "alittihad"], faults=True) as m:
        config = mirror_config(m)
        dry = crawl(config, "--dry-run", "--json", "--max-pages", "60")
        assert dry.code == 0, dry.err
        assert "Traceback" not in dry.err
        articles = {canonicalize(a["url"]): a for a in json_articles(dry.out)}
        urls = m.fault_urls()
        # windows-1256 pages, declared or not, come out as the right Arabic text
        truth = {canonicalize(e["url"]): e for o in m.outlets for e in m.truth(o)}
        for kind in ("charset_none", "charset_meta_only", "charset_wrong", "invalid_utf8"):
            a = articles[canonicalize(urls[kind])]
            assert a["title"] == " ".join(truth[canonicalize(urls[kind])]["title"].split()), kind
        for kind in ("redirect_loop", "redirect_offsite", "truncated", "empty"):
            assert canonicalize(urls[kind]) not in articles, kind
        errors = dry.outlet("alittihad")["errors"]
        assert errors.get("redirect_loop") == 1 and errors.get("offsite") and errors.get("truncated") == 1
        assert m.requests("offsite") == []
        nothing_written(es, alias, tmp_path / "state")


def test_a_blocked_outlet_is_named_in_a_dry_run(mirror_config, es, alias, tmp_path):
    with Mirror(outlets=["noonpost"], blocked=["noonpost"]) as m:
        config = mirror_config(m)
        dry = crawl(config, "--dry-run")
        assert dry.code == 1                      # every outlet blocked, as for a real crawl
        assert "noonpost: 0 article(s) would be indexed [blocked:" in dry.out
        nothing_written(es, alias, tmp_path / "state")


def test_a_dry_run_works_without_elasticsearch(tmp_path, alias):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    with Mirror(outlets=["almayadeen"]) as m:
        config = write_config(tmp_path / "c", es_url=closed, alias=alias, state_dir=tmp_path / "s")
        m.write_config(config)
        dry = crawl(config, "--dry-run", "--max-pages", "2")
        assert dry.code == 0, dry.err
        assert "dry run without Elasticsearch" in dry.err and "Traceback" not in dry.err
        assert "almayadeen: 2 article(s) would be indexed" in dry.out
        printed = [unquote(line.strip()) for line in dry.out.splitlines() if line.startswith("  http")]
        assert len(printed) == 2
