"""An unreachable or misconfigured cluster gives one clear line, never a traceback."""
import socket

import pytest

from crawler.cli.main import main
from crawler.ops.esnode import Node, NodeError, free_port


def _closed_port() -> int:
    return free_port(29000, 29999)


def test_unreachable_cluster_is_a_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("RAQIB_ES_URL", raising=False)
    port = _closed_port()
    code = main(["--es", f"http://user:s3cretpass@127.0.0.1:{port}", "seed"])
    out, err = capsys.readouterr()
    assert code == 4
    assert f"cannot reach Elasticsearch at http://127.0.0.1:{port}" in err
    assert "raqib es start" in err
    assert "s3cretpass" not in err and "Traceback" not in err


def test_starting_a_node_on_a_port_in_use_says_what_to_do(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(NodeError, match=f"port {port} on 127.0.0.1 is in use by another program"):
            Node(port=port, base_dir=tmp_path / "node").start()


def test_status_of_a_node_that_is_not_running(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RAQIB_CACHE_DIR", str(tmp_path))
    port = _closed_port()
    code = main(["es", "status", "--port", str(port)])
    out, _ = capsys.readouterr()
    assert code == 1 and f"not running at http://127.0.0.1:{port}" in out


def test_missing_maven_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("RAQIB_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("RAQIB_ES_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))   # no mvn anywhere
    from crawler.ops.esnode import distribution_dir

    with pytest.raises(NodeError, match=r"Maven \(`mvn`\) is needed once"):
        distribution_dir()


def test_java_version_is_read_from_a_real_jdk():
    from crawler.ops.esnode import find_java, java_version

    home = find_java()
    assert java_version(home) >= 21


def _jdk(version_wanted: int | None = None, newest: bool = True):
    """A real JDK on this machine (the newest, or one of `version_wanted`), or None."""
    from pathlib import Path

    from crawler.ops.esnode import java_version

    homes = [p for p in Path("/usr/lib/jvm").glob("*") if (p / "bin" / "java").exists()] if Path("/usr/lib/jvm").is_dir() else []
    found = sorted(((java_version(h) or 0, h) for h in homes), reverse=newest)
    return next((h for v, h in found if version_wanted is None or v == version_wanted), None)


def test_raqib_java_home_wins_over_a_newer_jdk_found_elsewhere(tmp_path, monkeypatch):
    """A real JDK placed at another path (its files linked, as a JDK unpacked in /opt would
    be) and named by RAQIB_JAVA_HOME is the one used, even with a newer JDK in /usr/lib/jvm
    and JAVA_HOME pointing at it. Before: the newest of all candidates was taken."""
    from crawler.ops.esnode import find_java, java_version

    newest = _jdk()
    if newest is None or (java_version(newest) or 0) < 21:
        pytest.fail("this test needs a JDK 21+ under /usr/lib/jvm (Debian: apt-get install openjdk-21-jdk-headless)")
    mine = tmp_path / "my-jdk"
    mine.mkdir()
    for entry in newest.iterdir():
        (mine / entry.name).symlink_to(entry)
    monkeypatch.setenv("RAQIB_JAVA_HOME", str(mine))
    monkeypatch.setenv("JAVA_HOME", str(newest))
    monkeypatch.delenv("ES_JAVA_HOME", raising=False)
    assert find_java() == mine
    monkeypatch.delenv("RAQIB_JAVA_HOME")
    monkeypatch.setenv("ES_JAVA_HOME", str(mine))
    assert find_java() == mine           # ES_JAVA_HOME before JAVA_HOME


def test_an_explicit_java_home_that_is_too_old_is_an_error_naming_it(tmp_path, monkeypatch, capsys):
    old = _jdk(17)
    if old is None:
        old = tmp_path / "not-a-jdk"          # no JDK 17 here: a directory without Java says the same
        old.mkdir()
    monkeypatch.setenv("RAQIB_JAVA_HOME", str(old))
    monkeypatch.delenv("RAQIB_ES_URL", raising=False)
    port = _closed_port()
    try:
        code = main(["es", "start", "--port", str(port)])
    finally:
        Node(port=port).stop()              # if a node was started with another JDK after all
    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith(f"raqib: RAQIB_JAVA_HOME={old}: ")
    assert "needs Java 21 or newer. Point RAQIB_JAVA_HOME at a JDK 21+, or unset it" in err
