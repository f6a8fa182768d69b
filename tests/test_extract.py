"""extract_article: structured data first, outlet hints, dates, plain text, clear errors."""
from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.configfile import ConfigError
from pipelines.extract import (
    MAX_BODY_BYTES,
    BlockedPageError,
    ExtractionError,
    clean_text,
    extract_article,
    html_to_text,
)
from pipelines.outlets import parse_outlets

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "extraction"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

# Real paragraphs (seed 004, Al Mayadeen) so that trafilatura sees an article, not a stub.
SEED = [line.strip() for line in (ROOT / "seeds" / "004_56c03b626c3b93b9.txt").read_text(encoding="utf-8").splitlines()
        if len(line.strip()) > 150]
BODY = "".join(f"<p>{p}</p>" for p in SEED[:6])


def outlet(**extraction):
    data = {"outlets": {"test": {
        "name": "Test", "home": "https://news.example.org/", "domains": ["news.example.org"],
        "article_pattern": r"/a/\d+", "timezone": "Asia/Beirut", "language": "ar",
        "extraction": extraction,
    }}}
    return parse_outlets(data)["test"]


def html(head: str = "", body: str = BODY, *, before: str = "", after: str = "", lang: str = "ar") -> bytes:
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">{head}</head><body>'
            f'<nav><a href="/">الرئيسية</a> <a href="/news">أخبار</a></nav>{before}'
            f'<article><h1>عنوان الخبر في الصفحة</h1>{body}</article>{after}'
            f'<footer>جميع الحقوق محفوظة</footer></body></html>').encode()


def ld(obj) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj, ensure_ascii=False)}</script>'


URL = "https://news.example.org/a/1"


# --- structured data -------------------------------------------------------------------------

def test_json_ld_article_fields():
    head = ld({"@context": "https://schema.org", "@graph": [
        {"@type": "WebSite", "name": "Example"},
        {"@type": ["NewsArticle"], "headline": "عنوان &amp; من JSON-LD", "datePublished": "2024-04-30T00:58:00+03:00",
         "dateModified": "2024-04-30T10:00:00+03:00", "author": [{"@type": "Person", "name": "سامر أحمد"},
                                                                {"@type": "Person", "name": "https://example.org/u/2"},
                                                                "ليلى حسن"],
         "keywords": "سوريا، داعش, التحالف", "articleSection": "سياسة", "inLanguage": "ar",
         "description": "ملخص الخبر"}]})
    out = extract_article(html(head), URL, now=NOW)
    assert out["title"] == "عنوان & من JSON-LD"
    assert out["published_at"] == "2024-04-29T21:58:00+00:00"
    assert out["modified_at"] == "2024-04-30T07:00:00+00:00"
    assert out["date_source"] == "json-ld"
    assert out["author"] == "سامر أحمد, ليلى حسن"
    assert out["keywords"] == ["سوريا", "داعش", "التحالف"]
    assert out["section"] == "سياسة"
    assert out["summary"] == "ملخص الخبر"
    assert out["extraction_method"] == "metadata+trafilatura"
    assert out["text"].startswith(SEED[0][:60])


def test_meta_tags_when_there_is_no_json_ld():
    head = ('<meta property="og:title" content="عنوان من og - الموقع">'
            '<meta property="og:site_name" content="الموقع">'
            '<meta property="article:published_time" content="2023-02-01T08:00:00Z">'
            '<meta property="article:author" content="https://facebook.com/someone">'
            '<meta name="author" content="كاتب المقال">'
            '<meta property="article:tag" content="سوريا"><meta property="article:tag" content="العراق">'
            '<meta name="description" content="وصف">'
            '<link rel="canonical" href="/a/1?ref=canonical"><link rel="amphtml" href="/amp/a/1">')
    out = extract_article(html(head), URL, now=NOW)
    assert out["title"] == "عنوان من og"                 # the site name is not part of the title
    assert out["date_source"] == "meta:article:published_time"
    assert out["published_at"] == "2023-02-01T08:00:00+00:00"
    assert out["author"] == "كاتب المقال"                # a profile URL is not a name
    assert out["keywords"] == ["سوريا", "العراق"]
    assert out["canonical_url_hint"] == "https://news.example.org/a/1?ref=canonical"
    assert out["amp_url_hint"] == "https://news.example.org/amp/a/1"
    assert out["declared_lang"] == "ar"


