"""`raqib tag` through the command line, and the tags `raqib seed` stores on the real node."""
import io
import json
import pathlib
import sys

import yaml

DATA = pathlib.Path(__file__).parent / "data" / "tagging"
ARTICLES = [json.loads(line) for line in (DATA / "articles.jsonl").read_text(encoding="utf-8").splitlines()]


def _stdin(monkeypatch, data: bytes):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def _lines(*objs):
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs).encode("utf-8")


def test_tag_reads_json_lines_and_writes_topics_scores_matches(raqib, monkeypatch):
    a = next(x for x in ARTICLES if x["id"] == "snn-alweeam-2015-07-31-1668")
    b = next(x for x in ARTICLES if x["id"] == "snn-alweeam-2015-07-31-1538")
    _stdin(monkeypatch, _lines({"id": a["id"], "title": a["title"], "text": a["text"], "lang": "ar"},
                               {"id": 7, "title": b["title"], "text": b["text"]}))
    code, out, err = raqib("tag")
    assert code == 0 and err == ""
    first, second = [json.loads(line) for line in out.splitlines()]
    assert first["id"] == a["id"] and set(first["topics"]) == {"isis", "syria", "us_presence"}
    assert set(first["scores"]) == {"isis", "syria", "us_presence"}
    assert "داعش" in first["matches"]["isis"]
    assert "Deir ez-Zor" in first["entities"]["places"] and first["locations"]
    assert second["id"] == 7 and second["topics"] == []       # the US drone strike in Yemen


def test_bad_lines_are_reported_with_their_number_and_the_rest_is_tagged(raqib, monkeypatch):
    good = {"id": "ok", "title": "«داعش» يتشبث بقشة الحياة في سوريا", "text": "نص"}
    data = (_lines(good) + b"{not json\n" + _lines({"title": "x", "text": "y"}) + b"\n"
            + _lines([1, 2]) + _lines({"id": "n", "title": 5, "text": "z"}) + b'{"id": "bad", "text": "\xff\xfe"}\n'
            + _lines({"id": "empty", "title": "", "text": "  "}) + _lines(good))
    _stdin(monkeypatch, data)
    code, out, err = raqib("tag")
    assert code == 1
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["ok", "ok"]
    lines = err.splitlines()
    assert lines[0].startswith("raqib tag: line 2: is not valid JSON")
    assert lines[1].startswith('raqib tag: line 3: "id" is missing')
    assert lines[2].startswith("raqib tag: line 5: expected a JSON object")
    assert lines[3].startswith('raqib tag: line 6: "title" must be a string or null, got int')
    assert lines[4].startswith("raqib tag: line 7: is not UTF-8")
    assert lines[5].startswith('raqib tag: line 8: "title" and "text" are both empty')
    assert lines[-1] == "raqib tag: 2 tagged, 6 lines skipped"


def test_explain_shows_the_sentences_behind_each_tag(raqib, monkeypatch):
    a = next(x for x in ARTICLES if x["id"] == "fakes-1965511122")
    _stdin(monkeypatch, _lines({"id": a["id"], "title": a["title"], "text": a["text"]}))
    code, out, _ = raqib("tag", "--explain")
    record = json.loads(out)
    isis = record["explain"]["isis"]
    assert code == 0 and isis["passed"] and isis["value"] >= isis["threshold"]
    assert isis["decided_by"] == "weights"
    assert isis["sentences"][0]["zone"] == "title" and "ISIL" in isis["sentences"][0]["terms"]
    # each feature's share of the decision, the largest first
    effects = [abs(c["contribution"]) for c in isis["contributions"]]
    assert effects and effects == sorted(effects, reverse=True)
    assert any(c["feature"] == "clue:ISIS named" for c in isis["contributions"])
    us = record["explain"]["us_presence"]
    assert us["passed"] is False and us["value"] < us["threshold"]


def test_a_topics_yaml_in_the_config_dir_replaces_the_shipped_rules(raqib, config_dir, monkeypatch):
    rules = yaml.safe_load(pathlib.Path("config/topics.yaml").read_text(encoding="utf-8"))
    del rules["topics"]["us_presence"]
    (config_dir / "topics.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    a = ARTICLES[0]
    # every file is validated before any command: the shipped alert rule on us_presence could
    # never match these rules, and says so
    code, out, err = raqib("tag")
    assert code == 3 and out == "" and "no topic named 'us_presence'; known topics: isis, syria" in err
    (config_dir / "alerts.yaml").write_text("alerts: []\n", encoding="utf-8")
    _stdin(monkeypatch, _lines({"id": 1, "title": a["title"], "text": a["text"]}))
    code, out, _ = raqib("tag")
    assert code == 0 and set(json.loads(out)["scores"]) == {"isis", "syria"}


def test_a_broken_topics_yaml_is_a_configuration_error_naming_every_problem(raqib, config_dir, monkeypatch):
    (config_dir / "topics.yaml").write_text(
        "topics:\n  isis:\n    threshold: -1\n    clues:\n      - any: [no_such_concept]\n        weight: 1\n    extra: 1\n",
        encoding="utf-8")
    _stdin(monkeypatch, b"")
    code, out, err = raqib("tag")
    assert code == 3 and out == ""
    assert "topics.isis.threshold: expected a number" in err
    assert "unknown reference 'no_such_concept'" in err
    assert "topics.isis.extra: unknown key" in err
    assert "Traceback" not in err


def _count(es, alias, query):
    es.indices.refresh(index=alias)
    return es.count(index=alias, query=query).body["count"]


def test_seeds_are_stored_with_all_three_topics_entities_and_locations(raqib, es, alias):
    code, out, err = raqib("seed")
    assert code == 0, err
    for topic in ("isis", "syria", "us_presence"):
        assert _count(es, alias, {"term": {"topics": topic}}) == 5, topic
    hits = es.search(index=alias, size=5).body["hits"]["hits"]
    for h in hits:
        src = h["_source"]
        assert src["matches"]["us_presence"] and src["topic_scores"]["us_presence"] >= 1.0
        assert "ISIS" in src["entities"]["actors"] and "Syria" in src["entities"]["places"]
        assert src["matched_terms"]
    # the geo_point field answers a map query: every seed has a place inside Syria
    syria_box = {"geo_bounding_box": {"locations": {"top_left": {"lat": 37.4, "lon": 35.6},
                                                    "bottom_right": {"lat": 32.3, "lon": 42.4}}}}
    assert _count(es, alias, syria_box) == 5
    # and the entities are keywords a dashboard can count
    aggs = es.search(index=alias, size=0, aggs={"p": {"terms": {"field": "entities.places", "size": 50}}}).body
    places = {b["key"] for b in aggs["aggregations"]["p"]["buckets"]}
    assert {"Deir ez-Zor", "Syrian Desert", "Abu Kamal"} <= places
