"""Each fault the mirror serves behaves as documented in crawler/mirror/faults.py, and a crawl
meets it through the channel the table names."""
from __future__ import annotations

import re
import time
import zlib
from html import unescape
from urllib.parse import unquote, urljoin

import defusedxml
import defusedxml.ElementTree as DET
import pytest
from xml.etree.ElementTree import ParseError

from crawler.mirror import Mirror
from crawler.mirror import faults as F
from crawler.mirror.client import fetch, wait_for_nothing
from crawler.mirror.dates import AL_MAYADEEN_TZ

SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture(scope="module")
def mirror():
    with Mirror(faults=True, hang_seconds=2.5, drip_seconds=2.0) as m:
        yield m


@pytest.fixture(scope="module")
def urls(mirror):
    return mirror.fault_urls()


def truth_of(mirror, kind):
    return next(t for k in mirror.sites for t in mirror.truth(k) if t["fault"] == kind)


def hrefs(url: str) -> set[str]:
    html = fetch(url).text
    found = re.findall(r'(?:href="|<loc>|<link>|"url": ")([^"<]+)', html)
    return {unquote(urljoin(url, unescape(h))) for h in found}


def test_every_fault_has_a_url_and_a_documented_expectation(mirror, urls):
    assert set(urls) == {f.kind for f in F.FAULTS}
    for row in mirror.faults_table():
        assert row["url"].startswith("http://127.0.0.") and row["expect"] and row["served"]
        assert row["url"].startswith(mirror.base_url(row["outlet"]))


def test_without_faults_nothing_is_linked_or_served():
    with Mirror() as m:
        assert m.fault_urls() == {}
        kinds = {t["fault"] for k in m.sites for t in m.truth(k)}
        assert kinds == {None}
        index = fetch(m.base_url("almayadeen") + "/sitemaps/all.xml").text
        assert "sitemap-2020-" not in index
        comments = fetch(m.base_url("noonpost") + "/comments/feed/")
        assert DET.fromstring(comments.body) is not None


def test_article_faults_match_the_outlets_article_patterns(mirror, urls, tmp_path):
    from crawler.outlets import load_outlets

    outlets = load_outlets(mirror.write_config(tmp_path).parent)
    for row in mirror.faults_table():
        if row["kind"].startswith(("sitemap_", "feed_")) and row["kind"] != "sitemap_url_404":
            continue
        assert outlets[row["outlet"]].is_article(row["url"]), row


def test_faults_are_linked_from_the_channels_a_crawl_reads(mirror, urls):
    def u(kind):
        return unquote(urls[kind])
    may = mirror.base_url("almayadeen")
    section = hrefs(may + "/news/politics") | hrefs(may + "/news/politics?page=2")
    index = hrefs(f"{may}/sitemaps/all.xml")

    def sitemap_of(kind):
        """The monthly sitemap of the month the fault page was published in (the month
        before the mirror's clock when that is the first minute of a month), read only
        when the index lists it."""
        article = next(a for a in mirror.site("almayadeen").articles if a.fault == kind)
        when = article.published.astimezone(AL_MAYADEEN_TZ)
        month = f"{may}/sitemaps/all/sitemap-{when.year}-{when.month}.xml"
        assert month in index, (kind, month)
        return hrefs(month)
    for kind in ("http_503", "http_500_transient", "http_429", "timeout", "slow_body"):
        assert u(kind) in section and u(kind) in sitemap_of(kind), kind
    assert u("sitemap_url_404") in sitemap_of("sitemap_url_404") and u("sitemap_url_404") not in section
    index = fetch(may + "/sitemaps/all.xml").text
    for kind in ("sitemap_404", "sitemap_malformed", "sitemap_gzip_bomb"):
        assert f"<loc>{urls[kind]}</loc>" in index
    mar = mirror.base_url("almarjie")
    for kind in ("charset_none", "charset_meta_only", "charset_wrong", "invalid_utf8"):
        assert u(kind) in hrefs(mar + "/") and u(kind) in hrefs(mar + "/rss/1"), kind
    kh = mirror.base_url("alittihad")
    for kind in ("redirect_loop", "redirect_offsite", "redirect_private", "truncated", "empty"):
        assert u(kind) in hrefs(kh + "/"), kind
    so = mirror.base_url("strategic_observatory")
    listing = hrefs(so + "/portal/article/list/12")
    feed = hrefs(so + "/portal/feed.json")
    for kind in ("huge", "huge_chunked", "pdf", "image", "binary_as_html", "gzip_bomb"):
        assert u(kind) in listing and u(kind) in feed, kind
    assert urls["feed_billion_laughs"] in fetch(mirror.base_url("noonpost") + "/").text


