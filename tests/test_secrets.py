"""Secrets never appear in raqib's output: not on stdout or stderr, not in logs (text or JSON,
at any verbosity), not in --help, not in an error, not in a file raqib writes.

The end-to-end test runs the real `raqib` commands as processes against the session's secured
node with every secret variable set to a value made for the run, then searches everything the
runs produced for each value and for the other forms a secret travels in (an API key decoded
to `id:key` and its key part; the Basic authorization header).
"""
from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from crawler.ops.esnode_security import grant_api_key, make_ca
from pipelines.es import redact, register_secret, secret_values

ROOT = Path(__file__).resolve().parent.parent


def _key_forms(key: dict) -> list[str]:
    return [key["encoded"], key["api_key"], f"{key['id']}:{key['api_key']}"]


def _registered_commands() -> list[str]:
    from crawler.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


# --------------------------------------------------------------------------- redact itself

def test_redact_masks_every_form_of_an_api_key(monkeypatch):
    key_id, secret = "VuaCfGcBCdbkQm-e5aOx", "ui2lp2axTNmsyakw9tvNnw"
    encoded = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    monkeypatch.setenv("RAQIB_ES_API_KEY", encoded)
    text = redact(f"a {encoded} b {key_id}:{secret} c {secret} d")
    assert text == "a *** b *** c *** d"
    monkeypatch.setenv("RAQIB_ES_API_KEY", f"{key_id}:{secret}")   # the other form raqib accepts
    assert redact(f"x {encoded} y {secret}") == "x *** y ***"


def test_redact_masks_passwords_the_basic_header_and_url_user_info(monkeypatch):
    monkeypatch.setenv("RAQIB_ES_USER", "raqib")
    monkeypatch.setenv("RAQIB_ES_PASSWORD", "hunter2-long")
    header = base64.b64encode(b"raqib:hunter2-long").decode()
    assert redact(f"Authorization: Basic {header}") == "Authorization: Basic ***"
    assert redact("https://raqib:other@es.example.org:9200/x") == "https://es.example.org:9200/x"
    assert redact("password hunter2-long") == "password ***"


def test_redact_guesses_secret_variables_by_name_and_takes_registered_ones(monkeypatch):
    monkeypatch.setenv("ALERTS_HOOK_TOKEN", "tok-0123456789")     # an alert rule's secret_env may name any variable
    monkeypatch.setenv("RAQIB_OUTLET_NAME", "alittihad-name")      # not a secret by its name
    assert redact("tok-0123456789 alittihad-name") == "*** alittihad-name"
    hook = f"https://hooks.invalid/services/{uuid.uuid4().hex}"
    register_secret(hook)
    assert hook in secret_values()
    assert redact(f"POST {hook} failed") == "POST *** failed"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_logs_redact_exception_texts_and_fields(fmt, monkeypatch, capsys):
    from crawler.logs import setup_logging

    secret = "pw-" + secrets.token_hex(8)
    monkeypatch.setenv("RAQIB_SMTP_PASSWORD", secret)
    setup_logging(fmt)
    log = logging.getLogger("raqib.test")
    try:
        raise RuntimeError(f"login failed for {secret}")
    except RuntimeError:
        log.exception("delivery failed")
    log.warning("sent", extra={"fields": {"auth": f"user:{secret}", "list": [secret]}})
    err = capsys.readouterr().err
    assert "delivery failed" in err and "login failed for ***" in err
    assert secret not in err


# --------------------------------------------------------------------------- whole runs

ALERT_RULES = """
alerts:
  - name: everything-arabic
    match: {{languages: [ar]}}
    notify:
      - {{type: webhook, url: "{hook}", secret_env: RAQIB_WEBHOOK_SECRET}}
      - {{type: slack, url_env: RAQIB_SLACK_URL}}
      - {{type: email, to: [analyst@example.org]}}
      - {{type: file, path: alerts.jsonl}}
"""


@pytest.fixture(scope="module")
def receivers(tmp_path_factory):
    """A webhook endpoint (the Slack URL points at it too) and an SMTP server that requires
    STARTTLS and a password: the places raqib's other secrets are used for real."""
    from tests.support.alert_receivers import HttpReceiver, SmtpReceiver

    hook = HttpReceiver().start()
    smtp_password = "smtp-" + secrets.token_hex(10)
    smtp = SmtpReceiver(tls_dir=tmp_path_factory.mktemp("smtp-tls"), users={"raqib": smtp_password}).start()
    yield hook, smtp, smtp_password
    hook.stop()
    smtp.stop()


