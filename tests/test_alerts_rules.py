"""alerts.yaml validation, and the two forms of a rule (Python and Elasticsearch) agreeing."""
import pytest

from pipelines import document
from pipelines.alerts.rules import Rule, load_rules, normalize_lucene, parse_rules, rule_query
from pipelines.configfile import ConfigError
from pipelines.index import bulk_index, ensure_index
from pipelines.outlets import load_outlets


def test_shipped_rules_are_valid_against_the_shipped_outlets():
    rules = load_rules(None, outlets=load_outlets())
    assert [r.name for r in rules][:1] == ["isis-us-syria"]
    assert all(r.channels for r in rules)


def test_every_problem_is_reported_at_once_with_rule_and_key():
    data = {"alerts": [
        {"name": "ok", "notify": [{"type": "file", "path": "a.jsonl"}]},
        {"name": "ok", "notify": [{"type": "file", "path": "b.jsonl"}]},
        {"name": "bad rule!", "match": {"topic_all": ["isis"], "outlets": ["nowhere"], "languages": ["arabic"]},
         "notify": [{"type": "webhook"}, {"type": "pigeon"}, {"type": "email", "to": ["not-an-address"]},
                    {"type": "slack", "url": "https://hooks.example/x", "url_env": "X"}],
         "digest": "soon"},
        {"name": "quiet", "notify": []},
    ]}
    with pytest.raises(ConfigError) as info:
        parse_rules(data, outlets={"almayadeen": object()})
    text = str(info.value)
    assert "alerts[1] (ok).name: 'ok' is already the name of alerts[0]" in text
    assert "alerts[2] (bad rule!).name: expected a name of letters" in text
    assert "alerts[2] (bad rule!).match.topic_all: unknown key; did you mean 'topics_all'?" in text
    assert "match.outlets[0]: no outlet named 'nowhere'; known outlets: almayadeen" in text
    assert "match.languages[0]: expected a two-letter language code" in text
    assert "notify[0]: a webhook channel needs exactly one of url or url_env" in text
    assert "notify[1].type: expected one of webhook, email, slack, file, got 'pigeon'" in text
    assert "notify[2].to[0]: expected an email address, got 'not-an-address'" in text
    assert "notify[3]: a slack channel needs exactly one of url or url_env" in text
    assert "digest: expected a duration" in text
    assert "alerts[3] (quiet).notify: expected a list of channels" in text


def test_unknown_topics_are_errors_when_topics_are_known():
    data = {"alerts": [{"name": "r", "match": {"topics_all": ["isis", "isil"]}, "notify": [{"type": "file", "path": "x"}]}]}
    with pytest.raises(ConfigError, match=r"topics_all\[1\]: no topic named 'isil'"):
        parse_rules(data, topics={"isis", "syria"})


def test_a_secret_url_never_becomes_the_channel_name():
    secret = "https://hooks.slack.example/services/T000/B000/SECRETTOKEN"
    [rule] = parse_rules({"alerts": [{"name": "r", "notify": [{"type": "slack", "url": secret},
                                                              {"type": "webhook", "url_env": "HOOK_URL"}]}]})
    keys = [c.key for c in rule.channels]
    assert all("SECRETTOKEN" not in k for k in keys)
    assert keys[0].startswith("slack:hooks.slack.example#") and keys[1] == "webhook:$HOOK_URL"


def test_copies_is_a_yes_or_no():
    [rule] = parse_rules({"alerts": [{"name": "r", "notify": [{"type": "file", "path": "x"}]}]})
    assert rule.copies is False
    [rule] = parse_rules({"alerts": [{"name": "r", "copies": True, "notify": [{"type": "file", "path": "x"}]}]})
    assert rule.copies is True
    with pytest.raises(ConfigError, match=r"alerts\[0\] \(r\)\.copies: expected true or false, got"):
        parse_rules({"alerts": [{"name": "r", "copies": "yes", "notify": [{"type": "file", "path": "x"}]}]})


def test_digest_accepts_durations():
    [rule] = parse_rules({"alerts": [{"name": "r", "digest": "15m", "notify": [{"type": "file", "path": "x"}]}]})
    assert rule.digest == 900


def test_normalising_a_lucene_query_keeps_operators_and_fielded_clauses():
    q = 'الأمريكية AND (داعش OR "قوات سوريا") AND outlet:almayadeen AND published_at:[now-3d TO *] NOT title:Test'
    out = normalize_lucene(q)
    assert out.startswith("امريك AND (داعش OR ")
    for kept in (" AND ", " OR ", " NOT ", "outlet:almayadeen", "published_at:[now-3d TO *]", "title:Test"):
        assert kept in out


ARTICLES = [
    ("a1", {"title": "داعش يهاجم قاعدة أمريكية في سوريا", "text": "هجوم على القوات الأميركية قرب دير الزور",
            "outlet": "almayadeen", "lang": "ar", "topics": ["isis", "us_presence", "syria"]}),
    ("a2", {"title": "تقرير عن الاقتصاد السوري", "text": "الليرة السورية تتراجع", "outlet": "noonpost", "lang": "ar",
            "topics": ["syria"]}),
    ("a3", {"title": "ISIS cell arrested", "text": "An ISIS cell was arrested near Raqqa by US-backed forces",
            "outlet": "almayadeen", "lang": "en", "topics": ["isis", "syria"]}),
]


@pytest.mark.parametrize("rule", [
    Rule("all", topics_all=("isis", "us_presence")),
    Rule("any", topics_any=("us_presence", "syria")),
    Rule("outlet-lang", outlets=("almayadeen",), languages=("en",)),
    Rule("none", topics_all=("isis",), outlets=("noonpost",)),
    Rule("every"),
], ids=lambda r: r.name)
def test_python_and_elasticsearch_forms_of_a_rule_agree(es, alias, rule):
    ensure_index(es, alias)
    bulk_index(es, [(i, document.enrich(a)) for i, a in ARTICLES], alias, refresh="wait_for")
    in_python = {i for i, a in ARTICLES if rule.accepts(a)}
    resp = es.search(index=alias, query=rule_query(rule, ids=[i for i, _ in ARTICLES]), size=10)
    assert {h["_id"] for h in resp.body["hits"]["hits"]} == in_python


def test_a_rule_query_matches_arabic_spelling_variants_on_the_minimal_cluster(es, alias):
    ensure_index(es, alias)
    bulk_index(es, [(i, document.enrich(a)) for i, a in ARTICLES], alias, refresh="wait_for")
    ids = [i for i, _ in ARTICLES]

    def hits(query):
        resp = es.search(index=alias, query=rule_query(Rule("q", query=query), ids=ids), size=10)
        return {h["_id"] for h in resp.body["hits"]["hits"]}

    assert hits("الامريكية") == {"a1"}            # written without hamza, stored with it
    assert hits("الليرة OR Raqqa") == {"a2", "a3"}
    assert hits("outlet:almayadeen AND NOT lang:en") == {"a1"}
