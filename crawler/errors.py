"""The crawl's one vocabulary of failures: every error kind, what it means for a retry, for an
outlet's health and for the crawl's counts, and how an exception becomes one.

The stats (crawler/report/stats.py), the crawl metrics and their Kibana fields (crawler/report/crawls.py,
crawler/ops/kibana.py), the health rule (crawler/report/health.py), the spider's retry decision and
the item pipelines all read POLICY; a new kind is one line here. Kinds are strings
(StrEnum), so a report, a Redis counter or an index field written before stays readable.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from scrapy import exceptions as sx
from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as tx
from twisted.python.failure import Failure


class ErrorKind(StrEnum):
    HTTP_404 = "http_404"
    HTTP_4XX = "http_4xx"
    HTTP_429 = "http_429"
    HTTP_5XX = "http_5xx"
    TIMEOUT = "timeout"
    DNS = "dns"
    CONNECTION = "connection"
    TRUNCATED = "truncated"
    TOO_LARGE = "too_large"
    REDIRECT_LOOP = "redirect_loop"
    ROBOTS = "robots"
    ROBOTS_UNREACHABLE = "robots_unreachable"
    OFFSITE = "offsite"
    PRIVATE_ADDRESS = "private_address"
    BLOCKED = "blocked"
    NOT_HTML = "not_html"
    ENCODING = "encoding"
    EXTRACTION = "extraction"
    FEED_PARSE = "feed_parse"
    SITEMAP_PARSE = "sitemap_parse"
    INDEX_REJECTED = "index_rejected"
    INDEX_UNAVAILABLE = "index_unavailable"
    OTHER = "other"
    # not counted by a crawl: how a crawl process itself ended under `raqib run`, and an
    # outlet entry that finds nothing
    CRAWL_CRASHED = "crawl_crashed"
    CRAWL_TIMEOUT = "crawl_timeout"
    CONFIG = "config"


@dataclass(frozen=True)
class Policy:
    retryable: bool = False      # may go away by itself: the article is tried again by a later crawl
    weight: float = 1.0          # failure points towards the outlet's back-off (crawler/report/health.py)
    in_total: bool = True        # counted in a crawl's errors_total (robots: the outlet's wish, no failure)
    outlets_fault: bool = True   # says something about the outlet (the cluster being down does not)
    counted: bool = True         # a crawl counts it per kind (stats, metrics fields, Kibana)


K = ErrorKind
POLICY: dict[ErrorKind, Policy] = {
    # transient: the network or the site had a bad moment
    K.TIMEOUT: Policy(retryable=True), K.CONNECTION: Policy(retryable=True), K.TRUNCATED: Policy(retryable=True),
    K.HTTP_5XX: Policy(retryable=True), K.OTHER: Policy(retryable=True),
    K.CRAWL_CRASHED: Policy(counted=False), K.CRAWL_TIMEOUT: Policy(counted=False),
    # the site asks us to slow down, or is unreachable by name
    K.HTTP_429: Policy(retryable=True, weight=2.0), K.DNS: Policy(retryable=True, weight=2.0),
    K.ROBOTS_UNREACHABLE: Policy(retryable=True, weight=2.0), K.HTTP_404: Policy(weight=2.0),
    # the site refuses the crawler (a challenge page may be gone next time)
    K.HTTP_4XX: Policy(weight=3.0), K.BLOCKED: Policy(retryable=True, weight=3.0),
    # waiting will not help: the outlet's entry in outlets.yaml (or its robots.txt) must change
    K.CONFIG: Policy(weight=4.0, counted=False), K.ROBOTS: Policy(weight=4.0, in_total=False),
    K.OFFSITE: Policy(weight=4.0), K.PRIVATE_ADDRESS: Policy(weight=4.0),
    # the page, not the site
    K.TOO_LARGE: Policy(), K.REDIRECT_LOOP: Policy(), K.NOT_HTML: Policy(), K.ENCODING: Policy(),
    K.EXTRACTION: Policy(), K.FEED_PARSE: Policy(), K.SITEMAP_PARSE: Policy(),
    # the cluster, not the outlet
    K.INDEX_REJECTED: Policy(outlets_fault=False), K.INDEX_UNAVAILABLE: Policy(outlets_fault=False),
}
assert set(POLICY) == set(ErrorKind), "every ErrorKind needs its POLICY line"

# Derived views, in the order of the enum (the order of the report and the Kibana fields).
ERROR_KINDS: tuple[str, ...] = tuple(k.value for k in ErrorKind if POLICY[k].counted)
RETRYABLE: frozenset[str] = frozenset(k.value for k in ErrorKind if POLICY[k].retryable)
NOT_IN_TOTAL: tuple[str, ...] = tuple(k.value for k in ErrorKind if not POLICY[k].in_total)
NOT_THE_OUTLETS: frozenset[str] = frozenset(k.value for k in ErrorKind if not POLICY[k].outlets_fault)


def policy(kind: str) -> Policy:
    """The policy of `kind`; an unknown kind (a newer process's) is treated as OTHER's."""
    try:
        return POLICY[ErrorKind(kind)]
    except ValueError:
        return Policy()


# ExtractionError.kind (pipelines/extract.py) -> the crawl's error kind. A page that held
# no article is "extraction" whatever the detail; the detail stays in the message.
EXTRACTION_KINDS: dict[str, ErrorKind] = {
    "blocked": K.BLOCKED, "not_html": K.NOT_HTML, "too_large": K.TOO_LARGE,
    "empty": K.EXTRACTION, "no_text": K.EXTRACTION, "unparseable": K.EXTRACTION,
}


def extraction_kind(kind: str) -> ErrorKind:
    return EXTRACTION_KINDS.get(kind, K.EXTRACTION)


class Refused(IgnoreRequest):
    """A request raqib chose not to send; `kind` is its error kind in the stats."""
    kind: str = K.OTHER


def classify_failure(failure: Failure) -> str:
    """The error kind of a failed request, as counted in the stats."""
    return classify_exception(failure.value)


def classify_exception(exc: BaseException) -> str:
    if isinstance(exc, Refused):
        return exc.kind
    if isinstance(exc, HttpError):
        status = exc.response.status
        if status in (404, 410):
            return K.HTTP_404
        if status == 429:
            return K.HTTP_429
        return K.HTTP_5XX if status >= 500 else K.HTTP_4XX
    if isinstance(exc, IgnoreRequest):
        text = str(exc).lower()
        if "redirect" in text:
            return K.REDIRECT_LOOP
        if "maxsize" in text or "max size" in text or "exceeded" in text:
            return K.TOO_LARGE      # HttpCompressionMiddleware: a body that inflates past DOWNLOAD_MAXSIZE
        return K.OTHER
    return _network_kind(exc)


def _network_kind(exc: BaseException) -> str:
    checks = (
        (K.TIMEOUT, (getattr(sx, "DownloadTimeoutError", ()), tx.TimeoutError, tx.TCPTimedOutError)),
        (K.DNS, (getattr(sx, "CannotResolveHostError", ()), tx.DNSLookupError)),
        (K.TRUNCATED, (getattr(sx, "ResponseDataLossError", ()),)),
        (K.TOO_LARGE, (getattr(sx, "DownloadCancelledError", ()),)),
        (K.CONNECTION, (getattr(sx, "DownloadConnectionRefusedError", ()), getattr(sx, "DownloadFailedError", ()),
                        tx.ConnectError, tx.ConnectionLost, tx.ConnectionDone, ConnectionError)),
    )
    for kind, candidates in checks:
        classes = tuple(c for c in candidates if isinstance(c, type))
        if classes and isinstance(exc, classes):
            return kind
    name = type(exc).__name__
    if "Timeout" in name:
        return K.TIMEOUT
    if "DataLoss" in name or "PartialDownload" in name:
        return K.TRUNCATED
    return K.OTHER
