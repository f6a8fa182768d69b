"""Connecting to Elasticsearch: one place for URLs, credentials, TLS and the errors a user sees.

Credentials come from the environment only (`RAQIB_ES_API_KEY`, or `RAQIB_ES_USER` and
`RAQIB_ES_PASSWORD`; `RAQIB_ES_CA_CERTS` for a private CA) and never appear in a message:
every URL shown is stripped of user information, and `redact` masks every secret value raqib
knows of (the logging filter in crawler/logs.py applies it to every record).
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import os
import re
import socket
import ssl
from urllib.parse import urlsplit, urlunsplit

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import TlsError, TransportError
from elasticsearch import Elasticsearch
from elasticsearch import exceptions as es_exc

log = logging.getLogger(__name__)

ROLE_FILE = "deploy/elasticsearch/raqib-role.json"   # the privileges raqib needs, for operators

# Secrets by name: raqib's own, and any variable whose name says it holds one (an alert rule's
# `secret_env` may name any variable).
_SECRET_ENV = ("RAQIB_ES_API_KEY", "RAQIB_ES_PASSWORD", "RAQIB_SMTP_PASSWORD", "RAQIB_WEBHOOK_SECRET",
               "RAQIB_SLACK_URL", "RAQIB_KIBANA_API_KEY", "RAQIB_KIBANA_PASSWORD")
_SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY)$", re.I)
_registered: set[str] = set()


class ClusterError(Exception):
    """The cluster cannot be used; the message says why and what to do, and holds no secret.
    `status` is the HTTP status when the cluster (or a proxy before it) answered one."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- secrets

def register_secret(value: str | None) -> None:
    """Have `redact` mask `value` from now on: for secrets read from places it cannot guess,
    such as a webhook URL named by an alert rule's `url_env`."""
    if value and len(value) >= 4:
        _registered.update(_forms(value))


def _forms(value: str) -> set[str]:
    """A secret and the forms it may travel in: an encoded API key also as `id:key` and its key
    part, an `id:key` also encoded."""
    forms = {value}
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if ":" in decoded:
        forms.add(decoded)
        forms.add(decoded.split(":", 1)[1])
    if ":" in value:
        forms.add(base64.b64encode(value.encode()).decode())
        forms.add(value.split(":", 1)[1])
    return {f for f in forms if len(f) >= 4}


def secret_values() -> list[str]:
    """Every secret value `redact` masks, longest first (so a secret containing another is
    masked whole)."""
    values = set(_registered)
    for name, value in os.environ.items():
        if not value:
            continue
        if name in _SECRET_ENV and len(value) >= 4:
            values |= _forms(value)
        elif _SECRET_NAME.search(name) and len(value) >= 8:   # a guess: short values are too common
            values |= _forms(value)
    user, password = os.environ.get("RAQIB_ES_USER"), os.environ.get("RAQIB_ES_PASSWORD")
    if user and password:   # the Basic authorization header
        values.add(base64.b64encode(f"{user}:{password}".encode()).decode())
    return sorted(values, key=len, reverse=True)


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        parts = parts._replace(netloc=host)
    return urlunsplit(parts)


def redact(text: str) -> str:
    """Remove anything secret from a message: URL user info and every known secret value."""
    text = re.sub(r"(https?://)[^/@\s]+@", r"\1", text)
    for value in secret_values():
        text = text.replace(value, "***")
    return text


# --------------------------------------------------------------------------- connecting

def _split(urls: list[str] | str) -> list[str]:
    if isinstance(urls, str):
        urls = [u.strip() for u in urls.split(",") if u.strip()]
    return list(urls)


def credentials() -> dict:
    """The client's authentication options from the environment (none when nothing is set).

    RAQIB_ES_API_KEY takes the `encoded` value Elasticsearch returns when a key is created,
    or `id:api_key` (both forms are shown by Kibana and the API)."""
    api_key = (os.environ.get("RAQIB_ES_API_KEY") or "").strip()
    if api_key:
        if ":" in api_key:
            key_id, _, secret = api_key.partition(":")
            return {"api_key": (key_id, secret)}
        return {"api_key": api_key}
    user = os.environ.get("RAQIB_ES_USER")
    if user:
        return {"basic_auth": (user, os.environ.get("RAQIB_ES_PASSWORD") or "")}
    return {}


