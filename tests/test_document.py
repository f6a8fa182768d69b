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


def test_the_index_forms_are_the_same_with_or_without_the_tagger():
    """With raqib's tagger the stems come from its tokens (one tokenization): they must be the
    ones `normalize.index_form` makes, on real articles and on words that are hard to cut."""
    from pipelines import normalize
    from tests.support.localsite import corpus

    tagger = document.default_tagger()
    articles = [(a.get("title") or "", a.get("text") or "") for a in corpus()]
    articles += [
        ("", "نصٌّ بالتشكيلِ والتطويـــل ، و«علامات» — ISIS's 3rd strike: U.S. troops ٢٠٢٤ ّ َ"),
        ("عنوان فقط", ""),
        ("  ", "\n\nفقرة بعد سطرين فارغين.\n"),
    ]
    for title, text in articles:
        tagged = document.enrich({"title": title, "text": text}, tagger=tagger)
        assert tagged["title_norm"] == normalize.index_form(title)
        assert tagged["text_norm"] == normalize.index_form(text)
        assert tagged["content_hash"] == document.content_hash(title, text)
        assert tagged["topics"] == tagger(title, text)["topics"]
