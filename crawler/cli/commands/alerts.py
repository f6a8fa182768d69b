"""`raqib alerts list` and `raqib alerts test RULE`: see the rules at work before trusting them."""
from __future__ import annotations

import argparse
import json
import sys
import uuid

from crawler.cli import commands
from crawler.cli.commands import Subcommands


def register(sub: Subcommands, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("alerts", parents=[common], help="list alert rules and what they match; send a test",
                       description="Alert rules live in alerts.yaml. `list` shows each rule, its channels, what it "
                                   "would match in the index now and what it has sent; `test RULE` sends a test "
                                   "notification through each of the rule's channels (recorded nowhere).")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    lst = actions.add_parser("list", parents=[common], help="the rules, their matches now, their deliveries")
    lst.add_argument("--json", action="store_true", help="one JSON object per rule per line")
    lst.add_argument("-n", "--size", type=int, default=3, help="newest matching articles shown per rule (default 3)")
    lst.set_defaults(run=run_list)
    test = actions.add_parser("test", parents=[common], help="send a test notification for RULE")
    test.add_argument("rule", metavar="RULE", help="the rule's name")
    test.add_argument("--channel", metavar="KEY", help="only this channel (as `alerts list` names it)")
    test.set_defaults(run=run_test)
    p.set_defaults(run=commands.usage_of(p))


def _context(args):
    from pipelines.alerts import context

    cfg = commands.load_settings(args)
    return cfg, context.load(commands.config_dir(args), settings=cfg)


def run_list(args: argparse.Namespace) -> int:
    from pipelines.alerts.evaluate import SOURCE_FIELDS
    from pipelines.alerts.rules import cluster_query_problem, rule_query
    from pipelines.es import ClusterError
    from pipelines.safetext import one_line

    cfg, ctx = _context(args)
    alias = commands.alias(cfg)
    sent: dict[str, dict[str, int]] = {}
    for row in ctx.ledger.deliveries():
        sent.setdefault(row["rule"], {}).setdefault(row["state"], 0)
        sent[row["rule"]][row["state"]] += 1
    client, cluster_error = None, None
    try:
        client = commands.es_client(args, cfg)
    except ClusterError as exc:
        cluster_error = str(exc)
    invalid: list[str] = []
    if not ctx.rules:
        print("no alert rules: add some to alerts.yaml (see config/alerts.yaml for the format)")
    for rule in ctx.rules:
        info = {"name": rule.name, "enabled": rule.enabled, "match": _conditions(rule),
                "channels": [c.key for c in rule.channels], "digest": rule.digest, "copies": rule.copies,
                "deliveries": sent.get(rule.name, {}), "matching_now": None, "newest": []}
        if client is not None:
            try:
                problem = cluster_query_problem(client, alias, rule)
                if problem:
                    info["invalid_query"] = True
                    info["error"] = f"alerts.yaml: rule {rule.name}: match.query {rule.query!r} is not valid: {problem}"
                if "error" not in info:
                    resp = client.search(index=alias, query={"bool": {"must": [rule_query(rule)],
                                                                      "must_not": [{"term": {"seed": True}}]}},
                                         size=args.size, sort=[{"published_at": {"order": "desc", "missing": "_last"}}],
                                         source_includes=SOURCE_FIELDS, track_total_hits=True).body
                    info["matching_now"] = resp["hits"]["total"]["value"]
                    info["newest"] = [{"id": h["_id"], "title": h["_source"].get("title"), "url": h["_source"].get("url"),
                                       "outlet": h["_source"].get("outlet"),
                                       "published_at": h["_source"].get("published_at")} for h in resp["hits"]["hits"]]
            except Exception as exc:  # noqa: BLE001 - one rule's problem must not hide the others
                from pipelines.es import explain

                info["error"] = str(explain(exc, "the configured cluster"))
        if info.pop("invalid_query", False):
            invalid.append(rule.name)
        if args.json:
            print(json.dumps(info, ensure_ascii=False))
            continue
        state = "" if rule.enabled else " (disabled)"
        print(f"{rule.name}{state}")
        print(f"  match:    {info['match'] or 'every new article'}")
        print(f"  notify:   {', '.join(info['channels'])}" + (f"; digest every {rule.digest:g}s" if rule.digest else "")
              + ("; every copy of a story too" if rule.copies else ""))
        d = info["deliveries"]
        print(f"  sent:     {d.get('sent', 0)} delivered, {d.get('pending', 0)} pending"
              + (f", {d['abandoned']} abandoned" if d.get("abandoned") else ""))
        if info.get("error"):
            print(f"  error:    {info['error']}")
        elif info["matching_now"] is not None:
            print(f"  in index: {info['matching_now']} article(s) match now (alerts go only to newly indexed ones)")
            for a in info["newest"]:
                print(f"            - {(a['published_at'] or '')[:10]} {a['outlet']}: {one_line(a['title'], 160)}")
    if cluster_error:
        print(f"raqib alerts: could not count matches: {cluster_error}", file=sys.stderr)
        return 4
    if invalid:
        print(f"raqib alerts: {len(invalid)} rule(s) with a query Elasticsearch cannot run: {', '.join(invalid)}",
              file=sys.stderr)
        return 3
    return 0


def _conditions(rule) -> str:
    parts = []
    if rule.topics_all:
        parts.append("topics all of " + ", ".join(rule.topics_all))
    if rule.topics_any:
        parts.append("topics any of " + ", ".join(rule.topics_any))
    if rule.outlets:
        parts.append("outlets " + ", ".join(rule.outlets))
    if rule.languages:
        parts.append("languages " + ", ".join(rule.languages))
    if rule.query:
        parts.append(f"query {rule.query!r}")
    return "; ".join(parts)


SAMPLE = {
    "id": "raqib-test", "url": "https://example.org/raqib-test", "outlet": "raqib", "outlet_name": "raqib",
    "title": "اختبار تنبيه رقيب — raqib test notification", "lang": "ar", "topics": [],
    "summary": "هذه رسالة اختبار. This is a test message: no article is behind it.",
}


def run_test(args: argparse.Namespace) -> int:
    from pipelines.alerts.channels import DeliveryError
    from pipelines.alerts.evaluate import SOURCE_FIELDS
    from pipelines.alerts.render import article_snapshot
    from pipelines.alerts.rules import rule_query

    cfg, ctx = _context(args)
    rule = ctx.rule(args.rule)
    if rule is None:
        known = ", ".join(r.name for r in ctx.rules) or "none"
        print(f"raqib alerts test: no rule named {args.rule!r}; rules: {known}", file=sys.stderr)
        return 2
    specs = [c for c in rule.channels if not args.channel or c.key == args.channel]
    if not specs:
        print(f"raqib alerts test: rule {rule.name!r} has no channel {args.channel!r}; its channels: "
              f"{', '.join(c.key for c in rule.channels)}", file=sys.stderr)
        return 2
    article, origin = dict(SAMPLE), "a sample article"
    try:
        client = commands.es_client(args, cfg)
        resp = client.search(index=commands.alias(cfg), query=rule_query(rule), size=1, source_includes=SOURCE_FIELDS,
                             sort=[{"published_at": {"order": "desc", "missing": "_last"}}]).body
        if resp["hits"]["hits"]:
            hit = resp["hits"]["hits"][0]
            article, origin = article_snapshot(hit["_id"], hit["_source"]), "the newest matching article"
    except Exception:  # noqa: BLE001 - the test is about the channels; a sample does as well
        pass
    print(f"sending a test notification for {rule.name!r} with {origin}: {article['title']}")
    failed = 0
    for spec in specs:
        channel = ctx.channel(rule, spec.key)
        try:
            channel.send(rule.name, [article], delivery=f"test-{uuid.uuid4().hex[:24]}", test=True)
        except DeliveryError as exc:
            failed += 1
            print(f"  FAILED {spec.key}: {exc}")
        else:
            where = f" ({channel.path})" if hasattr(channel, "path") else ""
            print(f"  sent   {spec.key}{where}")
    return 1 if failed else 0
