"""Which newly indexed articles match which rules.

Rules are never run over the whole index. Two entry points feed them new articles:

* `on_indexed`: the crawl's index pipeline passes the ids a bulk write created. The
  structured conditions are checked in Python on the documents fetched by id (a realtime
  GET, no refresh needed); only a rule with a Lucene `query` asks Elasticsearch, with an
  `ids` filter over the few candidates left (after one refresh, as search is not realtime).
  On a cluster with the percolator the same `rule_query` could be registered once instead.
* `evaluate_pending`: a sweep over articles whose `first_indexed_at` is after a durable
  checkpoint (minus an overlap for refresh lag and clock skew); it covers articles indexed
  while no service was listening, or by a crawl whose alert step failed.

Both record matches in the ledger, which makes them idempotent: the overlap, a repeated
call, a re-crawled or updated article, a restart never produce a second alert.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from elasticsearch import Elasticsearch

from pipelines.alerts import context as alert_context
from pipelines.alerts.deliver import AlertReport, deliver_due
from pipelines.alerts.ledger import Ledger
from pipelines.alerts.render import article_snapshot
from pipelines.alerts.rules import Rule, rule_query
from pipelines.configfile import ConfigError
from pipelines.es import ClusterError, explain, redact

log = logging.getLogger("raqib.alerts")

SOURCE_FIELDS = ["url", "canonical_url", "title", "text", "summary", "outlet", "outlet_name", "published_at",
                 "lang", "topics", "seed", "first_indexed_at", "duplicate_of"]
BATCH = 500


def match(client: Elasticsearch, alias: str, rules: list[Rule], ids: Iterable[str]) -> dict[str, list[dict]]:
    """{rule name: [article snapshot, …]} for the documents `ids` that each rule matches.
    Seed documents never alert: they are reference material, not news."""
    ids = list(dict.fromkeys(ids))
    out: dict[str, list[dict]] = {}
    if not ids or not rules:
        return out
    docs: dict[str, dict] = {}
    for i in range(0, len(ids), BATCH):
        resp = client.mget(index=alias, ids=ids[i:i + BATCH], source_includes=SOURCE_FIELDS).body
        docs.update({d["_id"]: d["_source"] for d in resp["docs"] if d.get("found") and not d["_source"].get("seed")})
    refreshed = False
    for rule in rules:
        candidates = [doc_id for doc_id, src in docs.items() if rule.accepts(src)]
        if candidates and rule.query:
            if not refreshed:
                client.indices.refresh(index=alias)
                refreshed = True
            resp = client.search(index=alias, query=rule_query(rule, ids=candidates), size=len(candidates),
                                 source=False).body
            hits = {h["_id"] for h in resp["hits"]["hits"]}
            candidates = [c for c in candidates if c in hits]
        if candidates:
            out[rule.name] = [article_snapshot(c, docs[c]) for c in candidates]
    return out


def record(ctx: alert_context.Alerting, matches: dict[str, list[dict]]) -> AlertReport:
    report = AlertReport()
    for rule_name, articles in matches.items():
        rule = ctx.rule(rule_name)
        if rule is None:   # `match` ran on these rules: only a reload between the two drops one
            continue
        report.matched += len(articles)
        originals = articles if rule.copies else first_copies(ctx.ledger, rule_name, articles)
        if len(originals) < len(articles):
            # Recorded as matched with no channel, so that a later sweep over the same
            # articles, or an update of the copy, finds the pair and counts it once.
            kept = {a["id"] for a in originals}
            report.copies += len(ctx.ledger.record(rule_name, [], [a for a in articles if a["id"] not in kept]))
            articles = originals
        new = ctx.ledger.record(rule_name, [c.key for c in rule.channels], articles, digest=rule.digest)
        report.new += len(new)
        if new:
            log.info("rule %s matched %d new article%s", rule_name, len(new), "s" if len(new) != 1 else "")
    return report


def first_copies(ledger: Ledger, rule: str, articles: list[dict]) -> list[dict]:
    """`articles` less the copies of an article that `rule` matched, in this batch or before
    (the ledger). The near-duplicate test points every copy at the first article of its story
    (`duplicate_of`), so a copy whose original the rule did not match (at an outlet the rule
    does not name, under a headline its query does not find) still alerts: no story is lost,
    none is told twice."""
    here = {a["id"] for a in articles}
    return [a for a in articles
            if not (a.get("duplicate_of") and (a["duplicate_of"] in here or ledger.matched(rule, a["duplicate_of"])))]


def on_indexed(client: Elasticsearch, alias: str, created_ids: Iterable[str], config_dir: Path | None = None,
               *, settings=None) -> AlertReport:
    """Evaluate the rules for articles a bulk write just created, and send what matched.

    Never raises: the crawl must go on whatever happens to alerting. A failure is logged
    and reported; the articles are still picked up by the next `evaluate_pending` sweep
    (their `first_indexed_at` is after its checkpoint), so nothing is lost.
    """
    created_ids = list(created_ids)
    if not created_ids:
        return AlertReport()
    try:
        ctx = alert_context.load(config_dir, settings=settings)
        rules = ctx.active_rules
        if not rules:
            return AlertReport()
        report = record(ctx, match(client, alias, rules, created_ids))
        if report.new:
            report.merge(deliver_due(ctx, budget=ctx.settings.get("alerts", "send_budget")))
        return report
    except Exception as exc:  # noqa: BLE001
        return _failed("alert evaluation after indexing failed; the next sweep will retry", exc)


def evaluate_pending(client: Elasticsearch, alias: str, config_dir: Path | None = None, *, settings=None,
                     deliver: bool = True) -> AlertReport:
    """Evaluate every article first indexed after the checkpoint, advance it, send what is due.

    With no checkpoint yet (the first run against an index), it starts `overlap` seconds
    back: an existing archive does not flood the analysts, and what a crawl indexed a moment
    ago is still seen.
    """
    try:
        ctx = alert_context.load(config_dir, settings=settings)
    except Exception as exc:  # noqa: BLE001
        return _failed("alert rules could not be loaded", exc)
    report = AlertReport()
    rules = ctx.active_rules
    overlap = ctx.settings.get("alerts", "overlap")
    name = f"sweep:{alias}"
    try:
        if rules:
            stored = ctx.ledger.checkpoint(name)
            since = _parse(stored) if stored else datetime.now(UTC)
            newest = since
            for ids, last in _first_indexed_after(client, alias, since - timedelta(seconds=overlap)):
                report.merge(record(ctx, match(client, alias, rules, ids)))
                newest = max(newest, last)
            if stored is None or newest > since:
                ctx.ledger.set_checkpoint(name, newest.isoformat())
    except Exception as exc:  # noqa: BLE001
        report.merge(_failed("the alert sweep over newly indexed articles failed", exc))
    if deliver:
        report.merge(deliver_due(ctx))
    return report


def _first_indexed_after(client: Elasticsearch, alias: str, since: datetime):
    """Batches of (ids, newest first_indexed_at in the batch), oldest first, over a point in
    time so that documents indexed meanwhile neither shift nor repeat pages."""
    pit = client.open_point_in_time(index=alias, keep_alive="2m").body["id"]
    try:
        after = None
        while True:
            resp = client.search(
                pit={"id": pit, "keep_alive": "2m"}, size=BATCH, source=False,
                query={"bool": {"filter": [{"range": {"first_indexed_at": {"gte": since.isoformat()}}}],
                                "must_not": [{"term": {"seed": True}}]}},
                sort=[{"first_indexed_at": "asc"}, {"_shard_doc": "asc"}], search_after=after,
                fields=[{"field": "first_indexed_at"}],
            ).body
            hits = resp["hits"]["hits"]
            if not hits:
                return
            pit = resp.get("pit_id", pit)
            after = hits[-1]["sort"]
            newest = datetime.fromtimestamp(hits[-1]["sort"][0] / 1000, UTC)
            yield [h["_id"] for h in hits], newest
            if len(hits) < BATCH:
                return
    finally:
        try:
            client.close_point_in_time(id=pit)
        except Exception:  # noqa: BLE001 - it expires by itself
            pass


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _failed(what: str, exc: Exception) -> AlertReport:
    if isinstance(exc, ConfigError):
        message = f"{what}: alerts configuration error:\n{exc}"
    elif isinstance(exc, ClusterError):
        message = f"{what}: {exc}"
    else:
        try:
            message = f"{what}: {explain(exc, 'the configured cluster')}"
        except Exception:  # noqa: BLE001
            message = f"{what}: {type(exc).__name__}: {redact(str(exc))}"
    log.error("%s", message)
    report = AlertReport()
    report.errors.append(message)
    return report


def deliver_pending(config_dir: Path | None = None, *, settings=None) -> AlertReport:
    """Send what is due now (retries, digests whose window closed), without evaluating."""
    try:
        ctx = alert_context.load(config_dir, settings=settings)
    except Exception as exc:  # noqa: BLE001
        return _failed("alert rules could not be loaded", exc)
    return deliver_due(ctx)
