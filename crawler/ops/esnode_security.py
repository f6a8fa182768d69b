"""A secured local node: TLS with a private CA, a bootstrap password, and raqib's own
least-privilege role, user and API key.

This is the cluster an operator should give raqib, built on this machine with the
distribution's own tools, so that tests (and anyone trying raqib) exercise the real thing:
`elasticsearch-certutil` makes the CA and the node's certificate, `elasticsearch-keystore`
holds the `elastic` superuser's bootstrap password, and the role, user and API key are created
through the security API exactly as the README tells an operator to. The role itself lives in
deploy/elasticsearch/raqib-role.json, the one place that says what raqib may do.

Secrets are passed to the tools on stdin, never on a command line (which `ps` shows) and never
in an error message.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from elasticsearch import Elasticsearch

from crawler.ops.esnode import ES_VERSION, Node, NodeError, _locked, distribution_dir, find_java, free_port
from pipelines.paths import project_root

ROLE_NAME = "raqib_writer"
CERTS = "certs"          # under the node's config directory, where the server may read files
PLUGIN_NAME = "raqib-security-index-analysis"
PLUGIN_CLASS = "org.raqib.esplugins.SecurityIndexAnalysisPlugin"
PLUGIN_SOURCE = Path(__file__).with_name("esplugins") / "SecurityIndexAnalysisPlugin.java"


def role_file() -> Path:
    return project_root() / "deploy" / "elasticsearch" / "raqib-role.json"


def raqib_role() -> dict:
    """The role raqib needs, as the body of `PUT /_security/role/raqib_writer`."""
    return json.loads(role_file().read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- the distribution

def secured_distribution() -> Path:
    """An Elasticsearch home whose security index works: the cached distribution itself when
    it is a full one, else a hard-linked twin of the integ-test distribution with the small
    plugin in esplugins/ added (see there for why). The dev node's own home is left untouched."""
    base = distribution_dir()
    if (base / "modules" / "analysis-common").is_dir():
        return base
    fingerprint = hashlib.sha256(PLUGIN_SOURCE.read_bytes() + ES_VERSION.encode()).hexdigest()[:10]
    target = base.parent / f"{base.name}-security-{fingerprint}"
    marker = target / "plugins" / PLUGIN_NAME / "plugin-descriptor.properties"
    if marker.exists():
        return target
    with _locked(base.parent / ".secured-distribution.lock"):
        if marker.exists():
            return target
        staging = Path(tempfile.mkdtemp(prefix="secured-", dir=base.parent))
        try:
            home = staging / base.name
            shutil.copytree(base, home, symlinks=True, copy_function=_link_or_copy)
            _build_plugin(home, home / "plugins" / PLUGIN_NAME, staging / "build")
            os.chmod(staging, 0o755)
            home.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)      # the distribution is 130 MB; a twin should cost nothing
    except OSError:
        shutil.copy2(src, dst)


