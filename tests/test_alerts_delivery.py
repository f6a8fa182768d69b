"""Exactly once: articles indexed on the real node, rules evaluated, alerts received by real
servers; outages, restarts, re-crawls and overlapping sweeps never produce a second alert."""
import hashlib
import hmac
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipelines import document
from pipelines.alerts import deliver_pending, evaluate_pending, on_indexed
from pipelines.alerts.ledger import Ledger
from pipelines.index import ensure_index
from tests.support.alert_receivers import HttpReceiver, article, index
from tests.support.ledgers import claims_by_concurrent_workers

ROOT = Path(__file__).resolve().parent.parent


def write_rules(config_dir: Path, rules: str, **alerts_settings):
    (config_dir / "alerts.yaml").write_text(textwrap.dedent(rules), encoding="utf-8")
    settings = {"retry_base": 0.2, "retry_max": 1, "overlap": 5, **alerts_settings}
    with (config_dir / "settings.toml").open("a", encoding="utf-8") as fh:
        fh.write("[alerts]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))


@pytest.fixture
def hook():
    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


WEBHOOK_RULE = """
alerts:
  - name: isis-us
    match: {{topics_all: [isis, us_presence]}}
    notify:
      - {{type: webhook, url: "{url}", secret_env: RAQIB_WEBHOOK_SECRET}}
"""


def test_a_matching_article_is_delivered_once_and_a_non_matching_one_never(es, alias, config_dir, hook, monkeypatch):
    monkeypatch.setenv("RAQIB_WEBHOOK_SECRET", "s3cret")
    write_rules(config_dir, WEBHOOK_RULE.format(url=hook.url))
    match_id, match_doc = article(1)
    other_id, other_doc = article(2, topics=("syria",))
    result = index(es, alias, [(match_id, match_doc), (other_id, other_doc)])
    report = on_indexed(es, alias, result.created, config_dir)
    assert (report.matched, report.new, report.sent) == (1, 1, 1)
    [req] = hook.wait_for(1)
    signature = "sha256=" + hmac.new(b"s3cret", req["body"], hashlib.sha256).hexdigest()
    assert req["headers"]["X-Raqib-Signature"] == signature
    payload = json.loads(req["body"])
    assert payload["rule"] == "isis-us" and [a["id"] for a in payload["articles"]] == [match_id]

    # The same ids again (a pipeline calling twice), a sweep over the overlap, and a
    # re-crawl that changed the article: none of them alerts again.
    assert on_indexed(es, alias, result.created, config_dir).sent == 0
    changed = dict(match_doc, title=match_doc["title"] + " (محدث)")
    again = index(es, alias, [(match_id, document.enrich(changed))])
    assert again.updated == [match_id] and again.created == []
    es.indices.refresh(index=alias)
    assert evaluate_pending(es, alias, config_dir).sent == 0
    time.sleep(0.5)
    assert len(hook.requests) == 1


def test_a_channel_that_is_down_then_up_gets_exactly_one_delivery(es, alias, config_dir, monkeypatch):
    monkeypatch.setenv("RAQIB_WEBHOOK_SECRET", "s3cret")
    hook = HttpReceiver()          # not started: the port refuses connections
    write_rules(config_dir, WEBHOOK_RULE.format(url=hook.url))
    doc_id, doc = article(3)
    report = on_indexed(es, alias, index(es, alias, [(doc_id, doc)]).created, config_dir)
    assert (report.new, report.sent, report.failed) == (1, 0, 1)
    assert "cannot reach the endpoint" in report.errors[0]
    ledger = Ledger(config_dir.parent / "state" / "alerts.sqlite3")
    [row] = ledger.deliveries()
    assert (row["state"], row["attempts"]) == ("pending", 1)

    assert deliver_pending(config_dir).sent == 0          # still down (and still backing off)
    hook.start()
    try:
        deadline = time.time() + 10
        while not hook.requests and time.time() < deadline:
            deliver_pending(config_dir)                   # sends once the back-off has passed
            time.sleep(0.1)
        for _ in range(5):
            deliver_pending(config_dir)
        assert evaluate_pending(es, alias, config_dir).sent == 0
        time.sleep(0.3)
        assert len(hook.requests) == 1
        assert json.loads(hook.requests[0]["body"])["articles"][0]["id"] == doc_id
    finally:
        hook.stop()
    [row] = ledger.deliveries()
    assert row["state"] == "sent" and row["attempts"] >= 2 and row["last_error"] is None


RESTART_SCRIPT = """
import sys
from pipelines.es import connect
from pipelines.alerts import on_indexed, evaluate_pending
from pathlib import Path
es = connect(sys.argv[1]); alias = sys.argv[2]; config = Path(sys.argv[3])
ids = sys.argv[4:]
report = on_indexed(es, alias, ids, config) if ids else evaluate_pending(es, alias, config)
print(report.sent, report.new)
"""


def test_a_restart_between_crawls_sends_nothing_twice(es, es_url, alias, config_dir, hook, monkeypatch):
    monkeypatch.setenv("RAQIB_WEBHOOK_SECRET", "s3cret")
    write_rules(config_dir, WEBHOOK_RULE.format(url=hook.url))

    def process(*ids):
        out = subprocess.run([sys.executable, "-c", RESTART_SCRIPT, es_url, alias, str(config_dir), *ids],
                             capture_output=True, text=True, cwd=ROOT, timeout=120, check=True)
        return out.stdout.split()

    first = [article(n) for n in (10, 11)]
    ids = index(es, alias, first).created
    assert process(*ids) == ["2", "2"]                 # crawl 1 in one process
    es.indices.refresh(index=alias)
    assert process() == ["0", "0"]                     # a new process sweeps the overlap
    second = [article(12)]
    ids2 = index(es, alias, second + first).created    # crawl 2 re-indexes the old ones too
    assert ids2 == [second[0][0]]
    assert process(*ids2, *ids) == ["1", "1"]
    time.sleep(0.3)
    assert sorted(json.loads(r["body"])["articles"][0]["id"] for r in hook.requests) == sorted(ids + ids2)


def test_articles_indexed_while_no_one_listened_are_found_by_the_sweep(es, alias, config_dir, tmp_path):
    write_rules(config_dir, """
        alerts:
          - name: any-isis
            match: {topics_any: [isis]}
            notify: [{type: file, path: sink.jsonl}]
        """)
    ensure_index(es, alias)
    assert evaluate_pending(es, alias, config_dir).new == 0      # first sweep: sets the checkpoint
    docs = [article(n) for n in range(20, 25)]
    index(es, alias, docs)                                       # indexed, on_indexed never called
    es.indices.refresh(index=alias)
    report = evaluate_pending(es, alias, config_dir)
    assert (report.new, report.sent) == (5, 5)
    assert evaluate_pending(es, alias, config_dir).sent == 0
    lines = (tmp_path / "state" / "sink.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["articles"][0]["id"] for line in lines) == sorted(d for d, _ in docs)


def test_a_seed_or_an_archive_present_before_the_first_sweep_does_not_alert(es, alias, config_dir, tmp_path):
    write_rules(config_dir, """
        alerts:
          - name: any
            notify: [{type: file, path: sink.jsonl}]
        """, overlap=0)
    seed_id, seed = article(30)
    index(es, alias, [(seed_id, dict(seed, seed=True))])
    report = on_indexed(es, alias, [seed_id], config_dir)
    assert report.matched == 0
    es.indices.refresh(index=alias)
    assert evaluate_pending(es, alias, config_dir).new == 0
    assert not (tmp_path / "state" / "sink.jsonl").exists()


def test_a_digest_sends_one_message_per_window(es, alias, config_dir, hook):
    write_rules(config_dir, f"""
        alerts:
          - name: digest
            match: {{topics_all: [isis]}}
            notify: [{{type: webhook, url: "{hook.url}"}}]
            digest: 1.5
        """)
    r1 = on_indexed(es, alias, index(es, alias, [article(40), article(41)]).created, config_dir)
    r2 = on_indexed(es, alias, index(es, alias, [article(42)]).created, config_dir)
    assert (r1.new, r2.new, r1.sent, r2.sent) == (2, 1, 0, 0)
    assert deliver_pending(config_dir).sent == 0                 # the window is still open
    time.sleep(1.6)
    report = deliver_pending(config_dir)
    assert (report.sent, report.articles_sent) == (1, 3)
    [req] = hook.wait_for(1)
    assert len(json.loads(req["body"])["articles"]) == 3


def copy_of(original_id, n, **fields):
    """A copy of another article (as the crawl's near-duplicate test marks one)."""
    doc_id, doc = article(n, **fields)
    return doc_id, dict(doc, duplicate_of=original_id)


def test_a_story_carried_by_several_outlets_alerts_once(es, alias, config_dir, hook, monkeypatch):
    monkeypatch.setenv("RAQIB_WEBHOOK_SECRET", "s3cret")
    write_rules(config_dir, WEBHOOK_RULE.format(url=hook.url))
    original = article(60)
    same_batch = copy_of(original[0], 61)
    report = on_indexed(es, alias, index(es, alias, [original, same_batch]).created, config_dir)
    assert (report.matched, report.new, report.copies, report.sent) == (2, 1, 1, 1)
    later = copy_of(original[0], 62, outlet="noonpost")
    report = on_indexed(es, alias, index(es, alias, [later]).created, config_dir)
    assert (report.new, report.copies, report.sent) == (0, 1, 0)
    # The sweep over the same articles finds every pair recorded: nothing sent, nothing counted twice.
    es.indices.refresh(index=alias)
    report = evaluate_pending(es, alias, config_dir)
    assert (report.new, report.copies, report.sent) == (0, 0, 0)
    time.sleep(0.5)
    [req] = hook.requests
    assert [a["id"] for a in json.loads(req["body"])["articles"]] == [original[0]]


def test_a_copy_alerts_where_its_original_did_not_match_and_copies_true_alerts_each(es, alias, config_dir, hook):
    write_rules(config_dir, f"""
        alerts:
          - name: noonpost-only
            match: {{topics_all: [isis], outlets: [noonpost]}}
            notify: [{{type: webhook, url: "{hook.url}"}}]
          - name: every-copy
            match: {{topics_all: [isis]}}
            notify: [{{type: webhook, url: "{hook.url}"}}]
            copies: true
        """)
    original = article(70)                                    # almayadeen: not for noonpost-only
    copy = copy_of(original[0], 71, outlet="noonpost")
    report = on_indexed(es, alias, index(es, alias, [original, copy]).created, config_dir)
    assert (report.new, report.copies, report.sent) == (3, 0, 3)
    got = sorted((body["rule"], body["articles"][0]["id"])
                 for body in (json.loads(r["body"]) for r in hook.wait_for(3)))
    assert got == sorted([("noonpost-only", copy[0]), ("every-copy", original[0]), ("every-copy", copy[0])])


def test_a_lucene_query_is_run_by_elasticsearch_against_the_new_article(es, alias, config_dir, tmp_path):
    write_rules(config_dir, """
        alerts:
          - name: tanf
            match: {topics_any: [isis], query: 'التنف AND NOT outlet:noonpost'}
            notify: [{type: file, path: sink.jsonl}]
        """)
    docs = [article(50), article(51, text="خبر عن الرقة فقط"), article(52, outlet="noonpost")]
    report = on_indexed(es, alias, index(es, alias, docs).created, config_dir)
    assert (report.matched, report.sent) == (1, 1)
    [line] = (tmp_path / "state" / "sink.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["articles"][0]["id"] == docs[0][0]


def test_two_processes_never_claim_the_same_delivery(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    seed = Ledger(path)
    seed.record("r", ["file:x", "webhook:y"], [{"id": f"a{i}"} for i in range(200)])
    everything = claims_by_concurrent_workers(lambda: Ledger(path))
    assert len(everything) == 400 and len(set(everything)) == 400


def test_a_failing_rules_file_never_breaks_the_crawl(es, alias, config_dir, caplog):
    (config_dir / "alerts.yaml").write_text("alerts:\n  - name: x\n    notify: [{type: pigeon}]\n", encoding="utf-8")
    doc_id, doc = article(60)
    report = on_indexed(es, alias, index(es, alias, [(doc_id, doc)]).created, config_dir)
    assert report.sent == 0
    assert "notify[0].type: expected one of webhook" in report.errors[0]
    assert "the next sweep will retry" in caplog.text


def test_an_expired_lease_taken_by_another_process_is_not_sent_twice(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ledger.record("r", ["file:x"], [{"id": "a1"}], now=100.0)
    [mine] = ledger.claim_due(owner="slow", now=100.0, lease=10)
    [theirs] = ledger.claim_due(owner="other", now=111.0, lease=10)      # the slow one's lease ran out
    assert mine.key == theirs.key
    assert ledger.renew([mine.key], owner="slow", now=112.0) == []      # so the slow one must not send it
    assert ledger.renew([theirs.key], owner="other", now=112.0) == [theirs.key]
