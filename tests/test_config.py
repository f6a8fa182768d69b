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


# --- from the user's side: the command line as typed, its output and exit code ----------

@pytest.fixture
def cli(capsys, monkeypatch):
    """`raqib ARGS…` in-process without the test config (each test says where its config is)."""
    from crawler.cli.main import main

    monkeypatch.delenv("RAQIB_CONFIG", raising=False)

    def run(*args: str):
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_a_mistyped_config_location_is_one_clear_error_never_the_shipped_outlets(cli, tmp_path, monkeypatch):
    missing = tmp_path / "confg"
    code, out, err = cli("--config", str(missing), "outlets", "list")
    assert code == 3 and out == ""          # before: the shipped outlets were listed (and crawled)
    assert err == (f"raqib: configuration error:\n  --config {missing}: no such directory; give the directory that "
                   "holds any of outlets.yaml, topics.yaml, entities.yaml, alerts.yaml, settings.toml (leave it out "
                   "to use the shipped configuration)\n")
    monkeypatch.setenv("RAQIB_CONFIG", str(missing))
    code, out, err = cli("outlets", "list")
    assert code == 3 and out == "" and f"$RAQIB_CONFIG {missing}: no such directory" in err
    monkeypatch.delenv("RAQIB_CONFIG")
    a_file = tmp_path / "outlets.yaml"
    a_file.write_text("outlets: {}\n", encoding="utf-8")
    code, out, err = cli("--config", str(a_file), "crawl", "--dry-run")
    assert code == 3 and out == ""
    assert f"--config {a_file}: is a file, not a directory; give the directory that holds it" in err


def test_misnamed_files_in_a_config_directory_are_named_with_the_expected_names(cli, tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "outlet.yaml").write_text("outlets: {}\n", encoding="utf-8")
    (config / "alerts.yml").write_text("alerts: []\n", encoding="utf-8")
    (config / "notes.txt").write_text("not config\n", encoding="utf-8")      # unrelated: not mentioned
    code, out, err = cli("--config", str(config), "outlets", "list")
    assert code == 3 and out == ""
    assert err.splitlines()[1:] == [
        f"  {config / 'alerts.yml'}: is not a name raqib reads, so the shipped alerts.yaml would be used instead; "
        "rename it to alerts.yaml",
        f"  {config / 'outlet.yaml'}: is not a name raqib reads, so the shipped outlets.yaml would be used instead; "
        "rename it to outlets.yaml"]
    # beside the real file a near name is a copy, not a typo; a file simply absent falls back
    (config / "outlet.yaml").rename(config / "outlets.yaml")
    (config / "alerts.yml").unlink()
    (config / "outlets.old.yaml").write_text("outlets: {}\n", encoding="utf-8")
    (config / "outlets.yaml").write_text(
        "outlets:\n  mine:\n    name: Mine\n    home: https://mine.example/\n    domains: [mine.example]\n"
        "    article_pattern: /news/\n", encoding="utf-8")
    code, out, err = cli("--config", str(config), "outlets", "list")
    assert code == 0, err
    assert out.startswith(f"outlets from {config / 'outlets.yaml'}") and "mine" in out and "almayadeen" not in out


def test_unclosed_quote_is_reported_where_it_starts(cli, tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "outlets.yaml").write_text(
        'outlets:\n  a:\n    name: "unclosed\n    home: https://a.example/\n    domains: [a.example]\n', encoding="utf-8")
    code, out, err = cli("--config", str(config), "outlets", "list")
    assert code == 3 and out == ""
    assert (f"{config / 'outlets.yaml'}: line 3, column 11: is not valid YAML: while scanning a quoted scalar that "
            "starts here, found unexpected end of stream (at line 6, column 1)") in err
    (config / "outlets.yaml").write_text("outlets:\n  a: 1\n b: 3\n", encoding="utf-8")   # bad indentation
    code, _, err = cli("--config", str(config), "outlets", "list")
    assert code == 3 and "outlets.yaml: line 3, column 2: is not valid YAML: expected <block end>" in err


