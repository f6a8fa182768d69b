"""Golden pages: one saved page per outlet layout, read with the shipped config/outlets.yaml
hints, compared with expectations written by hand (tests/data/extraction/SOURCES.md)."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.extract import extract_article
from pipelines.outlets import load_outlets

GOLDEN = Path(__file__).resolve().parent / "data" / "extraction" / "golden"
CASES = sorted(GOLDEN.glob("*.expected.json"))
NOW = datetime(2025, 6, 1, tzinfo=UTC)
EXACT = ("title", "published_at", "modified_at", "date_source", "author", "section", "country", "summary",
         "declared_lang", "extraction_method", "encoding", "canonical_url_hint")


@pytest.fixture(scope="module")
def outlets():
    return load_outlets()


@pytest.mark.parametrize("case", CASES, ids=[c.name.split(".")[0] for c in CASES])
def test_golden_page(case, outlets):
    spec = json.loads(case.read_text(encoding="utf-8"))
    headers = {"Content-Type": spec["content_type"]} if spec.get("content_type") else None
    out = extract_article((GOLDEN / spec["page"]).read_bytes(), spec["url"], outlet=outlets[spec["outlet"]],
                          headers=headers, now=NOW)
    expect = spec["expect"]
    for key in EXACT:
        if key in expect:
            assert out[key] == expect[key], key
    text = out["text"]
    assert text.startswith(expect["text_starts_with"]), text[:200]
    assert text.endswith(expect["text_ends_with"]), text[-200:]
    for snippet in expect.get("text_contains", ()):
        assert snippet in text, snippet
    for snippet in expect.get("text_excludes", ()):
        assert snippet not in text, snippet
    for keyword in expect.get("keywords_include", ()):
        assert keyword in out["keywords"]
    # Nothing that should be plain text carries markup.
    for key in ("title", "text", "summary", "author"):
        assert "<" not in (out[key] or ""), key


def test_every_outlet_has_a_golden_page(outlets):
    covered = {json.loads(c.read_text(encoding="utf-8"))["outlet"] for c in CASES}
    assert covered >= {"almayadeen", "almarjie", "noonpost", "strategic_observatory", "alittihad"}