def test_embedded_json_first_and_malformed_json_ld_tolerated():
    meta = {"type": "article", "postid": "7", "title": "العنوان من البيانات المضمنة", "keywords": "أ,ب",
            "published_time": "2024-04-09T10:53:00+03:00", "last_updated": "2024-04-29T14:03:05+03:00",
            "author": "محمد حسب الرسول", "lang": "ar", "description": "الوصف",
            "classes": [{"key": "class1", "mapping": "posttype", "value": "مقالات"},
                        {"key": "class3", "mapping": "country", "value": "سوريا"}]}
    head = (f'<script id="tawsiyat-metadata" type="text/tawsiyat">{json.dumps(meta, ensure_ascii=False)}</script>'
            '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "x", }</script>'
            '<script type="application/ld+json">{"@type": "NewsArticle" "headline": }</script>'
            '<meta property="article:published_time" content="2020-01-01T00:00:00Z">')
    out = extract_article(html(head), URL, outlet=outlet(metadata_json="script#tawsiyat-metadata"), now=NOW)
    assert out["title"] == "العنوان من البيانات المضمنة"
    assert out["date_source"] == "tawsiyat-metadata"
    assert out["published_at"] == "2024-04-09T07:53:00+00:00"
    assert out["country"] == "سوريا" and out["section"] == "مقالات"
    assert out["keywords"] == ["أ", "ب"]
    assert any("JSON-LD block 2 is not valid JSON" in w for w in out["warnings"])


def test_markup_in_metadata_and_scripts_in_the_body_never_reach_the_output():
    head = ('<meta property="og:title" content="&lt;script&gt;alert(1)&lt;/script&gt;عنوان &lt;b&gt;عريض&lt;/b&gt;">'
            '<meta name="description" content="&lt;img src=x onerror=alert(1)&gt;ملخص">')
    body = BODY + '<script>document.write("INJECTED")</script><p onclick="alert(2)">' + SEED[6] + "</p><style>p{}</style>"
    out = extract_article(html(head, body), URL, now=NOW)
    assert out["title"] == "عنوان عريض"
    assert out["summary"] == "ملخص"
    assert "INJECTED" not in out["text"] and "alert" not in out["text"] and "p{}" not in out["text"]
    assert "<" not in out["title"] and "<" not in out["summary"]


# --- dates --------------------------------------------------------------------------------------

def test_future_date_is_rejected_and_the_next_source_used():
    head = (ld({"@type": "NewsArticle", "headline": "خبر", "datePublished": "2031-01-01T00:00:00Z"})
            + '<meta property="article:published_time" content="2025-05-31T09:00:00+03:00">')
    out = extract_article(html(head), URL, now=NOW)
    assert out["published_at"] == "2025-05-31T06:00:00+00:00"
    assert out["date_source"] == "meta:article:published_time"
    assert any("rejected" in w and "in the future" in w for w in out["warnings"])


def test_ancient_date_is_not_stored():
    head = '<meta property="article:published_time" content="1970-01-01T00:00:00Z">'
    out = extract_article(html(head), URL, now=NOW)
    assert out["published_at"] is None and out["date_source"] is None
    assert any("before 1990" in w for w in out["warnings"])


def test_date_printed_by_the_headline_in_the_outlets_zone():
    body = '<div class="meta">الخميس 22 نيسان , 2021 01:42</div>' + BODY
    out = extract_article(html(body=body), URL, outlet=outlet(date_convention="levantine"), now=NOW)
    assert out["published_at"] == "2021-04-21T22:42:00+00:00"     # Beirut is UTC+3 in April
    assert out["date_source"] == "page-text:levantine"
    assert "نيسان" not in out["text"]


