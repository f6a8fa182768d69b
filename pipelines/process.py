"""The processes raqib starts and watches: the command line of a child raqib (a service's
crawl, a fleet worker, a benchmark's run) and whether a process id still runs (the service's
lock file, the local Elasticsearch node, an alert lease's holder)."""
from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path


def raqib_command() -> str:
    """How to type `raqib` in a new shell, for the commands raqib prints as hints: plain
    `raqib` when a new shell finds this installation on PATH (pipx, pip install --user, an
    installed system package), else its full path (a virtualenv not activated there)."""
    here = Path(sys.executable).parent / "raqib"
    in_venv = sys.prefix != sys.base_prefix
    found = shutil.which("raqib")
    # found in the virtualenv's own bin/: only because it is activated here (pipx's link in
    # ~/.local/bin, found in every shell, is another directory)
    if found and not (in_venv and Path(found).parent.resolve() == Path(sys.prefix).resolve() / "bin"):
        return "raqib"
    return str(here) if here.exists() else "raqib"


def raqib_argv(*args: str, config_dir: Path | str | None = None, es: str | None = None,
               log_format: str | None = None) -> list[str]:
    """`raqib [global options] ARGS` in this interpreter: a child runs the same code and
    environment as its parent, even when `raqib` is not on PATH."""
    argv = [sys.executable, "-m", "crawler.cli.main"]
    if log_format:
        argv += ["--log-format", log_format]
    if config_dir is not None:
        argv += ["--config", str(config_dir)]
    if es:
        argv += ["--es", es]
    return argv + list(args)


def pid_alive(pid: int | None) -> bool:
    """Whether process `pid` of this machine runs. A zombie (dead, not yet reaped by its
    parent) does not; a process we may not signal (another user's) does."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] == "Z":
            return False
    return True


def die_with_parent() -> None:
    """For `preexec_fn`, in the child before exec: SIGTERM when the parent dies (Linux
    PR_SET_PDEATHSIG), so a parent killed with SIGKILL (a `raqib run`, a test session) leaves
    no unsupervised child behind. Elsewhere it does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG = 1


def terminate(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a child: SIGTERM, then SIGKILL if it has not exited within `grace` seconds, and
    reap it either way (a child left unreaped stays a zombie that `pid_alive` sees)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
