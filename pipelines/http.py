"""The one small HTTP client for raqib's own outgoing calls outside the crawl: alert webhooks
and Slack (pipelines/alerts/channels.py) and Kibana's import API (crawler/ops/kibana.py).

It is urllib3 (already installed with the Elasticsearch client), used the same way by all
three: one POST, a timeout, TLS verified against the system CAs or a given CA file, no
retries and no redirects (a redirected POST arrives as a GET without its body, so a
redirect is reported, never followed). An answer of any status comes back as an `Answer`;
no answer at all is `Unreachable`, whose `kind` lets each caller say what to do.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass

import urllib3
from urllib3 import exceptions as ux


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    body: bytes


class Unreachable(Exception):
    """No HTTP answer. `kind` is timeout (connected, no answer in time), tls_verify (the
    certificate could not be verified), tls (another TLS failure) or connection (refused,
    unknown host, reset, connect timeout); `str()` is the short cause."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, ca_certs: str | None = None,
         max_body: int = 1 << 20) -> Answer:
    """POST `body` to `url`; at most `max_body` bytes of the answer are read."""
    pool = urllib3.PoolManager(ca_certs=ca_certs) if ca_certs else urllib3.PoolManager()
    try:
        response = pool.request("POST", url, body=body, headers=headers, retries=False, redirect=False,
                                timeout=urllib3.Timeout(connect=timeout, read=timeout), preload_content=False)
        try:
            data = response.read(max_body)
        finally:
            response.release_conn()
    except ux.SSLError as exc:
        verify = any(isinstance(e, ssl.SSLCertVerificationError) for e in _chain(exc)) or \
            "CERTIFICATE_VERIFY_FAILED" in str(exc)
        raise Unreachable("tls_verify" if verify else "tls", _cause(exc)) from None
    except ux.ReadTimeoutError:
        raise Unreachable("timeout", "timed out") from None
    except (ux.HTTPError, OSError) as exc:
        raise Unreachable("connection", _cause(exc)) from None
    finally:
        pool.clear()
    return Answer(response.status, response.reason or "", data)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__ or next(
            (a for a in getattr(current, "args", ()) if isinstance(a, BaseException)), None)
    return seen


def _cause(exc: BaseException) -> str:
    """The innermost plain reason: "Connection refused", not urllib3's wrapper text."""
    for inner in reversed(_chain(exc)):
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror
        if isinstance(inner, ssl.SSLError):
            return str(inner)
    if isinstance(exc, ux.ConnectTimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
