"""The Kibana saved objects, offline: the shipped ndjson files parse, every reference resolves,
every field they name is in the index, and they are what raqib builds from its configuration."""
import copy
import json
from pathlib import Path

import pytest

from crawler.ops import kibana
from pipelines.index import mapping
from pipelines.outlets import load_outlets, parse_outlets

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "deploy" / "kibana"
FILES = ("raqib-articles.ndjson", "raqib-crawls.ndjson")


def _shipped_objects():
    objects = []
    for name in FILES:
        lines = (SHIPPED / name).read_text(encoding="utf-8").splitlines()
        objects += [json.loads(line) for line in lines if line.strip()]
    return objects


def _by_key(objects):
    return {(o["type"], o["id"]): o for o in objects}


def _built():
    return [o for objs in kibana.build_bundles(outlets=load_outlets()).values() for o in objs]


def test_shipped_files_are_what_raqib_builds_from_the_shipped_config():
    # deploy/kibana/ is regenerated with `raqib kibana export deploy/kibana`
    assert _by_key(_shipped_objects()) == _by_key(_built())


def test_every_line_is_an_object_and_every_reference_resolves_within_the_files():
    objects = _shipped_objects()
    present = set(_by_key(objects))
    assert len(present) == len(objects), "an object appears twice"
    for o in objects:
        assert {"type", "id", "attributes", "references"} <= set(o)
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in present, (o["id"], ref)
        names = [r["name"] for r in o["references"]]
        assert len(names) == len(set(names)), o["id"]
    # references named inside attributes point at entries of the object's reference list
    for o in objects:
        names = {r["name"] for r in o["references"]}
        attrs = o["attributes"]
        if o["type"] == "search":
            assert json.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])["indexRefName"] in names
        if o["type"] == "lens":
            for layer in attrs["state"]["datasourceStates"]["formBased"]["layers"]:
                assert f"indexpattern-datasource-layer-{layer}" in names
        if o["type"] == "map":
            for layer in json.loads(attrs["layerListJSON"]):
                ref = layer["sourceDescriptor"].get("indexPatternRefName")
                assert ref is None or ref in names
        if o["type"] == "dashboard":
            for panel in json.loads(attrs["panelsJSON"]):
                assert f"{panel['panelIndex']}:{panel['panelRefName']}" in names
    assert kibana.validate(objects, kibana.default_fields_by_view()) == []


def test_data_view_uses_published_at_and_readable_names_for_the_index_fields():
    view = _by_key(_shipped_objects())[("index-pattern", "raqib-articles")]
    attrs = view["attributes"]
    assert attrs["title"] == "raqib-articles*" and attrs["timeFieldName"] == "published_at"
    labels = {f: a["customLabel"] for f, a in json.loads(attrs["fieldAttrs"]).items()}
    fields = kibana.article_fields(mapping())
    # every field a reader sees has a label, and every label names a real field
    shown = {f for f, t in fields.items()
             if t != "object" and f not in kibana.ARTICLE_HIDDEN_FIELDS and not f.endswith("_norm")
             and f not in ("author.text", "matches", "topic_scores")}
    assert shown <= set(labels), shown - set(labels)
    assert set(labels) <= set(fields)
    assert labels["published_at"] == "Published" and labels["entities.places"] == "Places"
    assert set(json.loads(attrs["fieldFormatMap"])) == {"url", "canonical_url"}   # links, not text
    assert {f["value"] for f in json.loads(attrs["sourceFilters"])} >= {"title_norm", "text_norm"}


def test_saved_searches_are_lucene_and_cover_the_brief():
    objects = _by_key(_shipped_objects())
    searches = {o["id"]: json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]
                for (t, _), o in objects.items() if t == "search"}
    assert all(q["language"] == "lucene" for q in searches.values())
    queries = {k: q["query"] for k, q in searches.items()}
    assert queries["raqib-search-isis-syria"] == "topics:isis AND topics:syria"
    assert queries["raqib-search-us-presence"] == "topics:us_presence"
    assert queries["raqib-search-isis-and-us-presence"] == "topics:isis AND topics:us_presence"
    assert queries["raqib-search-seeds"] == "seed:true"
    assert queries["raqib-search-arabic"] == "lang:ar"
    assert "NOT _exists_:topics" in queries["raqib-search-untagged-recent"]
    for outlet in load_outlets():
        assert queries[f"raqib-search-outlet-{outlet.replace('_', '-')}"] == f"outlet:{outlet}"


