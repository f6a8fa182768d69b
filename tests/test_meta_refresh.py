"""crawler/engine/meta_refresh.py decides every meta-refresh redirect as Scrapy's own middleware
does, on pages of every size and encoding, while reading only the head of the page."""
from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from crawler.engine.meta_refresh import HEAD_BYTES, HeadMetaRefreshMiddleware

ARABIC = "أعلنت وزارة الخارجية في بيان رسمي أن المحادثات ستستأنف الأسبوع المقبل. "
TAG = '<meta http-equiv="refresh" content="0; url=/news/200">'


def page(before: str, tag: str = TAG, after: str = "", charset: str = "utf-8") -> str:
    return (f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>t</title>{before}{tag}</head>'
            f"<body>{after}</body></html>")


FILLER = "<p>" + ARABIC * 400 + "</p>"          # ~50 KB of UTF-8: the page is larger than the head read
CASES = {
    "small page, refresh": (page(""), "utf-8"),
    "large page, refresh in the head": (page("", after=FILLER), "utf-8"),
    "large page, no refresh": (page("", tag="", after=FILLER), "utf-8"),
    "large page, the word refresh but no tag": (page("", tag="", after="refresh " + FILLER), "utf-8"),
    "refresh within 4,096 characters, after 4 KB of Arabic": (page(f"<script>var s='{ARABIC * 40}';</script>",
                                                                 after=FILLER), "utf-8"),
    "refresh after 4,096 characters of Arabic": (page(f"<script>var s='{ARABIC * 70}';</script>", after=FILLER), "utf-8"),
    "refresh after 16 KB": (page(f"<script>var s='{'x' * 20000}';</script>", after=FILLER), "utf-8"),
    "refresh beyond the maximum delay": (page("", tag='<meta http-equiv="refresh" content="500; url=/news/200">',
                                              after=FILLER), "utf-8"),
    "refresh inside noscript": (page("", tag=f"<noscript>{TAG}</noscript>", after=FILLER), "utf-8"),
    "windows-1256 page": (page("", after=FILLER, charset="windows-1256"), "windows-1256"),
    "UTF-16 page": (page("", after=FILLER, charset="utf-16"), "utf-16"),
    "UTF-16 page without refresh": (page("", tag="", after=FILLER, charset="utf-16"), "utf-16"),
}


def _outcome(result, response) -> str:
    if isinstance(result, Request):
        return f"redirect to {result.url}"
    assert result is response, "a response that is not redirected goes on whole"
    return "passed on"


@pytest.mark.parametrize("name", list(CASES))
def test_the_same_decision_as_scrapys_middleware(name):
    text, encoding = CASES[name]
    crawler = get_crawler()
    ours = HeadMetaRefreshMiddleware.from_crawler(crawler)
    scrapys = MetaRefreshMiddleware.from_crawler(crawler)
    body = text.encode(encoding)
    outcomes = []
    for mw in (ours, scrapys):
        request = Request("http://127.0.0.1:8000/news/100")
        response = HtmlResponse(request.url, body=body, request=request,
                                headers={"Content-Type": f"text/html; charset={encoding}"})
        outcomes.append(_outcome(mw.process_response(request, response), response))
    assert outcomes[0] == outcomes[1]


def test_the_cases_cover_both_decisions_and_large_pages():
    """The comparison above would prove nothing if every case passed, or all were small."""
    crawler = get_crawler()
    scrapys = MetaRefreshMiddleware.from_crawler(crawler)
    decisions = set()
    for text, encoding in CASES.values():
        request = Request("http://127.0.0.1:8000/news/100")
        body = text.encode(encoding)
        response = HtmlResponse(request.url, body=body, request=request,
                                headers={"Content-Type": f"text/html; charset={encoding}"})
        decisions.add((_outcome(scrapys.process_response(request, response), response), len(body) > HEAD_BYTES))
    assert decisions == {("redirect to http://127.0.0.1:8000/news/200", True), ("passed on", True),
                         ("redirect to http://127.0.0.1:8000/news/200", False)}


def test_dont_redirect_is_honoured_on_large_pages():
    crawler = get_crawler()
    mw = HeadMetaRefreshMiddleware.from_crawler(crawler)
    request = Request("http://127.0.0.1:8000/news/100", meta={"dont_redirect": True})
    response = HtmlResponse(request.url, body=page("", after=FILLER).encode(), request=request)
    assert mw.process_response(request, response) is response