@pytest.fixture(scope="module")
def run_outputs(secure_cluster, receivers, tmp_path_factory):
    """Run raqib's commands as real processes with every secret set: seed, search, a crawl of
    a mirrored outlet whose alerts go out through a signed webhook, Slack, authenticated mail
    and a file, failures of every kind, and every --help. Returns (outputs, files left under
    the run's directory, secret values, receivers). Each output is (label, arguments,
    expected exit code, exit code, stdout, stderr)."""
    from crawler.mirror import Mirror
    from tests.support.crawlrun import write_config

    hook, smtp, smtp_password = receivers
    tmp = tmp_path_factory.mktemp("secrets")
    token = secrets.token_hex(10)
    alias = f"raqib-secrets-{uuid.uuid4().hex[:8]}"
    config = write_config(tmp / "config", es_url=secure_cluster.url, alias=alias, state_dir=tmp / "state")
    with (config / "settings.toml").open("a", encoding="utf-8") as fh:
        fh.write(f'retry_base = "0.2s"\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nstarttls = true\n'
                 f'username = "raqib"\nca_certs = "{smtp.cert}"\n')
    (config / "alerts.yaml").write_text(ALERT_RULES.format(hook=hook.url), encoding="utf-8")
    mirror = Mirror(outlets=["almayadeen"])
    mirror.__enter__()
    mirror.write_config(config)
    with secure_cluster.admin() as admin:
        read_only = grant_api_key(
            admin, user=secure_cluster.user, password=secure_cluster.password, name="secrets-read-only",
            role_descriptors={"r": {"cluster": ["monitor"], "indices": [{"names": ["raqib-*"], "privileges": ["read"]}]}},
        )
    wrong_key = base64.b64encode(f"{uuid.uuid4().hex[:20]}:wrong-{token}".encode()).decode()
    other_ca = make_ca(tmp / "other-ca", name="secrets test other CA")
    other_secrets = {
        "RAQIB_SMTP_PASSWORD": smtp_password,
        "RAQIB_WEBHOOK_SECRET": f"hook-{token}",
        "RAQIB_SLACK_URL": f"http://127.0.0.1:{hook.port}/services/T0/B0/{token}",
        "RAQIB_KIBANA_PASSWORD": f"kibana-{token}",
    }
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
    base_env.update(other_secrets, RAQIB_CONFIG=str(config), RAQIB_STATE_DIR=str(tmp / "state"),
                    RAQIB_HOME=str(ROOT), HOME=str(tmp / "home"), PYTHONWARNINGS="default")
    api_env = {**base_env, **secure_cluster.env(auth="api_key"),
               # set but unused (the API key wins): must not leak either
               "RAQIB_ES_USER": "raqib", "RAQIB_ES_PASSWORD": f"unused-{token}"}
    password_env = {**base_env, **secure_cluster.env(auth="password")}

    runs: list[tuple[str, dict, list[str], int]] = [
        ("seed, debug log", api_env, ["-vv", "seed"], 0),
        ("seed, JSON log", api_env, ["-vv", "--log-format", "json", "seed"], 0),
        ("seed with password", password_env, ["-vv", "seed"], 0),
        ("search", api_env, ["search", "داعش"], 0),
        ("search --json, debug log", api_env, ["-vv", "search", "--json", "الامريكية"], 0),
        ("search with password, JSON log", password_env, ["-vv", "--log-format", "json", "search", "x"], 0),
        ("crawl and alerts, JSON log", api_env,
         ["-vv", "--log-format", "json", "crawl", "--outlet", "almayadeen", "--max-pages", "3",
          "--stats-json", str(tmp / "stats.json")], 0),
        ("crawl again, text", api_env, ["-vv", "crawl", "--outlet", "almayadeen", "--max-pages", "3"], 0),
        ("alerts list", api_env, ["-vv", "alerts", "list"], 0),
        ("alerts test", api_env, ["-vv", "alerts", "test", "everything-arabic"], 0),
        ("wrong key", {**api_env, "RAQIB_ES_API_KEY": wrong_key}, ["-vv", "seed"], 4),
        ("wrong password", {**password_env, "RAQIB_ES_PASSWORD": f"wrongpw-{token}"}, ["-vv", "search", "x"], 4),
        ("unknown CA", {**api_env, "RAQIB_ES_CA_CERTS": str(other_ca.cert)}, ["-vv", "seed"], 4),
        ("http to the TLS node", {**api_env, "RAQIB_ES_URL": secure_cluster.url.replace("https:", "http:")},
         ["-vv", "--log-format", "json", "seed"], 4),
        ("key lacking privileges", {**api_env, "RAQIB_ES_API_KEY": read_only["encoded"]}, ["-vv", "seed"], 4),
        ("--help", api_env, ["--help"], 0),
    ]
    runs += [(f"{name} --help", api_env, [name, "--help"], 0) for name in _registered_commands()]

    outputs = []
    try:
        for label, env, args, expected in runs:
            proc = subprocess.run([sys.executable, "-m", "crawler.cli.main", *args], env=env, cwd=ROOT,
                                  capture_output=True, text=True, timeout=300)
            outputs.append((label, args, expected, proc.returncode, proc.stdout, proc.stderr))
        outputs.append(_run_service(api_env, tmp / "service.log"))
    finally:
        mirror.__exit__(None, None, None)
    files = {str(p): p.read_text(errors="replace") for p in tmp.rglob("*") if p.is_file()}
    with secure_cluster.admin() as admin:   # crawl statistics kept in the cluster (once the crawl writes them)
        admin.indices.refresh(index="raqib-crawls*", ignore_unavailable=True, allow_no_indices=True)
        docs = admin.search(index="raqib-crawls*", size=1000, ignore_unavailable=True, allow_no_indices=True).body
    files["cluster: raqib-crawls*"] = json.dumps(docs["hits"]["hits"], ensure_ascii=False)
    values = [*other_secrets.values(), f"unused-{token}", f"wrongpw-{token}", secure_cluster.password,
              *_key_forms(secure_cluster.api_key), *_key_forms(read_only), wrong_key, f"wrong-{token}",
              base64.b64encode(f"raqib:{secure_cluster.password}".encode()).decode()]
    yield outputs, files, values, (hook, smtp)
    with secure_cluster.admin() as admin:
        admin.indices.delete(index=f"{alias}-*", ignore_unavailable=True, allow_no_indices=True)
        admin.options(ignore_status=404).indices.delete_index_template(name=alias)


