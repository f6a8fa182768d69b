"""Near-duplicates: syndicated copies are found, different articles on one story are not."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines import dedupe, document
from pipelines.index import bulk_index, ensure_index

DATA = Path(__file__).parent / "data" / "crawl" / "articles.jsonl"
SPA = ["snn-alweeam-2015-07-31-1668", "snn-alyaum-2015-07-31-1817", "snn-3alyoum-2015-07-31-0241"]


@pytest.fixture(scope="module")
def articles():
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    return {r["id"]: r for r in rows}


def _fp(row):
    return dedupe.fingerprint(document.enrich({"title": row["title"], "text": row["text"]}))


def test_syndicated_copies_of_one_dispatch_resemble_each_other(articles):
    # The three outlets ran one SPA dispatch with their own headline, dateline and footer.
    sigs = [_fp(articles[i]).signature for i in SPA]
    for a in range(3):
        for b in range(a + 1, 3):
            assert dedupe.resemblance(sigs[a], sigs[b]) >= dedupe.MIN_RESEMBLANCE


def test_different_articles_do_not(articles):
    others = [r for i, r in articles.items() if i not in SPA and r["lang"] == "ar"]
    sigs = [_fp(r).signature for r in others]
    worst = max(dedupe.resemblance(a, b) for i, a in enumerate(sigs) for b in sigs[i + 1:])
    assert worst < dedupe.MIN_RESEMBLANCE / 2


def test_banding_finds_the_copies_in_memory(articles):
    index = dedupe.RecentIndex()
    for i, row in articles.items():
        if i != SPA[1]:
            index.add(i, _fp(row))
    fp = _fp(articles[SPA[1]])
    match = dedupe.best_match(fp, index.candidates(fp), exclude=SPA[1])
    assert match is not None and match.doc_id in (SPA[0], SPA[2])
    # the article itself is an update, never its own duplicate
    index.add(SPA[1], fp)
    assert dedupe.best_match(fp, [(SPA[1], {"content_hash": fp.content_hash})], exclude=SPA[1]) is None


def test_a_copy_of_a_copy_points_to_the_original():
    fp = dedupe.Fingerprint("h", None)
    match = dedupe.best_match(fp, [("copy", {"content_hash": "h", "duplicate_of": "orig"})], exclude="new")
    assert match == dedupe.Match("orig", 1.0)


def test_short_texts_only_match_exactly():
    assert dedupe.minhash("خبر قصير جدا") is None
    assert dedupe.fingerprint({"content_hash": "x", "text": "خبر قصير"}).fields() == {}


def test_signature_round_trips_and_is_stable(articles):
    sig = _fp(articles[SPA[0]]).signature
    assert dedupe.from_hex(dedupe.to_hex(sig)) == sig
    # Stored signatures must stay comparable across versions: this value is pinned (set when
    # the signature became a one-permutation MinHash, before the first release).
    assert dedupe.to_hex(dedupe.minhash(" ".join(f"كلمة{i}" for i in range(40))))[:16] == "945a33cbd61ac563"
    assert len(dedupe.bands(sig)) == dedupe.BANDS


def test_the_cluster_finds_a_stored_copy(es, alias, articles):
    ensure_index(es, alias)
    docs = []
    for i in SPA[:1] + [k for k in articles if k not in SPA][:3]:
        doc = document.enrich({"title": articles[i]["title"], "text": articles[i]["text"]})
        doc.update(dedupe.fingerprint(doc).fields())
        docs.append((f"id-{i}", doc))
    bulk_index(es, docs, alias, refresh="wait_for")
    fp = _fp(articles[SPA[2]])
    candidates = dedupe.cluster_candidates(es, alias, fp, exclude="id-new")
    match = dedupe.best_match(fp, candidates, exclude="id-new")
    assert match is not None and match.doc_id == f"id-{SPA[0]}"
    unrelated = _fp(articles[[k for k in articles if k not in SPA][5]])
    assert dedupe.best_match(unrelated, dedupe.cluster_candidates(es, alias, unrelated, exclude="x"), exclude="x") is None
    # the crawl asks in batches: one _msearch, one answer per look-up, in order
    others = [_fp(articles[k]) for k in [k for k in articles if k not in SPA][5:8]]
    many = dedupe.cluster_candidates_many(es, alias, [(fp, "id-new"), (unrelated, "x"), *((o, "y") for o in others),
                                                      (fp, f"id-{SPA[0]}")])
    assert len(many) == 6
    assert dedupe.best_match(fp, many[0], exclude="id-new").doc_id == f"id-{SPA[0]}"
    assert dedupe.best_match(unrelated, many[1], exclude="x") is None
    assert [c[0] for c in many[0]] == [c[0] for c in candidates]
    # the article itself is excluded: a re-crawl is an update, never its own duplicate
    assert f"id-{SPA[0]}" not in [c[0] for c in many[5]]
    assert dedupe.cluster_candidates_many(es, alias, []) == []


def test_a_crawl_marks_copies_that_arrive_together(tmp_path, es_url, es, alias):
    """Three copies of one dispatch fetched in one crawl, side by side: each is known to the
    others as soon as it is fingerprinted, before the cluster is asked about it, so exactly
    one is the original and the other two point to it."""
    from tests.support.crawlrun import crawl, write_config
    from tests.support.localsite import Site, article_html, listing_html, recent

    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    spa = [r for r in rows if r["id"] in SPA]
    others = [r for r in rows if r["id"] not in SPA and r["lang"] == "ar"][:5]
    with Site("127.0.0.1") as site:
        paths = [f"/news/{i}" for i in range(len(spa) + len(others))]
        for path, row in zip(paths, spa + others):
            site.add(path, article_html(row["title"], row["text"], published=recent(1).isoformat()))
        site.add("/", listing_html([site.url(p) for p in paths]))
        yaml = (f"outlets:\n  local:\n    name: Local\n    home: {site.url('/')}\n    language: ar\n"
                f"    domains: [{site.host}]\n    article_pattern: '/news/\\d+$'\n")
        config = write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s", outlets_yaml=yaml)
        result = crawl(config)
        assert result.code == 0, result.err
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, size=50).body["hits"]["hits"]
    copies = {h["_id"]: h["_source"].get("duplicate_of") for h in hits if h["_source"]["url"].endswith(tuple(paths[:3]))}
    originals = [i for i, of in copies.items() if of is None]
    assert len(copies) == 3 and len(originals) == 1
    assert sorted(of for of in copies.values() if of) == [originals[0]] * 2
    assert result.outlet("local")["duplicates"] == 2
    assert all("duplicate_of" not in h["_source"] for h in hits if not h["_source"]["url"].endswith(tuple(paths[:3])))
