"""Near-duplicates: syndicated copies are found, different articles on one story are not."""
from __future__ import annotations

import json
import uuid
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
