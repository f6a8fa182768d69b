"""From an extracted article to the document stored in the index: one function that the crawl,
`raqib seed` and `raqib extract` share, so that a seed and a crawled article are enriched
(language, normalised search fields, topics, entities, hashes) in exactly the same way.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from pipelines import language, normalize, tagging
from pipelines.index import now_iso

Tagger = Callable[[str, str, str | None], dict[str, Any]]


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


def default_tagger(config_dir=None) -> Tagger:
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
    doc["title_norm"] = normalize.index_form(title)
    doc["text_norm"] = normalize.index_form(text)
    doc["content_hash"] = _hash_of_norms(doc["title_norm"], doc["text_norm"])   # = content_hash(title, text)
    doc["word_count"] = len(text.split())
    doc.setdefault("crawled_at", now_iso())
    if tagger is not None:
        doc.update(tagger(title, text, doc.get("lang")))
    return doc
