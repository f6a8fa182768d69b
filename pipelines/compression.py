"""The one bounded decompression: a gzip (or zlib, or raw deflate) body inflated to at most
`limit` bytes, so a decompression bomb costs a bounded amount of memory. Used for a page sent
gzipped without saying so (pipelines/extract.py), a gzipped sitemap
(crawler/discovery/sitemaps.py) and the outlet probe's bodies (crawler/probe/http.py).

It is here, not Scrapy's scrapy.utils.gz.gunzip(max_size=): pipelines/ and the discovery
planner are Scrapy-free, and this is the whole of it.
"""
from __future__ import annotations

import zlib

GZIP = 16 + zlib.MAX_WBITS       # gzip header only
GZIP_OR_ZLIB = 32 + zlib.MAX_WBITS   # either header, detected
ZLIB = zlib.MAX_WBITS
RAW_DEFLATE = -zlib.MAX_WBITS


class InflateError(ValueError):
    """The data cannot be decompressed (`too_large` False) or inflates past the limit."""

    def __init__(self, message: str, *, too_large: bool = False):
        super().__init__(message)
        self.too_large = too_large


def inflate(data: bytes, limit: int, *, wbits: int = GZIP) -> bytes:
    """`data` decompressed; InflateError when damaged or larger than `limit` bytes."""
    try:
        out = zlib.decompressobj(wbits).decompress(data, limit + 1)
    except zlib.error as exc:
        raise InflateError(str(exc)) from None
    if len(out) > limit:
        raise InflateError(f"more than {limit // 2**20} MB once decompressed", too_large=True)
    return out
