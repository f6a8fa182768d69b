"""The alert ledger a fleet shares (pipelines/alerts/ledger_redis.py) keeps the promises of the
SQLite one: each behaviour below runs against both, the Redis one on a real redis-server.
Then, end to end: two processes with their own state directories but one Redis deliver an
alert once between them."""
from __future__ import annotations

import json
import time

import pytest

from crawler.fleet.members import connect
from pipelines.alerts.ledger import Backoff, Ledger
from pipelines.alerts.ledger_redis import RedisLedger
from tests.support.ledgers import claims_by_concurrent_workers


@pytest.fixture(params=["sqlite", "redis"])
def make_ledger(request, tmp_path):
    """A function returning a new handle on one ledger (each handle as another process has)."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.sqlite3"
        return lambda: Ledger(path)
    url = request.getfixturevalue("redis_url")
    return lambda: RedisLedger(connect(url))


def test_a_pair_is_recorded_once_with_one_delivery_per_channel(make_ledger):
    ledger = make_ledger()
    assert ledger.record("r", ["file:x", "webhook:y"], [{"id": "a1", "title": "عنوان"}, {"id": "a2"}], now=100.0) == ["a1", "a2"]
    assert make_ledger().record("r", ["file:x", "webhook:y"], [{"id": "a1"}, {"id": "a3"}], now=101.0) == ["a3"]
    assert ledger.matched("r", "a1") and not ledger.matched("other", "a1")
    claimed = ledger.claim_due(owner="me", now=102.0)
    assert sorted(d.key for d in claimed) == sorted(("r", a, c) for a in ("a1", "a2", "a3") for c in ("file:x", "webhook:y"))
    assert {d.article.get("title") for d in claimed if d.article_id == "a1"} == {"عنوان"}
    assert ledger.claim_due(owner="other", now=103.0) == []              # all leased
    assert ledger.next_due() is not None


def test_two_processes_never_claim_the_same_delivery(make_ledger):
    make_ledger().record("r", ["file:x", "webhook:y"], [{"id": f"a{i}"} for i in range(150)])
    everything = claims_by_concurrent_workers(make_ledger)
    assert len(everything) == 300 and len(set(everything)) == 300


def test_an_expired_lease_taken_by_another_process_is_not_sent_twice(make_ledger):
    ledger = make_ledger()
    ledger.record("r", ["file:x"], [{"id": "a1"}], now=100.0)
    [mine] = ledger.claim_due(owner="slow", now=100.0, lease=10)
    assert ledger.claim_due(owner="other", now=105.0, lease=10) == []
    [theirs] = make_ledger().claim_due(owner="other", now=111.0, lease=10)
    assert mine.key == theirs.key
    assert ledger.renew([mine.key], owner="slow", now=112.0) == []
    assert ledger.renew([theirs.key], owner="other", now=112.0) == [theirs.key]


def test_failures_back_off_then_are_abandoned_and_sent_ones_stay_sent(make_ledger):
    ledger = make_ledger()
    backoff = Backoff(base=10.0, cap=100.0, give_up_after=1000.0)
    ledger.record("r", ["webhook:y"], [{"id": "a1"}, {"id": "a2"}], now=0.0)
    claimed = ledger.claim_due(owner="me", now=0.0)
    sent, failing = sorted(claimed, key=lambda d: d.article_id)
    ledger.mark_sent([sent.key], now=1.0)
    assert ledger.mark_failed([failing.key], "HTTP 500", backoff, now=1.0) == []
    assert ledger.claim_due(owner="me", now=5.0) == []                     # backing off (10 s ± 20 %)
    [again] = ledger.claim_due(owner="me", now=13.5)
    assert again.key == failing.key and again.attempts == 1
    ledger.mark_failed([again.key], "HTTP 500", backoff, now=14.0, attempted=False)   # skipped: not counted
    rows = {r["article_id"]: r for r in ledger.deliveries()}
    assert (rows["a1"]["state"], rows["a1"]["attempts"], rows["a1"]["last_error"]) == ("sent", 1, None)
    assert (rows["a2"]["state"], rows["a2"]["attempts"], rows["a2"]["last_error"]) == ("pending", 1, "HTTP 500")
    summary = ledger.summary()
    assert summary["matches"] == 2 and summary["channels"]["webhook:y"]["sent"] == 1
    assert summary["channels"]["webhook:y"]["pending"] == 1 and summary["channels"]["webhook:y"]["attempts"] == 1
    [last] = ledger.claim_due(owner="me", now=2000.0)
    assert ledger.mark_failed([last.key], "HTTP 500", backoff, now=2000.0) == [last.key]   # too old: given up
    assert {r["state"] for r in ledger.deliveries()} == {"sent", "abandoned"}
    assert ledger.claim_due(owner="me", now=5000.0) == []


def test_released_deliveries_are_due_again_and_abandoned_ones_never(make_ledger):
    ledger = make_ledger()
    ledger.record("r", ["file:x"], [{"id": "a1"}, {"id": "a2"}], now=0.0)
    one, two = sorted(ledger.claim_due(owner="me", now=0.0, lease=100), key=lambda d: d.article_id)
    ledger.release([one.key])
    ledger.abandon([two.key], "the rule was removed")
    assert [d.key for d in ledger.claim_due(owner="other", now=1.0)] == [one.key]
    assert {r["article_id"]: r["state"] for r in ledger.deliveries(rule="r")} == {"a1": "pending", "a2": "abandoned"}


def test_a_digest_window_gathers_the_matches_it_is_open_for(make_ledger):
    ledger = make_ledger()
    ledger.record("d", ["webhook:y"], [{"id": "a1"}], digest=10.0, now=100.0)
    ledger.record("d", ["webhook:y"], [{"id": "a2"}], digest=10.0, now=105.0)
    assert ledger.claim_due(owner="me", now=109.0) == []
    assert sorted(d.article_id for d in ledger.claim_due(owner="me", now=110.0)) == ["a1", "a2"]


def test_checkpoints(make_ledger):
    ledger = make_ledger()
    assert ledger.checkpoint("sweep:x") is None
    ledger.set_checkpoint("sweep:x", "2024-04-01T00:00:00+00:00")
    assert make_ledger().checkpoint("sweep:x") == "2024-04-01T00:00:00+00:00"


def test_processes_with_their_own_state_directories_share_the_fleets_ledger(es, alias, tmp_path, redis_url):
    """Two machines (two config and state directories, one Redis): an article indexed by one
    and swept by both is delivered once; the other machine's sweep finds it already sent."""
    from pipelines import document
    from pipelines.alerts import context, evaluate_pending, on_indexed
    from pipelines.index import bulk_index, ensure_index

    sink = tmp_path / "alerts.jsonl"
    configs = []
    for name in ("one", "two"):
        d = tmp_path / name
        d.mkdir()
        (d / "settings.toml").write_text(
            f'[elasticsearch]\nurl = ["http://unused:9200"]\nalias = "{alias}"\n'
            f'[state]\ndir = "{tmp_path / name / "state"}"\nredis_url = "{redis_url}"\n'
            '[alerts]\noverlap = 5\n', encoding="utf-8")
        (d / "alerts.yaml").write_text(
            f'alerts:\n  - name: isis\n    match: {{topics_all: [isis]}}\n    notify: [{{type: file, path: "{sink}"}}]\n',
            encoding="utf-8")
        configs.append(d)
    url = "https://www.almayadeen.net/news/politics/fleet-alert"
    doc = document.enrich({"url": url, "canonical_url": url, "outlet": "almayadeen", "outlet_name": "الميادين",
                           "lang": "ar", "title": "هجوم لداعش", "text": "تفاصيل هجوم لتنظيم داعش في دير الزور",
                           "topics": ["isis"]})
    ensure_index(es, alias)
    assert evaluate_pending(es, alias, configs[1]).errors == []        # sets the second machine's checkpoint
    created = bulk_index(es, [(document.doc_id_for(url), doc)], alias).created
    first = on_indexed(es, alias, created, configs[0])
    assert (first.new, first.sent) == (1, 1)
    time.sleep(1.1)
    second = evaluate_pending(es, alias, configs[1])
    assert (second.new, second.sent) == (0, 0)
    assert [json.loads(line)["articles"][0]["id"] for line in sink.read_text().splitlines()] == created
    assert isinstance(context.load(configs[1]).ledger, RedisLedger)
