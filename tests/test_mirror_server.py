"""The mirror's HTTP server: conditional GET, lying validators, gzip, HEAD, the request log."""
from __future__ import annotations

import gzip
import time
from email.utils import formatdate
from urllib.parse import quote, unquote

import pytest

from crawler.mirror import Mirror, MirrorError
from crawler.mirror.client import fetch


@pytest.fixture(scope="module")
def mirror():
    with Mirror() as m:
        yield m


def test_each_outlet_has_its_own_loopback_host(mirror):
    hosts = {key: mirror.base_url(key).split("//")[1].split(":")[0] for key in mirror.sites}
    assert hosts["almayadeen"] == "127.0.0.15" and hosts["alittihad"] == "127.0.0.11"
    assert len(set(hosts.values())) == len(hosts)
    assert all(h.startswith("127.0.0.") for h in hosts.values())


def test_etag_and_last_modified_give_304_when_unchanged(mirror):
    feed = mirror.base_url("noonpost") + "/feed/"
    first = fetch(feed)
    etag, modified = first.header("etag"), first.header("last-modified")
    assert first.status == 200 and etag and modified
    again = fetch(feed, headers={"If-None-Match": etag})
    assert again.status == 304 and again.body == b"" and again.header("etag") == etag
    assert fetch(feed, headers={"If-Modified-Since": modified}).status == 304
    older = formatdate(time.time() - 10 * 365 * 86400, usegmt=True)
    assert fetch(feed, headers={"If-Modified-Since": older}).status == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110)
    assert fetch(feed, headers={"If-None-Match": '"other"', "If-Modified-Since": modified}).status == 200


def test_publishing_changes_the_validators():
    with Mirror(outlets=["noonpost"]) as m:
        feed = m.base_url("noonpost") + "/feed/"
        before = fetch(feed)
        entry = m.publish("noonpost")
        after = fetch(feed, headers={"If-None-Match": before.header("etag")})
        assert after.status == 200 and after.header("etag") != before.header("etag")
        assert entry["url"].encode() in after.body


def test_a_lying_server_sends_a_new_etag_for_the_same_bytes():
    with Mirror(outlets=["almarjie"]) as m:        # Al-Marjie's CMS lies by default
        home = m.base_url("almarjie") + "/"
        first, second = fetch(home), fetch(home, headers={"If-None-Match": fetch(home).header("etag")})
        assert second.status == 200 and first.body == second.body
        assert first.header("etag") != second.header("etag")
        m.set_validators("almarjie", "honest")
        etag = fetch(home).header("etag")
        assert fetch(home, headers={"If-None-Match": etag}).status == 304
        m.set_validators("almarjie", "none")
        plain = fetch(home)
        assert plain.header("etag") is None and plain.header("last-modified") is None
        with pytest.raises(MirrorError, match="validators must be one of"):
            m.set_validators("almarjie", "sometimes")


def test_outlets_differ_in_the_validators_they_send(mirror):
    def validators(outlet):
        r = fetch(mirror.base_url(outlet) + "/")
        return bool(r.header("etag")), bool(r.header("last-modified"))
    assert validators("almayadeen") == (True, True)
    assert validators("alittihad") == (False, False)
    assert validators("strategic_observatory") == (False, True)


