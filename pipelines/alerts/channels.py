"""The four ways an alert leaves raqib: email, webhook, Slack-compatible webhook, JSON-lines file.

A channel has one job: hand one message (one article, or a digest) to its destination, or
raise `DeliveryError` with a message that says what went wrong and holds no secret. Retrying,
back-off and bookkeeping belong to the dispatcher (`deliver.py`), so a channel never sleeps
or loops. Every network call has a timeout, so a dead endpoint costs seconds, not a crawl.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pipelines import http
from pipelines.alerts import render
from pipelines.alerts.rules import ChannelSpec
from pipelines.es import redact, register_secret

DEFAULT_TIMEOUT = 10.0
SIGNATURE_HEADER = "X-Raqib-Signature"
DELIVERY_HEADER = "X-Raqib-Delivery"


class DeliveryError(Exception):
    """A send failed; the message names the channel and the cause and is safe to log."""


def _user_agent() -> str:
    try:
        v = version("raqib")
    except Exception:  # noqa: BLE001 - running from a source tree that is not installed
        v = "dev"
    return f"raqib/{v} (alerts)"


def sign(body: bytes, secret: str) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class Channel:
    def __init__(self, spec: ChannelSpec):
        self.spec = spec

    @property
    def key(self) -> str:
        return self.spec.key

    def send(self, rule: str, articles: Sequence[dict[str, Any]], *, delivery: str, test: bool = False) -> None:
        raise NotImplementedError


class _HttpChannel(Channel):
    def _url(self) -> str:
        opts = self.spec.options
        if "url" in opts:
            return opts["url"]
        env = opts["url_env"]
        url = os.environ.get(env, "").strip()
        if not url:
            raise DeliveryError(f"{self.key}: the environment variable {env} that should hold the URL is not set")
        if not render.safe_url(url):
            raise DeliveryError(f"{self.key}: ${env} does not hold an http(s) URL")
        # A URL kept in the environment is a secret (incoming-webhook URLs carry their token):
        # redact() must mask it in every message from now on, whatever the variable's name.
        register_secret(url)
        return url

    def _post(self, body: bytes, headers: dict[str, str]) -> None:
        url = self._url()
        timeout = float(self.spec.options.get("timeout", DEFAULT_TIMEOUT))
        try:
            answer = http.post(url, body, {"Content-Type": "application/json; charset=utf-8",
                                           "User-Agent": _user_agent(), **headers}, timeout=timeout, max_body=65536)
        except http.Unreachable as exc:
            if exc.kind == "timeout":
                raise DeliveryError(f"{self.key}: no answer within {timeout:g}s") from None
            raise DeliveryError(f"{self.key}: cannot reach the endpoint ({_reason(exc)})") from None
        if 300 <= answer.status < 400:
            # a redirected POST would arrive as a GET without the body: say where to point instead
            raise DeliveryError(f"{self.key}: the endpoint answered {answer.status} (redirect); configure the URL it "
                                f"redirects to")
        if answer.status >= 400:
            detail = _short(answer.body[:300])
            raise DeliveryError(f"{self.key}: the endpoint answered {answer.status} {answer.reason}"
                                + (f": {detail}" if detail else ""))


class WebhookChannel(_HttpChannel):
    """JSON POST as in DESIGN.md; signed with HMAC-SHA256 of the body when a secret is set."""

    def send(self, rule, articles, *, delivery, test=False):
        data = render.payload(rule, articles)
        if test:
            data["test"] = True
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {DELIVERY_HEADER: delivery, "X-Raqib-Rule": _ascii(rule)}
        env = self.spec.options.get("secret_env")
        if env:
            secret = os.environ.get(env, "")
            register_secret(secret)
            if not secret:
                raise DeliveryError(f"{self.key}: the signing secret ${env} is not set; set it, or remove "
                                    f"secret_env from the rule to send unsigned")
            headers[SIGNATURE_HEADER] = sign(body, secret)
        self._post(body, headers)


class SlackChannel(_HttpChannel):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat accept this shape)."""

    def send(self, rule, articles, *, delivery, test=False):
        body = json.dumps(render.slack_message(rule, articles, test=test), ensure_ascii=False).encode("utf-8")
        self._post(body, {})