def test_persistent_503(urls):
    assert [fetch(urls["http_503"]).status for _ in range(3)] == [503, 503, 503]


def test_transient_500_then_the_article(mirror, urls):
    statuses = [fetch(urls["http_500_transient"]).status for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert truth_of(mirror, "http_500_transient")["title"] in unescape(fetch(urls["http_500_transient"]).text)


def test_429_until_retry_after_has_passed(mirror, urls):
    first = fetch(urls["http_429"])
    assert first.status == 429 and 1 <= int(first.header("retry-after")) <= F.RETRY_AFTER
    assert fetch(urls["http_429"]).status == 429                 # too early
    time.sleep(F.RETRY_AFTER + 0.2)
    late = fetch(urls["http_429"])
    assert late.status == 200 and truth_of(mirror, "http_429")["title"] in unescape(late.text)


def test_timeout_sends_nothing(urls):
    assert wait_for_nothing(urls["timeout"], timeout=1.0)


def test_slow_body_drips_for_drip_seconds(urls):
    started = time.monotonic()
    reply = fetch(urls["slow_body"], timeout=10)
    took = time.monotonic() - started
    assert reply.status == 200 and reply.complete and int(reply.header("content-length")) == len(reply.body)
    assert took >= 1.5


def test_redirects_loop_leave_the_domain_or_go_private(mirror, urls):
    first = fetch(urls["redirect_loop"])
    assert first.status == 302
    second = fetch(first.header("location"))
    assert second.status == 302 and second.header("location") == urls["redirect_loop"]
    off = fetch(urls["redirect_offsite"])
    trap = mirror.base_url("offsite")
    assert off.status == 302 and off.header("location").startswith(trap + "/post/")
    assert mirror.requests("offsite") == []            # nothing there until someone follows it
    private = fetch(urls["redirect_private"])
    assert private.status == 302 and private.header("location") == "http://169.254.169.254/latest/meta-data/"


def test_windows_1256_without_any_declared_charset(mirror, urls):
    reply = fetch(urls["charset_none"])
    assert reply.header("content-type") == "text/html"
    assert b"charset" not in reply.body.lower()
    with pytest.raises(UnicodeDecodeError):
        reply.body.decode("utf-8")
    assert truth_of(mirror, "charset_none")["text"].splitlines()[0] in unescape(reply.body.decode("cp1256"))


def test_windows_1256_declared_only_in_a_meta_tag(mirror, urls):
    reply = fetch(urls["charset_meta_only"])
    assert reply.header("content-type") == "text/html"
    assert b'content="text/html; charset=windows-1256"' in reply.body
    assert truth_of(mirror, "charset_meta_only")["title"] in unescape(reply.body.decode("cp1256"))


def test_wrong_declared_charset(mirror, urls):
    reply = fetch(urls["charset_wrong"])
    assert reply.header("content-type") == "text/html; charset=utf-8"
    with pytest.raises(UnicodeDecodeError):
        reply.body.decode("utf-8")
    assert truth_of(mirror, "charset_wrong")["text"].splitlines()[-1] in unescape(reply.body.decode("cp1256"))


def test_invalid_utf8_bytes_in_a_utf8_page(mirror, urls):
    reply = fetch(urls["invalid_utf8"])
    with pytest.raises(UnicodeDecodeError):
        reply.body.decode("utf-8")
    text = unescape(reply.body.decode("utf-8", "replace"))
    lines = truth_of(mirror, "invalid_utf8")["text"].splitlines()
    assert all(line in text for line in lines[1:])
    assert text.count("\ufffd") == 3                     # 0xFF, 0xFE and one stray 0xA0


def test_truncated_body(urls):
    reply = fetch(urls["truncated"])
    assert reply.status == 200 and not reply.complete
    assert len(reply.body) < int(reply.header("content-length"))


def test_empty_body(urls):
    reply = fetch(urls["empty"])
    assert reply.status == 200 and reply.body == b"" and reply.header("content-length") == "0"
    assert reply.header("content-type").startswith("text/html")


def test_huge_pages_with_and_without_a_length(urls):
    sized = fetch(urls["huge"], timeout=30)
    assert int(sized.header("content-length")) == F.HUGE_BYTES == len(sized.body)
    chunked = fetch(urls["huge_chunked"], timeout=30)
    assert chunked.header("transfer-encoding") == "chunked" and chunked.header("content-length") is None
    assert len(chunked.body) == F.HUGE_BYTES and chunked.body.endswith(b"</html>\n")


def test_non_html_at_article_urls(urls):
    pdf = fetch(urls["pdf"])
    assert pdf.header("content-type") == "application/pdf"
    assert pdf.body.startswith(b"%PDF-1.4") and pdf.body.rstrip().endswith(b"%%EOF")
    png = fetch(urls["image"])
    assert png.header("content-type") == "image/png" and png.body.startswith(b"\x89PNG\r\n\x1a\n")
    binary = fetch(urls["binary_as_html"])
    assert binary.header("content-type") == "text/html" and len(binary.body) == 64 * 1024
    with pytest.raises(UnicodeDecodeError):
        binary.body.decode("utf-8")


def inflates_past(body: bytes, limit: int, wbits: int = 31) -> bool:
    d = zlib.decompressobj(wbits)
    out = d.decompress(body, limit)
    return len(out) == limit and bool(d.unconsumed_tail)


def test_gzip_bombs(urls):
    page = fetch(urls["gzip_bomb"], headers={"Accept-Encoding": "gzip"})
    assert page.header("content-encoding") == "gzip" and len(page.body) < 2 * 1024 * 1024
    assert inflates_past(page.body, 50 * 1024 * 1024)
    sitemap = fetch(urls["sitemap_gzip_bomb"])
    assert sitemap.header("content-type") == "application/x-gzip" and len(sitemap.body) < 2 * 1024 * 1024
    assert inflates_past(sitemap.body, 50 * 1024 * 1024)


def test_the_bomb_really_holds_a_gibibyte():
    d = zlib.decompressobj(31)
    total = 0
    data = F.gzip_bomb()
    while data:
        total += len(d.decompress(data, 64 * 1024 * 1024))
        data = d.unconsumed_tail
    total += len(d.flush())
    assert total == F.BOMB_BYTES and d.eof


def test_sitemap_faults(mirror, urls):
    assert fetch(urls["sitemap_404"]).status == 404
    malformed = fetch(urls["sitemap_malformed"])
    assert malformed.status == 200
    with pytest.raises(ParseError):
        DET.fromstring(malformed.body)
    assert fetch(urls["sitemap_url_404"]).status == 404


def test_billion_laughs_feed_is_refused_by_a_safe_parser(urls):
    reply = fetch(urls["feed_billion_laughs"])
    assert reply.status == 200 and b"<!ENTITY lol9" in reply.body
    with pytest.raises(defusedxml.EntitiesForbidden):
        DET.fromstring(reply.body)


def test_indexable_faults_are_in_the_truth_and_the_others_are_not(mirror):
    expected = {t["fault"] for k in mirror.sites for t in mirror.truth(k) if t["fault"]}
    assert expected == {f.kind for f in F.FAULTS if f.indexed}


def test_the_package_readme_shows_the_fault_table_as_the_code_defines_it():
    from pathlib import Path

    import crawler.mirror

    readme = (Path(crawler.mirror.__file__).parent / "README.md").read_text(encoding="utf-8")
    assert F.markdown_table() in readme, "run `python -m crawler.mirror faults` and paste the table into README.md"
