"""Connecting to Elasticsearch: one place for URLs, credentials, TLS and the errors a user sees.

Credentials come from the environment only (`RAQIB_ES_API_KEY`, or `RAQIB_ES_USER` and
`RAQIB_ES_PASSWORD`; `RAQIB_ES_CA_CERTS` for a private CA) and never appear in a message:
every URL shown is stripped of user information first.
"""
from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

from elasticsearch import Elasticsearch
from elasticsearch import exceptions as es_exc
from elastic_transport import TransportError, TlsError, ConnectionError as TransportConnectionError


class ClusterError(Exception):
    """The cluster cannot be used; the message says why and what to do, and holds no secret."""


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        parts = parts._replace(netloc=host)
    return urlunsplit(parts)


def redact(text: str) -> str:
    """Remove anything secret-looking from a message: URL user info and known secret values."""
    text = re.sub(r"(https?://)[^/@\s]+@", r"\1", text)
    for env in ("RAQIB_ES_API_KEY", "RAQIB_ES_PASSWORD", "RAQIB_SMTP_PASSWORD", "RAQIB_WEBHOOK_SECRET"):
        value = os.environ.get(env)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def connect(urls: list[str] | str, *, request_timeout: float = 30.0, check: bool = True) -> Elasticsearch:
    """A client for the cluster at `urls`, checked with one cheap request when `check`.

    Several URLs are several nodes of one cluster: the client round-robins between them and
    retries a request on another node when one fails.
    """
    if isinstance(urls, str):
        urls = [u.strip() for u in urls.split(",") if u.strip()]
    kwargs: dict = {
        "request_timeout": request_timeout,
        "retry_on_timeout": True,
        "max_retries": 3,
    }
    api_key = os.environ.get("RAQIB_ES_API_KEY")
    user, password = os.environ.get("RAQIB_ES_USER"), os.environ.get("RAQIB_ES_PASSWORD")
    if api_key:
        kwargs["api_key"] = api_key
    elif user:
        kwargs["basic_auth"] = (user, password or "")
    ca = os.environ.get("RAQIB_ES_CA_CERTS")
    if ca:
        if not os.path.exists(ca):
            raise ClusterError(f"RAQIB_ES_CA_CERTS names {ca}, which does not exist")
        kwargs["ca_certs"] = ca
    client = Elasticsearch(urls, **kwargs)
    if check:
        check_cluster(client, urls)
    return client


def check_cluster(client: Elasticsearch, urls: list[str]) -> dict:
    try:
        return client.cluster.health(timeout="5s").body
    except Exception as exc:  # noqa: BLE001 - translated into one clear error below
        raise explain(exc, urls) from None


def explain(exc: BaseException, urls: list[str] | str) -> ClusterError:
    """Turn a client exception into a ClusterError a user can act on."""
    if isinstance(urls, str):
        urls = [urls]
    where = ", ".join(redact_url(u) for u in urls)
    if isinstance(exc, ClusterError):
        return exc
    if isinstance(exc, TlsError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return ClusterError(
            f"the TLS certificate of Elasticsearch at {where} could not be verified. "
            "If the cluster uses its own CA, set RAQIB_ES_CA_CERTS to the CA certificate file."
        )
    if isinstance(exc, es_exc.AuthenticationException):
        return ClusterError(
            f"Elasticsearch at {where} refused the credentials (401). Check RAQIB_ES_API_KEY, "
            "or RAQIB_ES_USER and RAQIB_ES_PASSWORD."
        )
    if isinstance(exc, es_exc.AuthorizationException):
        return ClusterError(
            f"Elasticsearch at {where} denied an operation (403): the user or API key lacks a privilege "
            f"raqib needs (create, write and read on raqib-*, manage_index_templates). {_reason(exc)}"
        )
    if isinstance(exc, (TransportConnectionError, es_exc.ConnectionError, es_exc.ConnectionTimeout)):
        return ClusterError(
            f"cannot reach Elasticsearch at {where}. Start a local node with `raqib es start`, "
            "or point raqib at your cluster with --es URL or RAQIB_ES_URL."
        )
    if isinstance(exc, es_exc.ApiError):
        return ClusterError(f"Elasticsearch at {where} answered {exc.meta.status}: {_reason(exc)}")
    if isinstance(exc, TransportError):
        return ClusterError(f"Elasticsearch at {where} failed: {redact(str(exc))}")
    return ClusterError(f"Elasticsearch at {where}: {redact(type(exc).__name__ + ': ' + str(exc))}")


def _reason(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return redact(str(err.get("reason") or err.get("type") or err))
        if err:
            return redact(str(err))
    return redact(str(exc))[:500]