def test_an_outlet_added_by_config_alone_gets_its_saved_search():
    outlets = parse_outlets({"outlets": {"enabbaladi": {
        "name": "عنب بلدي", "home": "https://www.enabbaladi.net/", "domains": ["enabbaladi.net"],
        "article_pattern": r"^https://www\.enabbaladi\.net/\d+/"}}})
    objects = kibana.article_objects("raqib-articles", outlets)
    search = _by_key(objects)[("search", "raqib-search-outlet-enabbaladi")]
    assert "عنب بلدي" in search["attributes"]["title"]
    assert kibana.validate(objects, kibana.default_fields_by_view()) == []


def test_ids_are_stable_so_reimporting_overwrites():
    first = [(o["type"], o["id"]) for o in _built()]
    second = [(o["type"], o["id"]) for o in _built()]
    assert first == second
    # every id is a fixed, readable string (no generated uuids) ...
    assert all(i.startswith(("raqib-", "raqib")) for _, i in first)
    # ... and the data views follow the configured index names
    objs = [o for v in kibana.build_bundles("news-2", None, "news-2-crawls").values() for o in v]
    views = {o["id"]: o["attributes"]["title"] for o in objs if o["type"] == "index-pattern"}
    assert views == {"news-2": "news-2*", "news-2-crawls": "news-2-crawls*"}


