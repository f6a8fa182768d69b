"""Body-text quality of `pipelines.extract` on real pages with gold text.

Scores the extractor on the 181 pages of the public Scrapinghub/Zyte article-extraction
benchmark (`../shared/extraction/scrapinghub`, MIT licence) with the benchmark's own method:
tokens are the `\\w+` runs of a text, each page's gold and predicted texts become multisets of
4-token shingles, tp/fp/fn are counted and normalised by their sum per page, precision and
recall are averaged over pages and F1 is the harmonic mean of the two averages. One stricter
choice than the upstream script: a page where nothing is extracted counts precision 0 instead
of being left out of the precision average, so that failing on a page can never raise the
score.

It also checks the one real Arabic page with expected snippets (`../shared/extraction/arabic`)
and measures CPU time per page, the bound the crawl is held against.

    python -m bench.extraction_eval [--extractor raqib|trafilatura] [--data DIR] [--no-write]

Writes bench/results/extraction.json (for `--extractor raqib`, the default).
"""
from __future__ import annotations

import argparse
import gzip
import json
import platform
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

DEFAULT_DATA = common.SHARED / "extraction"
RESULTS = ROOT / "bench" / "results" / "extraction.json"

_TOKEN_RE = re.compile(r"\w+", re.UNICODE)


def shingles(text: str | None, n: int = 4) -> Counter:
    tokens = _TOKEN_RE.findall(text or "")
    return Counter(tuple(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i:i + n])


def page_counts(truth: str | None, pred: str | None) -> tuple[float, float, float]:
    """tp, fp, fn of one page, normalised by their sum so that long pages weigh no more."""
    t, p = shingles(truth), shingles(pred)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def page_precision(tp: float, fp: float, fn: float) -> float | None:
    if fp == fn == 0:
        return 1.0 if tp else None     # both texts empty: nothing to score
    return tp / (tp + fp) if tp + fp else 0.0   # nothing predicted: precision 0


def page_recall(tp: float, fp: float, fn: float) -> float | None:
    if fp == fn == 0:
        return 1.0 if tp else None
    return tp / (tp + fn) if tp + fn else None   # nothing to find: not part of the recall average


def aggregate(counts: list[tuple[float, float, float]]) -> dict[str, float]:
    precisions = [p for c in counts if (p := page_precision(*c)) is not None]
    recalls = [r for c in counts if (r := page_recall(*c)) is not None]
    precision, recall = statistics.fmean(precisions), statistics.fmean(recalls)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": round(f1, 4), "precision": round(precision, 4), "recall": round(recall, 4)}


class _RaqibExtractor:
    """raqib's extraction as the evaluation calls it, counting each outcome (the method that
    won, where the date came from, the kind of each failure) for the result file."""

    def __init__(self) -> None:
        self.stats: Counter[str] = Counter()

    def __call__(self, body: bytes, url: str) -> str:
        from pipelines.extract import ExtractionError, extract_article

        try:
            article = extract_article(body, url)
        except ExtractionError as exc:
            self.stats[f"error:{exc.kind}"] += 1
            return ""
        self.stats[f"method:{article['extraction_method']}"] += 1
        self.stats[f"date:{(article['date_source'] or 'none').split(':')[0]}"] += 1
        return article["text"]


def raqib_extractor() -> Callable[[bytes, str], str]:
    return _RaqibExtractor()


def trafilatura_extractor() -> Callable[[bytes, str], str]:
    """trafilatura with its defaults, called the way the benchmark's own runner calls it."""
    import trafilatura

    def run(body: bytes, url: str) -> str:
        return trafilatura.extract(body.decode("utf-8"), include_comments=False) or ""
    return run


EXTRACTORS = {"raqib": raqib_extractor, "trafilatura": trafilatura_extractor}


