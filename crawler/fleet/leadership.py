"""`raqib run` in a fleet (crawler/fleet/members.py): every instance works, one schedules.

Several `raqib run` instances, on several machines, may share one Redis. Each one keeps a
`raqib crawl --worker` child running, so every machine fetches and extracts from the shared
frontier. One of them, the *leader*, holds the fleet lock `scheduler`: only the leader's
APScheduler starts crawls (each outlet's crawl coordinated by a child `raqib crawl`, which
puts its articles in the frontier for all workers) and sweeps alerts, so scheduling and
alert evaluation happen once per fleet. The others wait for the lock: when the leader stops,
it gives the lock up; when it dies, the lock expires after `[state] redis_ttl` and the first
waiting instance takes over, with the schedule the leader kept in Redis (next run, interval
and back-off of each outlet), so nothing is crawled twice or forgotten because the leader
changed.
"""
from __future__ import annotations

import json
import logging
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from crawler.fleet.members import Fleet
from pipelines.backoff import backoff
from pipelines.process import die_with_parent, raqib_argv


class Led(Protocol):
    """What leadership tells the local service (crawler.run.service.Service): it leads now, with
    the fleet's shared schedule, or it no longer does."""

    def lead(self, shared: dict[str, Any] | None) -> None: ...

    def follow(self) -> None: ...

log = logging.getLogger("raqib.service")

WORKER_RESTART_MIN = 5.0       # seconds before a worker child that exited is started again (doubling)
WORKER_RESTART_MAX = 300.0


def worker_command(config_dir: Path | None, es: str | None, log_format: str = "text") -> list[str]:
    return raqib_argv("crawl", "--worker", config_dir=config_dir, es=es, log_format=log_format)


class Leadership:
    """One `raqib run` instance's part in the fleet: contend for the `scheduler` lock, tell
    the service when it leads and when it no longer does, keep the shared schedule, and
    supervise the local worker child."""

    def __init__(self, fleet, *, worker_argv: list[str] | None, stop_timeout: float = 120.0):
        self.fleet = fleet
        self.worker_argv = worker_argv
        self.stop_timeout = stop_timeout
        self.lock = fleet.lock("scheduler", on_lost=self._lost)
        self.service: Led | None = None
        self.leading = False
        self.since: float | None = None
        self._stop = threading.Event()
        self._changed = threading.Lock()
        self._worker: subprocess.Popen | None = None
        self._worker_restarts = 0

    @classmethod
    def open(cls, settings, *, worker_argv: list[str] | None) -> Leadership:
        fleet = Fleet.open(settings, role="service")
        return cls(fleet, worker_argv=worker_argv, stop_timeout=float(settings.get("service", "stop_timeout")))

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, service: Led) -> None:
        self.service = service
        self.fleet.member.join()
        threading.Thread(target=self._contend, name="raqib-leadership", daemon=True).start()
        if self.worker_argv:
            threading.Thread(target=self._supervise_worker, name="raqib-worker", daemon=True).start()

    def stop(self) -> None:
        """Stop contending, stop the worker child (it gives back what it holds), give up the
        lock (after the service's running crawls ended: see Service.stop)."""
        self._stop.set()
        proc = self._worker
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.error("the worker did not stop within %gs; killing it (its requests go back to the frontier "
                          "when its heartbeat expires)", self.stop_timeout)
                proc.kill()

    def release(self) -> None:
        if self.leading:
            log.info("fleet: giving up the scheduler lock; another `raqib run` takes over")
        self.leading = False
        self.lock.release()
        self.fleet.close()

    # --- leading ------------------------------------------------------------------------

    def _contend(self) -> None:
        while not self._stop.is_set():
            if not self.leading and self.lock.acquire():
                with self._changed:
                    self.leading, self.since = True, time.time()
                    try:
                        shared = self.load_schedule()
                        holder = shared.pop("_leader", None) if shared else None
                        log.info("fleet: this `raqib run` now schedules crawls and alerts for the fleet%s",
                                 f" (taking over from {holder})" if holder and holder != self.fleet.member.id else "")
                        if self.service is None:
                            raise RuntimeError("Leadership.start(service) was not called")
                        self.service.lead(shared)
                    except Exception:  # noqa: BLE001 - give the lock to someone who can use it
                        log.exception("fleet: could not start scheduling; giving the lock up")
                        self.leading = False
                        self.lock.release()
                        self.lock = self.fleet.lock("scheduler", on_lost=self._lost)
            self._stop.wait(max(0.5, self.fleet.ttl / 3))

    def _lost(self) -> None:
        with self._changed:
            if not self.leading:
                return
            self.leading = False
            log.warning("fleet: lost the scheduler lock (Redis unreachable, or this process stalled for longer "
                        "than [state] redis_ttl); scheduling stops here, another `raqib run` takes over")
            self.lock = self.fleet.lock("scheduler", on_lost=self._lost)
            if self.service is not None:
                self.service.follow()

    # --- what the fleet shares -----------------------------------------------------------

    def busy(self, outlet: str) -> str | None:
        """Who else crawls `outlet` now (a `raqib crawl` started by hand, or the child of a
        leader that died while it ran), or None."""
        return self.fleet.lock_holder(f"crawl:{outlet}")

    def share(self, data: dict[str, Any]) -> None:
        """Keep the schedule in Redis while leading, for whoever leads next."""
        if not self.leading:
            return
        outlets = dict(data.get("outlets") or {})
        outlets["_leader"] = self.fleet.member.id
        try:
            self.fleet.redis.set(self.fleet.key("schedule"), json.dumps(
                {"outlets": outlets, "alerts": data.get("alerts") or {}}, default=str))
        except Exception as exc:  # noqa: BLE001 - the local service.json still has it
            log.warning("fleet: could not share the schedule: %s", exc)

    def load_schedule(self) -> dict[str, Any] | None:
        raw = self.fleet.redis.get(self.fleet.key("schedule"))
        if not raw:
            return None
        data = json.loads(raw)
        outlets = data.get("outlets") or {}
        outlets["_alerts"] = data.get("alerts") or {}
        return outlets

    def describe(self) -> dict[str, Any]:
        return {"member": self.fleet.member.id, "leading": self.leading, "since": self.since,
                "leader": self.fleet.lock_holder("scheduler"),
                "worker_pid": self._worker.pid if self._worker is not None and self._worker.poll() is None else None}

    # --- the worker child ----------------------------------------------------------------

    def _supervise_worker(self) -> None:
        argv = self.worker_argv
        if not argv:
            return
        crashes = 0          # in a row: the restart waits back off while the worker keeps dying
        while not self._stop.is_set():
            wait = backoff(crashes, WORKER_RESTART_MIN, WORKER_RESTART_MAX)
            started = time.monotonic()
            try:
                self._worker = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                preexec_fn=die_with_parent)
            except OSError as exc:
                log.error("fleet: cannot start the worker (%s); trying again in %gs", exc, wait)
            else:
                code = self._worker.wait()
                if self._stop.is_set():
                    return
                log.warning("fleet: the worker exited (code %s); starting it again in %gs", code, wait)
                if time.monotonic() - started > WORKER_RESTART_MAX:
                    crashes = 0                        # it had been running fine: not a crash loop
                    wait = WORKER_RESTART_MIN
            self._stop.wait(wait)
            crashes += 1
