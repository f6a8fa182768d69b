"""Every saved search, run by the real Elasticsearch node as Kibana runs a Lucene query
(`query_string` with analyze_wildcard), over the seeds (`raqib seed`) and articles enriched
like crawled ones: each finds the documents it should and none of the others."""
from datetime import UTC, datetime, timedelta

import pytest

from crawler.ops import kibana
from pipelines import document
from pipelines.index import bulk_index, ensure_index
from pipelines.outlets import load_outlets

NOW = datetime.now(UTC)


def _iso(delta: timedelta) -> str:
    return (NOW - delta).isoformat(timespec="seconds")


AR_ISIS = ("هاجم عناصر من تنظيم داعش نقطة للجيش السوري في بادية دير الزور، وقالت مصادر محلية إن "
           "الهجوم أسفر عن مقتل عدد من الجنود وإن التنظيم ما زال ينشط في المنطقة الصحراوية الواسعة.")
AR_ALL = ("قالت وزارة الدفاع الأمريكية إن قواتها في قاعدة التنف نفذت عملية ضد خلية لتنظيم داعش شرق "
          "سوريا، في إطار مهمة التحالف الدولي التي تقول واشنطن إنها تهدف إلى منع عودة التنظيم.")
AR_NONE = ("ارتفعت أسعار الخضار في الأسواق المحلية هذا الأسبوع بسبب موجة البرد التي ضربت المنطقة، "
           "وقال تجار إن الطلب تراجع بينما ينتظر المزارعون تحسن الطقس لاستئناف الحصاد.")
EN_US = ("The Pentagon said about nine hundred American troops remain at bases in northeastern Syria, "
         "where they work with the Syrian Democratic Forces and patrol near oil fields east of the Euphrates.")
EN_NONE = ("The city council approved a new budget for road repairs on Tuesday, and officials said work "
           "on the main bridge would begin in the spring once the weather allows crews to start.")
FR_ISIS = ("Les forces irakiennes ont annoncé avoir démantelé une cellule de l'État islamique dans la "
           "province d'Anbar, près de la frontière, après plusieurs semaines de surveillance.")

# key: (outlet, text, lang, topics, crawled how long ago)
ARTICLES = {
    "ar-isis-syria": ("almayadeen", AR_ISIS, "ar", ["isis", "syria"], timedelta(days=1)),
    "ar-all-three": ("almarjie", AR_ALL, "ar", ["isis", "syria", "us_presence"], timedelta(hours=5)),
    "en-us-syria": ("noonpost", EN_US, "en", ["syria", "us_presence"], timedelta(days=2)),
    "fr-isis-iraq": ("alittihad", FR_ISIS, "fr", ["isis"], timedelta(days=3)),
    "ar-untagged-new": ("strategic_observatory", AR_NONE, "ar", [], timedelta(hours=2)),
    "en-untagged-old": ("noonpost", EN_NONE, "en", [], timedelta(days=40)),
}

# What each saved search must find among ARTICLES (the seeds are judged by their stored fields).
EXPECTED = {
    "isis-syria": {"ar-isis-syria", "ar-all-three"},
    "us-presence": {"ar-all-three", "en-us-syria"},
    "isis-and-us-presence": {"ar-all-three"},
    "tagged-latest": {"ar-isis-syria", "ar-all-three", "en-us-syria", "fr-isis-iraq"},
    "seeds": set(),
    "arabic": {"ar-isis-syria", "ar-all-three", "ar-untagged-new"},
    "untagged-recent": {"ar-untagged-new"},
}


def _seed_expected(key: str, src: dict) -> bool:
    topics = set(src.get("topics") or [])
    crawled = datetime.fromisoformat(src["crawled_at"])
    return {
        "isis-syria": {"isis", "syria"} <= topics,
        "us-presence": "us_presence" in topics,
        "isis-and-us-presence": {"isis", "us_presence"} <= topics,
        "tagged-latest": bool(topics),
        "seeds": True,
        "arabic": src.get("lang") == "ar",
        "untagged-recent": not topics and crawled >= NOW - timedelta(days=7),
    }.get(key, key == f"outlet-{src['outlet'].replace('_', '-')}")


