"""The crawl against the offline mirror of the five outlets (crawler/mirror): the shipped
config/outlets.yaml, rewritten to the mirror's addresses, crawled by `raqib crawl` into the
real Elasticsearch node, and compared with the mirror's ground truth."""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

from crawler.mirror import Mirror
from pipelines.urls import canonicalize
from tests.support.crawlrun import crawl

CRAWLED_CHANNELS = ("home", "feed", "sitemap", "section")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def norm(text: str | None) -> str:
    return " ".join(_INVISIBLE.sub("", text or "").split())


def requested(m: Mirror, outlet: str | None = None) -> list[tuple[str, dict]]:
    """(canonical URL, log entry) of every request the mirror received."""
    return [(canonicalize(f"http://{r['server']}{r['path']}"), r) for r in m.requests(outlet)]


def stored(es, alias) -> dict[str, list[dict]]:
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, size=5000, query={"match_all": {}}).body["hits"]["hits"]
    out: dict[str, list[dict]] = {}
    for h in hits:
        out.setdefault(canonicalize(h["_source"]["url"]), []).append({**h["_source"], "_id": h["_id"]})
    return out


def compare(truth: list[dict], docs: dict[str, list[dict]]) -> list[str]:
    """Every way the index differs from the truth, as readable lines (empty: none)."""
    problems = []
    for e in truth:
        found = docs.get(canonicalize(e["url"]))
        if not found:
            problems.append(f"missing {e['url']}")
            continue
        if len(found) > 1:
            problems.append(f"{len(found)} copies of {e['url']}")
        d = found[0]
        for key in ("title", "text"):
            if norm(d.get(key)) != norm(e[key]):
                problems.append(f"{key} of {e['url']}: {norm(d.get(key))[:60]!r} != {norm(e[key])[:60]!r}")
        if (d.get("author") or None) != (e.get("author") or None):
            problems.append(f"author of {e['url']}: {d.get('author')!r} != {e.get('author')!r}")
        if d.get("lang") != e["lang"]:
            problems.append(f"lang of {e['url']}: {d.get('lang')} != {e['lang']}")
        want = datetime.fromisoformat(e["published_at"].replace("Z", "+00:00"))
        got = datetime.fromisoformat(d["published_at"]) if d.get("published_at") else None
        if got != want:
            problems.append(f"published_at of {e['url']}: {got} != {want}")
        for junk in e.get("boilerplate") or ():
            if junk and junk in (d.get("text") or ""):
                problems.append(f"boilerplate {junk[:40]!r} in the text of {e['url']}")
    return problems


def test_each_outlet_once_then_only_conditional_requests_then_what_is_new(mirror_config, es, alias):
    with Mirror() as m:
        config = mirror_config(m)
        first = crawl(config)
        assert first.code == 0, first.err
        docs = stored(es, alias)
        for outlet in m.outlets:
            truth = m.truth(outlet, channels=CRAWLED_CHANNELS)
            assert truth, outlet
            assert compare(truth, docs) == [], outlet
            stats = first.outlet(outlet)
            assert stats["indexed"]["new"] == len(truth), (outlet, stats, first.err[-2000:])
            assert {k for k in stats["errors"]} <= {"robots"}, (outlet, stats)   # robots: the article it forbids
        assert sum(len(v) for v in docs.values()) == sum(len(m.truth(o, channels=CRAWLED_CHANNELS)) for o in m.outlets)
        assert m.requests("offsite") == []
        asked = {url for url, _ in requested(m)}
        assert m.disallowed() and not {canonicalize(u) for u in m.disallowed()} & asked
        # every channel an outlet has was used and reported
        assert first.outlet("almayadeen")["discovered"]["sitemap"] > 0
        assert first.outlet("noonpost")["discovered"]["feed"] > 0
        assert first.outlet("almarjie")["discovered"]["section"] > 0
        # where the crawl's CPU went: each step on the CPU thread, Scrapy's thread, the rest
        cpu = first.stats["cpu"]
        assert set(cpu["steps_s"]) == {"extract_article", "enrich", "fingerprint"}
        assert all(v > 0 for v in cpu["steps_s"].values()) and cpu["reactor_s"] > 0
        assert abs(cpu["process_s"] - cpu["reactor_s"] - sum(cpu["steps_s"].values()) - cpu["other_s"]) < 0.01
        assert f"cpu: {cpu['process_s']:.1f}s" in first.out

        # A second crawl of the unchanged mirror: no article page, and every source request is
        # conditional wherever the outlet gives validators at all.
        m.clear_requests()
        second = crawl(config)
        assert second.code == 0, second.err
        articles = {canonicalize(e["url"]) for o in m.outlets for e in m.truth(o)}
        assert requested(m)
        for url, r in requested(m):
            assert url not in articles, url
            if r["outlet"] in ("noonpost", "almayadeen", "strategic_observatory"):      # honest or Last-Modified
                assert r["if_none_match"] or r["if_modified_since"], r["path"]
        assert second.stats["cpu"]["steps_s"] == {}       # no page was extracted
        for outlet in m.outlets:
            assert second.outlet(outlet)["fetched"].get("article", 0) == 0
            assert second.outlet(outlet)["indexed"]["new"] == 0

        # Published since: picked up by the next crawl, and only they are fetched.
        new = {outlet: m.publish(outlet) for outlet in m.outlets}
        m.clear_requests()
        third = crawl(config)
        assert third.code == 0, third.err
        docs = stored(es, alias)
        for outlet, entry in new.items():
            assert compare([entry], docs) == [], outlet
            assert third.outlet(outlet)["indexed"]["new"] == 1
        fresh = {canonicalize(e["url"]) for e in new.values()}
        fetched = [url for url, _ in requested(m) if url in articles | fresh]
        assert sorted(fetched) == sorted(fresh)


