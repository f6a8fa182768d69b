"""Faults served for real: what each one is, where a crawl meets it, and the bytes it sends.

Every fault lives on one outlet, at a URL of that outlet's real shape (an article fault's URL
matches the outlet's `article_pattern`), linked from the channel named in `channel`, so an
ordinary crawl of a mirror built with `faults=True` runs into all of them. `FAULTS` is the
one table of them; the package README shows it as `markdown_table()` prints it.
"""
from __future__ import annotations

import math
import random
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

from crawler.mirror.server import Response


@dataclass(frozen=True)
class Fault:
    kind: str
    outlet: str
    channel: str         # where a crawl finds the link
    served: str          # what the server does
    expect: str          # what a correct crawl does
    indexed: bool        # the article behind the fault must end up indexed, exactly once
    content: bool = False  # the page carries a real article from the data


FAULTS: tuple[Fault, ...] = (
    # --- HTTP status and timing (Al Mayadeen: linked from /news/politics, the current month's sitemap and home)
    Fault("http_503", "almayadeen", "section, sitemap, home",
          "503 Service Unavailable on every request, no Retry-After",
          "retry a bounded number of times with backoff, then give up and count it; not indexed", False),
    Fault("http_500_transient", "almayadeen", "section, sitemap, home",
          "500 for the first two requests, then the article",
          "retry and index the article once", True, True),
    Fault("http_429", "almayadeen", "section, sitemap, home",
          "429 with Retry-After: 3 until three seconds after the first request, then the article "
          "(asking earlier gets another 429)",
          "wait as told, then index the article once; the log shows no request inside the window", True, True),
    Fault("timeout", "almayadeen", "section, sitemap, home",
          "accepts the connection and sends nothing for `hang_seconds` (default 120)",
          "give up at the download timeout, count a timeout, carry on", False),
    Fault("slow_body", "almayadeen", "section, sitemap, home",
          "200 with the full Content-Length, then the body in 128-byte drops over `drip_seconds` (default 90)",
          "give up at the download timeout (a whole-response timeout), count it; not indexed", False, True),
    Fault("sitemap_404", "almayadeen", "sitemap index",
          "a monthly sitemap listed in /sitemaps/all.xml answers 404",
          "count a sitemap error, read the other sitemaps", False),
    Fault("sitemap_malformed", "almayadeen", "sitemap index",
          "a monthly sitemap that is not well-formed XML (cut off inside an element)",
          "count a sitemap parse error, read the other sitemaps", False),
    Fault("sitemap_gzip_bomb", "almayadeen", "sitemap index",
          "a .xml.gz sitemap of about 1 MB that inflates to 1 GiB",
          "stop inflating at a size limit, count it, keep memory bounded", False),
    Fault("sitemap_url_404", "almayadeen", "sitemap (current month)",
          "an article URL listed in the sitemap answers 404 (a deleted article)",
          "count a 404 once, no retries, nothing indexed", False),
    # --- Encodings (Al-Marjie: linked from home and /rss/1; their ids sit in the id sequence)
    Fault("charset_none", "almarjie", "home, feed, id walk",
          "windows-1256 bytes; Content-Type text/html without charset; no meta charset",
          "detect windows-1256 and index the article with the right Arabic text", True, True),
    Fault("charset_meta_only", "almarjie", "home, feed, id walk",
          "windows-1256 bytes; the charset only in <meta http-equiv=Content-Type>",
          "use the meta charset and index the article correctly", True, True),
    Fault("charset_wrong", "almarjie", "home, feed, id walk",
          "windows-1256 bytes served as text/html; charset=utf-8 (a wrong server default)",
          "notice the declared charset does not decode, detect windows-1256, index correctly", True, True),
    Fault("invalid_utf8", "almarjie", "home, feed, id walk",
          "a UTF-8 page with a few invalid bytes (a stray 0xA0 between two words, 0xFF 0xFE in a comment)",
          "keep UTF-8 (do not switch the whole page to a legacy charset), replace the bad bytes, index", True, True),
    # --- Redirects and broken bodies (Al-Khanadeq: linked from home and its section listing)
    Fault("redirect_loop", "alittihad", "home, section",
          "302 from one article URL to a second one and back",
          "stop at the redirect limit, count it; no endless requests", False),
    Fault("redirect_offsite", "alittihad", "home, section",
          "302 to the same path on another host (the mirror's `offsite` trap server)",
          "never follow a redirect outside the outlet's domains; the trap's log stays empty", False),
    Fault("redirect_private", "alittihad", "home, section",
          "302 to http://169.254.169.254/latest/meta-data/ (link-local, cloud metadata)",
          "refuse the redirect without connecting, count it", False),
    Fault("truncated", "alittihad", "home, section",
          "Content-Length promises the whole page, a third is sent, the connection closes",
          "treat it as a failed download (data loss), never index a partial page", False),
    Fault("empty", "alittihad", "home, section",
          "200, text/html, zero-length body",
          "count an empty page, index nothing", False),
    # --- Size and type (islamsyria: linked from the listing and the JSON Feed)
    Fault("huge", "strategic_observatory", "listing, feed",
          "a 40 MiB HTML page with Content-Length",
          "refuse or abort at the maximum page size, count it", False),
    Fault("huge_chunked", "strategic_observatory", "listing, feed",
          "the same 40 MiB page with chunked transfer encoding (no length known in advance)",
          "abort while streaming at the maximum page size, count it", False),
    Fault("pdf", "strategic_observatory", "listing, feed",
          "a PDF document (application/pdf) at an article URL",
          "skip as non-HTML, count it", False),
    Fault("image", "strategic_observatory", "listing, feed",
          "a PNG image (image/png) at an article URL",
          "skip as non-HTML, count it", False),
    Fault("binary_as_html", "strategic_observatory", "listing, feed",
          "64 KiB of random bytes labelled text/html",
          "recognise binary content, index nothing, count it", False),
    Fault("gzip_bomb", "strategic_observatory", "listing, feed",
          "Content-Encoding: gzip, about 1 MB that inflates to 1 GiB",
          "stop inflating at the size limit, count it, keep memory bounded", False),
    # --- Feeds (Noon Post: the WordPress comments feed linked from home)
    Fault("feed_billion_laughs", "noonpost", "home <link rel=alternate>",
          "/comments/feed/ is an RSS document whose DTD defines nested entities (billion laughs)",
          "refuse entity expansion, count a feed error, read the real feed", False),
)
BY_KIND = {f.kind: f for f in FAULTS}


