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
          - name: broken-query
            match: {{query: 'title:(unclosed'}}
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
    assert "broken-query" in out and "error:    the query is not valid" in out
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
    assert code == 2 and "no rule named 'nope'; rules: isis-us, broken-query" in err