def _build_plugin(home: Path, plugin_dir: Path, build: Path) -> None:
    javac = find_java() / "bin" / "javac"
    if not javac.exists():
        raise NodeError(
            f"a secured local node needs a JDK with javac (to build a small plugin); {javac.parent.parent} "
            "has none. Install a JDK 21+ and set RAQIB_JAVA_HOME to it."
        )
    classes = build / "classes"
    classes.mkdir(parents=True)
    proc = subprocess.run(
        [str(javac), "--release", "21", "-nowarn", "-cp", str(home / "lib" / "*"), "-d", str(classes), str(PLUGIN_SOURCE)],
        capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        raise NodeError(f"could not compile {PLUGIN_SOURCE.name}:\n{(proc.stdout + proc.stderr).strip()[-2000:]}")
    plugin_dir.mkdir(parents=True)
    os.chmod(plugin_dir, 0o755)
    with zipfile.ZipFile(plugin_dir / f"{PLUGIN_NAME}.jar", "w") as jar:
        for path in sorted(classes.rglob("*.class")):
            jar.write(path, path.relative_to(classes).as_posix())
    (plugin_dir / "plugin-descriptor.properties").write_text(
        f"description=uax_url_email, pattern_capture and unique for the security index (raqib test nodes)\n"
        f"version={ES_VERSION}\nname={PLUGIN_NAME}\nclassname={PLUGIN_CLASS}\n"
        f"java.version=21\nelasticsearch.version={ES_VERSION}\n"
    )
    for path in plugin_dir.iterdir():
        os.chmod(path, 0o644)


# --------------------------------------------------------------------------- certificates

@dataclass(frozen=True)
class CertificateAuthority:
    cert: Path     # what clients trust: RAQIB_ES_CA_CERTS
    key: Path      # signs node certificates; stays with whoever runs the cluster


def make_ca(directory: Path, *, name: str = "raqib test CA", days: int = 90) -> CertificateAuthority:
    """A new CA (PEM, unencrypted key) in `directory`. Distinct names for distinct CAs make a
    verification failure between them say plainly which CA was expected."""
    ca = CertificateAuthority(directory / "ca.crt", directory / "ca.key")
    _certutil(["ca", "--pem", "--days", str(days), "--ca-dn", f"CN={name}"], directory,
              {"ca/ca.crt": ca.cert, "ca/ca.key": ca.key})
    return ca


def make_certificate(ca: CertificateAuthority, directory: Path, *, name: str = "node",
                     ips: tuple[str, ...] = ("127.0.0.1",), dns: tuple[str, ...] = ("localhost",),
                     days: int = 90) -> tuple[Path, Path]:
    """A certificate and key for a node, signed by `ca`, valid for the given addresses (the
    client checks the address it connects to against them). Returns (cert, key)."""
    args = ["cert", "--pem", "--days", str(days), "--name", name,
            "--ca-cert", str(ca.cert.resolve()), "--ca-key", str(ca.key.resolve())]
    if ips:
        args += ["--ip", ",".join(ips)]
    if dns:
        args += ["--dns", ",".join(dns)]
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    _certutil(args, directory, {f"{name}/{name}.crt": cert, f"{name}/{name}.key": key})
    return cert, key


def _certutil(args: list[str], directory: Path, members: dict[str, Path]) -> None:
    """Run certutil, which writes a zip, and take the named members out of it."""
    directory.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="certutil-", dir=directory))
    try:
        out = scratch / "out.zip"
        # certutil resolves relative paths against its own working directory: absolute only.
        _tool("elasticsearch-certutil", [*args, "--silent", "--out", str(out.resolve())], conf_dir=None)
        with zipfile.ZipFile(out) as zf:
            for member, target in members.items():
                target.write_bytes(zf.read(member))
                os.chmod(target, 0o600 if target.suffix == ".key" else 0o644)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise NodeError(f"elasticsearch-certutil {args[0]} did not produce what was expected: {exc}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _tool(name: str, args: list[str], *, conf_dir: Path | None, stdin: str | None = None) -> str:
    """Run one of the distribution's command-line tools; secrets go in through `stdin`."""
    home = secured_distribution()
    env = dict(os.environ)
    env["ES_JAVA_HOME"] = str(find_java())
    env.pop("JAVA_TOOL_OPTIONS", None)
    if conf_dir is not None:
        env["ES_PATH_CONF"] = str(conf_dir)
    proc = subprocess.run([str(home / "bin" / name), *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=120)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
        raise NodeError(f"{name} {args[0]} failed (exit code {proc.returncode}):\n{tail}")
    return proc.stdout


# --------------------------------------------------------------------------- a secured node

def security_settings(cert: str, key: str, ca: str) -> dict:
    """elasticsearch.yml settings for TLS on HTTP and on the transport (paths relative to the
    config directory). Transport TLS is on too so that more nodes can join with the same CA."""
    settings: dict = {"xpack.security.enabled": True, "xpack.security.authc.api_key.enabled": True}
    for layer in ("http", "transport"):
        settings.update({
            f"xpack.security.{layer}.ssl.enabled": True,
            f"xpack.security.{layer}.ssl.certificate": cert,
            f"xpack.security.{layer}.ssl.key": key,
            f"xpack.security.{layer}.ssl.certificate_authorities": [ca],
        })
    # Nodes of a test cluster all live on 127.0.0.1: the chain is verified, host names are not.
    settings["xpack.security.transport.ssl.verification_mode"] = "certificate"
    return settings


def secure_node(port: int, base_dir: Path, ca: CertificateAuthority, elastic_password: str, *,
                cluster_name: str = "raqib-secure", node_name: str | None = None,
                settings: dict | None = None, heap: str | None = None, single_node: bool = True) -> Node:
    """A Node ready to `start()` with security on: its own certificate signed by `ca` in its
    config directory, and `elastic_password` as the bootstrap password in its keystore. The
    Node's health check authenticates as `elastic` and verifies the certificate against `ca`.

    For a cluster of several nodes, give each the same `ca`, `cluster_name` and password, and the
    discovery settings in `settings` with `single_node=False`.
    """
    if len(elastic_password) < 6:
        raise NodeError("the bootstrap password must be at least 6 characters long")
    node = Node(port=port, base_dir=base_dir, cluster_name=cluster_name, node_name=node_name,
                single_node=single_node, scheme="https", auth=("elastic", elastic_password),
                ca_certs=str(ca.cert), home=secured_distribution())
    if heap:
        node.heap = heap
    conf = node.prepare()
    certs = conf / CERTS
    certs.mkdir(exist_ok=True)
    make_certificate(ca, certs, name="node")
    shutil.copyfile(ca.cert, certs / "ca.crt")
    _tool("elasticsearch-keystore", ["add", "-x", "-f", "bootstrap.password"], conf_dir=conf, stdin=elastic_password)
    node.settings = {**security_settings(f"{CERTS}/node.crt", f"{CERTS}/node.key", f"{CERTS}/ca.crt"),
                     **(settings or {})}
    return node


def admin_client(url: str, ca_certs: str | Path, elastic_password: str):
    return Elasticsearch(url, basic_auth=("elastic", elastic_password), ca_certs=str(ca_certs), request_timeout=60)


def provision(admin, *, user: str = "raqib", password: str, api_key_name: str = "raqib") -> dict:
    """Create raqib's role and user, and an API key owned by that user (so the key carries
    the user's privileges and no more). Returns the key as the security API answers it:
    `id`, `name`, `api_key` and `encoded` (the value RAQIB_ES_API_KEY takes)."""
    admin.security.put_role(name=ROLE_NAME, **raqib_role())
    admin.security.put_user(username=user, password=password, roles=[ROLE_NAME],
                            full_name="raqib crawler", refresh="wait_for")
    return grant_api_key(admin, user=user, password=password, name=api_key_name)


def grant_api_key(admin, *, user: str, password: str, name: str, role_descriptors: dict | None = None) -> dict:
    """An API key owned by `user`, created by the administrator on the user's behalf (the user
    itself needs no key-management privilege). `role_descriptors` narrow it further."""
    key: dict = {"name": name}
    if role_descriptors is not None:
        key["role_descriptors"] = role_descriptors
    return admin.security.grant_api_key(grant_type="password", username=user, password=password, api_key=key).body


@dataclass
class SecureCluster:
    """One secured node with raqib's role, user and API key in place: what the tests of the
    cluster connection (and of secrets) run against. Start with `SecureCluster.start(dir)`."""

    node: Node
    ca: CertificateAuthority
    elastic_password: str = field(repr=False)
    user: str
    password: str = field(repr=False)
    api_key: dict = field(repr=False)

    @property
    def url(self) -> str:
        return self.node.url

    @property
    def ca_certs(self) -> str:
        return str(self.ca.cert)

    @classmethod
    def start(cls, base_dir: Path, *, port: int | None = None, heap: str = "512m") -> SecureCluster:
        port = port or free_port()
        ca = make_ca(base_dir / "ca", name=f"raqib test CA {port}")
        elastic_password = secrets.token_urlsafe(18)
        node = secure_node(port, base_dir / "node", ca, elastic_password, heap=heap)
        node.start()
        try:
            password = secrets.token_urlsafe(18)
            with admin_client(node.url, ca.cert, elastic_password) as admin:
                key = provision(admin, user="raqib", password=password)
        except BaseException:
            node.stop()
            raise
        return cls(node, ca, elastic_password, "raqib", password, key)

    def admin(self):
        """A superuser client, for test set-up and clean-up only."""
        return admin_client(self.url, self.ca.cert, self.elastic_password)

    def env(self, *, auth: str = "api_key") -> dict[str, str]:
        """The environment raqib reads to reach this cluster: with the API key (`api_key`),
        with the user's password (`password`), or with no credentials (`none`)."""
        env = {"RAQIB_ES_URL": self.url, "RAQIB_ES_CA_CERTS": self.ca_certs}
        if auth == "api_key":
            env["RAQIB_ES_API_KEY"] = self.api_key["encoded"]
        elif auth == "password":
            env.update(RAQIB_ES_USER=self.user, RAQIB_ES_PASSWORD=self.password)
        return env

    def stop(self) -> None:
        self.node.stop()