def markdown_table(fault_urls: dict[str, str]) -> str:
    """The fault table as the package README shows it (a test keeps the two in step), with
    each fault's path on its outlet's host (stable from run to run; only ports change).
    `fault_urls` is `Mirror(faults=True).fault_urls()` (the mirror is above this module)."""
    paths = {kind: unquote(url) for kind, url in fault_urls.items()}
    rows = ["| kind | outlet | path | linked from | served | a correct crawl | indexed |",
            "|---|---|---|---|---|---|---|"]
    rows += [f"| `{f.kind}` | {f.outlet} | `{paths[f.kind]}` | {f.channel} | {f.served} | {f.expect} | "
             f"{'yes' if f.indexed else 'no'} |" for f in FAULTS]
    return "\n".join(rows)
# Fault pages without an article of their own get a neutral headline to be listed under.
HEADLINES = (
    "مؤتمر صحافي مشترك لوزيري الخارجية في العاصمة", "تعديلات جديدة على قانون الانتخابات النيابية",
    "ارتفاع أسعار المحروقات للمرة الثالثة هذا العام", "وفد برلماني يزور المعبر الحدودي",
    "انطلاق العام الدراسي وسط إجراءات استثنائية", "اجتماع طارئ لمجلس الوزراء لبحث أزمة الكهرباء",
    "قراءة في نتائج القمة العربية الأخيرة", "تقرير: تراجع الصادرات الزراعية في الربع الأول",
    "الأمم المتحدة تدعو إلى تمويل عاجل لخطة الاستجابة", "افتتاح معرض الكتاب بمشاركة واسعة",
    "جدل حول موازنة العام المقبل", "محادثات فنية حول ترسيم الحدود البحرية",
)

HUGE_BYTES = 40 * 1024 * 1024
BOMB_BYTES = 1024 * 1024 * 1024
RETRY_AFTER = 3
TRANSIENT_FAILURES = 2
PRIVATE_TARGET = "http://169.254.169.254/latest/meta-data/"