def _auth_described() -> str:
    if (os.environ.get("RAQIB_ES_API_KEY") or "").strip():
        return "the API key in RAQIB_ES_API_KEY"
    if os.environ.get("RAQIB_ES_USER"):
        return f"user {os.environ['RAQIB_ES_USER']!r} (RAQIB_ES_USER) with the password in RAQIB_ES_PASSWORD"
    return "no credentials"


def _check_ca_file(ca: str) -> None:
    if not os.path.exists(ca):
        raise ClusterError(f"RAQIB_ES_CA_CERTS names {ca}, which does not exist")
    try:
        ssl.create_default_context(cafile=ca)
    except PermissionError:
        raise ClusterError(f"RAQIB_ES_CA_CERTS names {ca}, which raqib may not read") from None
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ClusterError(
            f"RAQIB_ES_CA_CERTS names {ca}, which holds no usable PEM certificate ({exc}). "
            "It must be the cluster's CA certificate, the file that begins with -----BEGIN CERTIFICATE-----."
        ) from None


def connect(urls: list[str] | str, *, request_timeout: float = 30.0, check: bool = True,
            sniff: bool = False) -> Elasticsearch:
    """A client for the cluster at `urls`, checked with one cheap request when `check`.

    Several URLs are several nodes of one cluster: the client round-robins between them,
    retries a failed request (connection error, timeout, 429/502/503/504) on another node,
    and leaves a failing node out for a while (backing off per failure) before trying it
    again. With `sniff` it also asks the cluster for its nodes' addresses at start and after
    a node fails, so one URL is enough to reach them all; that only works where the nodes'
    published addresses are reachable from raqib (not behind a load balancer or NAT), so it
    is off unless `[elasticsearch] sniff = true`.
    """
    urls = _split(urls)
    where = ", ".join(redact_url(u) for u in urls) or "(no URL)"
    kwargs: dict = {
        "request_timeout": request_timeout,
        "retry_on_timeout": True,
        "max_retries": 3,
    }
    if sniff:
        kwargs.update(sniff_on_start=True, sniff_on_node_failure=True, min_delay_between_sniffing=30.0,
                      sniff_timeout=5.0)
    kwargs.update(credentials())
    schemes = {urlsplit(u).scheme for u in urls}
    ca = os.environ.get("RAQIB_ES_CA_CERTS")
    if ca:
        _check_ca_file(ca)
        if "https" in schemes:   # a CA means nothing to plain http; it may be set for another cluster
            kwargs["ca_certs"] = ca
    if len(schemes) > 1:
        raise ClusterError(f"the Elasticsearch URLs {where} mix http and https; the nodes of one cluster all use the same")
    if kwargs.keys() & {"api_key", "basic_auth"} and "http" in schemes and not all(_is_loopback(u) for u in urls):
        log.warning("Elasticsearch at %s is reached over plain http: its credentials cross the network "
                    "unencrypted. Enable TLS on the cluster and use https.", where)
    try:
        client = Elasticsearch(urls, **kwargs)
    except ValueError as exc:
        raise ClusterError(f"cannot use the Elasticsearch URL(s) {where}: {redact(str(exc))}") from None
    if check:
        check_cluster(client, urls)
    return client


def client_for(settings, *, check: bool = True) -> Elasticsearch:
    """`connect` with the `[elasticsearch]` settings (URLs, timeout, sniffing)."""
    es = settings["elasticsearch"]
    return connect(es["url"], request_timeout=es["request_timeout"], check=check, sniff=bool(es.get("sniff")))


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_cluster(client: Elasticsearch, urls: list[str]) -> dict:
    try:
        return client.cluster.health(timeout="5s").body
    except Exception as exc:  # noqa: BLE001 - translated into one clear error below
        raise explain(exc, urls) from None


# --------------------------------------------------------------------------- errors