def test_overview_dashboard_has_the_panels_the_analysts_asked_for():
    objects = _by_key(_shipped_objects())
    dash = objects[("dashboard", "raqib-dashboard-overview")]
    panels = [objects[(r["type"], r["id"])] for r in dash["references"]]
    lens = {o["attributes"]["title"]: o for o in panels if o["type"] == "lens"}

    def columns(o):
        layers = o["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
        return [(c["operationType"], c.get("sourceField")) for layer in layers.values() for c in layer["columns"].values()]

    assert ("date_histogram", "published_at") in columns(lens["Articles over time by topic"])
    assert ("terms", "topics") in columns(lens["Articles over time by topic"])
    assert ("terms", "outlet_name") in columns(lens["Articles by outlet"])
    assert ("terms", "lang") in columns(lens["Language split"])
    assert ("terms", "matched_terms") in columns(lens["Top matched terms"])
    maps = [o for o in panels if o["type"] == "map"]
    assert len(maps) == 1
    geo = {layer["sourceDescriptor"].get("geoField") for layer in json.loads(maps[0]["attributes"]["layerListJSON"])}
    assert "locations" in geo and mapping()["properties"]["locations"]["type"] == "geo_point"
    table = [o for o in panels if o["type"] == "search"]
    assert len(table) == 1 and "url" in table[0]["attributes"]["columns"]
    assert table[0]["attributes"]["sort"] == [["published_at", "desc"]]


def test_crawler_health_objects_read_the_crawl_document_shape():
    objects = _by_key(_shipped_objects())
    view = objects[("index-pattern", "raqib-crawls")]
    assert view["attributes"]["title"] == "raqib-crawls*" and view["attributes"]["timeFieldName"] == "started_at"
    health = objects[("dashboard", "raqib-dashboard-crawler-health")]
    panels = {objects[(r["type"], r["id"])]["attributes"]["title"]: objects[(r["type"], r["id"])]
              for r in health["references"]}
    assert len(json.loads(health["attributes"]["panelsJSON"])) == len(panels) == 8

    def columns(o):
        layers = o["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
        return [(c["operationType"], c.get("sourceField")) for layer in layers.values() for c in layer["columns"].values()]

    # what issue 10 asks for: articles per outlet per day, errors by kind, outlets that went silent
    per_day = columns(panels["New articles per outlet per day"])
    assert ("date_histogram", "started_at") in per_day and ("terms", "outlet") in per_day and ("sum", "indexed") in per_day
    errors = columns(panels["Errors by kind"])
    from crawler.report.stats import ERROR_KINDS
    assert {f for op, f in errors if op == "sum"} == {f"errors.{k}" for k in ERROR_KINDS}
    silent = columns(panels["Outlets that went silent"])
    assert ("max", "health.last_new_at") in silent and ("terms", "outlet") in silent
    assert {"raqib: Outlets silent for 2 days", "raqib: Outlets failing and backing off",
            "raqib: Crawls with errors"} <= set(panels)


# --- the validator catches what would break in Kibana -----------------------------------------

def _mutate(fn):
    objects = copy.deepcopy(_built())
    fn(_by_key(objects), objects)
    return kibana.validate(objects, kibana.default_fields_by_view())


def _set_json(obj, key, fn):
    value = json.loads(obj["attributes"][key])
    fn(value)
    obj["attributes"][key] = json.dumps(value)


BREAKAGES = {
    "a referenced object is missing": (
        lambda by, objs: objs.remove(by[("lens", "raqib-lens-languages")]), "not in the set"),
    "a chart names a field the index lacks": (
        lambda by, objs: by[("lens", "raqib-lens-by-outlet")]["attributes"]["state"]["datasourceStates"]
        ["formBased"]["layers"]["layer1"]["columns"]["outlet"].update(sourceField="outlet_title"),
        "'outlet_title'"),
    "a date histogram over a keyword": (
        lambda by, objs: by[("lens", "raqib-lens-topics-over-time")]["attributes"]["state"]["datasourceStates"]
        ["formBased"]["layers"]["layer1"]["columns"]["when"].update(sourceField="outlet"),
        "not a date field"),
    "a lens layer without its data view reference": (
        lambda by, objs: by[("lens", "raqib-lens-languages")].update(references=[]),
        "indexpattern-datasource-layer-layer1"),
    "a dashboard panel without its reference": (
        lambda by, objs: by[("dashboard", "raqib-dashboard-overview")]["references"].pop(), "no reference named"),
    "overlapping panels": (
        lambda by, objs: _set_json(by[("dashboard", "raqib-dashboard-overview")], "panelsJSON",
                                   lambda ps: ps[1]["gridData"].update(x=20)), "overlaps"),
    "a KQL saved search": (
        lambda by, objs: by[("search", "raqib-search-seeds")]["attributes"]["kibanaSavedObjectMeta"].update(
            searchSourceJSON=json.dumps({"query": {"query": "seed:true", "language": "kuery"},
                                         "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"})),
        "must be Lucene"),
    "a query on a misspelt field": (
        lambda by, objs: by[("search", "raqib-search-seeds")]["attributes"]["kibanaSavedObjectMeta"].update(
            searchSourceJSON=json.dumps({"query": {"query": "topic:isis", "language": "lucene"},
                                         "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"})),
        "'topic'"),
    "a map layer over a non-geo field": (
        lambda by, objs: _set_json(by[("map", "raqib-map-places")], "layerListJSON",
                                   lambda ls: ls[1]["sourceDescriptor"].update(geoField="entities.places")),
        "not a geo field"),
    "an attribute Kibana rejects": (
        lambda by, objs: by[("dashboard", "raqib-dashboard-overview")]["attributes"].update(panels=[]),
        "would reject: panels"),
    "a time field that is not a date": (
        lambda by, objs: by[("index-pattern", "raqib-articles")]["attributes"].update(timeFieldName="title"),
        "not a date field"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_validator_reports_each_breakage(breakage):
    fn, expected = BREAKAGES[breakage]
    problems = _mutate(fn)
    assert any(expected in p for p in problems), problems


def test_check_command_reports_a_broken_file(raqib, tmp_path):
    objects = _built()
    del objects[0]   # the articles data view: everything that reads it now dangles
    broken = tmp_path / "broken.ndjson"
    broken.write_text(kibana.to_ndjson(objects), encoding="utf-8")
    code, out, _ = raqib("kibana", "check", str(broken))
    assert code == 1 and "index-pattern raqib-articles, which is not in the set" in out
    code, out, _ = raqib("kibana", "check", *(str(SHIPPED / f) for f in FILES))
    assert code == 0 and out.strip().endswith("0 problems")
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"type": "search"}\nnot json\n', encoding="utf-8")
    code, _, err = raqib("kibana", "check", str(bad))
    assert code == 1 and "line 2 is not JSON" in err


def test_export_writes_the_files_kibana_imports(raqib, tmp_path):
    code, out, _ = raqib("kibana", "export", str(tmp_path / "out"))
    assert code == 0 and "raqib-articles.ndjson" in out
    for name in FILES:
        text = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert text.endswith("\n") and all(json.loads(line) for line in text.splitlines())