class FaultState:
    """Per-mirror memory of faults that change over time (the transient 500, the 429 window)."""

    def __init__(self, hang_seconds: float = 120.0, drip_seconds: float = 90.0):
        self.hang_seconds = hang_seconds
        self.drip_seconds = drip_seconds
        self._lock = threading.Lock()
        self._hits: dict[str, int] = {}
        self._first: dict[str, float] = {}

    def hit(self, kind: str) -> int:
        with self._lock:
            self._hits[kind] = self._hits.get(kind, 0) + 1
            return self._hits[kind]

    def first_seen(self, kind: str) -> float:
        with self._lock:
            return self._first.setdefault(kind, time.monotonic())


def _content(page: Response | None, kind: str) -> Response:
    """The article page a content fault rewrites (the server renders it for those kinds)."""
    if page is None:
        raise ValueError(f"fault {kind!r} rewrites an article page, and none was rendered")
    return page


def respond(kind: str, state: FaultState, page: Response | None, *, redirect_to: str | None = None) -> Response:
    """The fault's response. `page` is the normal rendering of the article (content faults)."""
    if kind == "http_503":
        return Response(status=503, cacheable=False, body=b"<html><head><title>503 Service Temporarily Unavailable</title>"
                        b"</head><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>")
    if kind == "http_500_transient":
        if state.hit(kind) <= TRANSIENT_FAILURES:
            return Response(status=500, cacheable=False, body=b"<html><body><h1>500 Internal Server Error</h1></body></html>")
        return _content(page, kind)
    if kind == "http_429":
        first = state.first_seen(kind)
        left = first + RETRY_AFTER - time.monotonic()
        if left > 0:
            return Response(status=429, cacheable=False, headers=[("Retry-After", str(max(1, math.ceil(left))))],
                            body=b"<html><body><h1>429 Too Many Requests</h1></body></html>")
        return _content(page, kind)
    if kind == "timeout":
        return Response(stream=_hang(state.hang_seconds))
    if kind == "slow_body":
        slow = _content(page, kind)
        return Response(stream=_drip(slow.body, slow.content_type, state.drip_seconds))
    if kind in ("redirect_loop", "redirect_offsite", "redirect_private"):
        return Response.redirect(redirect_to or PRIVATE_TARGET, status=302)
    if kind == "truncated":
        return Response(stream=_truncated(_content(page, kind).body))
    if kind == "empty":
        return Response(body=b"", cacheable=False, compressible=False)
    if kind == "huge":
        return Response(stream=_huge(_content(page, kind).body, chunked=False))
    if kind == "huge_chunked":
        return Response(stream=_huge(_content(page, kind).body, chunked=True))
    if kind == "pdf":
        return Response(body=pdf_bytes(), content_type="application/pdf", compressible=False)
    if kind == "image":
        return Response(body=png_bytes(), content_type="image/png", compressible=False)
    if kind == "binary_as_html":
        return Response(body=random.Random(1256).randbytes(64 * 1024), content_type="text/html", compressible=False)
    if kind == "gzip_bomb":
        return Response(body=gzip_bomb(), content_type="text/html; charset=utf-8", compressible=False,
                        cacheable=False, headers=[("Content-Encoding", "gzip")])
    raise KeyError(f"no fault named {kind!r}")


# --- streams: faults that misbehave below HTTP's level ------------------------------------

def _headers(handler, status: int, headers: list[tuple[str, str]]) -> None:
    handler.send_response_only(status)
    handler.send_header("Server", "nginx")
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.flush()


def _hang(seconds: float):
    def stream(handler, stop: threading.Event) -> None:
        stop.wait(seconds)
    return stream


