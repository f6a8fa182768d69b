"""How heavy news pages are: raw and gzip size, links, script and JSON volume, boilerplate blocks.

    python -m bench.page_weight [--mirror]

Measures the 181 real article pages of the extraction benchmark (../shared/extraction/
scrapinghub/html) and writes the distribution (median, quartiles, 10th/90th percentile) to
crawler/mirror/data/page_weight.json: the targets the mirror's page chrome
(crawler/mirror/weight.py) is sized to. `--mirror` also measures the mirror's own article,
section and home pages with the same function and prints both side by side, so a reader can
see how close they are.
"""
from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import common

TARGETS = common.ROOT / "crawler" / "mirror" / "data" / "page_weight.json"
FIELDS = ("raw_kb", "gzip_kb", "links", "scripts", "script_kb", "json_kb", "style_kb", "boilerplate_blocks", "text_kb")
# Elements a reader recognises as page furniture rather than the article.
BOILERPLATE_TAGS = ("nav", "aside", "footer", "header", "form", "iframe")
BOILERPLATE_HINTS = ("menu", "sidebar", "related", "comment", "share", "social", "footer", "widget", "promo",
                     "newsletter", "banner", "ad-", "ads", "breadcrumb", "trending", "popular", "most-read")


@dataclass(frozen=True)
class Weight:
    raw_kb: float
    gzip_kb: float
    links: int
    scripts: int
    script_kb: float          # inline script text, JSON included
    json_kb: float            # inline JSON (ld+json, application/json, state objects)
    style_kb: float
    boilerplate_blocks: int   # nav/aside/footer/header/form/iframe, or a div/ul/section named like furniture
    text_kb: float            # visible text outside scripts and styles


def measure(html: bytes) -> Weight:
    from lxml import html as lhtml

    doc = lhtml.document_fromstring(html)
    scripts = doc.xpath("//script")
    script_chars = json_chars = 0
    for s in scripts:
        body = s.text or ""
        script_chars += len(body.encode("utf-8"))
        kind = (s.get("type") or "").lower()
        stripped = body.lstrip()
        if "json" in kind or stripped.startswith(("{", "[")) or "__INITIAL_STATE__" in body[:200] \
                or "__NEXT_DATA__" in (s.get("id") or "") or "window.__" in body[:60]:
            json_chars += len(body.encode("utf-8"))
    style = sum(len((s.text or "").encode("utf-8")) for s in doc.xpath("//style"))
    blocks = 0
    for el in doc.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in BOILERPLATE_TAGS:
            blocks += 1
        elif tag in ("div", "ul", "section"):
            names = f"{el.get('class') or ''} {el.get('id') or ''}".lower()
            if names.strip() and any(h in names for h in BOILERPLATE_HINTS):
                blocks += 1
    for el in doc.xpath("//script|//style|//noscript"):
        el.drop_tree()
    text = " ".join(doc.text_content().split())
    return Weight(
        raw_kb=round(len(html) / 1024, 1), gzip_kb=round(len(gzip.compress(html, 6)) / 1024, 1),
        links=len(doc.xpath("//a[@href]")), scripts=len(scripts), script_kb=round(script_chars / 1024, 1),
        json_kb=round(json_chars / 1024, 1), style_kb=round(style / 1024, 1), boilerplate_blocks=blocks,
        text_kb=round(len(text.encode("utf-8")) / 1024, 1),
    )


def distribution(weights: list[Weight]) -> dict[str, dict[str, float]]:
    out = {}
    for name in FIELDS:
        values = sorted(float(getattr(w, name)) for w in weights)
        q = {f"p{int(100 * p)}": round(common.percentile(values, p), 1) for p in (0.10, 0.25, 0.75, 0.90)}
        out[name] = {"p10": q["p10"], "p25": q["p25"], "median": round(statistics.median(values), 1),
                     "p75": q["p75"], "p90": q["p90"], "mean": round(statistics.fmean(values), 1)}
    return out


def real_pages(folder: Path) -> list[bytes]:
    return [gzip.decompress(p.read_bytes()) for p in sorted(folder.glob("*.html.gz"))]


def mirror_pages(limit: int = 40) -> dict[str, list[bytes]]:
    """Article, section and home pages of a running mirror, fetched as a client would."""
    import urllib.request

    from crawler.mirror import Mirror

    out: dict[str, list[bytes]] = {"article": [], "listing": []}
    with Mirror() as m:
        for key in m.sites:
            truth = m.truth(key)
            for entry in truth[: max(1, limit // len(m.sites))]:
                with urllib.request.urlopen(entry["url"], timeout=10) as r:
                    out["article"].append(r.read())
            with urllib.request.urlopen(m.sites[key].url("/"), timeout=10) as r:
                out["listing"].append(r.read())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=Path, default=common.SHARED / "extraction" / "scrapinghub" / "html")
    parser.add_argument("--mirror", action="store_true", help="also measure the mirror's pages and compare")
    parser.add_argument("--out", type=Path, default=TARGETS)
    args = parser.parse_args(argv)
    pages = real_pages(common.require_data(args.pages, "--pages"))
    figures = {"source": "the 181 article pages of scrapinghub/article-extraction-benchmark "
                         "(../shared/extraction/scrapinghub), measured by bench/page_weight.py",
               "pages": len(pages), "fields": {f: Weight.__dataclass_fields__[f].type for f in FIELDS},
               "distribution": distribution([measure(p) for p in pages])}
    common.write_json(args.out, figures)
    print(f"bench.page_weight: {len(pages)} real pages -> {args.out}", file=sys.stderr)
    if args.mirror:
        ours = mirror_pages()
        table: dict[str, Any] = {"real": figures["distribution"]}
        for kind, bodies in ours.items():
            table[f"mirror_{kind}"] = distribution([measure(b) for b in bodies])
        print(json.dumps({k: {f: v[f]["median"] for f in FIELDS} for k, v in table.items()}, indent=1))
        print(json.dumps({k: {f: [v[f]["p10"], v[f]["p90"]] for f in FIELDS} for k, v in table.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

