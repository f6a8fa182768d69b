"""Test helpers for `raqib web`: a real server (the `raqib web` command in a subprocess) and a
real Chromium (Debian's, driven by Playwright's Python API; Playwright's own browsers are
never downloaded). Screenshots go to tests/artifacts/web/ (gitignored)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipelines.process import terminate
from tests.support.crawlrun import ROOT

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "tests" / "artifacts" / "web"


class WebServer:
    """`raqib --config DIR web --port N` until stopped; `url` once it answers."""

    def __init__(self, config: Path, *, host: str = "127.0.0.1", env: dict | None = None):
        from crawler.ops.esnode import free_port

        self.port = free_port(18100, 18999)
        self.url = f"http://{host}:{self.port}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("RAQIB_")}
        clean.update(env or {})
        self.proc = subprocess.Popen([sys.executable, "-m", "crawler.cli.main", "--config", str(config), "web",
                                      "--host", host, "--port", str(self.port)], cwd=ROOT, env=clean,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"raqib web exited {self.proc.returncode}: {self.proc.stderr.read()}")
            try:
                urllib.request.urlopen(self.url + "/static/app.css", timeout=2).read()
                return
            except urllib.error.HTTPError:       # it answers (401 when a token is required)
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("raqib web did not answer within 60 s")

    def stop(self) -> str:
        terminate(self.proc)
        return self.proc.stderr.read() if self.proc.stderr else ""


def launch(playwright):
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium as root "
                           f"(apt-get install chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)


class Page:
    """A browser tab that records console errors, failed requests and uncaught exceptions."""

    def __init__(self, browser, base: str):
        self.base = base
        self.context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ar", timezone_id="Asia/Damascus")
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}")
                     if "/live/stream" not in r.url else None)

    def goto(self, path: str):
        resp = self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle") if "/live" not in path else None
        return resp

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self):
        self.context.close()
