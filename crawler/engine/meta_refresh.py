"""Scrapy's meta-refresh redirect without decoding the whole page first.

Scrapy's MetaRefreshMiddleware looks for `<meta http-equiv="refresh">` in the first 4,096
characters of a page, but gets them from `response.text`, which decodes all of it: on an
article page of 150 KB that decode was most of the middleware's cost, and nothing else in
the reactor reads the text of an article page (extraction decodes the body itself, in its
worker thread). Here the same search runs on a response holding only the bytes that can
make up those 4,096 characters; a page whose head does not contain the word "refresh" at
all, as almost none does, is passed on without decoding anything.
"""
from __future__ import annotations

from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.http import HtmlResponse

# Scrapy reads text[:4096]; no character of any encoding Scrapy decodes takes more than 4 bytes.
HEAD_CHARS = 4096
HEAD_BYTES = 4 * HEAD_CHARS


class HeadMetaRefreshMiddleware(MetaRefreshMiddleware):
    """MetaRefreshMiddleware on the head of the page: the same redirects, the same limits."""

    def process_response(self, request, response, spider=None):
        if not isinstance(response, HtmlResponse) or len(response.body) <= HEAD_BYTES:
            return super().process_response(request, response)
        head = response.body[:HEAD_BYTES]
        if _ascii_compatible(head) and b"refresh" not in head.lower():
            return response
        # The redirect (or not) is decided on the head; what goes on is the whole response.
        outcome = super().process_response(request, response.replace(body=head))
        return response if isinstance(outcome, HtmlResponse) else outcome


def _ascii_compatible(head: bytes) -> bool:
    """Whether ASCII letters appear in the bytes as themselves (not in UTF-16, where the
    word would be spread over NUL bytes and the byte test could not see it)."""
    return not head.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\x00" not in head[:512]
