"""An unreachable or misconfigured cluster gives one clear line, never a traceback."""
import socket

import pytest

from crawler.cli import main
from crawler.esnode import Node, NodeError, free_port


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
    from crawler.esnode import distribution_dir

    with pytest.raises(NodeError, match=r"Maven \(`mvn`\) is needed once"):
        distribution_dir()


def test_java_version_is_read_from_a_real_jdk():
    from crawler.esnode import find_java, java_version

    home = find_java()
    assert java_version(home) >= 21
