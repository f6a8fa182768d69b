"""Outlets nobody here built: 50 generated news sites (crawler/mirror/family), each added by
one `outlets.yaml` entry written as a user would write it, crawled by `raqib crawl` into the
real node and compared with the sites' ground truth.

One crawl process reads all of them (as `raqib run` would after a user adds them), a second
one must fetch no article page again, and an article published in between must be picked up
by the third. The clock is the test session's (`mirror_clock`, $RAQIB_MIRROR_NOW): the sites
are dated from it, never from the calendar; run with RAQIB_MIRROR_NOW=2026-01-01T00:00:00Z
to crawl them at the first minute of a year. The crawl's sitemap window is off (crawlrun.FAST),
so articles dated from a clock far from the machine's are all still taken.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from crawler.mirror.family import Family
from crawler.mirror.family.score import by_url, check, score, table
from pipelines.urls import canonicalize
from tests.support.crawlrun import crawl, write_config

SEEDS = range(1, 51)
MIN_RECALL = 0.99


def _docs(es, alias) -> list[dict]:
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, size=10000, query={"match_all": {}}).body["hits"]["hits"]
    return [{**h["_source"], "_id": h["_id"]} for h in hits]


@pytest.fixture(scope="module")
def crawled(es, es_url, tmp_path_factory, mirror_clock):
    """The three crawls, run once for the module; each test reads what it needs."""
    alias = f"raqib-test-{uuid.uuid4().hex[:10]}"
    base = tmp_path_factory.mktemp("generated")
    mp = pytest.MonkeyPatch()
    try:
        with Family(SEEDS, mirror_clock) as family:
            # The sites have names, not addresses: the crawl reaches them through the family's
            # proxy, as it would through an operator's (`crawl.proxy` and http_proxy work alike).
            mp.setenv("http_proxy", family.proxy_url)
            mp.setenv("https_proxy", family.proxy_url)
            mp.setenv("no_proxy", "127.0.0.1,localhost")
            config = write_config(base / "config", es_url=es_url, alias=alias, state_dir=base / "state",
                                  retries=2)
            family.write_config(config)
            out = {"family": family, "alias": alias}
            out["first"] = crawl(config, timeout=600)
            out["first_requests"] = family.requests()
            out["docs"] = _docs(es, alias)
            out["truth"] = family.truth()
            out["channels"] = {key: site.channel_expectations() for key, site in family.sites.items()}
            family.clear_requests()
            out["second"] = crawl(config, timeout=600)
            out["second_requests"] = family.requests()
            # dated at the clock itself: later would be in the future of a clock taken at start-up
            published = {key: family.publish(key, after=timedelta(0)) for key in list(family.sites)[:10]}
            family.clear_requests()
            out["third"] = crawl(config, timeout=600)
            out["third_requests"] = family.requests()
            out["published"] = published
            out["docs_after"] = _docs(es, alias)
            yield out
    finally:
        mp.undo()
        es.indices.delete(index=f"{alias}-*", ignore_unavailable=True, allow_no_indices=True)
        es.options(ignore_status=404).indices.delete_index_template(name=alias)
        es.options(ignore_status=404).indices.delete_index_template(name=f"{alias}-crawls")


def test_the_family_is_varied_and_every_site_has_articles(crawled):
    family = crawled["family"]
    assert len(family.sites) >= 50
    for trait in ("cms", "feed", "sitemap", "pagination", "charset", "dates", "canonical", "variants"):
        assert len({getattr(s.traits, trait) for s in family.sites.values()}) >= 4, trait
    assert all(6 <= len(s.truth()) + len(s.disallowed_urls()) <= 13 for s in family.sites.values())   # one published later


def test_first_crawl_indexes_what_the_sites_publish(crawled):
    first = crawled["first"]
    assert first.code == 0, first.err[-3000:]
    assert "Traceback" not in first.err
    result = score(crawled["truth"], crawled["docs"])
    report = table(result, only_failing=True) + "\n" + "\n".join(result["problems"][:40])
    assert result["recall"] >= MIN_RECALL, report
    # nothing indexed that is not an article of the truth (a home page, a section, a copy)
    wanted = {canonicalize(e["url"]) for e in crawled["truth"]}
    stray = [d["url"] for d in crawled["docs"] if canonicalize(d["url"]) not in wanted
             and canonicalize(d.get("canonical_url") or d["url"]) not in wanted]
    assert len(stray) <= 0.01 * len(wanted), stray[:20]


def test_no_disallowed_and_no_offdomain_fetch(crawled):
    family = crawled["family"]
    for key in ("first_requests", "second_requests", "third_requests"):
        assert family.offdomain_requests(crawled[key]) == [], key
        assert [r["path"] for r in family.disallowed_requests(crawled[key])] == [], key
    assert crawled["first_requests"], "the crawl never reached the proxy"


def test_second_crawl_fetches_no_known_article(crawled):
    second = crawled["second"]
    assert second.code == 0, second.err[-3000:]
    articles = {canonicalize(u) for u in crawled["family"].article_urls()}
    # the same look-up finds the article pages the first crawl fetched (over http and https)
    first = {canonicalize(r["url"]) for r in crawled["first_requests"] if r["status"] == 200} & articles
    assert len(first) >= 0.99 * len(crawled["truth"])
    assert any(r["scheme"] == "https" for r in crawled["first_requests"])
    again = [r["url"] for r in crawled["second_requests"]
             if canonicalize(r["url"]) in articles and r["status"] == 200]
    assert again == []


def test_an_article_published_after_the_first_crawl_is_picked_up_by_the_next(crawled):
    third = crawled["third"]
    assert third.code == 0, third.err[-3000:]
    index = by_url(crawled["docs_after"])
    for key, entry in crawled["published"].items():
        result = check(entry, index.get(canonicalize(entry["url"]), []))
        assert all(result.values()), (key, entry["url"], result)
    known = {canonicalize(e["url"]) for e in crawled["truth"]}
    again = [r["url"] for r in crawled["third_requests"] if canonicalize(r["url"]) in known and r["status"] == 200]
    assert again == []


def test_infinite_pagination_is_followed_only_to_a_bounded_depth(crawled):
    # sites whose listings offer a next page forever: the crawl stops after a few pages
    family = crawled["family"]
    endless = {h for s in family.sites.values() if s.traits.pagination == "infinite" for h in (s.host, s.other_host)}
    assert endless
    pages: dict[tuple[str, str], int] = {}
    for r in crawled["first_requests"]:
        if r["target_host"] in endless and ("page=" in r["target_query"] or not r["target_query"]):
            key = (r["target_host"], r["target_path"])
            pages[key] = pages.get(key, 0) + 1
    listings = {k: n for k, n in pages.items() if n > 1}
    assert listings, "no listing of an endless site was paginated at all"
    assert max(listings.values()) <= 10, listings


def _missed_second_pages(crawled, *, misstated_charset: bool) -> list[tuple[str, str]]:
    requested = {canonicalize(r["url"]) for r in crawled["first_requests"] if r["status"] == 200}
    return [(s.key, s.traits.pagination) for s in crawled["family"].sites.values()
            if (s.traits.charset == "disagree_1256") == misstated_charset
            and len(s.published()) > s.per_page and canonicalize(s.page_url("/", "", 2)) not in requested]


def test_every_kind_of_pagination_leads_to_the_second_page(crawled):
    # rel=next, "next" texts, /page/N/, numbered links (from 1 or, Drupal-like, from 0),
    # "load more" offsets, endless rel=next: the home page's page 2 is read on every site
    assert _missed_second_pages(crawled, misstated_charset=False) == []


def test_pagination_on_listing_pages_whose_server_misstates_the_charset(crawled):
    # windows-1256 listings served as charset=UTF-8: their Arabic "more"/"next" links too
    assert _missed_second_pages(crawled, misstated_charset=True) == []


def test_feeds_and_sitemaps_a_site_offers_are_read_whatever_their_kind(crawled):
    # RSS 2.0/1.0, Atom, JSON Feed with absolute, relative, utm, proxied (origLink) links;
    # urlsets, indexes, gzipped children, news and text sitemaps, with odd <lastmod>s and
    # bytes before the XML: each must yield every article it lists
    short = []
    for key, site in crawled["family"].sites.items():
        discovered = crawled["first"].outlet(key)["discovered"]
        for channel, expected in crawled["channels"][key].items():
            if discovered.get(channel, 0) < expected:
                kinds = {"feed": (site.traits.feed, site.traits.feed_link),
                         "sitemap": (site.traits.sitemap, site.traits.lastmod, site.traits.xml_prefix)}[channel]
                short.append((key, channel, kinds, discovered.get(channel, 0), expected))
    assert short == []
