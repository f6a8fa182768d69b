"""`raqib tag`: topic tags for articles given as JSON lines, with the terms behind each tag."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from crawler.cli import commands
from crawler.cli.commands import Subcommands

EXAMPLE = '{"id": "a1", "title": "…", "text": "…", "lang": "ar"}'


def register(sub: Subcommands, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "tag", parents=[common],
        help="tag articles read as JSON lines on stdin (topics, scores, matching terms, entities)",
        description="Reads one JSON object per line on standard input, " + EXAMPLE + " (lang is optional, "
                    "title may be null), and writes one per line on standard output: id, topics (those that "
                    "passed), scores (every topic; 1.0 is the threshold), matches (the terms that fired, as "
                    "written in the article), entities (actors, places) and locations (coordinates). The rules "
                    "are topics.yaml and entities.yaml (--config DIR overrides the shipped ones). A bad line "
                    "is reported on standard error with its line number and skipped; the exit status is 1 "
                    "if any line was skipped.",
    )
    p.add_argument("--explain", action="store_true",
                   help="add `explain`: per topic, the sentences that carried evidence, each feature's "
                        "contribution and the decision against the threshold")
    p.set_defaults(run=run)
    actions = p.add_subparsers(dest="tag_action", metavar="[train LABELS]")
    t = actions.add_parser(
        "train", parents=[common],
        help="refit the topic weights from a labels file, printing cross-validated figures before and after",
        description="Refits config/topic_weights.json (the weights beside the topics.yaml in use) from LABELS, "
                    'one JSON object per line {"id", "isis": 0|1, "syria": 0|1, "us_presence": 0|1} (one key '
                    "per topic of topics.yaml; other keys are ignored), and the articles they label (--articles, "
                    "default articles.jsonl beside LABELS: {id, title, text, lang}). Prints the grouped, "
                    "stratified 5x5-fold cross-validated P/R/F1 of the new weights beside the figures the current "
                    "weights were written with, and the keyword baseline. Refuses (exit 1) to write weights whose "
                    "cross-validated F1 is lower for any topic, unless --force.",
    )
    t.add_argument("labels", type=Path, metavar="LABELS")
    t.add_argument("--articles", type=Path, help="the labelled articles (default: articles.jsonl beside LABELS)")
    t.add_argument("--out", type=Path, help="write the weights here instead of beside topics.yaml")
    t.add_argument("--force", action="store_true", help="write the weights even if they cross-validate worse")
    t.add_argument("--repeats", type=int, default=5, help="cross-validation repeats (5 folds each; default 5)")
    # Not the global config check: it rejects weights fitted to other rules, which are what train
    # replaces. run_train loads topics.yaml and entities.yaml itself (without the weights).
    t.set_defaults(run=run_train, checks_config=False)


def run(args: argparse.Namespace) -> int:
    from pipelines.tagging import default_tagger

    tagger = default_tagger(commands.config_dir(args))   # a bad rule file: ConfigError, one line per problem
    return tag_stream(tagger, sys.stdin.buffer, sys.stdout, sys.stderr, explain=args.explain)


def tag_stream(tagger, source, out: TextIO, err: TextIO, *, explain: bool = False) -> int:
    tagged = skipped = 0
    for lineno, raw in enumerate(source, 1):
        try:
            article = _parse(raw)
        except ValueError as exc:
            print(f"raqib tag: line {lineno}: {exc}; skipped", file=err)
            skipped += 1
            continue
        if article is None:
            continue   # a blank line
        result = tagger(article["title"], article["text"], article["lang"])
        record: dict[str, Any] = {
            "id": article["id"],
            "topics": result["topics"],
            "scores": result["topic_scores"],
            "matches": result["matches"],
            "entities": result["entities"],
            "locations": result["locations"],
        }
        if explain:
            record["explain"] = _explain(tagger, article)
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()   # a pipeline downstream sees each article as soon as it is tagged
        tagged += 1
    if skipped:
        print(f"raqib tag: {tagged} tagged, {skipped} line{'s' if skipped != 1 else ''} skipped", file=err)
    return 1 if skipped else 0


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"is not UTF-8 (byte {exc.start}); send UTF-8 JSON") from None
    line = line.strip().lstrip("\ufeff")
    if not line:
        return None
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON ({exc.msg} at column {exc.colno}); expected {EXAMPLE}") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object such as {EXAMPLE}, got {type(data).__name__}")
    problems = []
    art_id = data.get("id")
    if art_id is None or art_id == "" or isinstance(art_id, (bool, dict, list)):
        problems.append('"id" is missing (a string or a number)')
    for key in ("title", "text", "lang"):
        if data.get(key) is not None and not isinstance(data[key], str):
            problems.append(f'"{key}" must be a string or null, got {type(data[key]).__name__}')
    if not problems and not (data.get("title") or "").strip() and not (data.get("text") or "").strip():
        problems.append('"title" and "text" are both empty: nothing to tag')
    if problems:
        raise ValueError("; ".join(problems))
    return {"id": art_id, "title": data.get("title") or "", "text": data.get("text") or "",
            "lang": data.get("lang") or None}


def _explain(tagger, article: dict[str, Any]) -> dict[str, Any]:
    from pipelines.tagging import evidence

    doc, results = tagger.explain(article["title"], article["text"])
    return {r.topic.name: evidence(doc, r) for r in results}


def run_train(args: argparse.Namespace) -> int:
    from pipelines import tagging
    from pipelines import topic_training as tt
    from pipelines.configfile import resolve

    topics_path = resolve(tagging.TOPIC_FILE, commands.config_dir(args))
    tagger = tagging.load_tagger(commands.config_dir(args), use_weights=False)
    out = args.out or tagging.weights_path_for(topics_path)
    topics = [t.name for t in tagger.topics]
    if args.repeats < 1:
        print("raqib tag train: --repeats must be 1 or more", file=sys.stderr)
        return 2
    try:
        labels = tt.read_labels(args.labels, topics)
        articles = tt.read_articles(args.articles or args.labels.with_name("articles.jsonl"), set(labels))
    except tt.LabelError as exc:
        print(f"raqib tag train: {exc}", file=sys.stderr)
        return 2
    current = _current_weights(out)
    report = tt.train_and_compare(tagger, articles, labels, repeats=args.repeats, current=current)
    print(f"{len(labels)} labelled articles ({report.data['digest']}), {report.cv['groups']} groups of near-copies; "
          f"{tt.FOLDS} folds x {args.repeats} repeats, every figure out-of-fold")
    print(_table(report, topics, current))
    if report.worse and not args.force:
        print("raqib tag train: not written: the new weights cross-validate worse for " + ", ".join(report.worse)
              + f" than {out}; fix the labels or rules, or write them anyway with --force", file=sys.stderr)
        return 1
    report.weights.write(out)
    print(f"written to {out}")
    return 0


def _current_weights(path: Path):
    from pipelines import topic_model

    if not path.exists():
        return None
    try:
        return topic_model.read_weights(path)
    except ValueError as exc:
        print(f"raqib tag train: the current {path} is unreadable ({exc}); comparing with nothing", file=sys.stderr)
        return None


def _table(report, topics: list[str], current) -> str:
    def cell(row: dict | None) -> str:
        if not row:
            return f"{'–':>24}"
        return f"{row['precision']:.3f} {row['recall']:.3f} {row['f1']:.3f}±{row['f1_sd']:.3f}"

    before = (current.provenance.get("cv") or {}).get("topics", {}) if current else {}
    lines = [f"{'topic':<12} {'before: P R F1±sd':>24}   {'after: P R F1±sd':>24}   {'keywords: F1':>12}"]
    for t in topics:
        after = report.cv["topics"][t]
        kw = report.baseline[t]["f1"]
        lines.append(f"{t:<12} {cell(before.get(t)):>24}   {cell(after):>24}   {kw:>12.3f}")
    if current is not None:
        data = current.provenance.get("data") or {}
        same = data.get("digest") == report.data["digest"]
        lines.append(f"before: the figures the current weights were written with ({current.provenance.get('fitted_at', '?')}, "
                     f"{data.get('labels', '?')} labels{'' if same else ', other labels than these'})")
    return "\n".join(lines)