def test_sidebar_dates_far_from_the_headline_are_ignored():
    sidebar = "<aside>" + "".join(f"<div><a href='/a/{i}'>خبر آخر رقم {i}</a></div>" for i in range(20)) \
              + "<div>الأحد 04/أبريل/2021 - 10:20 ص</div></aside>"
    out = extract_article(html(after=sidebar), URL, now=NOW)
    assert out["date_source"] != "page-text:egyptian"
    assert out["published_at"] is None


def test_an_unmarked_time_element_under_the_headline_dates_the_article():
    # a <time datetime> with no class in the article's header: the article's date; the
    # sidebar's and the related list's <time>s date other articles and are never taken
    body = ('<header><h1>عنوان الخبر في الصفحة</h1><div class="meta"><time datetime="2021-04-21T22:42:00Z">'
            '22/04/2021</time></div></header>' + BODY +
            '<ul class="related"><li><time datetime="2021-01-02T10:00:00Z">02/01/2021</time></li></ul>')
    side = '<aside><time datetime="2020-05-05T05:05:00Z">05/05/2020</time></aside>'
    page = html(body=body, before=side).replace("<article><h1>عنوان الخبر في الصفحة</h1>".encode(), b"<article>")
    out = extract_article(page, URL, now=NOW)
    assert out["published_at"] == "2021-04-21T22:42:00+00:00"
    assert out["date_source"] == "time:headline"
    # without a headline block the first <time> of the page is not trusted
    loose = html(before=side)
    assert extract_article(loose, URL, now=NOW)["date_source"] != "time:headline"


def test_a_last_update_printed_before_the_publication_date_is_not_the_publication_date():
    line = "آخر تحديث: 22 أبريل 2021 - 18:30 | تاريخ النشر: 21 أبريل 2021 - 14:05"
    body = f'<div class="meta">{line}</div>' + BODY
    out = extract_article(html(body=body), URL, outlet=outlet(), now=NOW)
    assert out["published_at"] == "2021-04-21T11:05:00+00:00"      # Beirut, UTC+3
    # unlabelled, or labelled as the publication, the first date of a line is still taken
    only = extract_article(html(body='<div class="meta">21 أبريل 2021 - 14:05</div>' + BODY), URL,
                           outlet=outlet(), now=NOW)
    assert only["published_at"] == "2021-04-21T11:05:00+00:00"


def test_site_name_is_cut_from_the_title_and_nothing_else():
    head = ('<meta property="og:site_name" content="صوت الشرق">'
            '<meta property="og:title" content="سوريا : قتلى في «الزبداني» - صوت الشرق">')
    out = extract_article(html(head=head), URL, now=NOW)
    assert out["title"] == "سوريا : قتلى في «الزبداني»"
    head = ('<meta property="og:site_name" content="Levant Wire">'
            '<meta property="og:title" content="Levant Wire | Bomb attack kills 44 | Jordan Times">')
    assert extract_article(html(head=head, lang="en"), URL, now=NOW)["title"] == "Bomb attack kills 44 | Jordan Times"


def test_the_time_under_a_headline_that_is_not_an_h1():
    body = ('<header><h2 class="post-title">عنوان الخبر الكامل هنا</h2><time datetime="2021-04-21T22:42:00Z">22/04/2021'
            '</time></header>' + BODY)
    page = html(head='<meta property="og:title" content="عنوان الخبر الكامل هنا">', body=body)
    page = page.replace("<h1>عنوان الخبر في الصفحة</h1>".encode(), b"")
    out = extract_article(page, URL, now=NOW)
    assert out["published_at"] == "2021-04-21T22:42:00+00:00"
    assert out["date_source"] == "time:headline"