@pytest.mark.parametrize("broken, command", [
    ("settings.toml", ("outlets", "list")),
    ("outlets.yaml", ("search", "داعش")),
    ("alerts.yaml", ("search", "داعش")),
    ("topics.yaml", ("seed",)),
    ("entities.yaml", ("alerts", "list")),
])
def test_every_command_validates_every_file(cli, tmp_path, broken, command):
    config = tmp_path / "config"
    config.mkdir()
    content = {"settings.toml": "[crawl]\ndownload_dealy = 1\n", "outlets.yaml": "outlets:\n  x: {name: X}\n",
               "alerts.yaml": "alerts:\n  - name: a\n    notify: [{type: email}]\n",
               "topics.yaml": "topics:\n  isis: {threshold: -1}\n", "entities.yaml": "actors: [1]\n"}[broken]
    (config / broken).write_text(content, encoding="utf-8")
    code, out, err = cli("--config", str(config), "--es", "http://127.0.0.1:9", *command)
    assert code == 3 and out == "", (out, err)
    assert err.startswith("raqib: configuration error:\n") and f"{config / broken}: " in err


def test_an_unparsable_alert_query_is_an_error_naming_the_rule_and_why(cli, tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "alerts.yaml").write_text(
        "alerts:\n  - name: isis-title\n    match: {query: 'title:(داعش'}\n    notify: [{type: file, path: a.jsonl}]\n"
        "  - name: ends-badly\n    match: {query: 'داعش AND'}\n    notify: [{type: file, path: a.jsonl}]\n",
        encoding="utf-8")
    code, out, err = cli("--config", str(config), "--es", "http://127.0.0.1:9", "alerts", "list")
    assert code == 3 and out == ""
    assert ("alerts[0] (isis-title).match.query: is not a valid Lucene query ('title:(داعش'): the '(' at "
            "character 7 is never closed") in err
    assert "alerts[1] (ends-badly).match.query: is not a valid Lucene query ('داعش AND'): the query ends with 'AND'" in err
    assert "Exception" not in err


@pytest.mark.parametrize("query, problem", [
    ('"a phrase', "the quote at character 1 is never closed"),
    ("a) b", "the ')' at character 2 closes nothing"),
    ("published_at:[2020 2021]", "should read [low TO high]"),
    ("AND a", "'AND' at character 1 has no term before it"),
    ("title:", "has nothing to search for after it"),
    ("US/Syria", "the '/' at character 3 starts a regular expression that is never closed"),
])
def test_lucene_syntax_problems(query, problem):
    from pipelines.alerts.rules import lucene_syntax_problem

    assert problem in lucene_syntax_problem(query)


@pytest.mark.parametrize("query", [
    "داعش", "title:(داعش OR isis) AND NOT outlet:x", 'title:"قوات سوريا"~2', "published_at:[2020-01-01 TO *}",
    "a && !b || c", "+a -b", r'a\(b', "x:/ab+c/", "title: x", "published_at:[2020/01/01 TO *]", r"US\/Syria",
])
def test_valid_lucene_queries_pass(query):
    from pipelines.alerts.rules import lucene_syntax_problem

    assert lucene_syntax_problem(query) is None


def test_the_readme_and_shipped_config_cite_no_file_outside_the_repository():
    """A user has the repository only: `shared/…` and DESIGN.md are not in it."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for path in [root / "README.md", *sorted((root / "config").glob("*"))]:
        text = path.read_text(encoding="utf-8")
        cited = re.findall(r"(?:\.\./)?shared/[\w./-]+|DESIGN\.md", text)
        assert not cited, (path.name, cited)


def test_es_reads_no_configuration_so_a_broken_file_never_blocks_stopping_a_node(cli, tmp_path):
    from crawler.ops.esnode import free_port

    config = tmp_path / "config"
    config.mkdir()
    (config / "alerts.yaml").write_text("alerts: [\n", encoding="utf-8")
    port = free_port(29000, 29999)
    code, out, err = cli("--config", str(config), "es", "status", "--port", str(port))
    assert code == 1 and out.startswith(f"not running at http://127.0.0.1:{port}") and err == ""


def test_the_readme_states_a_measured_cost_once_in_its_generated_performance_table():
    """It said tagging costs "about 2 ms" in one place and 0.86 ms in the table: a figure
    outside the generated block goes stale. Outside it, no per-article cost is restated."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    before, rest = text.split("<!-- bench:start -->", 1)
    after = rest.split("<!-- bench:end -->", 1)[1]
    outside = before + after
    assert not re.findall(r"\d+(?:\.\d+)? ms (?:of CPU )?per article", outside)
    assert re.search(r"\| Tagging, CPU per article \(corpus\) \| \d+\.\d+ ms \|", rest)
