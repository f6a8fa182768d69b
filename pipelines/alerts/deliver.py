"""Sending what the ledger says is due, once, and rescheduling what fails.

Called right after matching (so an alert leaves within a second of the article being
indexed) and periodically by `raqib run` (retries, digests, articles indexed by others).
Within one call, a channel that has just failed is not tried again for the rest of the
batch: its deliveries wait for their back-off instead of each costing another timeout.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from itertools import groupby

from pipelines.alerts import render
from pipelines.alerts.channels import DeliveryError, PartialDelivery
from pipelines.alerts.context import Alerting
from pipelines.alerts.ledger import Delivery, owner_id

log = logging.getLogger("raqib.alerts")

DIGEST_MAX_ARTICLES = 100   # one message stays readable; a larger backlog leaves in several


@dataclass
class AlertReport:
    matched: int = 0         # (rule, article) pairs matched in this call
    new: int = 0             # ... of which not seen before
    copies: int = 0          # matches left out: copies of an article the rule already matched
    sent: int = 0            # messages accepted by a channel
    articles_sent: int = 0   # (rule, article, channel) deliveries completed
    failed: int = 0          # messages that failed and wait for a retry
    abandoned: int = 0
    errors: list[str] = field(default_factory=list)

    def merge(self, other: AlertReport) -> AlertReport:
        for name in ("matched", "new", "copies", "sent", "articles_sent", "failed", "abandoned"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors
        return self

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("matched", "new", "copies", "sent", "articles_sent", "failed", "abandoned",
                                              "errors")}


LEASE = 120.0   # seconds; renewed before each send, so only a dead process's lease runs out
CLAIM = 200     # deliveries taken per round


def deliver_due(ctx: Alerting, *, budget: float | None = None, now: float | None = None) -> AlertReport:
    """Send every due delivery (within `budget` seconds); failures are rescheduled."""
    report = AlertReport()
    start = time.monotonic()
    owner = owner_id()
    failed_channels: dict[str, str] = {}
    while True:
        claimed = ctx.ledger.claim_due(owner=owner, now=now, lease=LEASE, limit=CLAIM)
        if not claimed:
            return report
        groups = _messages(ctx, claimed)
        for i, (rule_name, channel_key, batch) in enumerate(groups):
            if budget is not None and time.monotonic() - start > budget:
                # Out of time: hand the rest back untouched so the next pass (or the service)
                # sends it; the crawl is not held up any longer.
                ctx.ledger.release(k for _, _, b in groups[i:] for k in (d.key for d in b))
                return report
            held = set(ctx.ledger.renew([d.key for d in batch], owner=owner, lease=LEASE))
            batch = [d for d in batch if d.key in held]
            if batch:
                _send(ctx, rule_name, channel_key, batch, failed_channels, report)
        if len(claimed) < CLAIM:
            return report


def _send(ctx: Alerting, rule_name: str, channel_key: str, batch: list[Delivery], failed_channels: dict[str, str],
          report: AlertReport) -> None:
    keys = [d.key for d in batch]
    rule = ctx.rule(rule_name)
    channel = ctx.channel(rule, channel_key) if rule else None
    if channel is None:
        why = f"rule {rule_name!r} was removed" if rule is None else f"channel {channel_key} was removed from rule {rule_name!r}"
        ctx.ledger.abandon(keys, why)
        report.abandoned += len(keys)
        log.warning("alert not sent: %s since it matched", why)
        return
    if channel_key in failed_channels:
        ctx.ledger.mark_failed(keys, failed_channels[channel_key], ctx.backoff, attempted=False)
        return
    articles = [d.article for d in batch]
    delivery = render.delivery_id(rule_name, channel_key, [d.article_id for d in batch])
    try:
        channel.send(rule_name, articles, delivery=delivery)
    except PartialDelivery as exc:
        ctx.ledger.mark_sent(keys)
        report.sent += 1
        report.articles_sent += len(keys)
        report.errors.append(str(exc))
        log.warning("alert %s partly delivered: %s", rule_name, exc)
    except DeliveryError as exc:
        failed_channels[channel_key] = str(exc)
        abandoned = ctx.ledger.mark_failed(keys, str(exc), ctx.backoff)
        report.errors.append(str(exc))
        if abandoned:
            report.abandoned += len(abandoned)
            log.error("alert %s abandoned after %s of failures: %s", rule_name, _span(ctx.backoff.give_up_after), exc)
        else:
            report.failed += 1
            log.warning("alert %s not delivered (attempt %d), will retry: %s", rule_name, batch[0].attempts + 1, exc)
    except Exception as exc:  # noqa: BLE001 - a bug in one channel must not lose the others' alerts
        failed_channels[channel_key] = f"{channel_key}: {type(exc).__name__}: {exc}"
        ctx.ledger.mark_failed(keys, failed_channels[channel_key], ctx.backoff)
        report.failed += 1
        report.errors.append(failed_channels[channel_key])
        log.exception("alert %s: unexpected error in %s", rule_name, channel_key)
    else:
        ctx.ledger.mark_sent(keys)
        report.sent += 1
        report.articles_sent += len(keys)
        log.info("alert sent: %s → %s (%d article%s)", rule_name, channel_key, len(keys), "s" if len(keys) != 1 else "")


def _messages(ctx: Alerting, claimed: list[Delivery]) -> list[tuple[str, str, list[Delivery]]]:
    """One message per delivery, except a digesting rule's: one per channel, in chunks."""
    out: list[tuple[str, str, list[Delivery]]] = []
    claimed = sorted(claimed, key=lambda d: (d.rule, d.channel, d.created_at))
    for (rule_name, channel_key), group in groupby(claimed, key=lambda d: (d.rule, d.channel)):
        items = list(group)
        rule = ctx.rule(rule_name)
        if rule is not None and rule.digest > 0:
            for i in range(0, len(items), DIGEST_MAX_ARTICLES):
                out.append((rule_name, channel_key, items[i:i + DIGEST_MAX_ARTICLES]))
        else:
            out.extend((rule_name, channel_key, [d]) for d in items)
    return out


def _span(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:g} days"
    if seconds >= 3600:
        return f"{seconds / 3600:g} hours"
    return f"{seconds:g} seconds"
