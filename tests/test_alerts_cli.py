"""`raqib alerts list` and `raqib alerts test` through the command line, on the real node."""
import json
import textwrap

from tests.support.alert_receivers import HttpReceiver, article, index


def rules(config_dir, hook_url):
    (config_dir / "alerts.yaml").write_text(textwrap.dedent(f"""
        alerts:
          - name: isis-us
            match: {{topics_all: [isis, us_presence]}}
            notify:
              - {{type: webhook, url: "{hook_url}"}}
              - {{type: file, path: sink.jsonl}}
          - name: fuzzy-query
            match: {{query: 'title:داعش~2'}}
            notify: [{{type: file, path: sink.jsonl}}]
        """), encoding="utf-8")


def test_list_shows_rules_and_what_they_would_match_now(es, alias, config_dir, raqib):
    rules(config_dir, "http://127.0.0.1:9/hook")
    index(es, alias, [article(1), article(2), article(3, topics=("syria",))])
    es.indices.refresh(index=alias)
    code, out, err = raqib("alerts", "list")
    assert code == 0, err
    assert "isis-us\n  match:    topics all of isis, us_presence" in out
    assert "in index: 2 article(s) match now" in out
    assert "هجوم لداعش على قاعدة أمريكية رقم 1" in out
    assert "fuzzy-query\n  match:    query 'title:داعش~2'" in out
    code, out, _ = raqib("alerts", "list", "--json")
    first = json.loads(out.splitlines()[0])
    assert first["matching_now"] == 2 and first["channels"][1] == "file:sink.jsonl"


def test_test_sends_through_each_channel_and_records_nothing(es, alias, config_dir, raqib, tmp_path):
    hook = HttpReceiver().start()
    try:
        rules(config_dir, hook.url)
        doc_id, doc = article(7)
        index(es, alias, [(doc_id, doc)])
        es.indices.refresh(index=alias)
        code, out, err = raqib("alerts", "test", "isis-us")
        [req] = hook.wait_for(1)
    finally:
        hook.stop()
    assert code == 0, out + err
    assert "with the newest matching article" in out
    body = json.loads(req["body"])
    assert body["test"] is True and body["articles"][0]["id"] == doc_id
    line = json.loads((tmp_path / "state" / "sink.jsonl").read_text(encoding="utf-8"))
    assert line["test"] is True
    code, out, _ = raqib("alerts", "list")
    assert "sent:     0 delivered, 0 pending" in out      # a test is not an alert


def test_test_reports_a_failing_channel_and_unknown_rules(es, alias, config_dir, raqib):
    rules(config_dir, "http://127.0.0.1:9/hook")
    code, out, _ = raqib("alerts", "test", "isis-us", "--channel", "file:sink.jsonl")
    assert code == 0 and "sent   file:sink.jsonl" in out
    code, out, _ = raqib("alerts", "test", "isis-us")
    assert code == 1 and "FAILED webhook:127.0.0.1#" in out and "cannot reach the endpoint" in out
    code, _, err = raqib("alerts", "test", "nope")
    assert code == 2 and "no rule named 'nope'; rules: isis-us, fuzzy-query" in err


def test_a_query_only_the_cluster_rejects_names_the_rule_and_why_without_java(es, alias, config_dir, raqib):
    """What the offline check cannot see (here a fuzziness that is not a number) is caught by
    Elasticsearch's _validate/query; the message is the reason, the exit code not 0."""
    (config_dir / "alerts.yaml").write_text(textwrap.dedent("""
        alerts:
          - name: fuzzy-typo
            match: {query: 'title:داعش~abc'}
            notify: [{type: file, path: sink.jsonl}]
        """), encoding="utf-8")
    index(es, alias, [article(1)])
    code, out, err = raqib("alerts", "list")
    assert code == 3
    assert "error:    alerts.yaml: rule fuzzy-typo: match.query 'title:داعش~abc' is not valid: " in out
    assert "fuzziness cannot be [abc]" in out and "Exception" not in out
    assert "1 rule(s) with a query Elasticsearch cannot run: fuzzy-typo" in err
    # `raqib run` does not start with it: it would fail at every sweep
    code, out, err = raqib("run", "--every", "1h")
    assert code == 3 and ("alerts.yaml: rule fuzzy-typo: match.query: 'title:داعش~abc' is not valid on the cluster: "
                          "failed to create query: fuzziness cannot be [abc]") in err, err
