"""Crawl metrics: every real crawl writes one document per outlet to `[elasticsearch]
crawls_index` (crawler/report/crawls.py), in the shape the Kibana "crawler health" objects read;
a dry run writes none; a cluster that cannot take them spools them for the next crawl. The
saved searches of the dashboard, run by the real node as Kibana runs them, find the crawls
they should after crawls of the offline mirror."""
from __future__ import annotations

import json
import time

from crawler.mirror import Mirror
from crawler.ops import kibana
from crawler.report import crawls
from crawler.state.store import SqliteState
from tests.support.crashkit import FlakyProxy
from tests.support.crawlrun import crawl, outlet_yaml, site_with_articles, write_config
from tests.support.localsite import Site


def crawl_docs(es, index: str) -> list[dict]:
    es.indices.refresh(index=index)
    return [h["_source"] | {"_id": h["_id"]} for h in
            es.search(index=index, size=500, sort=[{"outlet": "asc"}]).body["hits"]["hits"]]


def _names_in(objects: list[dict]) -> set[str]:
    """Every field the crawl objects name: chart columns, last-value sort fields, search
    columns, sort fields and the fields their queries name, and the labelled fields."""
    names = set()
    for o in objects:
        a = o["attributes"]
        if o["type"] == "lens":
            for layer in a["state"]["datasourceStates"]["formBased"]["layers"].values():
                for col in layer["columns"].values():
                    if col.get("sourceField") and col["sourceField"] != "___records___":
                        names.add(col["sourceField"])
                    if (col.get("params") or {}).get("sortField"):
                        names.add(col["params"]["sortField"])
        elif o["type"] == "search":
            names |= set(a["columns"]) | {s[0] for s in a["sort"]}
            query = json.loads(a["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
            names |= set(kibana.lucene_fields(query))
        elif o["type"] == "index-pattern":
            names |= set(json.loads(a["fieldAttrs"]))
            names.add(a["timeFieldName"])
    return names


def test_each_crawl_writes_one_document_per_outlet_as_the_dashboard_reads_it(mirror_config, es, alias):
    index = f"{alias}-crawls"
    with Mirror(outlets=["almarjie", "noonpost"], blocked=["noonpost"]) as m:
        config = mirror_config(m)
        first = crawl(config)
        assert first.code == 0, first.err
        assert first.stats["metrics"] == {"written": 2, "spooled": 0, "rejected": 0, "error": None}
        docs = {d["outlet"]: d for d in crawl_docs(es, index)}
        assert set(docs) == {"almarjie", "noonpost"}
        for outlet, doc in docs.items():
            o = first.outlet(outlet)
            assert doc["_id"] == f"{first.stats['crawl_id']}-{outlet}" and doc["crawl_id"] == first.stats["crawl_id"]
            assert (doc["started_at"], doc["finished_at"]) == (first.stats["started_at"], first.stats["finished_at"])
            assert doc["status"] == o["status"]
            assert doc["discovered"] == {k: o["discovered"][k] for k in ("feed", "sitemap", "section", "idwalk",
                                                                           "total", "new")}
            assert doc["fetched"] == sum(o["fetched"].values()) and doc["not_modified"] == sum(o["not_modified"].values())
            assert doc["fetched_articles"] == o["fetched"].get("article", 0)
            assert (doc["extracted"], doc["indexed"], doc["updated"], doc["duplicates"]) == \
                (o["extracted"], o["indexed"]["new"], o["indexed"]["updated"], o["duplicates"])
            assert doc["errors"] == o["errors"] and doc["bytes"] == o["bytes"] and doc["duration_s"] == o["duration_s"]
            assert doc["errors_total"] == sum(n for k, n in o["errors"].items() if k != "robots")
        assert docs["almarjie"]["indexed"] > 0 and docs["almarjie"]["health"]["consecutive_failures"] == 0
        assert docs["almarjie"]["health"]["last_new_at"] == first.stats["finished_at"]
        walled = docs["noonpost"]
        assert walled["status"] == "blocked" and walled["blocked"]
        assert walled["health"]["consecutive_failures"] == 1 and walled["health"]["failure_kind"] == "blocked"
        assert walled["health"]["backoff_until"] > walled["finished_at"]

        # Every field a chart, a search or the data view names exists in the real index,
        # and the mapping (strict) took every document the crawl wrote.
        caps = es.field_caps(index=index, fields="*").body["fields"]
        objects = kibana.crawl_objects(index)
        missing = sorted(n for n in _names_in(objects) if n not in caps)
        assert missing == []
        assert kibana.validate(objects, {index: crawls.fields()}) == []

        second = crawl(config)
        dry = crawl(config, "--dry-run")
        assert second.code == 0 and dry.code == 0
        assert "crawl_id" not in dry.stats
        docs = crawl_docs(es, index)
        assert len(docs) == 4 and {d["crawl_id"] for d in docs} == {first.stats["crawl_id"], second.stats["crawl_id"]}
        later = {d["outlet"]: d for d in docs if d["crawl_id"] == second.stats["crawl_id"]}
        assert later["noonpost"]["health"]["consecutive_failures"] == 2
        assert later["almarjie"]["indexed"] == 0 and later["almarjie"]["fetched_articles"] == 0


def _search(es, index: str, spec) -> list[dict]:
    body = es.search(index=index, size=100, query={"query_string": {"query": spec.query, "analyze_wildcard": True}})
    return [h["_source"] for h in body.body["hits"]["hits"]]


def test_the_saved_searches_find_the_crawls_they_should(mirror_config, es, alias, tmp_path):
    index = f"{alias}-crawls"
    with Mirror(outlets=["almarjie", "almayadeen", "noonpost"], blocked=["noonpost"]) as m:
        config = mirror_config(m)
        first = crawl(config)
        assert first.code == 0, first.err
        # Al-Marjie's last new article was three days ago, as far as the crawl state knows
        # (the mirror publishes nothing new before the second crawl)
        state = SqliteState(tmp_path / "state")
        state.save_outlet("almarjie", last_new_at=time.time() - 3 * 86400)
        state.close()
        second = crawl(config)
        assert second.code == 0, second.err
    specs = {s.key: s for s in kibana.CRAWL_SEARCHES}
    shipped = {o["id"] for o in kibana.crawl_objects(index) if o["type"] == "search"}
    assert {f"raqib-search-{k}" for k in specs} == shipped
    es.indices.refresh(index=index)
    latest = second.stats["crawl_id"]

    silent = _search(es, index, specs["outlets-silent"])
    assert {(d["outlet"], d["crawl_id"] == latest) for d in silent} == {
        ("almarjie", True), ("noonpost", True), ("noonpost", False)}   # never a new article from noonpost
    failing = _search(es, index, specs["outlets-failing"])
    assert {d["outlet"] for d in failing} == {"noonpost"} and len(failing) == 2
    with_errors = _search(es, index, specs["crawls-with-errors"])
    assert {d["outlet"] for d in with_errors} == {d["outlet"] for d in crawl_docs(es, index) if d["errors_total"]}
    assert "almayadeen" not in {d["outlet"] for d in with_errors}   # only robots.txt refusals: not errors


def test_metrics_the_cluster_cannot_take_are_spooled_and_written_by_the_next_crawl(tmp_path, es_url, es, alias):
    index = f"{alias}-crawls"
    proxy = FlakyProxy(es_url, break_on="-crawls")   # the node goes away when the metrics are written
    try:
        with Site() as site:
            site_with_articles(site, 3)
            yaml = "outlets:\n" + outlet_yaml("local", site)
            config = write_config(tmp_path / "c", es_url=proxy.url, alias=alias, state_dir=tmp_path / "s",
                                  outlets_yaml=yaml, timeout=3.0)
            proxy.armed = True
            first = crawl(config)
            assert proxy.down
            assert first.code == 0, first.err                       # the crawl itself succeeded
            assert first.outlet("local")["indexed"]["new"] == 3
            assert first.stats["metrics"]["spooled"] == 1 and first.stats["metrics"]["written"] == 0
            assert "crawl metrics not written" in first.err and "Traceback" not in first.err
            assert "crawl metrics: not written" in first.out
            spool = tmp_path / "s" / crawls.SPOOL_FILE
            assert spool.exists()
            proxy.close()
            config = write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s",
                                  outlets_yaml=yaml, timeout=3.0)
            second = crawl(config)
            assert second.code == 0, second.err
            assert second.stats["metrics"] == {"written": 2, "spooled": 0, "rejected": 0, "error": None}
            assert not spool.exists()
            docs = crawl_docs(es, index)
            assert {d["crawl_id"] for d in docs} == {first.stats["crawl_id"], second.stats["crawl_id"]}
            assert {d["crawl_id"]: d["indexed"] for d in docs} == {first.stats["crawl_id"]: 3,
                                                                    second.stats["crawl_id"]: 0}
    finally:
        proxy.close()


def test_the_crawls_index_is_created_idempotently(es, alias):
    index = f"{alias}-crawls"
    for _ in range(2):
        crawls.ensure_index(es, index)
    mapping = es.indices.get_mapping(index=index).body[index]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert set(mapping["properties"]["errors"]["properties"]) >= {"timeout", "blocked", "http_5xx"}
    template = es.indices.get_index_template(name=index).body["index_templates"][0]["index_template"]
    assert template["index_patterns"] == [index]


def test_metrics_that_can_be_neither_written_nor_spooled_never_fail_the_crawl(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the state directory should be", encoding="utf-8")
    docs = [("c1-local", {"outlet": "local"})]
    result = crawls.write(None, "raqib-test-nowhere", docs, blocker / crawls.SPOOL_FILE)
    assert result["written"] == result["spooled"] == 0 and result["error"].startswith("spool not writable")