def test_date_selector_hint():
    body = '<span class="when">نشر في 04/أبريل/2021 - 10:20 ص</span>' + BODY
    out = extract_article(html(body=body), URL, outlet=outlet(date_selector=".when", date_convention="egyptian"),
                          now=NOW)
    assert out["published_at"] == "2021-04-04T07:20:00+00:00"      # Beirut (the test outlet's zone), UTC+3
    assert out["date_source"] == "selector:egyptian"


# --- outlet hints ---------------------------------------------------------------------------------

def test_body_selector_drop_selectors_and_drop_text():
    body = ('<div class="lead">المقدمة القصيرة للخبر</div><div class="content">'
            + "".join(f"<p>{p}</p>" for p in SEED[:3])
            + '<div class="share">شارك على فيسبوك</div><p>ad a b</p><p>سطر يحذفه النمط</p></div>'
            '<div class="related"><a href="/a/9">عنوان مقال آخر مرتبط</a></div>')
    hints = outlet(body_selector="div.content", drop_selectors=[".share"], drop_text=["^سطر يحذفه"],
                   summary_selector=".lead")
    out = extract_article(html(body=body), URL, outlet=hints, now=NOW)
    assert out["extraction_method"] == "body_selector"
    assert out["text"].split("\n") == SEED[:3]
    assert out["summary"] == "المقدمة القصيرة للخبر"


def test_body_selector_that_matches_nothing_falls_back_with_a_warning():
    out = extract_article(html(), URL, outlet=outlet(body_selector="div.nowhere"), now=NOW)
    assert out["extraction_method"] == "trafilatura"
    assert any("matched nothing" in w for w in out["warnings"])
    assert out["text"].startswith(SEED[0][:60])


def test_invalid_selector_is_a_warning_not_a_crash():
    out = extract_article(html(), URL, outlet=outlet(body_selector="div[[", drop_selectors=["::nope"]), now=NOW)
    assert out["text"]
    assert sum("not a valid CSS selector" in w for w in out["warnings"]) == 2


def test_title_and_author_selectors():
    before = '<div class="writer">مصطفى كامل</div>'
    out = extract_article(html(before=before), URL, outlet=outlet(author_selector=".writer", title_selector="article h1"),
                          now=NOW)
    assert out["author"] == "مصطفى كامل"
    assert out["title"] == "عنوان الخبر في الصفحة"


# --- cleaning -------------------------------------------------------------------------------------

def test_generic_boilerplate_lines_and_labelled_byline():
    text = "\n".join(["عنوان الخبر", "الكاتب : المرصد الاستراتيجي التاريخ : 15 ديسمبر 2017 م المشاهدات : 4130",
                      "ad a b", "طباعة", SEED[0], "المشاهدات: 1,204", SEED[1], "اقرأ أيضاً: عنوان خبر آخر", "شارك",
                      SEED[1], "المصادر:"])
    cleaned, found = clean_text(text, title="عنوان الخبر", tz="Asia/Damascus")
    assert cleaned.split("\n") == [SEED[0], SEED[1]]
    assert found["author"] == "المرصد الاستراتيجي"
    assert found["date"].iso() == "2017-12-14T22:00:00+00:00"


def test_history_heading_is_not_mistaken_for_a_date_label():
    text = "التاريخ: صراع طويل على الأرض\n" + SEED[0]
    cleaned, found = clean_text(text)
    assert cleaned.startswith("التاريخ: صراع طويل")
    assert "date" not in found


def test_html_to_text_keeps_paragraphs_and_drops_scripts():
    from lxml import html as lhtml

    el = lhtml.fromstring("<div><p>أول <b>فقرة</b></p>نص حر<br>سطر<script>x()</script><ul><li>بند</li></ul></div>")
    assert html_to_text(el) == "أول فقرة\nنص حر\nسطر\nبند"


# --- what is not an article -------------------------------------------------------------------------

