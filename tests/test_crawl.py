"""End to end: `raqib crawl` against real local HTTP sites and the real Elasticsearch node.

Each site is a real server on a loopback address; what the crawler asked for is read from
its request log, what it stored from the index.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.support.crawlrun import AR, crawl, docs, outlet_yaml, syndicated_pair, write_config
from tests.support.localsite import Site, article_html, listing_html, recent, rss, sitemap_index, urlset


@pytest.fixture
def news(tmp_path, es_url, alias):
    """A news site: home lists three articles, the feed two more (one also on home), the
    sitemap index leads to a urlset with three more; an AMP copy and a tracking link of
    known articles are listed too."""
    t0 = recent(0)
    day = lambda n: t0 - timedelta(days=n)   # noqa: E731 - fixed dates: a later listing repeats them exactly
    with Site("127.0.0.1") as site:
        rows = AR[:8]
        paths = [f"/news/{100 + i}" for i in range(len(rows))]
        for i, (path, row) in enumerate(zip(paths, rows)):
            site.add(path, article_html(row["title"], row["text"], author=f"كاتب {i}",
                                        published=(recent(1 + i)).isoformat(), canonical=site.url(path)))
        site.add("/amp/news/100", article_html(rows[0]["title"], rows[0]["text"], published=recent(1).isoformat(),
                                               canonical=site.url(paths[0])))
        site.add("/robots.txt", f"User-agent: *\nDisallow: /admin\nSitemap: {site.url('/sitemap_index.xml')}\n",
                 content_type="text/plain")
        site.add("/", listing_html([site.url(p) for p in paths[:3]] + [site.url(paths[1]) + "?utm_source=x"],
                                   feeds=[site.url("/feed/")]))
        site.add("/feed/", rss([(site.url(p), day(2)) for p in paths[2:5]]), content_type="application/rss+xml")
        site.add("/sitemap_index.xml", sitemap_index([(site.url("/sitemap-1.xml"), day(1))]), content_type="application/xml")
        site.add("/sitemap-1.xml", urlset([(site.url(p), day(3)) for p in paths[5:]] + [(site.url("/amp/news/100"), day(3))]),
                 content_type="application/xml")
        config = write_config(tmp_path / "config", es_url=es_url, alias=alias, state_dir=tmp_path / "state",
                              outlets_yaml="outlets:\n" + outlet_yaml("local", site))
        site.day = day
        yield site, config, dict(zip(paths, rows))


def test_first_crawl_indexes_every_article_once(news, es, alias):
    site, config, articles = news
    result = crawl(config)
    assert result.code == 0, result.err
    stats = result.outlet("local")
    stored = docs(es, alias)
    assert set(stored) == {site.url(p) for p in articles}             # the AMP copy and tracking link are not extra documents
    for path, row in articles.items():
        doc = stored[site.url(path)]
        assert doc["title"] == " ".join(row["title"].split())
        assert doc["text"].split("\n")[0].strip() == row["text"].split("\n")[0].strip()
        assert "جميع الحقوق محفوظة" not in doc["text"]                  # the footer is boilerplate
        assert doc["author"].startswith("كاتب")
        assert doc["published_at"] and doc["lang"] == "ar" and doc["outlet"] == "local"
        assert doc["version"] == 1
    assert stats["discovered"]["section"] == 3 and stats["discovered"]["feed"] == 3 and stats["discovered"]["sitemap"] == 4
    assert stats["discovered"]["total"] == len(articles)                 # the AMP URL is folded into its article
    assert stats["indexed"]["new"] == len(articles)
    assert stats["errors"] == {}
    assert stats["status"] == "ok"
    assert "local: ok" in result.out and "discovered" in result.out
    assert not site.requests("/admin")
    # every article page was fetched once
    fetched = [r.path for r in site.requests("/news/")]
    assert sorted(fetched) == sorted(articles)


def test_second_crawl_only_asks_whether_sources_changed(news, es, alias):
    site, config, articles = news
    assert crawl(config).code == 0
    site.log.clear()
    result = crawl(config)
    assert result.code == 0, result.err
    assert not site.requests("/news/") and not site.requests("/amp/")     # no article page again
    sources = site.requests()
    assert sources and all(r.conditional for r in sources), [(r.path, r.headers) for r in sources]
    assert {r.status for r in sources} == {304}
    stats = result.outlet("local")
    assert stats["fetched"] == {} and stats["indexed"] == {"new": 0, "updated": 0, "unchanged": 0}
    assert sum(stats["not_modified"].values()) == len(sources)


def test_new_and_changed_articles_are_picked_up(news, es, alias):
    site, config, articles = news
    assert crawl(config).code == 0
    extra = AR[9]
    site.add("/news/500", article_html(extra["title"], extra["text"], published=recent(0).isoformat()))
    site.add("/feed/", rss([(site.url("/news/500"), recent(0))] + [(site.url(p), site.day(2)) for p in list(articles)[2:5]]),
             content_type="application/rss+xml")
    # /news/105 is edited: the sitemap says so with a newer lastmod
    changed_path = list(articles)[5]
    row = articles[changed_path]
    site.add(changed_path, article_html(row["title"], row["text"] + "\nتحديث: أضيفت هذه الفقرة لاحقا إلى الخبر.",
                                        published=recent(6).isoformat()))
    paths = list(articles)[5:]
    site.add("/sitemap-1.xml", urlset([(site.url(p), recent(0) if p == changed_path else site.day(3)) for p in paths]),
             content_type="application/xml")
    site.add("/sitemap_index.xml", sitemap_index([(site.url("/sitemap-1.xml"), recent(0))]), content_type="application/xml")
    site.log.clear()
    result = crawl(config)
    assert result.code == 0, result.err
    assert sorted(r.path for r in site.requests("/news/")) == sorted(["/news/500", changed_path])
    stored = docs(es, alias)
    assert stored[site.url("/news/500")]["title"] == extra["title"]
    assert stored[site.url(changed_path)]["version"] == 2 and "تحديث" in stored[site.url(changed_path)]["text"]
    assert len(stored) == len(articles) + 1
    stats = result.outlet("local")
    assert stats["indexed"]["new"] == 1 and stats["indexed"]["updated"] == 1


def test_off_domain_and_disallowed_urls_are_never_requested(tmp_path, es_url, es, alias):
    with Site("127.0.0.1") as site, Site("127.0.0.2") as other:
        row = AR[0]
        site.add("/news/1", article_html(row["title"], row["text"], published=recent(1).isoformat()))
        site.add("/news/2", article_html(row["title"], row["text"], published=recent(1).isoformat()))
        other.add("/news/3", article_html(row["title"], row["text"], published=recent(1).isoformat()))
        site.add("/robots.txt", "User-agent: *\nDisallow: /news/2\n", content_type="text/plain")
        # the home page links off-domain; the feed lists an off-domain article; a page redirects off-domain
        site.add("/", listing_html([site.url("/news/1"), site.url("/news/2"), other.url("/news/3"), site.url("/news/4")]))
        site.add("/feed", rss([(other.url("/news/3"), recent(1))]), content_type="application/rss+xml")

        def redirect(handler):
            Site.send(handler, 302, b"", headers={"Location": other.url("/news/3")})
            return 302
        site.add("/news/4", handler=redirect)
        yaml = "outlets:\n" + outlet_yaml("local", site, feeds=f"[{site.url('/feed')}]").replace(
            "/news/\\d+/?$'", "/news/\\d+/?$'")
        config = write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s", outlets_yaml=yaml)
        result = crawl(config)
        assert result.code == 0, result.err
        assert other.requests() == []
        assert "/news/2" not in site.paths()
        stats = result.outlet("local")
        assert stats["errors"]["robots"] == 1
        assert stats["errors"]["offsite"] == 2          # the feed entry and the redirect
        assert set(docs(es, alias)) == {site.url("/news/1")}


def test_a_wrong_config_is_refused_before_any_request(tmp_path, es_url, alias):
    with Site("127.0.0.1") as site:
        yaml = ("outlets:\n  Bad-Key:\n    name: x\n    home: not-a-url\n    domains: [x.org]\n"
                "    article_pattern: '(['\n    schedul: 15m\n")
        config = write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s", outlets_yaml=yaml)
        result = crawl(config)
        assert result.code == 3
        assert "Traceback" not in result.err
        for expected in ("Bad-Key", "home", "article_pattern", "schedul"):
            assert expected in result.err
        assert site.requests() == []


def test_an_unreachable_cluster_is_one_clear_error(tmp_path, alias):
    with Site("127.0.0.1") as site:
        site.add("/", listing_html([]))
        config = write_config(tmp_path / "c", es_url="http://127.0.0.1:9", alias=alias, state_dir=tmp_path / "s",
                              outlets_yaml="outlets:\n" + outlet_yaml("local", site))
        result = crawl(config)
        assert result.code == 4
        assert "cannot reach Elasticsearch" in result.err and "Traceback" not in result.err
        assert site.requests() == []


def test_copies_across_outlets_are_marked_duplicates(tmp_path, es_url, es, alias):
    with syndicated_pair(tmp_path, es_url=es_url, alias=alias) as (one, two, config):
        result = crawl(config, "--outlet", "one")
        assert result.code == 0, result.err
        result = crawl(config, "--outlet", "two")
        assert result.code == 0, result.err
        stored = docs(es, alias)
        original, copy = stored[one.url("/news/1")], stored[two.url("/news/1")]
        assert "duplicate_of" not in original
        ids = {h["_source"]["url"]: h["_id"] for h in es.search(index=alias, size=10).body["hits"]["hits"]}
        assert copy["duplicate_of"] == ids[one.url("/news/1")]
        assert result.outlet("two")["duplicates"] == 1


def test_a_story_syndicated_to_two_outlets_alerts_once(tmp_path, es_url, es, alias):
    with syndicated_pair(tmp_path, es_url=es_url, alias=alias) as (one, two, config):
        (config / "alerts.yaml").write_text(
            "alerts:\n  - name: everything\n    notify: [{type: file, path: alerts.jsonl}]\n", encoding="utf-8")
        result = crawl(config, "--outlet", "one")
        assert result.code == 0, result.err
        result = crawl(config, "--outlet", "two")
        assert result.code == 0, result.err
        assert result.outlet("two")["duplicates"] == 1
        assert "0 new matches, 0 message(s) sent, 1 copy of an alerted article not sent again" in result.out
        sent = [json.loads(line) for line in (tmp_path / "s" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()]
        assert [a["url"] for line in sent for a in line["articles"]] == [one.url("/news/1")]


def test_backfill_walks_ids_within_max_pages(tmp_path, es_url, es, alias):
    with Site("127.0.0.1") as site:
        for n in range(1, 11):
            row = AR[n % len(AR)]
            site.add(f"/news/{n}", article_html(f"{row['title']} {n}", row["text"], published=recent(n).isoformat()))
        site.add("/", listing_html([site.url("/news/10")]))
        del site.pages["/news/8"]                                       # a deleted article: the walk goes on
        yaml = "outlets:\n" + outlet_yaml("local", site, backfill=f"{{id_template: '{site.url('/news/{id}')}', id_min: 3}}")
        config = write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s", outlets_yaml=yaml)
        result = crawl(config, "--backfill", "--max-pages", "4")
        assert result.code == 0, result.err
        assert sorted(r.path for r in site.requests("/news/")) == ["/news/10", "/news/7", "/news/8", "/news/9"]
        assert result.outlet("local")["discovered"]["idwalk"] == 3
        assert result.outlet("local")["skipped"]["idwalk_missing"] == 1
        site.log.clear()
        result = crawl(config, "--backfill", "--max-pages", "10")
        assert sorted(r.path for r in site.requests("/news/")) == ["/news/3", "/news/4", "/news/5", "/news/6"]
        assert len(docs(es, alias)) == 7


def test_max_pages_defers_the_rest_to_later_crawls_newest_first(tmp_path, es_url, es, alias):
    with Site("127.0.0.1") as site:
        for n in range(1, 7):
            row = AR[n % len(AR)]
            site.add(f"/news/{n}", article_html(f"{row['title']} {n}", row["text"], published=recent(n).isoformat()))
        site.add("/", listing_html([site.url(f"/news/{n}") for n in range(1, 7)]))
        config = write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s",
                              outlets_yaml="outlets:\n" + outlet_yaml("local", site))
        first = crawl(config, "--max-pages", "2")
        assert first.code == 0, first.err
        assert len(site.requests("/news/")) == 2
        assert first.outlet("local")["deferred"] == 4
        # A new article appears: the next crawl spends its budget on it before the backlog.
        row = AR[0]
        site.add("/news/9", article_html(row["title"] + " جديد", row["text"], published=recent(0).isoformat()))
        site.add("/", listing_html([site.url(f"/news/{n}") for n in (9, 1, 2, 3, 4, 5, 6)]))
        site.log.clear()
        second = crawl(config, "--max-pages", "2")
        assert second.code == 0, second.err
        fetched = [r.path for r in site.requests("/news/")]
        assert len(fetched) == 2 and "/news/9" in fetched
        site.log.clear()
        third = crawl(config)
        assert third.code == 0, third.err
        assert len(site.requests("/news/")) == 3
        assert len(docs(es, alias)) == 7


def test_json_report_is_the_stats_file(news):
    site, config, articles = news
    result = crawl(config, "--json", "--no-alerts")
    assert result.code == 0, result.err
    import json

    printed = json.loads(result.out)
    assert printed["outlets"] == result.stats["outlets"]
    entry = printed["outlets"]["local"]
    assert set(entry) >= {"discovered", "requests", "fetched", "not_modified", "extracted", "indexed", "duplicates",
                          "errors", "bytes", "duration_s", "status", "blocked"}
    assert set(entry["discovered"]) == {"feed", "sitemap", "section", "idwalk", "total", "new"}
    assert printed["totals"]["articles_fetched"] == len(articles)
