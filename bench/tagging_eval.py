"""Precision, recall and F1 of the topic tagger on the corpus's dev labels.

    python -m bench.tagging_eval                 # evaluate, write bench/results/tagging.json
    python -m bench.tagging_eval --explain ID    # why an article got (or missed) its tags

Labels and their definitions: ../shared/corpus/README.md (1 = the article is substantially
about the topic; a passing mention is 0). Only the dev labels are read; the held-back labels
are measured independently. Also recorded: that the five seeds carry all three topics, and
what tagging costs per article (it runs on the crawl's hot path).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from pipelines.tagging import Tagger, load_tagger  # noqa: E402

TOPICS = ("isis", "syria", "us_presence")
DEFAULT_CORPUS = common.SHARED / "corpus"
DEFAULT_OUT = ROOT / "bench" / "results" / "tagging.json"
TARGET_F1, TARGET_PRECISION = 0.90, 0.85


def load_corpus(corpus: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    articles = {}
    with (corpus / "articles.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            a = json.loads(line)
            articles[a["id"]] = a
    labels = {}
    with (corpus / "labels-dev.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            labels[r["id"]] = r
    return articles, labels


def evaluate(tagger: Tagger, articles: dict[str, dict], labels: dict[str, dict]) -> dict:
    per_topic = {t: {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "misses": [], "false_alarms": []} for t in TOPICS}
    for art_id, label in labels.items():
        art = articles[art_id]
        out = tagger(art.get("title"), art.get("text"), art.get("lang"))
        for topic in TOPICS:
            gold, pred = bool(label[topic]), topic in out["topics"]
            stats = per_topic[topic]
            key = {(True, True): "tp", (False, True): "fp", (True, False): "fn", (False, False): "tn"}[(gold, pred)]
            stats[key] += 1
            if gold != pred:
                stats["misses" if gold else "false_alarms"].append({
                    "id": art_id,
                    "title": (art.get("title") or art["text"][:80]).strip(),
                    "score": out["topic_scores"].get(topic, 0.0),
                    "matches": out["matches"].get(topic, [])[:8],
                    "label_note": label.get("note", "")[:160],
                })
    summary = {}
    for topic, s in per_topic.items():
        p = s["tp"] / (s["tp"] + s["fp"]) if s["tp"] + s["fp"] else 0.0
        r = s["tp"] / (s["tp"] + s["fn"]) if s["tp"] + s["fn"] else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        summary[topic] = {
            "precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4),
            "tp": s["tp"], "fp": s["fp"], "fn": s["fn"], "tn": s["tn"],
            "meets_target": f1 >= TARGET_F1 and p >= TARGET_PRECISION,
            "misses": s["misses"], "false_alarms": s["false_alarms"],
        }
    return summary


def seeds_check(tagger: Tagger) -> list[dict]:
    """Tag the seeds exactly as `raqib seed` enriches them."""
    from pipelines.outlets import load_outlets
    from pipelines.seeding import load_seeds, seed_documents

    docs = seed_documents(load_seeds(), load_outlets(None), tagger=tagger)
    return [{"outlet": d["outlet"], "title": d["title"], "topics": d["topics"], "scores": d["topic_scores"],
             "places": d["entities"]["places"][:8], "actors": d["entities"]["actors"][:8]} for _, d in docs]


def timing(tagger: Tagger, articles: dict[str, dict], rounds: int = 3) -> dict:
    """Milliseconds of CPU per article over the whole corpus (the best of a few rounds, after a
    warm-up, so that the stemmer's caches are as warm as on a long crawl)."""
    docs = list(articles.values())
    for a in docs[:50]:
        tagger(a.get("title"), a.get("text"))
    best = None
    for _ in range(rounds):
        start = time.process_time()
        for a in docs:
            tagger(a.get("title"), a.get("text"))
        elapsed = time.process_time() - start
        best = elapsed if best is None else min(best, elapsed)
    chars = sum(len(a.get("text") or "") for a in docs)
    return {
        "articles": len(docs),
        "ms_per_article": round(1000 * best / len(docs), 3),
        "ms_per_10k_chars": round(1000 * best / (chars / 10_000), 3),
        "median_chars": int(statistics.median(len(a.get("text") or "") for a in docs)),
        "cold_load_s": round(_cold_load(), 3),
    }


def _cold_load() -> float:
    start = time.perf_counter()
    load_tagger()
    return time.perf_counter() - start


def explain(tagger: Tagger, article: dict, label: dict | None) -> None:
    doc, results = tagger.explain(article.get("title"), article.get("text"))
    print(f"== {article['id']}  {article.get('title') or ''}")
    if label:
        print("   labels:", {t: label[t] for t in TOPICS}, "|", label.get("note", ""))
    for r in results:
        mark = "PASS" if r.passed else ("blocked: needs " + r.blocked_by if r.blocked_by else "no")
        print(f"-- {r.topic.name}: score {r.score:.2f} / {r.topic.threshold} over {len(r.sentences)} sentences [{mark}]")
        for sentence in sorted(r.sentences):
            value, clue, hits = r.sentences[sentence]
            zone = doc.tokens[hits[0].first].zone
            terms = ", ".join(dict.fromkeys(doc.span_text(h.first, h.last) for h in hits))
            print(f"   s{sentence:<3} {zone:<5} {value:.1f}  {clue}: {terms}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="directory with articles.jsonl and labels-dev.jsonl")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--explain", nargs="+", metavar="ID", help="print the reasoning for these articles and stop")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--quick", action="store_true", help="accepted for `make bench`; the corpus is small, so the same")
    args = parser.parse_args(argv)
    from bench import common

    run = common.Run("tagging", quick=args.quick)

    tagger = load_tagger()
    common.require_data(args.corpus / "labels-dev.jsonl", "--corpus DIR")
    articles, labels = load_corpus(args.corpus)
    if args.explain:
        for art_id in args.explain:
            explain(tagger, articles[art_id], labels.get(art_id))
        return 0

    summary = evaluate(tagger, articles, labels)
    result = {
        "what": "topic tagging on the dev labels of shared/corpus (labels-dev.jsonl)",
        "target": {"f1": TARGET_F1, "precision": TARGET_PRECISION},
        "labelled_articles": len(labels),
        "topics": summary,
        "seeds": seeds_check(tagger),
    }
    if not args.no_timing:
        result["timing"] = timing(tagger, articles)
    run.write(result, out=args.out)

    print(f"{'topic':<12} {'P':>6} {'R':>6} {'F1':>6}   tp  fp  fn")
    for topic, s in summary.items():
        flag = "" if s["meets_target"] else "   below target"
        print(f"{topic:<12} {s['precision']:>6.3f} {s['recall']:>6.3f} {s['f1']:>6.3f}  {s['tp']:>3} {s['fp']:>3} {s['fn']:>3}{flag}")
    for topic, s in summary.items():
        for kind in ("misses", "false_alarms"):
            for item in s[kind]:
                print(f"  {topic} {kind[:-2] if kind == 'misses' else 'false alarm'}: {item['id']} "
                      f"({item['score']:.2f}) {item['title'][:70]}")
    seeds_ok = all(set(TOPICS) <= set(s["topics"]) for s in result["seeds"])
    print(f"seeds carry all three topics: {'yes' if seeds_ok else 'NO'}")
    if "timing" in result:
        t = result["timing"]
        print(f"timing: {t['ms_per_article']} ms per article ({t['ms_per_10k_chars']} ms per 10k characters)")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
