"""The deployment files: docker-compose, the Dockerfile, the entrypoint and security setup
scripts, the systemd unit. Docker does not run here, so the compose file is parsed and checked
(versions, security, health checks, start order, the variables raqib reads); where a compose
CLI or systemd-analyze is installed, they validate the files too."""
import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from crawler.ops.esnode import ES_VERSION

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return env


def _source_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for d in ("crawler", "pipelines")
                     for p in (ROOT / d).rglob("*.py"))


def test_elasticsearch_and_kibana_run_the_tested_version_with_security_on(compose):
    services = compose["services"]
    assert services["elasticsearch"]["image"] == f"docker.elastic.co/elasticsearch/elasticsearch:{ES_VERSION}"
    assert services["setup"]["image"] == services["elasticsearch"]["image"]
    assert services["kibana"]["image"] == f"docker.elastic.co/kibana/kibana:{ES_VERSION}"
    es = _env(services["elasticsearch"])
    assert es["xpack.security.enabled"] == "true" and es["discovery.type"] == "single-node"
    assert es["ELASTIC_PASSWORD"].startswith("${ELASTIC_PASSWORD:?")   # from .env, required
    kb = _env(services["kibana"])
    assert kb["ELASTICSEARCH_USERNAME"] == "kibana_system"
    assert kb["ELASTICSEARCH_PASSWORD"].startswith("${KIBANA_PASSWORD:?")
    assert kb["XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY"].startswith("${KIBANA_ENCRYPTION_KEY:?")
    # nothing listens beyond this host unless the operator says so
    for name in ("elasticsearch", "kibana"):
        assert all(str(p).startswith("127.0.0.1:") for p in services[name]["ports"])


def test_volumes_and_health_checks(compose):
    services = compose["services"]
    declared = set(compose["volumes"])
    used = {v.split(":", 1)[0] for s in services.values() for v in s.get("volumes", []) if not v.startswith((".", "/"))}
    assert used == declared == {"esdata", "kibanadata", "raqibstate"}
    assert any(v.endswith(":/usr/share/elasticsearch/data") for v in services["elasticsearch"]["volumes"])
    assert any(v.endswith(":/usr/share/kibana/data") for v in services["kibana"]["volumes"])
    for name in ("elasticsearch", "kibana"):
        check = services[name]["healthcheck"]
        assert check["test"][0] == "CMD-SHELL" and check["retries"] >= 10
    # the container-side variable is escaped ($$), so the password is not baked into the config
    assert "$${ELASTIC_PASSWORD}" in services["elasticsearch"]["healthcheck"]["test"][1]
    for path in (v.split(":", 1)[0] for s in services.values() for v in s.get("volumes", []) if v.startswith(".")):
        assert (DEPLOY / path).exists(), path


def test_start_order(compose):
    services = compose["services"]
    assert services["setup"]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    assert services["kibana"]["depends_on"] == {"elasticsearch": {"condition": "service_healthy"},
                                                "setup": {"condition": "service_completed_successfully"}}
    raqib = services["raqib"]["depends_on"]
    assert raqib["elasticsearch"]["condition"] == "service_healthy"
    assert raqib["setup"]["condition"] == "service_completed_successfully"
    assert "kibana" in raqib   # the import waits for Kibana itself (--wait), crawling does not


