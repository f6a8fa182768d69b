"""The scheduler service with a tiny stand-in crawl (a real child process that logs when it
starts and ends, sleeps, honours SIGTERM by finishing its batch, and writes stats JSON)."""
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crawler.run.service import OutletState, Service, ServiceError, crawl_lock, next_interval, read_state, summarize
from pipelines.outlets import Outlet
from pipelines.settings import parse_settings

ROOT = Path(__file__).resolve().parent.parent

FAKE_CRAWL = r'''
import json, os, signal, sys, time
outlet, stats_path, log_path = sys.argv[1:4]
sleep, new, code = float(os.environ.get("FAKE_SLEEP", "0.5")), int(os.environ.get("FAKE_NEW", "0")), int(os.environ.get("FAKE_EXIT", "0"))
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(time.time()))
def note(what):
    with open(log_path, "a") as fh:
        fh.write(json.dumps({"outlet": outlet, "what": what, "t": time.time(), "pid": os.getpid(), "signals": len(stop)}) + "\n")
note("start")
deadline = time.time() + sleep
while time.time() < deadline and not stop:
    time.sleep(0.02)
if stop:
    time.sleep(0.3)          # finish the batch in flight
with open(stats_path, "w") as fh:
    json.dump({"outlets": {outlet: {"discovered": {"feed": 7, "total": 7}, "fetched": {"article": 3},
                                    "indexed": {"new": new, "updated": 0, "unchanged": 0}, "errors": {},
                                    "status": os.environ.get("FAKE_STATUS", "ok")}}}, fh)
note("stopped" if stop else "end")
sys.exit(code)
'''


def outlet(key: str, schedule: float = 60.0) -> Outlet:
    return Outlet(key=key, name=key, home="http://127.0.0.1/", domains=("127.0.0.1",),
                  article_pattern=re.compile("x"), schedule=schedule)


@pytest.fixture
def rig(tmp_path, es_url, alias, config_dir):
    script = tmp_path / "fake_crawl.py"
    script.write_text(FAKE_CRAWL, encoding="utf-8")
    log = tmp_path / "crawls.log"
    config = config_dir            # its settings.toml has the same state dir: tmp_path / "state"
    (config / "alerts.yaml").write_text("alerts: []\n", encoding="utf-8")
    services = []

    def make(outlets, *, every=None, env=None, **service_settings):
        settings = parse_settings({
            "elasticsearch": {"url": [es_url], "alias": alias},
            "state": {"dir": str(tmp_path / "state")},
            "alerts": {"sweep_interval": 3600},
            "service": {"jitter": 0, "min_interval": 1, "max_interval": 100, "stop_timeout": 10, **service_settings},
        })

        def command(o, stats_path):
            prefix = ["env", *[f"{k}={v}" for k, v in (env or {}).get(o.key, {}).items()]]
            return [*prefix, sys.executable, str(script), o.key, str(stats_path), str(log)]

        from pipelines.es import connect

        svc = Service(config_dir=config, settings=settings, outlets=outlets, state_dir=tmp_path / "state",
                      command=command, every=every, es_client_factory=lambda: connect(es_url, check=False), alias=alias)
        services.append(svc)
        return svc

    def events():
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    make.events = events
    make.state_dir = tmp_path / "state"
    yield make
    for svc in services:
        if not svc.stopping.is_set():
            svc.stopping.set()
            svc.stop()


def runs(events, key):
    """[(start, end)] of each crawl of one outlet, from the stand-in's log."""
    out, open_ = [], {}
    for e in events:
        if e["outlet"] != key:
            continue
        if e["what"] == "start":
            open_[e["pid"]] = e["t"]
        else:
            out.append((open_.pop(e["pid"]), e["t"]))
    return sorted(out)


