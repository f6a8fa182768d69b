"""The five seed documents: read from `seeds/`, enriched like any crawled article, indexed
under ids derived from their files so that seeding twice changes nothing."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines import document
from pipelines.configfile import Checker, load_yaml
from pipelines.normalize import index_form
from pipelines.paths import seeds_dir

SEED_KEYS = ("file", "outlet", "outlet_name", "title", "author", "published", "url", "language", "kind")


@dataclass(frozen=True)
class Seed:
    file: str
    outlet: str
    outlet_name: str
    title: str
    text: str
    author: str | None
    published: str | None
    url: str | None
    language: str | None
    kind: str | None


def load_seeds(directory: Path | None = None) -> list[Seed]:
    directory = directory or seeds_dir()
    path = directory / "seeds.yaml"
    check = Checker(str(path))
    data = check.mapping(load_yaml(path), "", allowed=("seeds",), required=("seeds",))
    seeds = []
    for i, raw in enumerate(data.get("seeds") or []):
        where = f"seeds[{i}]"
        raw = check.mapping(raw, where, allowed=SEED_KEYS, required=("file", "outlet", "title"))
        file = raw.get("file")
        if not file:
            continue
        text_path = directory / file
        if not text_path.exists():
            check.add(f"{where}.file", f"{file} is not in {directory}")
            continue
        seeds.append(Seed(
            file=file, outlet=raw["outlet"], outlet_name=raw.get("outlet_name") or raw["outlet"],
            title=raw["title"], text=text_path.read_text(encoding="utf-8"),
            author=raw.get("author"), published=_str_or_none(raw.get("published")),
            url=raw.get("url"), language=raw.get("language"), kind=raw.get("kind"),
        ))
    check.raise_if_any()
    return seeds


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def published_at(value: str | None) -> tuple[str | None, str | None]:
    """(ISO timestamp, how precise) from the seed file's date: a full timestamp, a day or a month."""
    if not value:
        return None, None
    if re.fullmatch(r"\d{4}-\d{2}", value):
        return f"{value}-01T00:00:00+00:00", "month"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return f"{value}T00:00:00+00:00", "day"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.isoformat(), "exact"


def clean_text(seed: Seed, drop_text: list[re.Pattern]) -> str:
    """The seed text without its title line and the outlet's known boilerplate lines, the same
    rules the extractor applies to the outlet's crawled pages."""
    title_form = index_form(seed.title)
    lines, title_seen = [], False
    for line in seed.text.splitlines():
        stripped = line.strip()
        if any(p.search(stripped) for p in drop_text):
            continue
        if not title_seen and stripped and index_form(stripped) == title_form:
            title_seen = True
            continue
        lines.append(line.rstrip())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def seed_documents(seeds: list[Seed], outlets: dict | None = None, tagger=None) -> list[tuple[str, dict]]:
    outlets = outlets or {}
    out = []
    for seed in seeds:
        outlet = outlets.get(seed.outlet)
        drop = list((outlet.extraction.get("drop_text") if outlet else None) or [])
        when, precision = published_at(seed.published)
        article = {
            "url": seed.url,
            "canonical_url": seed.url,
            "outlet": seed.outlet,
            "outlet_name": seed.outlet_name,
            "title": seed.title,
            "text": clean_text(seed, drop),
            "author": seed.author,
            "published_at": when,
            "date_source": f"seeds.yaml ({precision})" if precision else None,
            "seed": True,
            "discovered_via": "seed",
            "extraction_method": "seed-text",
        }
        doc = document.enrich(article, lang_hint=seed.language, tagger=tagger)
        out.append((document.seed_doc_id(seed.file), doc))
    return out