class FileChannel(Channel):
    """One JSON object per line, appended and synced to disk before the send counts."""

    def __init__(self, spec: ChannelSpec, state_dir: Path):
        super().__init__(spec)
        path = Path(os.path.expanduser(spec.options["path"]))
        self.path = path if path.is_absolute() else state_dir / path

    def send(self, rule, articles, *, delivery, test=False):
        record = {"delivery": delivery, "sent_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                  **render.payload(rule, articles)}
        if test:
            record["test"] = True
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)   # one write of one line: readers never see half a record
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise DeliveryError(f"{self.key}: cannot write {self.path}: {exc.strerror}") from None


class EmailChannel(Channel):
    """A multipart mail (text and HTML) through the SMTP server in settings.toml [smtp]."""

    def __init__(self, spec: ChannelSpec, smtp: dict[str, Any]):
        super().__init__(spec)
        self.smtp = smtp

    def message(self, rule, articles, *, delivery, test=False) -> EmailMessage:
        msg = EmailMessage()
        prefix = self.spec.options.get("subject_prefix", "[raqib]")
        msg["Subject"] = render.subject(rule, articles, ("[raqib test]" if test else prefix))
        msg["From"] = self.smtp["sender"]
        msg["To"] = ", ".join(self.spec.options["to"])
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        domain = self.smtp["sender"].rsplit("@", 1)[-1].strip("> ") or "raqib.local"
        # Stable across retries, so a mail client shows a message delivered twice once.
        msg["Message-ID"] = f"<{delivery}@{domain}>" if not test else make_msgid("raqib-test", domain)
        msg["X-Raqib-Rule"] = _ascii(rule)
        msg[DELIVERY_HEADER] = delivery
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(render.text_body(rule, articles, test=test), charset="utf-8")
        msg.add_alternative(render.html_body(rule, articles, test=test), subtype="html", charset="utf-8")
        return msg

    def send(self, rule, articles, *, delivery, test=False):
        s = self.smtp
        msg = self.message(rule, articles, delivery=delivery, test=test)
        where = f"{s['host']}:{s['port']}"
        password = ""
        if s.get("username"):
            password = os.environ.get(s.get("password_env") or "", "")
            register_secret(password)
            if not password:
                raise DeliveryError(f"{self.key}: [smtp] username is set but ${s.get('password_env')} (the password) "
                                    f"is not")
        context = ssl.create_default_context(cafile=s.get("ca_certs") or None)
        try:
            if s.get("ssl"):
                server = smtplib.SMTP_SSL(s["host"], s["port"], timeout=s["timeout"], context=context)
            else:
                server = smtplib.SMTP(s["host"], s["port"], timeout=s["timeout"])
            with server:
                if s.get("starttls") and not s.get("ssl"):
                    server.starttls(context=context)
                if s.get("username"):
                    server.login(s["username"], password)
                refused = server.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"{self.key}: the SMTP server at {where} refused the login of {s['username']!r} "
                                f"({exc.smtp_code})") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"{self.key}: the SMTP server at {where} does not support {_reason(exc)}; check "
                                f"[smtp] starttls/ssl") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"{self.key}: the SMTP server refused every recipient: "
                                f"{', '.join(sorted(exc.recipients))}") from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"{self.key}: the SMTP server at {where} answered {exc.smtp_code} "
                                f"{_short(exc.smtp_error)}") from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"{self.key}: TLS with the SMTP server at {where} failed ({_reason(exc)}); "
                                f"set [smtp] ca_certs for a private CA") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{self.key}: cannot reach the SMTP server at {where} ({_reason(exc)})") from None
        if refused:
            # Some recipients took it: re-sending would duplicate it for them, so this counts
            # as delivered, and the refused addresses are reported in the log by the caller.
            raise PartialDelivery(f"{self.key}: the SMTP server refused {', '.join(sorted(refused))}")


class PartialDelivery(DeliveryError):
    """Delivered to some recipients: counted as sent (a retry would duplicate), but reported."""


def build(spec: ChannelSpec, settings, state_dir: Path) -> Channel:
    if spec.type == "webhook":
        return WebhookChannel(spec)
    if spec.type == "slack":
        return SlackChannel(spec)
    if spec.type == "file":
        return FileChannel(spec, state_dir)
    if spec.type == "email":
        return EmailChannel(spec, dict(settings["smtp"]))
    raise ValueError(spec.type)


def _reason(exc: Any) -> str:
    text = str(exc) or type(exc).__name__
    return redact(text)[:200]


def _short(data: Any) -> str:
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return " ".join(str(data or "").split())[:200]


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")
