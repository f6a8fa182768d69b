"""The index template and write alias, on the real node."""
from urllib.parse import urlsplit

import pytest
from elasticsearch import Elasticsearch

from pipelines.es import ClusterError
from pipelines.index import bulk_index, ensure_index, has_arabic_analyzer, mapping
from tests.support.crashkit import EsProxy


def test_template_and_write_alias_are_created_idempotently(es, alias):
    first = ensure_index(es, alias)
    assert ensure_index(es, alias) == first == f"{alias}-000001"
    aliases = es.indices.get_alias(name=alias).body
    assert aliases[first]["aliases"][alias]["is_write_index"] is True
    template = es.indices.get_index_template(name=alias).body["index_templates"][0]["index_template"]
    assert template["index_patterns"] == [f"{alias}-*"]


class CreatedMeanwhile(EsProxy):
    """Before the first look at the alias's own name reaches the node, another raqib process
    creates the alias: the moment two members of a fleet start together."""

    def __init__(self, target: str, es, alias: str):
        self.es, self.alias, self.done = es, alias, False
        super().__init__(target)

    def handle(self, handler) -> None:
        body = self.read_body(handler)
        if urlsplit(handler.path).path == f"/{self.alias}" and not self.done:
            self.done = True
            ensure_index(self.es, self.alias)
        self.forward(handler, body)


def test_an_alias_created_meanwhile_by_another_process_is_shared_not_refused(es, es_url, alias):
    proxy = CreatedMeanwhile(es_url, es, alias)
    try:
        client = Elasticsearch(proxy.url)
        assert ensure_index(client, alias) == f"{alias}-000001"
        assert proxy.done                    # the other process did come in between
        assert list(es.indices.get_alias(name=alias).body) == [f"{alias}-000001"]
    finally:
        proxy.close()


def test_an_index_named_like_the_alias_is_refused_by_name(es, alias):
    es.indices.create(index=alias)
    try:
        with pytest.raises(ClusterError, match=f"an index named '{alias}' exists where raqib expects its alias"):
            ensure_index(es, alias)
    finally:
        es.indices.delete(index=alias)


def test_mapping_has_the_contract_fields_with_their_types(es, alias):
    index = ensure_index(es, alias)
    props = es.indices.get_mapping(index=index).body[index]["mappings"]["properties"]
    expected = {
        "url": "keyword", "canonical_url": "keyword", "outlet": "keyword", "outlet_name": "keyword",
        "title": "text", "text": "text", "summary": "text", "author": "keyword",
        "published_at": "date", "modified_at": "date", "crawled_at": "date", "indexed_at": "date",
        "lang": "keyword", "topics": "keyword", "seed": "boolean", "discovered_via": "keyword",
        "content_hash": "keyword", "locations": "geo_point",
    }
    for field, kind in expected.items():
        assert props[field]["type"] == kind, field
    for field in ("topic_scores", "matches", "entities"):
        assert field in props


def test_text_analyzer_matches_what_the_cluster_offers(es, alias):
    index = ensure_index(es, alias)
    settings = es.indices.get_settings(index=index).body[index]["settings"]["index"]
    wanted = "arabic" if has_arabic_analyzer(es) else "standard"
    assert settings["analysis"]["analyzer"]["raqib_text"]["type"] == wanted


def test_unchanged_documents_are_not_rewritten_and_changes_are_counted(es, alias):
    ensure_index(es, alias)
    doc = {"title": "a", "text": "b", "content_hash": "h1", "outlet": "x"}
    assert bulk_index(es, [("id1", doc)], alias, refresh=True).created == ["id1"]
    assert bulk_index(es, [("id1", doc)], alias, refresh=True).unchanged == ["id1"]
    changed = dict(doc, content_hash="h2", text="c")
    assert bulk_index(es, [("id1", changed)], alias, refresh=True).updated == ["id1"]
    stored = es.get(index=alias, id="id1").body["_source"]
    assert stored["version"] == 2 and stored["text"] == "c"
    assert es.count(index=alias).body["count"] == 1


