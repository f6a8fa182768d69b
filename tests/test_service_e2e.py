"""End to end: `raqib run` crawls the offline mirror on a short schedule; a new article
appears in the mirrored feeds; its alert arrives at a webhook exactly once, across further
crawls, a revision of the article, a SIGTERM and a restart."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipelines.process import die_with_parent as _die_with_parent
from tests.support.alert_receivers import HttpReceiver

ROOT = Path(__file__).resolve().parent.parent
MARKER = "raqibmarker"


def state(config_dir: Path) -> dict:
    try:
        return json.loads((config_dir.parent / "state" / "service.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def runs(config_dir: Path, outlet: str) -> int:
    return int(((state(config_dir).get("outlets") or {}).get(outlet) or {}).get("runs") or 0)


def wait_until(predicate, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f"raqib run exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)
    pytest.fail(f"timed out; raqib run log:\n{log.read_text(errors='replace')[-4000:]}")


@pytest.mark.slow
def test_raqib_run_alerts_once_on_a_new_article_in_the_mirror(config_dir, tmp_path, monkeypatch):
    from crawler.mirror import Mirror

    monkeypatch.setenv("RAQIB_WEBHOOK_SECRET", "e2e-secret")
    hook = HttpReceiver().start()
    outlet = "almayadeen"
    with Mirror(outlets=[outlet]) as mirror:
        mirror.write_config(config_dir)
        with (config_dir / "settings.toml").open("a", encoding="utf-8") as fh:
            fh.write("[crawl]\ndownload_delay = 0.0\nautothrottle = false\n"
                     "[alerts]\nsweep_interval = 1\nretry_base = 0.5\n[service]\njitter = 0\n")
        (config_dir / "alerts.yaml").write_text(textwrap.dedent(f"""
            alerts:
              - name: marker
                match: {{outlets: [{outlet}], query: '{MARKER}'}}
                notify:
                  - {{type: webhook, url: "{hook.url}", secret_env: RAQIB_WEBHOOK_SECRET}}
                  - {{type: file, path: alerts.jsonl}}
            """), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "RAQIB_ES_URL"}
        log = tmp_path / "run.log"

        def start():
            return subprocess.Popen([sys.executable, "-m", "crawler.cli.main", "--config", str(config_dir), "run",
                                     "--every", "2s"], cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                                    preexec_fn=_die_with_parent)

        proc = start()
        try:
            wait_until(lambda: runs(config_dir, outlet) >= 1, 180, proc, log)
            assert hook.requests == []                       # the mirror's articles do not match
            published = mirror.publish(outlet, title=f"هجوم لداعش قرب التنف {MARKER}",
                                       text="أعلن تنظيم داعش مسؤوليته عن هجوم قرب قاعدة التنف.\n"
                                            "وقالت مصادر إن القوات الأميركية ردت على الهجوم.")
            wait_until(lambda: len(hook.requests) >= 1, 120, proc, log)
            after = runs(config_dir, outlet)
            wait_until(lambda: runs(config_dir, outlet) >= after + 2, 120, proc, log)   # crawled again, twice
            mirror.revise(outlet, published["url"], text="نص معدل بعد التصحيح.\nتفاصيل جديدة عن الهجوم.")
            after = runs(config_dir, outlet)
            wait_until(lambda: runs(config_dir, outlet) >= after + 2, 120, proc, log)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=120) == 0
            assert state(config_dir)["service"]["pid"] is None

            proc = start()                                   # a restart
            after = runs(config_dir, outlet)
            wait_until(lambda: runs(config_dir, outlet) >= after + 1, 180, proc, log)
            time.sleep(1.5)                                  # a sweep after the crawl
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=120) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            hook.stop()
    assert len(hook.requests) == 1, log.read_text(errors="replace")[-3000:]
    body = json.loads(hook.requests[0]["body"])
    assert body["rule"] == "marker" and MARKER in body["articles"][0]["title"]
    import hashlib
    import hmac

    assert hook.requests[0]["headers"]["X-Raqib-Signature"] == \
        "sha256=" + hmac.new(b"e2e-secret", hook.requests[0]["body"], hashlib.sha256).hexdigest()
    lines = (config_dir.parent / "state" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    text = log.read_text(errors="replace")
    assert f"crawl {outlet}: ok" in text                  # one line per crawl with its stats