def explain(exc: BaseException, urls: list[str] | str) -> ClusterError:
    """Turn a client exception into a ClusterError a user can act on."""
    if isinstance(urls, str):
        urls = [urls]
    where = ", ".join(redact_url(u) for u in urls)
    if isinstance(exc, ClusterError):
        return exc
    text = str(exc)
    if isinstance(exc, TlsError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return _explain_tls(text, where)
    if isinstance(exc, es_exc.AuthenticationException):
        if _auth_described() == "no credentials":
            return ClusterError(
                f"Elasticsearch at {where} requires authentication (401). Set RAQIB_ES_API_KEY, "
                "or RAQIB_ES_USER and RAQIB_ES_PASSWORD."
            )
        if "API key" in _auth_described():
            hint = ("the key is wrong, expired or invalidated. RAQIB_ES_API_KEY takes the `encoded` value "
                    "Elasticsearch returned when the key was created, or `id:api_key`.")
        else:
            hint = "the user name or the password is wrong."
        return ClusterError(
            f"Elasticsearch at {where} refused {_auth_described()} (401): {hint} The cluster said: {_reason(exc)}"
        )
    if isinstance(exc, es_exc.AuthorizationException):
        return ClusterError(
            f"Elasticsearch at {where} denied an operation (403) to {_auth_described()}: it lacks a privilege "
            f"raqib needs. Give it the role in {ROLE_FILE} (cluster: monitor, manage_index_templates; "
            f"indices raqib-*: create_index, write, read, manage). The cluster said: {_reason(exc)}"
        )
    if isinstance(exc, (TransportConnectionError, es_exc.ConnectionError, es_exc.ConnectionTimeout)):
        # A node with TLS on hangs up on plain http without a word; only then is it worth
        # knocking with a handshake (a refused or timed-out connection is an outage, and an
        # outage must stay cheap to report).
        hung_up = re.search(r"RemoteDisconnected|Connection aborted|reset by peer|Remote end closed", text)
        tls_only = [u for u in urls if hung_up and urlsplit(u).scheme == "http" and _speaks_tls(u)]
        if tls_only:
            fixed = ", ".join(redact_url(u).replace("http://", "https://", 1) for u in tls_only)
            return ClusterError(
                f"Elasticsearch at {', '.join(redact_url(u) for u in tls_only)} speaks only HTTPS (TLS is on for its "
                f"HTTP layer): use {fixed} in --es or RAQIB_ES_URL, and set RAQIB_ES_CA_CERTS to the cluster's CA "
                "certificate if it has its own CA."
            )
        return ClusterError(
            f"cannot reach Elasticsearch at {where}. Start a local node with `raqib es start`, "
            "or point raqib at your cluster with --es URL or RAQIB_ES_URL."
        )
    if isinstance(exc, es_exc.ApiError):
        return ClusterError(f"Elasticsearch at {where} answered {exc.meta.status}: {_reason(exc)}", exc.meta.status)
    if isinstance(exc, TransportError):
        return ClusterError(f"Elasticsearch at {where} failed: {redact(text)}")
    return ClusterError(f"Elasticsearch at {where}: {redact(type(exc).__name__ + ': ' + text)}")


def _explain_tls(text: str, where: str) -> ClusterError:
    if re.search(r"WRONG_VERSION_NUMBER|wrong version number|record layer failure|http request|packet length too long",
                 text, re.I):
        return ClusterError(
            f"Elasticsearch at {where} does not speak TLS: it answers plain HTTP. "
            "Use an http:// URL in --es or RAQIB_ES_URL (and enable TLS on the cluster before sending credentials over a network)."
        )
    m = re.search(r"certificate verify failed: ([^(]+)", text)
    detail = m.group(1).strip() if m else redact(text)[:200]
    ca = os.environ.get("RAQIB_ES_CA_CERTS")
    if "mismatch" in detail.lower() or "not valid for" in detail.lower():
        return ClusterError(
            f"the TLS certificate of Elasticsearch at {where} does not name that host ({detail}). "
            "Connect with a host name or address the certificate lists."
        )
    if ca:
        return ClusterError(
            f"the TLS certificate of Elasticsearch at {where} was not issued by the CA in RAQIB_ES_CA_CERTS "
            f"({ca}): {detail}. Set RAQIB_ES_CA_CERTS to the certificate of the CA that signed the cluster's certificate."
        )
    return ClusterError(
        f"the TLS certificate of Elasticsearch at {where} could not be verified against the system's trusted CAs "
        f"({detail}). If the cluster uses its own CA, set RAQIB_ES_CA_CERTS to that CA's certificate (PEM)."
    )


def _speaks_tls(url: str, timeout: float = 3.0) -> bool:
    """Whether the server at `url` completes a TLS handshake: to tell a user who wrote http://
    for an HTTPS-only node what to change. Nothing is sent but the handshake, and the server's
    certificate is not trusted for anything."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 9200
    if not host:
        return False
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with ctx.wrap_socket(sock, server_hostname=host):
                return True
    except (OSError, ssl.SSLError, ValueError):
        return False


def _reason(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return redact(str(err.get("reason") or err.get("type") or err))
        if err:
            return redact(str(err))
    return redact(str(exc))[:500]