def _drip(body: bytes, content_type: str, seconds: float):
    def stream(handler, stop: threading.Event) -> None:
        _headers(handler, 200, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        if handler.command == "HEAD":
            return
        pieces = [body[i:i + 128] for i in range(0, len(body), 128)]
        pause = seconds / max(1, len(pieces))
        for piece in pieces:
            if stop.wait(pause):
                return
            handler.wfile.write(piece)
            handler.wfile.flush()
    return stream


def _truncated(body: bytes):
    def stream(handler, stop: threading.Event) -> None:
        _headers(handler, 200, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
        if handler.command != "HEAD":
            handler.wfile.write(body[: len(body) // 3])
            handler.wfile.flush()
        handler.close_connection = True
    return stream


def _huge(page: bytes, chunked: bool):
    """The article page with its body repeated until the page weighs HUGE_BYTES."""
    head, sep, tail = page.partition(b"</body>")
    filler = b"<p>" + b"\xd8\xa7\xd9\x84\xd8\xae\xd8\xa8\xd8\xb1 " * 120 + b"</p>\n"

    def pieces():
        yield head
        size = len(head) + len(sep) + len(tail)
        while size + len(filler) <= HUGE_BYTES:
            yield filler
            size += len(filler)
        yield b" " * (HUGE_BYTES - size)
        yield sep + tail

    def stream(handler, stop: threading.Event) -> None:
        headers = [("Content-Type", "text/html; charset=utf-8")]
        headers.append(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(HUGE_BYTES)))
        _headers(handler, 200, headers)
        if handler.command == "HEAD":
            return
        buf = bytearray()
        for piece in pieces():
            buf += piece
            if len(buf) >= 256 * 1024:
                _write(handler, bytes(buf), chunked)
                buf.clear()
                if stop.is_set():
                    return
        _write(handler, bytes(buf), chunked)
        if chunked:
            handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    return stream


def _write(handler, data: bytes, chunked: bool) -> None:
    if not data:
        return
    if chunked:
        handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    else:
        handler.wfile.write(data)


# --- payloads -------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """About 1 MB of gzip that inflates to 1 GiB of spaces, built without 1 GiB of work:
    after a full flush deflate restarts from a clean state, so one compressed block of
    16 MiB of spaces can be repeated; the trailer's CRC is computed block by block."""
    block = b" " * (16 * 1024 * 1024)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    final = comp.flush(zlib.Z_FINISH)
    count = BOMB_BYTES // len(block)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc & 0xFFFFFFFF, BOMB_BYTES & 0xFFFFFFFF)
    return header + piece * count + final + trailer


def billion_laughs(site_name: str) -> bytes:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<!DOCTYPE rss [", ' <!ENTITY lol "lol">']
    for i in range(1, 10):
        prev = "lol" if i == 1 else f"lol{i - 1}"
        lines.append(f' <!ENTITY lol{i} "' + f"&{prev};" * 10 + '">')
    lines.append("]>")
    lines.append('<rss version="2.0"><channel>')
    lines.append(f"<title>التعليقات على: {site_name}</title><link>/</link><description>&lol9;</description>")
    lines.append("<item><title>&lol9;</title><description>&lol9;</description></item>")
    lines.append("</channel></rss>")
    return "\n".join(lines).encode("utf-8")


@lru_cache(maxsize=1)
def png_bytes() -> bytes:
    """A real 16x16 grey PNG, for images and the image-at-an-article-URL fault."""
    width = height = 16
    raw = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@lru_cache(maxsize=1)
def pdf_bytes() -> bytes:
    """A valid one-page PDF (cross-reference offsets computed), as a report download would be."""
    text = b"BT /F1 18 Tf 72 760 Td (Strategic Observatory - monthly report) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(text)).encode() + b" >>\nstream\n" + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def malformed_sitemap(urls: list[str]) -> bytes:
    """A sitemap cut off in the middle of an element, as a failed upload leaves it."""
    body = ['<?xml version="1.0" encoding="UTF-8"?>', '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    for url in urls:
        body.append(f"<url><loc>{url}</loc><lastmod>2020-11-0")
    return "\n".join(body).encode("utf-8")


def windows_1256(page: str) -> bytes:
    return page.encode("cp1256", errors="xmlcharrefreplace")


def invalid_utf8(page: bytes) -> bytes:
    """Corrupt a UTF-8 page the way real ones are: a latin-1 no-break space pasted between
    two words of the first paragraph, and junk bytes in a comment."""
    page = page.replace(b"<head>", b"<head>\n<!-- cache \xff\xfe -->", 1)
    at = page.find(b"<p>")
    if at >= 0:
        space = page.find(b" ", at + 3)
        if space > 0:
            page = page[:space] + b" \xa0" + page[space:]
    return page
