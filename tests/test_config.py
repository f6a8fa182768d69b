"""Configuration is validated before anything runs, with one clear message per problem."""
import pytest

from pipelines.configfile import ConfigError, load_yaml
from pipelines.outlets import load_outlets, parse_outlets
from pipelines.settings import parse_settings


def test_shipped_outlets_are_valid_and_cover_the_seed_outlets():
    from pipelines.seeding import load_seeds

    outlets = load_outlets()
    assert {s.outlet for s in load_seeds()} <= set(outlets)
    assert outlets["almayadeen"].is_article(
        "https://www.almayadeen.net/news/politics/سريع--استهدفنا-مدمرتين-أميركيتين")
    assert not outlets["almayadeen"].is_article("https://www.almayadeen.net/news/politics")


def test_every_problem_is_reported_at_once_with_outlet_and_key():
    bad = {"outlets": {
        "Bad-Key": {"name": "x", "home": "https://a.example/", "domains": ["a.example"], "article_pattern": "x"},
        "two": {"name": "Two", "home": "ftp://b.example", "domains": ["b.example"], "article_pattern": "([",
                "schedul": "15m"},
        "three": {"name": "Three", "home": "https://c.example/", "domains": ["c.example"],
                  "article_pattern": ".", "schedule": "often", "feeds": ["https://elsewhere.example/feed"]},
    }}
    with pytest.raises(ConfigError) as info:
        parse_outlets(bad)
    text = str(info.value)
    assert "outlets.Bad-Key: outlet keys use only" in text
    assert "outlets.two.home: expected an http(s) URL" in text
    assert "outlets.two.article_pattern: is not a valid regular expression" in text
    assert "outlets.two.schedul: unknown key; did you mean 'schedule'?" in text
    assert "outlets.three.schedule: expected a duration" in text
    assert "outlets.three.feeds: https://elsewhere.example/feed is outside the outlet's domains" in text
    assert len(info.value.problems) == 6


def test_required_keys_are_named():
    with pytest.raises(ConfigError) as info:
        parse_outlets({"outlets": {"x": {"name": "X"}}})
    missing = {p.path for p in info.value.problems}
    assert missing == {"outlets.x.home", "outlets.x.domains", "outlets.x.article_pattern"}


def test_duplicate_yaml_keys_are_an_error(tmp_path):
    path = tmp_path / "outlets.yaml"
    path.write_text("outlets:\n  a: {}\n  a: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="duplicate key 'a'"):
        load_yaml(path)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "outlets.yaml"
    path.write_text("outlets: !!python/object/apply:os.system ['true']\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(path)


def test_settings_reject_unknown_keys_and_wrong_types():
    with pytest.raises(ConfigError) as info:
        parse_settings({"crawl": {"download_dealy": 1, "concurrency_per_domain": "two"}, "nope": {}})
    text = str(info.value)
    assert "crawl.download_dealy: unknown key; did you mean 'download_delay'?" in text
    assert "crawl.concurrency_per_domain: expected an integer" in text
    assert "nope: unknown key" in text


def test_environment_overrides_settings(monkeypatch):
    monkeypatch.setenv("RAQIB_ES_URL", "http://a:9200,http://b:9200")
    assert parse_settings({}).get("elasticsearch", "url") == ["http://a:9200", "http://b:9200"]