def test_a_rejected_document_is_reported_and_the_rest_is_written(es, alias):
    ensure_index(es, alias)
    good = ("ok", {"title": "fine", "content_hash": "g"})
    bad = ("bad", {"title": "x", "content_hash": "b", "published_at": "not a date"})
    result = bulk_index(es, [good, bad], alias, refresh=True)
    assert result.created == ["ok"]
    assert result.rejected[0][0] == "bad" and "published_at" in result.rejected[0][1]


def test_mapping_file_is_the_one_definition():
    m = mapping()
    assert m["dynamic"] == "strict" and "_comment" not in m


def test_after_a_rollover_an_article_is_updated_where_it_lives_never_copied(es, alias):
    """The README's dead-letter procedure rolls the alias over: articles stored before it must
    still be recognised, and rewritten in their old index, not duplicated into the new one."""
    ensure_index(es, alias)
    bulk_index(es, [("a", {"title": "first", "content_hash": "h1"})], alias, refresh=True)
    es.indices.rollover(alias=alias)
    again = bulk_index(es, [("a", {"title": "first", "content_hash": "h1"})], alias, refresh=True)
    assert again.unchanged == ["a"] and not again.created
    changed = bulk_index(es, [("a", {"title": "second", "content_hash": "h2"})], alias, refresh=True)
    assert changed.updated == ["a"]
    hits = es.search(index=alias, query={"ids": {"values": ["a"]}}).body["hits"]["hits"]
    assert len(hits) == 1 and hits[0]["_index"] == f"{alias}-000001"
    assert hits[0]["_source"]["title"] == "second" and hits[0]["_source"]["version"] == 2
    new = bulk_index(es, [("b", {"title": "new", "content_hash": "h3"})], alias, refresh=True)
    assert new.created == ["b"]
    assert es.search(index=alias, query={"ids": {"values": ["b"]}}).body["hits"]["hits"][0]["_index"] == f"{alias}-000002"


def test_a_document_sent_as_its_spooled_json_is_stored_as_the_same_document(es, alias):
    """The crawl sends the JSON text its spool already holds (`serialized`): the node must
    store exactly what sending the dict stores, on a first write and on an update, and a
    document that already holds a field indexing sets must get indexing's value."""
    from pipelines.storage import doc_json

    ensure_index(es, alias)
    docs = {
        "plain": {"title": "عنوان «مقتبس»", "text": "سطر\nسطر \"ثان\" \\ \u2028", "content_hash": "h1", "outlet": "x",
                  "crawled_at": "2026-01-02T03:04:05+00:00", "topic_scores": {"a": 0.5}, "topics": ["a"]},
        "has_first_seen": {"title": "t", "text": "b", "content_hash": "h2", "outlet": "x",
                           "first_seen_at": "2025-12-31T00:00:00+00:00"},
    }

    def write_both(version: str) -> None:
        as_dicts = [(f"{k}-dict", dict(d, content_hash=d["content_hash"] + version)) for k, d in docs.items()]
        as_json = [(f"{k}-json", dict(d, content_hash=d["content_hash"] + version)) for k, d in docs.items()]
        bulk_index(es, as_dicts, alias, refresh=True)
        bulk_index(es, as_json, alias, refresh=True, serialized={i: doc_json(d) for i, d in as_json})

    write_both("")
    first = {h["_id"]: h["_source"] for h in es.search(index=alias, size=10).body["hits"]["hits"]}
    write_both("-changed")
    stored = {h["_id"]: h["_source"] for h in es.search(index=alias, size=10).body["hits"]["hits"]}
    for key in docs:
        for sources in (first, stored):
            by_dict, by_json = dict(sources[f"{key}-dict"]), dict(sources[f"{key}-json"])
            for moment in ("indexed_at", "first_indexed_at"):     # the clock differs between the two writes
                assert by_json.pop(moment) and by_dict.pop(moment)
            assert by_json == by_dict, key
    assert stored["plain-json"]["version"] == 2 and stored["has_first_seen-json"]["first_seen_at"].startswith("2025-12-31")