@pytest.mark.parametrize("body, headers, reason, kind", [
    (b"", None, "empty", "empty"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", None, "PDF", "not_html"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", {"Content-Type": "image/png"}, "image/png", "not_html"),
    (b'{"id": 1, "title": "not a page"}', {"Content-Type": "application/json"}, "application/json", "not_html"),
    (b"just a line of plain text without any markup at all", {"Content-Type": "text/plain"}, "not an HTML page",
     "not_html"),
    (b"\x00\x01\x02\x03binary\x00\x00stuff" * 50, None, "binary", "not_html"),
    (b"<html><head><title>x</title></head><body><nav><a href='/'>Home</a></nav></body></html>", None,
     "no article text", "no_text"),
    (b"\x1f\x8b\x08\x00garbage-not-really-gzip", None, "cannot be decompressed", "unparseable"),
    (b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>t</title></channel></rss>',
     {"Content-Type": "application/xml"}, "a news feed", "not_html"),
])
def test_not_an_article(body, headers, reason, kind):
    with pytest.raises(ExtractionError) as err:
        extract_article(body, URL, headers=headers)
    assert reason in str(err.value)
    assert URL in str(err.value)
    assert err.value.kind == kind and kind in ExtractionError.KINDS


def test_a_stray_nul_byte_does_not_make_a_page_binary():
    page = html().replace(b"<article>", b"<article>\x00")
    assert extract_article(page, URL, now=NOW)["text"].startswith(SEED[0][:60])


def test_huge_body_is_refused_before_parsing():
    with pytest.raises(ExtractionError, match="MB") as err:
        extract_article(b"<html><body><p>" + b"x" * (MAX_BODY_BYTES + 1), URL)
    assert err.value.kind == "too_large"


@pytest.mark.parametrize("page, hints", [
    (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
     b"<div id='cf-browser-verification'>Checking your browser before accessing the site.</div>"
     b"<script src='/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1'></script></body></html>", {}),
    ("<html><head><title>تنبيه</title></head><body><p>طلبك محجوب مؤقتاً</p><p>كود الخطأ 1020</p></body></html>"
     .encode(), {"blocked_markers": ["طلبك محجوب"]}),
])
def test_block_and_challenge_pages(page, hints):
    with pytest.raises(BlockedPageError, match="block or challenge page") as err:
        extract_article(page, URL, outlet=outlet(**hints) if hints else None)
    assert err.value.kind == "blocked"


def test_undeclared_gzip_body_is_decompressed():
    out = extract_article(gzip.compress(html()), URL, now=NOW)
    assert out["text"].startswith(SEED[0][:60])
    assert any("gzip" in w for w in out["warnings"])


def test_json_ld_body_when_the_page_shows_no_text():
    body_text = " ".join(SEED[:3])
    head = ld({"@type": "NewsArticle", "headline": "خبر", "articleBody": body_text})
    page = f'<html><head>{head}</head><body><div id="app"></div><script>render()</script></body></html>'
    out = extract_article(page.encode("utf-8"), URL, now=NOW)
    assert out["extraction_method"] == "json-ld-body"
    assert out["text"] == body_text


def test_scrapy_headers_and_windows_1256_header():
    from scrapy.http.headers import Headers

    page = html().decode("utf-8").replace('<meta charset="utf-8">', "").encode("windows-1256")
    out = extract_article(page, URL, headers=Headers({"Content-Type": "text/html; charset=windows-1256"}), now=NOW)
    assert out["encoding"] == "windows-1256"
    assert out["text"].startswith(SEED[0][:60])


def test_output_keys_are_index_fields():
    mapping = json.loads((ROOT / "pipelines" / "mapping.json").read_text(encoding="utf-8"))["properties"]
    out = extract_article(html(), URL, now=NOW)
    stored = set(out) - {"warnings", "canonical_url_hint", "amp_url_hint", "encoding"}
    assert stored <= set(mapping), stored - set(mapping)


