"""deploy/setup-security.sh, the compose stack's one-shot set-up, run for real against the
secured test node (TLS, bootstrap password): it must create the role from the same file an
operator uses, and leave a user raqib can work with."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "setup-security.sh"
ROLE_FILE = ROOT / "deploy" / "elasticsearch" / "raqib-role.json"


def _run(cluster, **overrides):
    env = dict(os.environ, ES_URL=cluster.url, CURL_CA_BUNDLE=cluster.ca_certs,
               ELASTIC_PASSWORD=cluster.elastic_password, KIBANA_PASSWORD="kibana-" + cluster.password,
               RAQIB_PASSWORD=cluster.password,          # unchanged, so the session's other tests keep working
               KIBANA_ENCRYPTION_KEY="k" * 40, RAQIB_ROLE_FILE=str(ROLE_FILE))
    env.update(overrides)
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the set-up script runs curl, as in its container")
def test_setup_script_creates_the_shipped_role_and_a_working_user(secure_cluster):
    proc = _run(secure_cluster)
    assert proc.returncode == 0, proc.stderr
    assert "setup: done" in proc.stdout
    with secure_cluster.admin() as admin:
        role = admin.security.get_role(name="raqib_writer").body["raqib_writer"]
        user = admin.security.get_user(username="raqib").body["raqib"]
    shipped = json.loads(ROLE_FILE.read_text())
    assert role["cluster"] == shipped["cluster"]
    assert role["indices"][0]["privileges"] == shipped["indices"][0]["privileges"]
    assert set(user["roles"]) == {"raqib_writer", "raqib_kibana"}
    # raqib works with that user: seed and search through the CLI
    env = dict(os.environ, **secure_cluster.env(auth="password"))
    seeded = subprocess.run([sys.executable, "-m", "crawler.cli.main", "seed"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert seeded.returncode == 0, seeded.stderr


def test_setup_script_refuses_example_passwords(secure_cluster):
    proc = _run(secure_cluster, RAQIB_PASSWORD="change-me-please")
    assert proc.returncode == 1
    assert "RAQIB_PASSWORD is still the example value" in proc.stderr
