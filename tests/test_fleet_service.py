"""Two `raqib run` instances (two machines: their own config and state directories) on one
Redis, crawling the offline mirror: one schedules crawls and evaluates alerts at a time, both
run a worker, an alert goes out once; when the leader is killed with SIGKILL the other takes
over its schedule and its alerting, and the dead one's worker does not linger."""
from __future__ import annotations

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
from pipelines.process import pid_alive as alive
from tests.support.alert_receivers import HttpReceiver
from tests.support.crawlrun import ROOT

pytestmark = pytest.mark.slow
MARKER = "raqibfleetmarker"
OUTLET = "almayadeen"


def service_state(state_dir: Path) -> dict:
    try:
        return json.loads((state_dir / "service.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def runs(state_dir: Path) -> int:
    return int(((service_state(state_dir).get("outlets") or {}).get(OUTLET) or {}).get("runs") or 0)


def crawls_logged(log: Path) -> int:
    """Crawls this instance ran (its schedule's run count also carries those of the leader
    before it)."""
    return log.read_text(errors="replace").count(f"crawl {OUTLET}: ") if log.exists() else 0


def leading(state_dir: Path) -> bool:
    return bool((service_state(state_dir).get("fleet") or {}).get("leading"))


def test_one_leader_at_a_time_and_a_takeover_when_it_dies(tmp_path, es_url, alias, redis_url, monkeypatch):
    from crawler.mirror import Mirror

    hook = HttpReceiver().start()
    procs: list[subprocess.Popen] = []
    with Mirror(outlets=[OUTLET]) as mirror:
        dirs = {}
        for name in ("a", "b"):
            config, state = tmp_path / name / "config", tmp_path / name / "state"
            config.mkdir(parents=True)
            mirror.write_config(config)
            (config / "settings.toml").write_text(textwrap.dedent(f"""
                [crawl]
                download_delay = 0.0
                autothrottle = false
                timeout = 5.0
                [elasticsearch]
                url = ["{es_url}"]
                alias = "{alias}"
                crawls_index = "{alias}-crawls"
                [state]
                dir = "{state}"
                redis_url = "{redis_url}"
                redis_ttl = "2s"
                [alerts]
                sweep_interval = 1
                [service]
                jitter = 0
                """), encoding="utf-8")
            (config / "alerts.yaml").write_text(textwrap.dedent(f"""
                alerts:
                  - name: marker
                    match: {{outlets: [{OUTLET}], query: '{MARKER}'}}
                    notify: [{{type: webhook, url: "{hook.url}"}}]
                """), encoding="utf-8")
            dirs[name] = (config, state, tmp_path / name / "run.log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}

        def start(name: str) -> subprocess.Popen:
            config, _, log = dirs[name]
            proc = subprocess.Popen([sys.executable, "-m", "crawler.cli.main", "--config", str(config), "run", "--every", "2s"],
                                    cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                                    preexec_fn=_die_with_parent)
            procs.append(proc)
            return proc

        def wait_until(predicate, timeout: float, what: str) -> None:
            deadline = time.time() + timeout
            while time.time() < deadline:
                if predicate():
                    return
                time.sleep(0.2)
            logs = "\n".join(f"--- {n}\n{d[2].read_text(errors='replace')[-3000:]}" for n, d in dirs.items()
                             if d[2].exists())
            pytest.fail(f"timed out waiting for {what}\n{logs}")

        sa, sb = dirs["a"][1], dirs["b"][1]
        try:
            a = start("a")
            wait_until(lambda: leading(sa) and runs(sa) >= 1, 180, "a to lead and crawl")
            b = start("b")
            wait_until(lambda: (service_state(sb).get("fleet") or {}).get("worker_pid"), 60, "b's worker")
            # a few of a's crawls later: b has scheduled nothing, and never both led
            target = runs(sa) + 3
            while runs(sa) < target:
                assert not (leading(sa) and leading(sb))
                assert runs(sb) == 0 and crawls_logged(dirs["b"][2]) == 0 and a.poll() is None and b.poll() is None
                time.sleep(0.2)
            assert service_state(sb)["fleet"]["leader"] == service_state(sa)["fleet"]["member"]

            first = mirror.publish(OUTLET, title=f"هجوم لداعش قرب التنف {MARKER}",
                                   text="أعلن تنظيم داعش مسؤوليته عن هجوم قرب قاعدة التنف.\nوردت القوات الأميركية.")
            wait_until(lambda: len(hook.requests) >= 1, 120, "the first alert")

            a_worker = service_state(sa)["fleet"]["worker_pid"]
            a.send_signal(signal.SIGKILL)                 # the leader dies without a word
            a.wait(10)
            wait_until(lambda: leading(sb), 30, "b to take over")
            assert runs(sb) >= runs(sa)                   # it continues a's schedule
            wait_until(lambda: crawls_logged(dirs["b"][2]) >= 1, 60, "b to crawl")
            wait_until(lambda: not alive(a_worker), 30, "a's worker to stop with it")

            second = mirror.publish(OUTLET, title=f"اشتباكات مع داعش في البادية {MARKER}",
                                    text="اندلعت اشتباكات بين قوات محلية وخلايا داعش في البادية السورية.")
            wait_until(lambda: len(hook.requests) >= 2, 120, "the second alert")
            after = crawls_logged(dirs["b"][2])
            wait_until(lambda: crawls_logged(dirs["b"][2]) >= after + 2, 60, "two more crawls by b")
            time.sleep(1.5)                              # and a sweep after them
            status = subprocess.run([sys.executable, "-m", "crawler.cli.main", "--config", str(dirs["b"][0]), "status",
                                     "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
            fleet = json.loads(status.stdout)["fleet"]
            assert fleet["scheduler"] == service_state(sb)["fleet"]["member"]
            assert {m["role"] for m in fleet["members"].values()} >= {"service", "crawl"}   # b and its worker
            assert json.loads(status.stdout)["alerts"]["matches"] == 2          # the fleet's ledger
            b.send_signal(signal.SIGTERM)
            assert b.wait(timeout=120) == 0
            b_state = service_state(sb)
            assert b_state["service"]["pid"] is None and not alive(b_state["fleet"]["worker_pid"])
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
            hook.stop()
    # each article alerted once, by whichever instance led when it was indexed
    titles = [json.loads(r["body"])["articles"][0]["title"] for r in hook.requests]
    assert sorted(titles) == sorted([first["title"], second["title"]])