# --- the real Arabic page with expected snippets ----------------------------------------------------

def test_assabah_arabic_page_snippets():
    expected = json.loads((DATA / "assabah" / "assabah.com.tn.article.expected.json").read_text(encoding="utf-8"))
    out = extract_article((DATA / "assabah" / "assabah.com.tn.article.html").read_bytes(), expected["url"], now=NOW)
    for snippet in expected["with"]:
        assert snippet in out["text"], snippet
    for snippet in expected["without"]:
        assert snippet not in out["text"], snippet
    assert " ".join(out["title"].split()) == " ".join(expected["title"].split())
    assert out["declared_lang"] == "ar"


def test_layout_table_keeps_paragraphs_and_drops_tool_rows():
    """Old portals set the article in a one-column table; its paragraphs stay paragraphs."""
    rows = "".join(f"<p>{p}</p>" for p in SEED[:3])
    page = (f'<html><body><table width="100%"><tr><td><h1>عنوان</h1></td></tr><tr><td class="text">{rows}</td></tr>'
            '<tr><td><a href="/print">طباعة</a> | <a href="/send">أرسل لصديق</a></td></tr></table></body></html>')
    out = extract_article(page.encode("utf-8"), URL, now=NOW)
    assert out["text"].split("\n") == SEED[:3]


def test_invisible_characters_are_removed():
    body = "<p>" + SEED[0].replace(" ", " \u200f", 3) + "\u202d \u202c" + "\ufeff" + "</p>" + BODY
    out = extract_article(html(body=body), URL, now=NOW)
    assert not re.search("[\u200e\u200f\u202a-\u202e\ufeff]", out["text"])
    assert out["text"].split("\n")[0] == SEED[0]


def test_a_lone_less_than_sign_is_text_not_a_tag():
    head = '<meta property="og:title" content="التضخم &lt; 2% والأسعار &gt; المتوقع">'
    assert extract_article(html(head), URL, now=NOW)["title"] == "التضخم < 2% والأسعار > المتوقع"


# --- trafilatura's comparison with other extractors ------------------------------------------

def test_outlet_can_ask_for_trafilaturas_comparison():
    # A real page (tests/data/extraction/SOURCES.md) on which the two paths differ: by default
    # the fast path keeps the gold body; `compare_extractors` runs readability and jusText
    # too and, here, also keeps the rail of other texts that follows it.
    data = ROOT / "tests" / "data" / "extraction" / "scrapinghub"
    (key, gold), = json.loads((data / "ground-truth.json").read_text(encoding="utf-8")).items()
    body = gzip.decompress((data / f"{key}.html.gz").read_bytes())
    fast = extract_article(body, gold["url"], outlet=outlet())["text"]
    compared = extract_article(body, gold["url"], outlet=outlet(compare_extractors=True))["text"]
    assert fast == gold["articleBody"].strip()
    assert compared.startswith(fast[:200]) and len(compared) > 2 * len(fast)


def test_compare_extractors_must_be_a_boolean():
    with pytest.raises(ConfigError, match=r"extraction\.compare_extractors.*expected true or false"):
        outlet(compare_extractors="yes")


def test_a_page_of_links_is_no_article_even_when_the_balanced_mode_reads_them():
    # The precision mode finds nothing on a listing; the balanced mode returns its link texts,
    # one a line, which must not become an article's text.
    items = "".join(f'<li><a href="/news/{i}/story-{i}">{i}</a></li>' for i in range(12))
    page = (f'<!DOCTYPE html><html lang="ar"><head><meta charset="utf-8"><title>home</title></head><body>'
            f'<nav><a href="/">الرئيسية</a> <a href="/about">من نحن</a> <a href="/contact">اتصل بنا</a></nav>'
            f'<ul>{items}</ul></body></html>').encode()
    with pytest.raises(ExtractionError) as err:
        extract_article(page, "https://news.example.org/news/cat1/list")
    assert err.value.kind == "no_text"