def test_raqib_service_builds_the_image_and_runs_with_variables_raqib_reads(compose):
    raqib = compose["services"]["raqib"]
    assert raqib["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    env = _env(raqib)
    assert env["RAQIB_ES_URL"] == "http://elasticsearch:9200" and env["RAQIB_KIBANA_URL"] == "http://kibana:5601"
    assert env["RAQIB_ES_USER"] == "raqib" and env["RAQIB_ES_PASSWORD"].startswith("${RAQIB_PASSWORD:?")
    source = _source_text() + (DEPLOY / "docker-entrypoint.sh").read_text(encoding="utf-8")
    for name in env:
        assert name in source, f"{name} is set by docker-compose but nothing in raqib reads it"
    assert "/etc/raqib" in env["RAQIB_CONFIG"] and any(v.endswith(":/etc/raqib:ro") for v in raqib["volumes"])
    assert raqib["stop_grace_period"]


def test_every_compose_variable_is_in_env_example():
    text = COMPOSE.read_text(encoding="utf-8")
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", example, re.M))
    assert used <= documented, used - documented
    # required secrets are placeholders that the setup script refuses
    for name in ("ELASTIC_PASSWORD", "KIBANA_PASSWORD", "RAQIB_PASSWORD", "KIBANA_ENCRYPTION_KEY"):
        assert re.search(rf"^{name}=change-me", example, re.M)


def test_setup_refuses_the_example_passwords(tmp_path):
    bash = shutil.which("bash")
    assert bash, "bash is needed to run deploy/setup-security.sh"
    env = {"PATH": "/usr/bin:/bin", "ES_URL": "http://127.0.0.1:9", "ELASTIC_PASSWORD": "change-me",
           "KIBANA_PASSWORD": "0123456789abcdef", "RAQIB_PASSWORD": "0123456789abcdef",
           "KIBANA_ENCRYPTION_KEY": "x" * 32}
    proc = subprocess.run([bash, str(DEPLOY / "setup-security.sh")], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "ELASTIC_PASSWORD is still the example value" in proc.stderr
    env |= {"ELASTIC_PASSWORD": "0123456789abcdef", "KIBANA_ENCRYPTION_KEY": "short"}
    proc = subprocess.run([bash, str(DEPLOY / "setup-security.sh")], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "KIBANA_ENCRYPTION_KEY" in proc.stderr


def test_scripts_are_valid_shell():
    for script, shell in (("setup-security.sh", "bash"), ("docker-entrypoint.sh", "sh")):
        proc = subprocess.run([shutil.which(shell) or shell, "-n", str(DEPLOY / script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def test_entrypoint_imports_kibana_objects_then_execs_the_command(tmp_path):
    """Run the entrypoint with a stand-in `raqib` on PATH that records its arguments."""
    log = tmp_path / "calls"
    fake = tmp_path / "bin" / "raqib"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n', encoding="utf-8")
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "RAQIB_KIBANA_URL": "http://kibana:5601", "RAQIB_KIBANA_WAIT": "7"}
    proc = subprocess.run(["sh", str(DEPLOY / "docker-entrypoint.sh"), "run"], env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    import time
    for _ in range(50):   # the import runs in the background
        if log.exists() and len(log.read_text().splitlines()) == 2:
            break
        time.sleep(0.1)
    assert sorted(log.read_text().splitlines()) == ["kibana import --wait 7", "run"]


def test_dockerfile_installs_raqib_and_runs_it_as_an_unprivileged_user():
    lines = [l.strip() for l in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()
             if l.strip() and not l.lstrip().startswith("#")]
    assert lines[0].startswith("FROM python:3.11")
    copies = [l.split()[1] for l in lines if l.startswith("COPY")]
    for src in copies:
        assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
    for needed in ("pyproject.toml", "crawler/", "pipelines/", "config/", "seeds/", "deploy/kibana/"):
        assert needed in copies, needed
    assert any(l.startswith("RUN pip install") for l in lines)
    assert "ENV PYTHONDONTWRITEBYTECODE=1 \\" in lines and any("RAQIB_HOME=/opt/raqib" in l for l in lines)
    user = [l for l in lines if l.startswith("USER ")]
    assert user and user[-1] != "USER root"
    assert 'ENTRYPOINT ["/usr/local/bin/raqib-entrypoint"]' in lines and 'CMD ["run"]' in lines


def test_systemd_unit():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(DEPLOY / "systemd" / "raqib.service", encoding="utf-8")
    service = unit["Service"]
    assert service["ExecStart"].split()[1:] == ["run"] and service["ExecStart"].endswith("raqib run")
    assert service["User"] == "raqib" and service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM" and int(service["TimeoutStopSec"]) >= 60
    assert service["StateDirectory"] == "raqib" and service["EnvironmentFile"] == "/etc/raqib/raqib.env"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    example = (DEPLOY / "systemd" / "raqib.env.example").read_text(encoding="utf-8")
    for name in re.findall(r"^#?\s*(RAQIB_[A-Z_]+)=", example, re.M):
        assert name in _source_text(), f"{name} in raqib.env.example is read by nothing"


def test_compose_file_is_valid_against_the_compose_specification_schema():
    """The schema Docker Compose validates with (vendored in tests/data/compose-spec): runs on
    every machine, with or without a compose CLI."""
    import json

    import jsonschema

    schema = json.loads((ROOT / "tests" / "data" / "compose-spec" / "compose-spec.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]
    # and the validator does catch what compose would refuse
    broken = dict(data, services={"x": {"image": 1, "healthcheck": {"retries": "many"}}})
    assert list(validator.iter_errors(broken))


# --- the real tools, where this machine has them --------------------------------------------------

def _compose_cli() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.mark.skipif(_compose_cli() is None, reason="no docker compose CLI on this machine (parsed checks above still run)")
def test_compose_config_validates(tmp_path):
    cli = _compose_cli()
    env = tmp_path / ".env"
    env.write_text((DEPLOY / ".env.example").read_text(encoding="utf-8"), encoding="utf-8")
    compose_file = COMPOSE
    if cli == ["docker-compose"]:
        # the v1 CLI predates the top-level `name:` key of the Compose Specification
        compose_file = tmp_path / "docker-compose.yml"
        compose_file.write_text(re.sub(r"^name: .*\n", "", COMPOSE.read_text(encoding="utf-8"), flags=re.M))
    proc = subprocess.run([*cli, "--project-directory", str(DEPLOY), "--env-file", str(env), "-f", str(compose_file),
                           "config"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"kibana:{ES_VERSION}" in proc.stdout
    env.write_text("", encoding="utf-8")   # a missing password is an error, not a blank
    proc = subprocess.run([*cli, "--project-directory", str(DEPLOY), "--env-file", str(env), "-f", str(compose_file),
                           "config"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "ELASTIC_PASSWORD" in proc.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_accepts_the_unit(tmp_path):
    text = (DEPLOY / "systemd" / "raqib.service").read_text(encoding="utf-8")
    # verify wants ExecStart to exist and the environment file to be readable: point them at this machine
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={shutil.which('true')}", text, flags=re.M)
    text = text.replace("EnvironmentFile=/", "EnvironmentFile=-/")
    unit = tmp_path / "raqib.service"
    unit.write_text(text, encoding="utf-8")
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [l for l in (proc.stdout + proc.stderr).splitlines() if str(unit) in l]
    assert proc.returncode == 0 and not problems, problems
