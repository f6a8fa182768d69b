"""Shared fixtures: one real Elasticsearch node per test session, isolated aliases per test.

The node is started from the same integ-test distribution `raqib es start` uses, on a free
port, unless RAQIB_TEST_ES_URL points at a node you already run.
"""
from __future__ import annotations

import os
import sys
import uuid
from datetime import UTC
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session", autouse=True)
def mirror_clock():
    """One clock for every mirror of the session (crawler/mirror: $RAQIB_MIRROR_NOW), fixed
    when the session starts, so no test depends on the minute it happens to run in. To run
    the tests at a chosen time (the first minute of a month or of a year), move the whole
    clock with faketime (README: The offline mirror); RAQIB_MIRROR_NOW set by hand moves the
    mirrors' clock only."""
    from datetime import datetime

    from crawler.mirror.mirror import CLOCK_ENV, clock_from_env

    given = clock_from_env()
    now = given or datetime.now(UTC).replace(second=0, microsecond=0)
    if given is None:
        os.environ[CLOCK_ENV] = now.isoformat()
    try:
        yield now
    finally:
        if given is None:
            os.environ.pop(CLOCK_ENV, None)


@pytest.fixture(scope="session")
def es_url():
    url = os.environ.get("RAQIB_TEST_ES_URL")
    if url:
        yield url
        return
    from crawler.ops.esnode import throwaway_node

    with throwaway_node("test") as node:
        yield node.url


@pytest.fixture(scope="session")
def es(es_url):
    from pipelines.es import connect

    return connect(es_url)


@pytest.fixture
def alias(es):
    """A fresh alias (and its indices) for one test, removed afterwards."""
    name = f"raqib-test-{uuid.uuid4().hex[:10]}"
    yield name
    es.indices.delete(index=f"{name}-*", ignore_unavailable=True, allow_no_indices=True)
    es.options(ignore_status=404).indices.delete_index_template(name=name)
    # crawl metrics go to `<alias>-crawls` (its index is removed with the others above)
    es.options(ignore_status=404).indices.delete_index_template(name=f"{name}-crawls")


@pytest.fixture
def config_dir(tmp_path, es_url, alias):
    """A config directory that points raqib at the test node and the test's own alias;
    files not written here fall back to the shipped ones."""
    d = tmp_path / "config"
    d.mkdir()
    (d / "settings.toml").write_text(
        f'[elasticsearch]\nurl = ["{es_url}"]\nalias = "{alias}"\ncrawls_index = "{alias}-crawls"\n'
        f'[state]\ndir = "{tmp_path / "state"}"\n',
        encoding="utf-8",
    )
    return d


@pytest.fixture
def raqib(config_dir, monkeypatch, capsys):
    """Run the `raqib` CLI in-process with the test config; returns (exit code, stdout, stderr)."""
    from crawler.cli.main import main

    monkeypatch.delenv("RAQIB_ES_URL", raising=False)

    def run(*args: str):
        code = main(["--config", str(config_dir), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="session")
def secure_cluster():
    """A second real node with security on: TLS with a CA made for the session, raqib's
    least-privilege role and user, and an API key for that user (crawler/ops/esnode_security.py).
    Its `env()` gives the RAQIB_ES_* variables that reach it; `admin()` a superuser client
    for set-up only. Started on first use, stopped at the end of the session."""
    import shutil

    from crawler.ops.esnode import free_port
    from crawler.ops.esnode_security import SecureCluster
    from pipelines.paths import cache_dir

    port = free_port()
    base = cache_dir() / "nodes" / f"secure-test-{port}"   # under the cache: the node's user must reach it
    cluster = SecureCluster.start(base, port=port)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server for the session (tests/redisserver.py); never skipped: a machine
    without it fails these tests with the command that installs it."""
    from tests.support.redisserver import RedisServer, RedisServerMissing

    try:
        server = RedisServer()
    except RedisServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server):
    """The session's Redis, emptied for this test."""
    client = redis_server.client()
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def mirror_config(tmp_path, es_url, alias):
    """Makes a config directory for crawling a Mirror into this test's alias (each call its own
    directory; the state directory is shared, as successive crawls of one outlet share it)."""
    from tests.support.crawlrun import write_config

    def make(mirror, *, include_new_site: bool = False, **crawl_settings):
        config = write_config(tmp_path / f"config-{uuid.uuid4().hex[:6]}", es_url=es_url, alias=alias,
                              state_dir=tmp_path / "state", **{"retries": 2, **crawl_settings})
        mirror.write_config(config, include_new_site=include_new_site)
        return config
    return make
