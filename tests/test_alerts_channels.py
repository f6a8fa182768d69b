"""Each channel against a real receiver: aiosmtpd for mail, a local HTTP server for webhooks."""
import hashlib
import hmac
import json
import os

import pytest

from pipelines.alerts import render
from pipelines.alerts.channels import DeliveryError, build
from pipelines.alerts.rules import parse_rules
from pipelines.settings import parse_settings
from tests.support.alert_receivers import HttpReceiver, SmtpReceiver, free_port

HOSTILE = {
    "id": "x1", "url": "https://www.almayadeen.net/news/politics/a?b=1&c=2",
    "title": '<script>alert("x")</script> هجوم داعش على <b>قاعدة</b> التنف\r\nBcc: victim@example.org',
    "outlet": "almayadeen", "outlet_name": "الميادين نت", "published_at": "2024-04-30T00:58:00+03:00",
    "lang": "ar", "topics": ["isis", "us_presence"], "summary": "تفاصيل <img src=x onerror=alert(1)> الهجوم",
}
ENGLISH = {"id": "x2", "url": "javascript:alert(1)", "title": "US forces & ISIS", "outlet": "noonpost", "lang": "en",
           "topics": ["isis"], "summary": "plain"}


def channel(spec: dict, tmp_path, smtp: dict | None = None):
    [rule] = parse_rules({"alerts": [{"name": "r", "notify": [spec]}]})
    settings = parse_settings({"smtp": smtp or {}})
    return build(rule.channels[0], settings, tmp_path)


def test_email_has_both_parts_rtl_html_and_escapes_a_hostile_title(tmp_path):
    server = SmtpReceiver().start()
    try:
        ch = channel({"type": "email", "to": ["analyst@example.org", "desk@example.org"]}, tmp_path,
                     {"host": "127.0.0.1", "port": server.port, "sender": "raqib <alerts@raqib.example>"})
        ch.send("isis-us-syria", [HOSTILE, ENGLISH], delivery="d" * 32)
        [msg] = server.wait_for(1)
    finally:
        server.stop()
    envelope = server.envelopes[0]
    assert sorted(envelope.rcpt_tos) == ["analyst@example.org", "desk@example.org"]
    assert "victim@example.org" not in envelope.rcpt_tos and msg["Bcc"] is None
    assert msg["From"] == "raqib <alerts@raqib.example>"
    assert msg["Subject"] == "[raqib] isis-us-syria: 2 new articles"
    assert msg["Message-ID"] == f"<{'d' * 32}@raqib.example>"
    assert msg["X-Raqib-Delivery"] == "d" * 32
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    page = msg.get_body(("html",)).get_content()
    assert "هجوم داعش على" in text and "US forces & ISIS" in text
    # Arabic article right-to-left, English left-to-right, in the same digest
    assert '<div dir="rtl" lang="ar" style="text-align:right' in page
    assert '<div dir="ltr" lang="en" style="text-align:left' in page
    # everything from the page is escaped; a javascript: URL never becomes a link
    assert "<script>" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<b>قاعدة</b>" not in page
    assert 'href="javascript' not in page and "US forces &amp; ISIS" in page
    assert 'href="https://www.almayadeen.net/news/politics/a?b=1&amp;c=2"' in page


def test_a_single_article_mail_has_the_title_on_one_line_in_the_subject(tmp_path):
    server = SmtpReceiver().start()
    try:
        ch = channel({"type": "email", "to": ["a@example.org"]}, tmp_path, {"port": server.port})
        ch.send("r", [HOSTILE], delivery="e" * 32)
        [msg] = server.wait_for(1)
    finally:
        server.stop()
    assert msg["Subject"].startswith("[raqib] r: <script>alert(\"x\")</script> هجوم داعش")
    assert "\n" not in msg["Subject"] and msg["Bcc"] is None


def test_email_over_starttls_with_login(tmp_path, monkeypatch):
    server = SmtpReceiver(tls_dir=tmp_path / "tls", users={"raqib": "s3cret-pass"}).start()
    monkeypatch.setenv("RAQIB_SMTP_PASSWORD", "s3cret-pass")
    smtp = {"port": server.port, "starttls": True, "username": "raqib", "ca_certs": server.cert}
    try:
        channel({"type": "email", "to": ["a@example.org"]}, tmp_path, smtp).send("r", [ENGLISH], delivery="f" * 32)
        assert len(server.wait_for(1)) == 1
        monkeypatch.setenv("RAQIB_SMTP_PASSWORD", "wrong-pass")
        with pytest.raises(DeliveryError) as info:
            channel({"type": "email", "to": ["a@example.org"]}, tmp_path, smtp).send("r", [ENGLISH], delivery="g" * 32)
    finally:
        server.stop()
    assert "refused the login of 'raqib'" in str(info.value)
    assert "wrong-pass" not in str(info.value)


