"""The stored document's shape: ArticleDoc (pipelines/document.py) and the index mapping
(pipelines/mapping.json) name the same fields, and a disagreement stops the start with a
message that names them."""
import pytest

from pipelines import document, index


def test_article_doc_and_the_shipped_mapping_name_the_same_fields():
    properties = index.mapping()["properties"]
    document.check_mapping(properties)
    assert set(properties) == document.ARTICLE_DOC_FIELDS


def test_a_field_on_one_side_only_is_named():
    properties = dict(index.mapping()["properties"])
    properties.pop("summary")
    properties["reading_time"] = {"type": "integer"}
    with pytest.raises(RuntimeError) as info:
        document.check_mapping(properties)
    message = str(info.value)
    assert "only in the mapping: reading_time" in message and "only in ArticleDoc: summary" in message


def test_an_enriched_article_carries_only_article_doc_fields():
    doc = document.enrich({"title": "هجوم لداعش على قاعدة أمريكية", "text": "تفاصيل الهجوم في ريف دير الزور " * 20,
                           "url": "https://example.org/a", "canonical_url": "https://example.org/a"})
    assert set(doc) <= document.ARTICLE_DOC_FIELDS
