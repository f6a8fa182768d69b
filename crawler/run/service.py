"""`raqib run`: the long-running service. APScheduler decides when; child processes crawl.

Scrapy's reactor cannot be restarted inside one process, so every crawl is a child process
(`raqib crawl --outlet NAME --stats-json PATH`), and a crashing or hanging crawl cannot take
the scheduler down with it. Around the children:

* one APScheduler job per outlet, re-armed after each run with a one-off date trigger: at
  most one run per outlet is ever pending (missed runs coalesce into one), never two at once
  (`max_instances=1`, plus a lock file that also keeps a hand-started crawl of the same outlet
  from overlapping);
* adaptive polling: an outlet that published something is polled sooner, a quiet one later,
  a failing one backs off exponentially, always within [service] min_interval/max_interval;
  jitter spreads the outlets so they do not all start at once;
* an alerts job: sweeps articles indexed by others (or while the service was down) and sends
  due retries and digests, every [alerts] sweep_interval and after each crawl;
* state persisted in `<state dir>/service.json` after every change, read by `raqib status`
  from any process and by the next `raqib run`, which resumes the schedule instead of
  starting over;
* SIGTERM/SIGINT: no new crawl starts; each running crawl gets one SIGTERM, on which Scrapy
  finishes the requests in flight and flushes its pipelines (the index writes what it has),
  within [service] stop_timeout; only then is it killed.
"""
from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from crawler.report import health
from crawler.report.health import backoff_seconds
from crawler.state.factory import open_state
from pipelines.configfile import span
from pipelines.outlets import Outlet
from pipelines.process import pid_alive, raqib_argv

log = logging.getLogger("raqib.service")

STATE_FILE = "service.json"
CommandFactory = Callable[[Outlet, Path], list[str]]


class Stoppable(Protocol):
    """What runs beside the service and ends with it (crawler.web.server.WebServer)."""

    def stop(self) -> None: ...


@dataclass
class OutletState:
    interval: float                    # seconds until the next run after a normal one
    next_run: float | None = None      # epoch seconds
    last_start: float | None = None
    last_end: float | None = None
    last_status: str | None = None     # ok | failed | stopped | timeout | interrupted
    last_summary: str = ""
    last_stats: dict[str, Any] = field(default_factory=dict)
    last_error: str | None = None
    failures: int = 0                  # consecutive failed runs: > 0 means in back-off
    runs: int = 0
    new_articles: int = 0              # in total, since the state was created
    running_pid: int | None = None


class StateStore:
    """`service.json`: written atomically (temporary file, then rename), so a reader in
    another process always sees a whole file."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("service state %s is unreadable (%s); starting with a fresh schedule", self.path, exc)
            return {}

    def save(self, data: dict[str, Any]) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
            os.replace(tmp, self.path)


class ServiceLock:
    """One `raqib run` per state directory: a second one would double every crawl."""

    def __init__(self, path: Path):
        self.path = path
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            other = fh.read().strip() or "?"
            fh.close()
            raise ServiceError(f"another `raqib run` (pid {other}) already uses the state directory {self.path.parent}; "
                               f"stop it first, or give this one its own [state] dir") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


class ServiceError(Exception):
    """The service cannot start; the message says why and what to do."""


def crawl_lock(state_dir: Path, outlet: str):
    """An exclusive, non-blocking lock on one outlet's crawl; None when someone holds it."""
    path = state_dir / "locks" / f"crawl-{outlet}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def default_command(config_dir: Path | None, es: str | None, log_format: str = "text") -> CommandFactory:
    """`raqib crawl` for one outlet, in a fresh interpreter, with the service's global options."""

    def command(outlet: Outlet, stats_path: Path) -> list[str]:
        return raqib_argv("crawl", "--outlet", outlet.key, "--stats-json", str(stats_path),
                          config_dir=config_dir, es=es, log_format=log_format)

    return command


