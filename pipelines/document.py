"""From an extracted article to the document stored in the index: one function that the crawl,
`raqib seed` and `raqib extract` share, so that a seed and a crawled article are enriched
(language, normalised search fields, topics, entities, hashes) in exactly the same way.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypedDict

from pipelines import language, normalize, tagging
from pipelines.index import now_iso

Tagger = Callable[[str, str, str | None], Mapping[str, Any]]


class ArticleDoc(TypedDict, total=False):
    """The document stored for an article: exactly the fields of pipelines/mapping.json
    (`check_mapping` holds the two together at start-up; a test does too). Dates are ISO
    8601 strings; `topic_scores`, `matches` and `entities` are objects with one key per topic
    or entity kind."""
    url: str                    # the public URL (what a reader opens)
    canonical_url: str          # the identity: the document id is its hash
    fetched_url: str
    outlet: str
    outlet_name: str
    title: str
    title_norm: str             # normalised for search (pipelines/normalize.py)
    text: str
    text_norm: str
    summary: str
    author: str
    keywords: list[str]
    section: str
    country: str
    published_at: str
    modified_at: str
    crawled_at: str
    indexed_at: str
    first_seen_at: str
    first_indexed_at: str
    lang: str
    lang_prob: float
    declared_lang: str
    topics: list[str]
    topic_scores: dict[str, float]
    topic_evidence: dict[str, Any]   # why each topic was (or was not) given; stored, not searchable
    matches: dict[str, Any]
    matched_terms: list[str]
    entities: dict[str, Any]
    locations: list[Any]
    seed: bool
    discovered_via: str         # feed, sitemap, section, idwalk
    content_hash: str
    simhash: str
    minhash: str
    minhash_bands: list[str]
    duplicate_of: str
    extraction_method: str
    date_source: str
    word_count: int
    version: int


ARTICLE_DOC_FIELDS: frozenset[str] = frozenset(ArticleDoc.__annotations__)


def check_mapping(properties: Mapping[str, Any]) -> None:
    """Fail at start-up, naming the fields, when the index mapping and ArticleDoc disagree:
    a field only in the mapping is never written; one only in ArticleDoc would be cut from
    every document before indexing."""
    only_mapping = sorted(set(properties) - ARTICLE_DOC_FIELDS)
    only_type = sorted(ARTICLE_DOC_FIELDS - set(properties))
    if only_mapping or only_type:
        raise RuntimeError(
            "pipelines/mapping.json and pipelines/document.ArticleDoc disagree"
            + (f"; only in the mapping: {', '.join(only_mapping)}" if only_mapping else "")
            + (f"; only in ArticleDoc: {', '.join(only_type)}" if only_type else "")
            + ". Add the field to both (and bump raqib_mapping_version in the mapping).")


def doc_id_for(canonical_url: str) -> str:
    """The stable document id: re-crawling the same article updates it, never duplicates it."""
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:32]


def seed_doc_id(seed_file: str) -> str:
    return doc_id_for(f"raqib-seed:{seed_file}")


def content_hash(title: str | None, text: str | None) -> str:
    """A hash of what the reader sees, insensitive to markup, spacing and Arabic spelling
    variants, so a re-render of the same article is recognised as unchanged."""
    return _hash_of_norms(normalize.index_form(title or ""), normalize.index_form(text or ""))


def _hash_of_norms(title_norm: str, text_norm: str) -> str:
    return hashlib.sha256((title_norm + "\n" + text_norm).encode("utf-8")).hexdigest()


def default_tagger(config_dir: Path | str | None = None) -> Tagger:
    """The topic tagger built from topics.yaml and entities.yaml (`config_dir`'s, else the shipped ones)."""

    return tagging.default_tagger(config_dir)


def enrich(article: dict[str, Any], *, lang_hint: str | None = None, tagger: Tagger | None = None) -> dict[str, Any]:
    """Add what every stored article carries beyond its extracted fields.

    `article` holds at least `title` and `text`; fields already set (e.g. `lang` from a
    trusted source) are kept.
    """
    doc = {k: v for k, v in article.items() if v is not None}
    title, text = doc.get("title") or "", doc.get("text") or ""
    if "lang" not in doc:
        detected = language.detect(title, text, hint=lang_hint)
        if detected.lang:
            doc["lang"] = detected.lang
            doc["lang_prob"] = detected.prob
    if lang_hint:
        doc.setdefault("declared_lang", lang_hint)
    # raqib's tagger tokenizes the text anyway; its tokens give the same index forms
    words = tagger.text(title, text) if isinstance(tagger, tagging.Tagger) else None
    if words is not None:
        doc["title_norm"], doc["text_norm"] = words.index_forms()
    else:
        doc["title_norm"] = normalize.index_form(title)
        doc["text_norm"] = normalize.index_form(text)
    doc["content_hash"] = _hash_of_norms(doc["title_norm"], doc["text_norm"])   # = content_hash(title, text)
    doc["word_count"] = len(text.split())
    doc.setdefault("crawled_at", now_iso())
    if isinstance(tagger, tagging.Tagger) and words is not None:
        doc.update(tagger.tag(words))
    elif tagger is not None:
        doc.update(tagger(title, text, doc.get("lang")))
    return doc