def wait_until(predicate, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_one_outlet_never_crawls_twice_at_once_and_missed_runs_coalesce(rig):
    # Runs are due every 0.2 s but each takes 1 s: a naive scheduler would pile up 5 per crawl.
    svc = rig([outlet("a")], every=0.2, env={"a": {"FAKE_SLEEP": 1.0}})
    svc.start()
    time.sleep(3.6)
    svc.stopping.set()
    svc.stop()
    spans = runs(rig.events(), "a")
    assert 2 <= len(spans) <= 4
    for (s1, e1), (s2, _) in zip(spans, spans[1:]):
        assert s2 >= e1                       # each starts after the previous one ended


def test_at_most_max_parallel_crawls_run_at_once(rig):
    svc = rig([outlet(k) for k in "abc"], every=0.1, env={k: {"FAKE_SLEEP": 0.6} for k in "abc"}, max_parallel_crawls=2)
    svc.start()
    time.sleep(2.5)
    svc.stopping.set()
    svc.stop()
    spans = [s for k in "abc" for s in runs(rig.events(), k)]
    assert {k for k in "abc" if runs(rig.events(), k)} == set("abc")
    for t in sorted(x for s in spans for x in s):
        assert sum(1 for s, e in spans if s < t + 1e-3 and e > t + 1e-3) <= 2


def test_stop_asks_a_running_crawl_once_and_waits_for_its_batch(rig):
    svc = rig([outlet("a")], env={"a": {"FAKE_SLEEP": 30}})
    svc.start()
    assert wait_until(lambda: any(e["what"] == "start" for e in rig.events()))
    began = time.time()
    svc.stopping.set()
    svc.stop()
    assert time.time() - began < 5
    [start, stopped] = rig.events()
    assert stopped["what"] == "stopped" and stopped["signals"] == 1     # one SIGTERM: finish, don't abort
    state = read_state(rig.state_dir)
    assert state["outlets"]["a"]["last_status"] == "stopped"
    assert state["service"]["pid"] is None and state["service"]["stopped_at"]


def test_a_restart_resumes_the_persisted_schedule(rig):
    svc = rig([outlet("a", schedule=600)], env={"a": {"FAKE_SLEEP": 0.1, "FAKE_NEW": 2}})
    svc.start()
    assert wait_until(lambda: read_state(rig.state_dir).get("outlets", {}).get("a", {}).get("runs") == 1)
    svc.stopping.set()
    svc.stop()
    first = read_state(rig.state_dir)["outlets"]["a"]
    assert first["next_run"] > time.time() + 300 and first["new_articles"] == 2

    again = rig([outlet("a", schedule=600)], env={"a": {"FAKE_SLEEP": 0.1}})
    again.start()
    time.sleep(1.0)
    assert len(runs(rig.events(), "a")) == 1              # not due yet: no crawl on restart
    assert abs(again.state["a"].next_run - first["next_run"]) < 1e-6
    again.stopping.set()
    again.stop()

    # A run missed while the service was down happens once, soon after the restart.
    data = read_state(rig.state_dir)
    data["outlets"]["a"]["next_run"] = time.time() - 3600
    (rig.state_dir / "service.json").write_text(json.dumps(data))
    third = rig([outlet("a", schedule=600)], env={"a": {"FAKE_SLEEP": 0.1}})
    third.start()
    assert wait_until(lambda: len(runs(rig.events(), "a")) == 2)
    time.sleep(0.5)
    third.stopping.set()
    third.stop()
    assert len(runs(rig.events(), "a")) == 2


def test_a_failing_outlet_backs_off_and_status_shows_it(rig, config_dir):
    svc = rig([outlet("bad", schedule=10), outlet("good", schedule=10), outlet("walled", schedule=10)],
              env={"bad": {"FAKE_SLEEP": 0.1, "FAKE_EXIT": 3}, "good": {"FAKE_SLEEP": 0.1, "FAKE_NEW": 4},
                   "walled": {"FAKE_SLEEP": 0.1, "FAKE_STATUS": "blocked"}}, max_parallel_crawls=3)
    svc.start()
    assert wait_until(lambda: all(read_state(rig.state_dir).get("outlets", {}).get(k, {}).get("runs")
                                  for k in ("bad", "good", "walled")))
    # `raqib status` in another process reads the same state
    out = subprocess.run([sys.executable, "-m", "crawler.cli.main", "--config", str(config_dir), "status"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    svc.stopping.set()
    svc.stop()
    st = read_state(rig.state_dir)["outlets"]
    assert st["bad"]["failures"] == 1 and st["bad"]["interval"] == 20        # doubled
    assert st["good"]["failures"] == 0 and st["good"]["interval"] == 7.5     # publishing: sooner
    assert st["walled"]["failures"] == 1 and st["walled"]["last_error"] == "the crawl reports the outlet blocked"
    assert "service: running" in out.stdout
    assert re.search(r"bad\s+.*failed, back-off after 1 failure", out.stdout)
    assert "exit code 3" in out.stdout
    assert re.search(r"good\s+.*ok", out.stdout) and "new 4" in out.stdout


def test_a_hand_started_crawl_of_the_same_outlet_is_not_overlapped(rig):
    held = crawl_lock(rig.state_dir, "a")
    try:
        svc = rig([outlet("a")], env={"a": {"FAKE_SLEEP": 0.1}})
        svc.start()
        time.sleep(1.0)
        assert runs(rig.events(), "a") == []
        assert svc.state["a"].next_run > time.time() + 30
    finally:
        held.close()
        svc.stopping.set()
        svc.stop()


def test_a_second_service_on_the_same_state_is_refused(rig):
    first = rig([outlet("a", schedule=600)], env={"a": {"FAKE_SLEEP": 0.1}})
    first.start()
    second = rig([outlet("a", schedule=600)])
    with pytest.raises(ServiceError, match="another `raqib run`"):
        second.start()
    second.stopping.set()


def test_adaptive_interval_stays_within_bounds():
    st = OutletState(interval=900)
    kw = dict(base=900, lo=300, hi=3600, adaptive=True)
    for _ in range(10):
        st.interval = next_interval(st, ok=True, new=5, **kw)
    assert st.interval == 300
    for _ in range(10):
        st.interval = next_interval(st, ok=True, new=0, **kw)
    assert st.interval == 3600
    st.interval = 900
    assert next_interval(st, ok=False, new=0, **kw) == 1800
    assert next_interval(st, ok=True, new=5, **{**kw, "adaptive": False}) == 900


def test_stats_of_the_crawl_report_are_summarised():
    report = {"outlets": {"a": {"discovered": {"feed": 5, "sitemap": 4, "section": 0, "idwalk": 0, "total": 9, "new": 3},
                                "fetched": {"article": 4, "feed": 1}, "not_modified": {"sitemap": 1}, "extracted": 4,
                                "indexed": {"new": 2, "updated": 1, "unchanged": 1}, "duplicates": 0,
                                "errors": {"timeout": 1, "http_5xx": 2}, "status": "ok with errors", "blocked": None}},
              "totals": {}}
    new, errors, line, verdict = summarize(report, "a")
    assert (new, errors, verdict) == (2, 3, "ok with errors")
    assert line == "discovered 9, fetched 5, not modified 1, extracted 4, new 2, updated 1, duplicates 0, errors 3"
    assert summarize({}, "a") == (0, 0, "", None)
    blocked = {"outlets": {"a": {"fetched": {}, "errors": {"blocked": 1}, "status": "blocked", "blocked": "a challenge page"}}}
    assert summarize(blocked, "a")[2:] == ("fetched 0, errors 1, blocked: a challenge page", "blocked")


def test_raqib_run_refuses_to_start_on_a_broken_alerts_file_or_option(config_dir, raqib):
    (config_dir / "alerts.yaml").write_text("alerts:\n  - name: x\n    notify: [{type: email}]\n", encoding="utf-8")
    code, _, err = raqib("run")
    assert code == 3 and "alerts[0] (x).notify[0].to: is required" in err
    (config_dir / "alerts.yaml").unlink()      # every file is checked first: the options' own errors follow
    code, _, err = raqib("run", "--every", "soon")
    assert code == 2 and "--every expects a duration" in err
    code, _, err = raqib("run", "--outlet", "nowhere")
    assert code == 3 and "no outlet named 'nowhere'" in err


def test_status_before_the_service_ever_ran(config_dir, raqib):
    code, out, _ = raqib("status")
    assert code == 0
    assert "service: has never run with the state directory" in out
    assert "almayadeen" in out and "when the service starts" in out
    code, out, _ = raqib("status", "--json")
    info = json.loads(out)
    assert info["running"] is False and "almayadeen" in info["configured"]


def test_status_says_a_run_whose_time_has_passed_is_due_not_past(config_dir, raqib, tmp_path):
    """A running service whose next run of an outlet is 32 s overdue (waiting for a crawl
    slot) was shown as "next run 19:21:34 (32s ago)"."""
    import os
    import socket
    from dataclasses import asdict

    from crawler.run.service import STATE_FILE, StateStore

    now = time.time()
    StateStore(tmp_path / "state" / STATE_FILE).save({
        "service": {"pid": os.getpid(), "host": socket.gethostname(), "started_at": now - 600, "heartbeat": now,
                    "stopped_at": None, "every": None},
        "outlets": {"almayadeen": asdict(OutletState(interval=900, next_run=now - 32, last_end=now - 900,
                                                     last_status="ok", runs=1)),
                    "noonpost": asdict(OutletState(interval=900, next_run=now + 300, last_end=now - 600,
                                                   last_status="ok", runs=1))},
        "alerts": {}})
    code, out, err = raqib("status")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("almayadeen"))
    assert re.search(r"due now \(since 3\ds; waits for a free crawl slot\)", row) and " ago)" not in row.split("ok")[1]
    assert re.search(r"in [45]m", next(line for line in out.splitlines() if line.startswith("noonpost")))


def test_status_shows_its_state_with_a_broken_config_then_the_problems(config_dir, raqib):
    (config_dir / "outlets.yaml").write_text("outlets:\n  x: {name: X}\n", encoding="utf-8")
    code, out, err = raqib("status")
    assert code == 3
    assert "service: has never run with the state directory" in out
    assert err.startswith("raqib: configuration error:\n") and "outlets.x.home: is required" in err


def test_status_after_the_demo_names_the_demos_own_state(config_dir, raqib, tmp_path, monkeypatch):
    """The demo keeps its state apart; plain `raqib status` showed every outlet as never
    crawled without saying where the demo's crawl was."""
    monkeypatch.delenv("RAQIB_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))    # where the demo keeps its own
    demo_base = tmp_path / "xdg-state" / "raqib" / "demo"
    (demo_base / "config").mkdir(parents=True)
    code, out, _ = raqib("status")
    assert code == 0
    assert re.search(rf"the demo keeps its own configuration and state; see them with `\S*raqib --config "
                     rf"{re.escape(str(demo_base / 'config'))} status`", out)