def next_interval(state: OutletState, *, base: float, lo: float, hi: float, ok: bool, new: int,
                  adaptive: bool, points: float = 1.0) -> float:
    """The wait before an outlet's next crawl.

    `base` is its configured schedule. A failing outlet waits by the one back-off rule,
    crawler.report.health.backoff_seconds: the schedule doubled per failure point (`points`, the
    graded failures in a row the crawl state records), up to `hi`, so a failing site is not
    hammered. Otherwise, adaptively, a crawl that found new articles shortens the wait by a
    quarter (not below `lo`), and a quiet one lengthens it by half (not above `hi`); without
    adaptation the schedule is kept.
    """
    lo, hi = min(lo, base), max(hi, base)
    if not ok:
        return backoff_seconds(points, base, hi)
    if not adaptive:
        return base
    current = min(state.interval, base) if state.failures else state.interval
    if new > 0:
        return max(lo, min(current, base) * 0.75)
    return min(hi, current * 1.5)


def summarize(stats: dict[str, Any], outlet: str) -> tuple[int, int, str, str | None]:
    """(new articles, errors, one-line summary, the crawl's own verdict) from the JSON that
    `raqib crawl --stats-json` writes ({"outlets": {name: {...}}, "totals": …}; a flat dict of
    counts is read too). The verdict is the report's `status` (ok, ok with errors, failed,
    blocked) when it has one."""
    per = stats
    if isinstance(stats.get("outlets"), dict):
        per = stats["outlets"].get(outlet, {})
    elif isinstance(stats.get(outlet), dict):
        per = stats[outlet]

    def num(key: str, sub: str | None = None) -> int | None:
        v = per.get(key)
        if isinstance(v, bool):
            return None
        if isinstance(v, (int, float)):
            return int(v)
        if isinstance(v, dict):
            if sub is not None:
                x = v.get(sub)
                return int(x) if isinstance(x, (int, float)) else 0
            if isinstance(v.get("total"), (int, float)):
                return int(v["total"])
            return sum(int(x) for x in v.values() if isinstance(x, (int, float)) and not isinstance(x, bool))
        return None

    new = num("indexed", "new") if isinstance(per.get("indexed"), dict) else num("indexed_new") or num("indexed")
    errors = num("errors") or 0
    parts = []
    for label, value in (("discovered", num("discovered")), ("fetched", num("fetched")),
                         ("not modified", num("not_modified")), ("extracted", num("extracted")),
                         ("new", new), ("updated", num("indexed", "updated") if isinstance(per.get("indexed"), dict) else None),
                         ("duplicates", num("duplicates")), ("errors", num("errors"))):
        if value is not None:
            parts.append(f"{label} {value}")
    if per.get("blocked"):
        parts.append(f"blocked: {per['blocked']}")
    verdict = per.get("status") if isinstance(per.get("status"), str) else None
    return new or 0, errors, ", ".join(parts), verdict