def _run_service(env: dict, log_path: Path) -> tuple:
    """`raqib run` until its first crawl is through, then SIGTERM, as a service manager stops it."""
    args = ["-vv", "run", "--every", "2s", "--outlet", "almayadeen"]
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "crawler.cli.main", *args], env=env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 180
            while (proc.poll() is None and time.monotonic() < deadline
                   and "crawl almayadeen: ok" not in log_path.read_text(encoding="utf-8", errors="replace")):
                time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return ("run, stopped by SIGTERM", args, 0, proc.returncode, "", log_path.read_text(encoding="utf-8", errors="replace"))


def test_every_run_did_its_work(run_outputs):
    """The search below only means something if the runs really ran: each exits as expected,
    the debug runs logged at debug level, and seeding wrote the seeds."""
    outputs, files, _, (hook, smtp) = run_outputs
    for label, args, expected, code, out, err in outputs:
        assert code == expected, (label, err[-2000:])
        if "-vv" not in args:   # at -vv the transport logs retried connections with their tracebacks
            assert "Traceback" not in err, label
    out = {o[0]: o[4] for o in outputs}
    err = {o[0]: o[5] for o in outputs}
    assert "5 new" in out["seed, debug log"]
    assert "DEBUG" in err["seed, debug log"]
    assert '"level": "debug"' in err["seed, JSON log"]
    assert '"outlet"' in out["search --json, debug log"]
    assert "refused the API key" in err["wrong key"]
    assert "was not issued by the CA in RAQIB_ES_CA_CERTS" in err["unknown CA"]
    assert "denied an operation (403)" in err["key lacking privileges"]
    assert "RAQIB_ES_API_KEY" in out["--help"]
    # the crawl indexed articles and its alerts went out through every channel, so each
    # secret was really used: signed webhook, Slack URL, SMTP login after STARTTLS
    stats = json.loads(files[next(p for p in files if p.endswith("stats.json"))])
    assert stats["outlets"]["almayadeen"]["indexed"]["new"] >= 1
    posts = hook.wait_for(2)
    assert any(p["path"] == "/hook" and p["headers"].get("X-Raqib-Signature", "").startswith("sha256=") for p in posts)
    assert any(p["path"].startswith("/services/T0/B0/") for p in posts)
    assert smtp.wait_for(1)
    assert any(p.endswith("alerts.jsonl") for p in files)
    assert "crawl almayadeen: ok" in err["run, stopped by SIGTERM"] and "stopped" in err["run, stopped by SIGTERM"]


def test_no_secret_in_any_output_log_help_or_file(run_outputs):
    outputs, files, values, _ = run_outputs
    assert len(values) >= 14 and all(len(v) >= 8 for v in values)
    leaks = []
    for label, _, _, _, out, err in outputs:
        for value in values:
            if value in out or value in err:
                leaks.append((label, "stdout" if value in out else "stderr"))
    for path, text in files.items():
        leaks += [(path, "file") for value in values if value in text]
    assert not leaks