def test_an_unreachable_smtp_server_is_a_clear_error(tmp_path):
    ch = channel({"type": "email", "to": ["a@example.org"]}, tmp_path, {"port": free_port(), "timeout": 2.0})
    with pytest.raises(DeliveryError, match=r"cannot reach the SMTP server at 127.0.0.1:\d+"):
        ch.send("r", [ENGLISH], delivery="h" * 32)


def test_webhook_posts_the_documented_payload_with_a_verifiable_signature(tmp_path, monkeypatch):
    monkeypatch.setenv("RAQIB_WEBHOOK_SECRET", "hook-secret")
    hook = HttpReceiver().start()
    try:
        ch = channel({"type": "webhook", "url": hook.url, "secret_env": "RAQIB_WEBHOOK_SECRET"}, tmp_path)
        ch.send("isis-us-syria", [HOSTILE], delivery="i" * 32)
        [req] = hook.wait_for(1)
    finally:
        hook.stop()
    body = req["body"]
    expected = "sha256=" + hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req["headers"]["X-Raqib-Signature"], expected)
    assert req["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert req["headers"]["X-Raqib-Delivery"] == "i" * 32
    data = json.loads(body)
    assert data["rule"] == "isis-us-syria"
    [art] = data["articles"]
    assert {"id", "url", "title", "outlet", "published_at", "lang", "topics", "summary"} <= set(art)
    assert art["title"] == HOSTILE["title"] and art["topics"] == ["isis", "us_presence"]


def test_an_unsigned_webhook_has_no_signature_header(tmp_path):
    hook = HttpReceiver().start()
    try:
        channel({"type": "webhook", "url": hook.url}, tmp_path).send("r", [ENGLISH], delivery="j" * 32)
        [req] = hook.wait_for(1)
    finally:
        hook.stop()
    assert "X-Raqib-Signature" not in req["headers"]


def test_webhook_errors_name_the_cause_without_the_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{free_port()}/hook?token=very-secret-token")
    down = channel({"type": "webhook", "url_env": "HOOK_URL", "timeout": 2}, tmp_path)
    with pytest.raises(DeliveryError) as info:
        down.send("r", [ENGLISH], delivery="k" * 32)
    assert str(info.value).startswith("webhook:$HOOK_URL: cannot reach the endpoint")
    assert "very-secret-token" not in str(info.value)
    # once read, the URL is a known secret: any log line or error that quotes it is masked
    from pipelines.es import redact

    assert "very-secret-token" not in redact(f"POST {os.environ['HOOK_URL']} failed")
    hook = HttpReceiver(status=503).start()
    try:
        with pytest.raises(DeliveryError, match="answered 503"):
            channel({"type": "webhook", "url": hook.url}, tmp_path).send("r", [ENGLISH], delivery="l" * 32)
    finally:
        hook.stop()
    monkeypatch.delenv("HOOK_URL")
    with pytest.raises(DeliveryError, match="HOOK_URL that should hold the URL is not set"):
        down.send("r", [ENGLISH], delivery="m" * 32)


def test_a_slow_webhook_times_out(tmp_path):
    import socket
    import time

    # A server that accepts the connection and never answers.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        ch = channel({"type": "webhook", "url": f"http://127.0.0.1:{listener.getsockname()[1]}/", "timeout": 0.5}, tmp_path)
        start = time.monotonic()
        with pytest.raises(DeliveryError):
            ch.send("r", [ENGLISH], delivery="n" * 32)
        assert time.monotonic() - start < 5
    finally:
        listener.close()


def test_slack_message_escapes_markup(tmp_path):
    hook = HttpReceiver().start()
    try:
        channel({"type": "slack", "url": hook.url}, tmp_path).send("r", [HOSTILE, ENGLISH], delivery="o" * 32)
        [req] = hook.wait_for(1)
    finally:
        hook.stop()
    text = json.loads(req["body"])["text"]
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert f"<{HOSTILE['url'].replace('&', '&amp;')}|" in text
    assert "<javascript:" not in text and "US forces &amp; ISIS" in text


def test_file_channel_appends_json_lines_in_the_state_directory(tmp_path):
    ch = channel({"type": "file", "path": "out/alerts.jsonl"}, tmp_path)
    ch.send("r", [HOSTILE], delivery="p" * 32)
    ch.send("r", [ENGLISH], delivery="q" * 32)
    lines = (tmp_path / "out" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["delivery"] for r in records] == ["p" * 32, "q" * 32]
    assert records[0]["articles"][0]["title"] == HOSTILE["title"]
    assert records[0] == {**records[0], **render.payload("r", [HOSTILE])}