class Service:
    def __init__(self, *, config_dir: Path | None, settings, outlets: list[Outlet], state_dir: Path,
                 command: CommandFactory, every: float | None = None, es_client_factory=None,
                 alias: str | None = None, fleet=None, workspace: Callable[[], Stoppable | None] | None = None):
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self.config_dir = config_dir
        self.settings = settings
        self.outlets = {o.key: o for o in outlets}
        self.state_dir = state_dir
        self.command = command
        self.every = every
        self.svc = settings["service"]
        self.alias = alias or settings.get("elasticsearch", "alias")
        self._client_factory = es_client_factory
        self._client = None
        self._workspace = workspace   # starts `raqib web` beside the service when `[web] enabled` (commands/run.py)
        self.web: Stoppable | None = None
        self.fleet = fleet        # crawler.fleet.leadership.Leadership: in a fleet, crawls and alerts run only while leading
        self.store = StateStore(state_dir / STATE_FILE)
        self.lock = ServiceLock(state_dir / "service.lock")
        self.stopping = threading.Event()
        self._children: dict[str, subprocess.Popen] = {}
        self._job_seq = itertools.count(1)
        self._children_lock = threading.Lock()
        self._state_lock = threading.RLock()
        self.state: dict[str, OutletState] = {}
        self.alerts_state: dict[str, Any] = {}
        self.started_at = time.time()
        self.scheduler = BackgroundScheduler(
            executors={"crawls": ThreadPoolExecutor(max(1, int(self.svc["max_parallel_crawls"]))),
                       "alerts": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self.lock.acquire()
        self.web = self._workspace() if self._workspace is not None else None
        self._restore()
        self.scheduler.start()
        if self.fleet is not None:
            self._save()
            self.fleet.start(self)       # calls lead() whenever this instance holds the fleet's scheduler lock
            log.info("raqib run: in a fleet (Redis); this instance runs a worker and schedules crawls and alerts "
                     "while it holds the fleet's scheduler lock; state in %s", self.store.path)
            return
        self._arm()

    def _arm(self) -> None:
        """Schedule every outlet's next crawl and the alerts job."""
        now = time.time()
        first: dict[str, float] = {}
        for key, outlet in self.outlets.items():
            st = self.state[key]
            jitter = random.uniform(0, min(self.svc["jitter"], st.interval / 4))
            when = st.next_run if st.next_run and st.next_run > now else now + jitter   # missed runs: one, soon
            st.next_run = first[key] = when
            self._reschedule(key, when)
        sweep = float(self.settings.get("alerts", "sweep_interval"))
        self.scheduler.add_job(self._alerts_job, "interval", seconds=max(1.0, sweep), id="alerts",
                               executor="alerts", next_run_time=datetime.now(UTC), replace_existing=True)
        self._save()
        log.info("raqib run: %d outlet(s) scheduled (%s); alerts every %gs; state in %s", len(self.outlets),
                 ", ".join(f"{k} in {span(when - now)}" for k, when in first.items()),
                 sweep, self.store.path)

    def lead(self, shared: dict[str, Any] | None) -> None:
        """This instance now schedules for the fleet: continue the schedule the previous
        leader kept (`shared`: its outlets' states), else this instance's own."""
        if self.stopping.is_set():
            return
        if shared:
            alerts = shared.pop("_alerts", None)
            self._restore({"outlets": shared, "alerts": alerts if isinstance(alerts, dict) else self.alerts_state})
        self._arm()

    def follow(self) -> None:
        """Another instance schedules now: drop this one's pending crawls and alert sweeps
        (running crawls finish; the fleet's per-outlet locks keep them from overlapping)."""
        for job in self.scheduler.get_jobs():
            if job.id == "alerts" or job.id.startswith("crawl:"):
                try:
                    job.remove()
                except Exception:  # noqa: BLE001 - it just ran and went
                    pass
        self._save()

    def wait(self) -> None:
        while not self.stopping.wait(5.0):
            self._save()   # heartbeat: `raqib status` tells a live service from a dead one

    def stop(self, *, force: bool = False) -> None:
        """Stop scheduling, ask running crawls to finish, wait for them (see module doc)."""
        if force:
            # A second signal: a second SIGTERM makes Scrapy stop at once, without waiting for
            # the requests in flight (what it has indexed stays indexed; the rest is refetched).
            with self._children_lock:
                children = list(self._children.values())
            log.warning("stopping now: %d crawl(s) told to stop without finishing their batch", len(children))
            for proc in children:
                _signal(proc, signal.SIGTERM)
            return
        self.stopping.set()
        log.info("stopping: no new crawls; %d running crawl(s) asked to finish their batch", len(self._children))
        if self.fleet is not None:
            self.fleet.stop()                     # the worker child gives back what it holds
        try:
            self.scheduler.shutdown(wait=True)   # returns when running jobs (each waiting for its child) end
        except Exception:  # noqa: BLE001 - not started
            pass
        self._save(stopped=True)
        if self.web is not None:
            self.web.stop()
        if self.fleet is not None:
            self.fleet.release()                  # only now: another instance may start crawls
        self.lock.release()
        log.info("stopped")

    # --- the crawl job ------------------------------------------------------------------

    def _crawl_job(self, key: str) -> None:
        if self.stopping.is_set() or (self.fleet is not None and not self.fleet.leading):
            return
        outlet = self.outlets[key]
        st = self.state[key]
        held = crawl_lock(self.state_dir, key)
        if held is not None and self.fleet is not None and self.fleet.busy(key):
            held.close()                 # a crawl elsewhere in the fleet holds the outlet
            held = None
        if held is None:
            wait = min(60.0, self.every or outlet.schedule)
            log.warning("crawl %s: another process is crawling this outlet; trying again in %s", key, span(wait))
            with self._state_lock:
                st.next_run = time.time() + wait
            self._save()
            self._reschedule(key, st.next_run)
            return
        stats_path = self.state_dir / "crawls" / f"{key}.json"
        stats_path.parent.mkdir(parents=True, exist_ok=True)
        stats_path.unlink(missing_ok=True)
        argv = self.command(outlet, stats_path)
        start = time.time()
        status, error = "ok", None
        try:
            with self._state_lock:
                st.last_start, st.running_pid = start, None
            try:
                # The crawl's own report goes to the stats file and into one log line here;
                # its log lines (stderr) pass through. The child inherits the outlet's lock:
                # should the service die (kill -9), the crawl runs on and still holds it, so a
                # restarted service cannot start a second crawl of the outlet beside it.
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        start_new_session=True, pass_fds=(held.fileno(),))
            except OSError as exc:
                status, error = "failed", f"cannot start the crawl: {exc}"
            else:
                with self._children_lock:
                    self._children[key] = proc
                with self._state_lock:
                    st.running_pid = proc.pid
                self._save()
                status, error = supervise(key, proc, start, stopping=self.stopping,
                                          crawl_timeout=float(self.svc["crawl_timeout"]),
                                          stop_timeout=float(self.svc["stop_timeout"]))
                with self._children_lock:
                    self._children.pop(key, None)
        finally:
            held.close()
        stats = _read_json(stats_path)
        new, errors, summary, verdict = summarize(stats, key)
        if status == "ok" and verdict in ("failed", "blocked"):
            # The process ended well but the outlet did not answer (or challenged us): that
            # is what back-off is for.
            status, error = "failed", f"the crawl reports the outlet {verdict}"
        end = time.time()
        base = self.every or outlet.schedule
        lo = self.every or float(self.svc["min_interval"])
        hi = float(self.svc["max_interval"])      # a failing outlet backs off even under --every
        h = judge_health(self.settings, self.state_dir, key, stats, status, error, end, base=outlet.schedule, hi=hi,
                         new=new, errors=errors)
        with self._state_lock:
            ok = not h.failing if h is not None else status in ("ok", "stopped")
            st.interval = next_interval(st, base=base, lo=lo, hi=hi, ok=ok, new=new,
                                        adaptive=bool(self.svc["adaptive"]) and not self.every,
                                        points=h.failure_points if h is not None else 1.0)
            st.failures = h.consecutive_failures if h is not None else (0 if ok else st.failures + 1)
            st.last_end, st.last_status, st.last_error, st.running_pid = end, status, error, None
            st.last_stats, st.last_summary = stats, summary
            st.runs += 1
            st.new_articles += new
            jitter = random.uniform(0, min(self.svc["jitter"], st.interval / 4))
            st.next_run = end + st.interval + jitter
        _log_run(key, st, status, error, start, end, summary, new, errors, with_next=not self.stopping.is_set())
        self._save()
        if not self.stopping.is_set():
            self._reschedule(key, st.next_run)
            if new:
                self._kick_alerts()

    def _reschedule(self, key: str, when: float) -> None:
        """Arm the outlet's next run. Exactly one is pending per outlet (one at start, one
        added by each run as it ends), so missed runs cannot pile up. Each gets a fresh job
        id: re-using the id of the job that is running races with APScheduler removing that
        spent one-off job, and could lose the new one."""
        try:
            self.scheduler.add_job(self._crawl_job, "date", run_date=_dt(when), args=[key],
                                   id=f"crawl:{key}:{next(self._job_seq)}", executor="crawls")
        except Exception:  # noqa: BLE001 - shutting down
            pass

    # --- alerts -------------------------------------------------------------------------

    def _kick_alerts(self) -> None:
        try:
            self.scheduler.modify_job("alerts", next_run_time=datetime.now(UTC))
        except Exception:  # noqa: BLE001
            pass

    def _alerts_job(self) -> None:
        from pipelines.alerts import evaluate_pending

        if self.stopping.is_set() or (self.fleet is not None and not self.fleet.leading):
            return
        try:
            client = self._es()
            report = evaluate_pending(client, self.alias, self.config_dir, settings=self.settings)
        except Exception as exc:  # noqa: BLE001 - the cluster may be down; retried next time
            from pipelines.es import redact

            log.error("alerts: %s", redact(str(exc)))
            self.alerts_state.update(last_error=redact(str(exc)), last_run=time.time())
            return
        self.alerts_state.update(last_run=time.time(), last_error="; ".join(report.errors[:3]) or None)
        self.alerts_state["sent"] = self.alerts_state.get("sent", 0) + report.sent
        if report.sent or report.new:
            log.info("alerts: %d new match(es), %d message(s) sent, %d waiting for a retry",
                     report.new, report.sent, report.failed)

    def _es(self):
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    # --- state --------------------------------------------------------------------------

    def _restore(self, data: dict[str, Any] | None = None) -> None:
        data = data if data is not None else self.store.load()
        saved = data.get("outlets", {}) if isinstance(data, dict) else {}
        for key, outlet in self.outlets.items():
            base = self.every or outlet.schedule
            raw = saved.get(key)
            st = OutletState(interval=base)
            if isinstance(raw, dict):
                known = {k: v for k, v in raw.items() if k in OutletState.__dataclass_fields__}
                try:
                    st = OutletState(**{**asdict(st), **known})
                except TypeError:
                    pass
                if self.every:
                    st.interval = base
                if st.running_pid:
                    st.last_status, st.running_pid = "interrupted", None
                    st.last_error = "the service stopped while this crawl ran"
            self.state[key] = st
        self.alerts_state = data.get("alerts", {}) if isinstance(data.get("alerts"), dict) else {}

    def _save(self, *, stopped: bool = False) -> None:
        with self._state_lock:
            data = {
                "service": {"pid": None if stopped else os.getpid(), "host": socket.gethostname(),
                            "started_at": self.started_at, "heartbeat": time.time(),
                            "stopped_at": time.time() if stopped else None, "every": self.every},
                "outlets": {k: asdict(v) for k, v in self.state.items()},
                "alerts": self.alerts_state,
            }
            if self.fleet is not None:
                data["fleet"] = self.fleet.describe()
        try:
            self.store.save(data)
        except OSError as exc:
            # A full disk: said once, and the service goes on (its crawls stop with their own
            # clear error and back off); the state is written again as soon as there is room.
            if not getattr(self, "_unsaved", False):
                log.error("cannot write the service state %s: %s; free disk space: the schedule is kept in "
                          "memory meanwhile, and `raqib status` shows the last state written", self.store.path,
                          exc.strerror or exc)
            self._unsaved = True
        else:
            if getattr(self, "_unsaved", False):
                log.warning("the service state is written again (%s)", self.store.path)
            self._unsaved = False
        if self.fleet is not None:
            self.fleet.share(data)


def judge_health(settings: Any, state_dir: Path, key: str, stats: dict[str, Any], status: str,
                 error: str | None, finished: float, *, base: float, hi: float, new: int,
                 errors: int) -> health.Health | None:
    """The outlet's health after a run (crawler/report/health.py): as the crawl recorded it in the
    crawl state and its report, or recorded here when it could not (it crashed, was
    killed, or timed out before writing its report). None when the service stopped it
    before it reported: that says nothing about the outlet."""
    outlets = stats.get("outlets")
    if not isinstance(outlets, dict):
        outlets = {}
    entry = outlets.get(key) if isinstance(outlets.get(key), dict) else None
    if entry is not None and isinstance(entry.get("health"), dict):
        return health.Health.from_state(key, entry["health"])
    if status == "stopped" and entry is None:
        return None
    failure = health.failure_of(entry) if entry is not None and entry.get("status") else None
    if failure is None and status not in ("ok", "stopped"):
        failure = ("crawl_timeout" if status == "timeout" else "crawl_crashed", error or status)
    try:
        state = open_state(settings, state_dir=state_dir)
    except Exception as exc:  # noqa: BLE001 - scheduling goes on without the record
        log.warning("crawl %s: cannot record its health in the crawl state: %s", key, exc)
        return None
    try:
        return health.record(state, key, failure=failure, finished_at=finished, base=base, hi=hi,
                             status=status, new=new, errors=errors)
    finally:
        state.close()



def supervise(key: str, proc: subprocess.Popen, start: float, *, stopping: threading.Event,
              crawl_timeout: float, stop_timeout: float) -> tuple[str, str | None]:
    """Wait for a child crawl; stop it on shutdown or when it overruns (see module doc)."""
    asked_at: float | None = None
    reason = None
    while True:
        try:
            code = proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.time()
        if asked_at is None and stopping.is_set():
            asked_at, reason = now, "stopped"        # exactly one SIGTERM: a second one forces Scrapy
            _signal(proc, signal.SIGTERM)
        elif asked_at is None and now - start > crawl_timeout:
            asked_at, reason = now, "timeout"
            log.warning("crawl %s: running for %s, longer than [service] crawl_timeout; asking it to stop",
                        key, span(now - start))
            _signal(proc, signal.SIGTERM)
        elif asked_at is not None and now - asked_at > stop_timeout:
            log.error("crawl %s: did not stop within %s of being asked; killing it (articles it had not "
                      "written yet are fetched again next time)", key, span(stop_timeout))
            _signal(proc, signal.SIGKILL)
            asked_at = float("inf")
    if reason == "stopped":
        return "stopped", None if code == 0 else f"exit code {code} while stopping"
    if reason == "timeout":
        return "timeout", f"stopped after {span(time.time() - start)}"
    if code == 0:
        return "ok", None
    if code < 0:
        return "failed", f"killed by signal {-code}"
    return "failed", f"exit code {code} (see the crawl's log lines above)"



def _log_run(key: str, st: OutletState, status: str, error: str | None, start: float, end: float,
             summary: str, new: int, errors: int, *, with_next: bool) -> None:
    """The one log line (and its JSON fields) of a finished crawl run."""
    next_run = st.next_run if st.next_run is not None else end
    line = (f"crawl {key}: {status} in {end - start:.1f}s"
            + (f" ({summary})" if summary else "") + (f"; {error}" if error else "")
            + (f"; next in {span(next_run - end)}" if with_next else ""))
    fields = {"outlet": key, "status": status, "seconds": round(end - start, 1), "new": new,
              "errors": errors, "stats": st.last_stats, "next_run": _iso(st.next_run), "interval": st.interval}
    (log.info if status in ("ok", "stopped") else log.warning)(line, extra={"fields": fields})


def read_state(state_dir: Path) -> dict[str, Any]:
    return StateStore(state_dir / STATE_FILE).load()


def service_alive(data: dict[str, Any]) -> bool:
    svc = data.get("service") or {}
    pid = svc.get("pid")
    if not pid or svc.get("host") != socket.gethostname():
        return False
    try:
        if not pid_alive(int(pid)):
            return False
    except ValueError:
        return False
    return time.time() - float(svc.get("heartbeat") or 0) < 60


def _signal(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _iso(epoch: float | None) -> str | None:
    return _dt(epoch).isoformat(timespec="seconds") if epoch else None