@pytest.fixture
def corpus(raqib, es, alias):
    code, out, err = raqib("seed")
    assert code == 0, err
    docs, ids = [], {}
    for key, (outlet, text, lang, topics, ago) in ARTICLES.items():
        url = f"https://example.org/{outlet}/{key}"
        article = {"url": url, "canonical_url": url, "outlet": outlet, "outlet_name": outlet,
                   "title": text.split("،")[0].split(",")[0][:80], "text": text,
                   "published_at": _iso(ago + timedelta(hours=1)), "crawled_at": _iso(ago),
                   "discovered_via": "feed", "seed": False}
        if topics:   # as the tagger writes them (pipelines/tagging)
            article |= {"topics": topics, "matched_terms": [f"term-{t}" for t in topics],
                        "entities": {"places": ["دير الزور"]}, "locations": [{"lat": 35.33, "lon": 40.14}]}
        doc = document.enrich(article, lang_hint=None, tagger=None)
        assert doc["lang"] == lang, (key, doc.get("lang"))   # a precondition, not the subject
        doc_id = document.doc_id_for(url)
        ids[doc_id] = key
        docs.append((doc_id, doc))
    ensure_index(es, alias)
    result = bulk_index(es, docs, alias, refresh="wait_for")
    assert not result.rejected, result.rejected
    es.indices.refresh(index=alias)
    seeds = {h["_id"]: h["_source"] for h in
             es.search(index=alias, query={"term": {"seed": True}}, size=10).body["hits"]["hits"]}
    assert len(seeds) == 5
    return ids, seeds


def _run(es, alias, query: str) -> set[str]:
    body = es.search(index=alias, size=100, query={"query_string": {"query": query, "analyze_wildcard": True}}).body
    return {h["_id"] for h in body["hits"]["hits"]}


def test_every_saved_search_finds_what_it_should_and_nothing_else(es, alias, corpus):
    ids, seeds = corpus
    specs = kibana.article_searches(load_outlets())
    shipped = {o["id"] for o in kibana.article_objects(outlets=load_outlets()) if o["type"] == "search"}
    assert {f"raqib-search-{s.key}" for s in specs} == shipped   # the specs are the shipped searches
    for spec in specs:
        found = _run(es, alias, spec.query)
        expected = {doc_id for doc_id, key in ids.items() if key in EXPECTED.get(spec.key, set())}
        if spec.key.startswith("outlet-"):
            outlet = spec.query.split(":", 1)[1]
            expected = {doc_id for doc_id, key in ids.items() if ARTICLES[key][0] == outlet}
        expected |= {doc_id for doc_id, src in seeds.items() if _seed_expected(spec.key, src)}
        assert found == expected, (spec.key, spec.query, sorted(ids.get(i, "seed") for i in found ^ expected))
        assert found, f"{spec.key} finds nothing in the test index"
        assert len(found) < len(ids) + len(seeds), f"{spec.key} finds everything"


def test_outlet_searches_find_the_seed_of_each_outlet(es, alias, corpus):
    _, seeds = corpus
    for doc_id, src in seeds.items():
        assert doc_id in _run(es, alias, f"outlet:{src['outlet']}")


def test_untagged_search_ignores_old_untagged_articles(es, alias, corpus):
    ids, _ = corpus
    found = {ids.get(i) for i in _run(es, alias, kibana.article_searches()[6].query)}
    assert "ar-untagged-new" in found and "en-untagged-old" not in found


def test_the_fields_the_charts_and_map_aggregate_on_hold_values(es, alias, corpus):
    """The dashboard's charts aggregate these fields; on the real index they must yield buckets."""
    body = es.search(index=alias, size=0, aggs={
        "topics": {"terms": {"field": "topics"}},
        "outlets": {"terms": {"field": "outlet_name"}},
        "langs": {"terms": {"field": "lang"}},
        "terms": {"terms": {"field": "matched_terms"}},
        "over_time": {"date_histogram": {"field": "published_at", "calendar_interval": "month"}},
        "places": {"geotile_grid": {"field": "locations", "precision": 6}},
    }).body["aggregations"]
    assert {b["key"] for b in body["topics"]["buckets"]} >= {"isis", "syria", "us_presence"}
    assert {b["key"] for b in body["langs"]["buckets"]} >= {"ar", "en", "fr"}
    assert body["outlets"]["buckets"] and body["terms"]["buckets"] and body["over_time"]["buckets"]
    assert body["places"]["buckets"]