def test_faults_are_counted_by_kind_and_the_crawl_goes_on(mirror_config, es, alias):
    with Mirror(faults=True, hang_seconds=10, drip_seconds=10) as m:
        config = mirror_config(m, timeout=3.0, retry_backoff="0.5s")
        result = crawl(config, timeout=400)
        assert result.code == 0, result.err
        assert "Traceback" not in result.err
        errors = {o: Counter(result.outlet(o)["errors"]) for o in m.outlets}
        expected = {
            "almayadeen": {"http_5xx": 1, "timeout": 2, "http_404": 2, "sitemap_parse": 2},
            "alittihad": {"redirect_loop": 1, "offsite": 2, "truncated": 1, "extraction": 1},
            "strategic_observatory": {"too_large": 3, "not_html": 3},
            "noonpost": {"feed_parse": 1},
            "almarjie": {},
        }
        for outlet, kinds in expected.items():
            got = {k: v for k, v in errors[outlet].items() if k != "robots"}
            assert got == kinds, outlet
        # the recoverable faults are indexed, correctly (windows-1256 pages among them)
        docs = stored(es, alias)
        for outlet in m.outlets:
            assert compare(m.truth(outlet, channels=CRAWLED_CHANNELS), docs) == [], outlet
        urls = m.fault_urls()
        for kind in ("charset_none", "charset_meta_only", "charset_wrong", "invalid_utf8", "http_500_transient", "http_429"):
            assert canonicalize(urls[kind]) in docs, kind
        for kind in ("http_503", "timeout", "truncated", "empty", "pdf", "huge", "gzip_bomb", "redirect_loop"):
            assert canonicalize(urls[kind]) not in docs, kind
        # never off-site, never the cloud metadata address; Retry-After respected
        assert m.requests("offsite") == []
        assert not any("169.254" in (r.get("host") or "") for r in m.requests())
        hits = [r for url, r in requested(m, "almayadeen") if url == canonicalize(urls["http_429"])]
        assert len(hits) >= 2
        assert (hits[1]["time"] - hits[0]["time"]) >= 2.9


def test_a_blocking_outlet_is_reported_and_the_others_are_crawled(mirror_config, es, alias):
    with Mirror(outlets=["noonpost", "almarjie"], blocked=["noonpost"]) as m:
        config = mirror_config(m)
        result = crawl(config)
        assert result.code == 0, result.err
        assert result.outlet("noonpost")["status"] == "blocked"
        assert "noonpost: blocked" in result.out
        docs = stored(es, alias)
        assert not any(d[0]["outlet"] == "noonpost" for d in docs.values())
        assert compare(m.truth("almarjie", channels=CRAWLED_CHANNELS), docs) == []


def test_an_outlet_added_by_yaml_alone_is_crawled(mirror_config, es, alias):
    # The sixth site: a Ghost blog the spider has never seen, described by a YAML entry only.
    with Mirror(outlets=[]) as m:
        config = mirror_config(m, include_new_site=True)
        result = crawl(config)
        assert result.code == 0, result.err
        truth = m.truth("levant_monitor", channels=CRAWLED_CHANNELS)
        assert len(truth) >= 10
        assert compare(truth, stored(es, alias)) == []
        assert result.outlet("levant_monitor")["status"] == "ok"


def test_backfill_walks_ids_and_old_months(mirror_config, es, alias):
    with Mirror(outlets=["almarjie", "almayadeen"]) as m:
        config = mirror_config(m, sitemap_window="7d")
        normal = crawl(config)
        assert normal.code == 0, normal.err
        recent = len(stored(es, alias))
        # the old monthly sitemaps were left for --backfill
        assert normal.outlet("almayadeen")["skipped"].get("sitemap_older_than_window", 0) > 0
        result = crawl(config, "--backfill", "--max-pages", "30")
        assert result.code == 0, result.err
        marjie = result.outlet("almarjie")
        assert marjie["discovered"]["idwalk"] > 0 and marjie["indexed"]["new"] > 0
        assert sum(marjie["requests"].get(k, 0) for k in ("article",)) <= 30
        assert result.outlet("almayadeen")["indexed"]["new"] > 0
        docs = stored(es, alias)
        assert len(docs) > recent
        truth = {canonicalize(e["url"]): e for o in m.outlets for e in m.truth(o)}
        assert compare([truth[u] for u in docs if u in truth], docs) == []
        assert all(u in truth for u in docs)