def test_gzip_when_asked_and_weak_etag(mirror):
    url = mirror.truth("almayadeen")[0]["url"]
    plain = fetch(url)
    zipped = fetch(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.header("content-encoding") == "gzip" and plain.header("content-encoding") is None
    assert gzip.decompress(zipped.body) == plain.body
    assert zipped.header("etag") == "W/" + plain.header("etag")
    assert "Accept-Encoding" in zipped.header("vary")
    # the weak validator still revalidates the resource
    assert fetch(url, headers={"If-None-Match": zipped.header("etag")}).status == 304


def test_head_has_the_headers_and_no_body(mirror):
    url = mirror.truth("noonpost")[0]["url"]
    head = fetch(url, method="HEAD")
    get = fetch(url)
    assert head.status == 200 and head.body == b""
    assert head.header("content-length") == get.header("content-length") == str(len(get.body))
    assert head.header("etag") == get.header("etag")


def test_raw_and_percent_encoded_arabic_paths_reach_the_same_page(mirror):
    import http.client

    url = mirror.truth("alittihad")[0]["url"]
    encoded = fetch(url)
    host, port = mirror.base_url("alittihad")[7:].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    raw_path = unquote(url.split(port, 1)[1])
    conn.putrequest("GET", quote(raw_path, safe="/").encode("ascii").decode())   # sanity: same as encoded
    conn.endheaders()
    assert conn.getresponse().read() == encoded.body
    conn.close()
    import socket

    with socket.create_connection((host, int(port)), timeout=5) as sock:      # raw UTF-8 bytes on the wire
        sock.sendall(b"GET " + raw_path.encode("utf-8") + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(encoded.body)


def test_every_request_is_logged_with_its_headers():
    with Mirror(outlets=["alittihad"]) as m:
        base = m.base_url("alittihad")
        fetch(base + "/robots.txt", headers={"User-Agent": "raqib-test/1 (+https://example.org/raqib)"})
        fetch(base + "/atom.xml", headers={"If-None-Match": '"abc"', "If-Modified-Since": "Wed, 01 Jan 2025 00:00:00 GMT"})
        fetch(base + "/no-such-page", method="HEAD")
        log = m.requests("alittihad")
        assert [(e["method"], e["path"], e["status"]) for e in log] == [
            ("GET", "/robots.txt", 200), ("GET", "/atom.xml", 200), ("HEAD", "/no-such-page", 404)]
        assert log[0]["user_agent"] == "raqib-test/1 (+https://example.org/raqib)"
        assert log[1]["if_none_match"] == '"abc"' and log[1]["if_modified_since"].startswith("Wed, 01 Jan 2025")
        assert log[0]["host"] == base[7:] and log[0]["outlet"] == "alittihad"
        assert m.requests("almayadeen") == []
        m.clear_requests()
        assert m.requests() == []


def test_mirrors_run_side_by_side_on_their_own_ports():
    with Mirror(outlets=["almarjie"]) as a, Mirror(outlets=["almarjie"]) as b:
        assert a.base_url("almarjie") != b.base_url("almarjie")
        fetch(a.base_url("almarjie") + "/")
        assert len(a.requests()) == 1 and b.requests() == []


def test_unknown_outlets_and_a_stopped_mirror_are_clear_errors():
    with pytest.raises(MirrorError, match="no outlet named 'bbc'"):
        Mirror(outlets=["bbc"])
    m = Mirror(outlets=["almarjie"])
    with pytest.raises(MirrorError, match="not running"):
        m.base_url("almarjie")


def test_serve_writes_local_delays_and_removes_its_temporary_config_when_stopped():
    """`python -m crawler.mirror serve` as typed: the config it prints has the demo's delays
    for a mirror on this machine (before: the shipped 2 s per request with AutoThrottle, a
    20-page dry run took 75 s), and its temporary directory is gone once it stops."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from crawler.mirror.config import LOCAL_CRAWL_SETTINGS
    from pipelines.settings import load_settings

    proc = subprocess.Popen([sys.executable, "-m", "crawler.mirror", "serve", "--outlet", "almayadeen"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("serving until interrupted"):
                break
        printed = next(line for line in lines if line.startswith("config directory: "))
        config = Path(printed.split(": ", 1)[1].split(" (")[0].strip())
        assert "(removed when the mirror stops)" in printed and config.name.startswith("raqib-mirror-")
        assert (config / "settings.toml").read_text(encoding="utf-8").endswith(LOCAL_CRAWL_SETTINGS)
        crawl = load_settings(config)["crawl"]
        assert crawl["download_delay"] == 0.05 and crawl["autothrottle"] is False
        assert any(f"--config {config} crawl --dry-run" in line for line in lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped;" in out
    assert not config.exists()
