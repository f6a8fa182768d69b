"""Alerts: rules in config/alerts.yaml, evaluated for newly indexed articles and delivered
once per (rule, article) through email, webhooks, Slack or a JSON-lines file.

The crawl calls `on_indexed` after each bulk write; `raqib run` calls `evaluate_pending`
periodically (articles indexed while nobody listened) and `deliver_pending` (retries and
digests). The ledger (ledger.py) is what makes every path idempotent.
"""
from pipelines.alerts.deliver import AlertReport
from pipelines.alerts.evaluate import deliver_pending, evaluate_pending, match, on_indexed

__all__ = ["on_indexed", "evaluate_pending", "deliver_pending", "match", "AlertReport"]
