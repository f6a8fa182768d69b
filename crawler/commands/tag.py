"""`raqib tag`: topic tags for articles given as JSON lines, with the terms behind each tag."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from crawler import commands

EXAMPLE = '{"id": "a1", "title": "…", "text": "…", "lang": "ar"}'


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tag", parents=[sub.common_parent],
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
                   help="add `explain`: per topic, each sentence that counted, its zone, the clue and its terms")
    p.set_defaults(run=run)


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
    doc, results = tagger.explain(article["title"], article["text"])
    out = {}
    for r in results:
        sentences = []
        for sentence in sorted(r.sentences):
            value, clue, hits = r.sentences[sentence]
            sentences.append({
                "sentence": sentence,
                "zone": doc.tokens[hits[0].first].zone,
                "clue": clue,
                "weight": value,
                "terms": list(dict.fromkeys(doc.span_text(h.first, h.last) for h in hits)),
            })
        out[r.topic.name] = {
            "score": round(r.score, 3), "threshold": r.topic.threshold, "passed": r.passed,
            "needs": r.blocked_by, "sentences": sentences,
        }
    return out
