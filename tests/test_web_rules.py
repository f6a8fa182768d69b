"""Rules saved from `raqib web` are alert rules like any other: the same model and checks,
stored in the state directory, merged by the loader, and never able to shadow alerts.yaml."""
from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from crawler.web.queries import BadRequest, SearchParams
from crawler.web.saved import Store
from pipelines.alerts import context
from pipelines.configfile import ConfigError
from pipelines.settings import load_settings


def _params(query: str) -> SearchParams:
    return SearchParams.from_query(QueryParams(query))


def test_a_saved_rule_is_loaded_with_alerts_yaml_and_survives_a_new_process_state(config_dir):
    (config_dir / "alerts.yaml").write_text(
        "alerts:\n  - name: from-yaml\n    match: {topics_all: [isis]}\n    notify: [{type: file, path: a.jsonl}]\n",
        encoding="utf-8")
    settings = load_settings(config_dir)
    store = Store(settings.state_dir)
    store.save_search("deir", _params("q=دير+الزور&topic=isis&topic=syria&outlet=almayadeen&lang=ar"))
    store.add_rule("deir", _params(store.search("deir").query), taken=["from-yaml"])
    rules = {r.name: r for r in context.load(config_dir).rules}
    assert set(rules) == {"from-yaml", "deir"}
    deir = rules["deir"]
    assert (deir.query, deir.topics_any, deir.outlets, deir.languages) == ("دير الزور", ("isis", "syria"), ("almayadeen",), ("ar",))
    assert [c.key for c in deir.channels] == ["file:alerts.jsonl"]
    # a fresh store on the same directory (a restart) has the search and the rule
    again = Store(settings.state_dir)
    assert [s.name for s in again.searches()] == ["deir"] and [e["name"] for e in again.rule_entries()] == ["deir"]


def test_a_name_in_both_files_is_an_error_naming_both(config_dir):
    (config_dir / "alerts.yaml").write_text(
        "alerts:\n  - name: same\n    match: {topics_all: [isis]}\n    notify: [{type: file, path: a.jsonl}]\n",
        encoding="utf-8")
    store = Store(load_settings(config_dir).state_dir)
    with pytest.raises(ValueError, match="exists already"):
        store.add_rule("same", _params("q=x"), taken=["same"])
    store.rules_path.parent.mkdir(parents=True, exist_ok=True)
    store.rules_path.write_text("alerts:\n  - name: same\n    match: {query: x}\n    notify: [{type: file, path: b.jsonl}]\n",
                                encoding="utf-8")
    with pytest.raises(ConfigError, match="also in alerts.yaml"):
        context.load(config_dir)


def test_a_rule_that_could_never_match_is_refused_before_it_is_written(config_dir):
    from pipelines.outlets import load_outlets

    store = Store(load_settings(config_dir).state_dir)
    with pytest.raises(ConfigError, match="no outlet named 'nowhere'"):
        store.add_rule("bad", _params("q=x&outlet=nowhere"), outlets=load_outlets(config_dir))
    assert not store.rules_path.exists()
    with pytest.raises(ValueError, match="empty search"):
        store.add_rule("empty", _params(""))
    with pytest.raises(ValueError, match="a name is"):
        store.save_search("no spaces", _params("q=x"))


def test_search_parameters_a_person_can_fix_are_named():
    for query, word in (("since=yesterday", "since"), ("sort=loud", "sort"), ("page=two", "page"), ("seed=maybe", "seed")):
        with pytest.raises(BadRequest, match=word):
            _params(query)
    p = _params("q=داعش&topic=isis&outlet=a&outlet=b&since=2024-01-01&page=2")
    assert _params(p.url("")[1:]) == p                      # the URL round-trips
    assert "outlet=a" not in p.toggle("outlet", "a") and "page=" not in p.toggle("outlet", "a")