def evaluate_scrapinghub(data: Path, extract: Callable[[bytes, str], str], *, show_worst: int = 0) -> dict:
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    counts, cpu, per_page = [], [], []
    for key in sorted(truth):
        body = gzip.decompress((data / "html" / f"{key}.html.gz").read_bytes())
        start = time.process_time()
        text = extract(body, truth[key]["url"])
        cpu.append(time.process_time() - start)
        c = page_counts(truth[key].get("articleBody", ""), text)
        counts.append(c)
        per_page.append((key, truth[key]["url"], c))
    result: dict[str, Any] = dict(aggregate(counts))
    result.update({
        "pages": len(counts),
        "empty_predictions": sum(1 for c in counts if c[0] == c[1] == 0),
        "cpu_ms_per_page_mean": round(1000 * statistics.fmean(cpu), 2),
        "cpu_ms_per_page_median": round(1000 * statistics.median(cpu), 2),
        "cpu_ms_per_page_p95": round(1000 * sorted(cpu)[int(0.95 * (len(cpu) - 1))], 2),
    })
    if isinstance(extract, _RaqibExtractor) and extract.stats:
        result["outcomes"] = dict(sorted(extract.stats.items()))
    if show_worst:
        def f1_of(c):
            p, r = page_precision(*c) or 0.0, page_recall(*c) or 0.0
            return 2 * p * r / (p + r) if p + r else 0.0
        for key, url, c in sorted(per_page, key=lambda x: f1_of(x[2]))[:show_worst]:
            print(f"  {f1_of(c):.3f} p={page_precision(*c) or 0:.3f} r={page_recall(*c) or 0:.3f} {key[:12]} {url}")
    return result


def evaluate_arabic(data: Path, extract: Callable[[bytes, str], str]) -> dict:
    """The Arabic page has expected snippets, not full gold text: count the snippets that
    are (`with`) and are not (`without`) in the extracted text."""
    page = data / "assabah.com.tn.article.html"
    expected = json.loads((data / "assabah.com.tn.article.expected.json").read_text(encoding="utf-8"))
    text = extract(page.read_bytes(), expected.get("url") or "https://www.assabah.com.tn/article")
    found = [s for s in expected["with"] if s in text]
    leaked = [s for s in expected["without"] if s in text]
    return {"with_found": len(found), "with_total": len(expected["with"]),
            "without_leaked": len(leaked), "without_total": len(expected["without"])}


def versions() -> dict:
    from importlib.metadata import version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("raqib", "trafilatura", "lxml", "htmldate", "charset-normalizer"):
        try:
            out[dist] = version(dist)
        except Exception:
            out[dist] = None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extractor", choices=sorted(EXTRACTORS), default="raqib")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"default: {DEFAULT_DATA}")
    parser.add_argument("--worst", type=int, default=0, metavar="N", help="print the N worst pages")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--no-baseline", action="store_true",
                        help="do not also measure trafilatura with its defaults on the same machine")
    parser.add_argument("--quick", action="store_true", help="accepted for `make bench`; 181 pages either way")
    args = parser.parse_args(argv)
    run = common.Run("extraction", quick=args.quick)
    common.require_data(args.data / "scrapinghub" / "ground-truth.json", "--data DIR")
    extract = EXTRACTORS[args.extractor]()
    result = {"extractor": args.extractor}
    result["scrapinghub"] = evaluate_scrapinghub(args.data / "scrapinghub", extract, show_worst=args.worst)
    if (args.data / "arabic").exists():
        result["arabic_assabah"] = evaluate_arabic(args.data / "arabic", extract)
    if args.extractor == "raqib" and not args.no_baseline:
        baseline = evaluate_scrapinghub(args.data / "scrapinghub", trafilatura_extractor())
        result["baseline_trafilatura_defaults"] = {k: baseline[k] for k in (
            "f1", "precision", "recall", "cpu_ms_per_page_mean", "cpu_ms_per_page_median")}
    result["extraction_versions"] = versions()      # machine, date and load: bench.common.Run
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.extractor == "raqib" and not args.no_write:
        run.write(result, out=RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
