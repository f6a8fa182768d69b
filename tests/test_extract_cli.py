"""`raqib extract`: JSON lines out, one per page; failures per page on stderr; one polite GET
for an explicit URL (a real local HTTP server)."""
from __future__ import annotations

import gzip
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from crawler.cli.main import main

GOLDEN = Path(__file__).resolve().parent / "data" / "extraction" / "golden"


@pytest.fixture
def cli(monkeypatch, capsys):
    monkeypatch.delenv("RAQIB_CONFIG", raising=False)

    def run(*args: str):
        code = main(["extract", *args])
        out, err = capsys.readouterr()
        return code, [json.loads(line) for line in out.splitlines() if line.strip()], err
    return run


def test_files_gzip_and_a_missing_one(cli, tmp_path):
    gz = tmp_path / "noonpost.html.gz"
    gz.write_bytes(gzip.compress((GOLDEN / "noonpost-26480.html").read_bytes()))
    code, records, err = cli(str(gz), str(tmp_path / "missing.html"), str(GOLDEN / "islamsyria-4131.html"))
    assert code == 1
    assert [r["source"] for r in records] == [str(gz), str(GOLDEN / "islamsyria-4131.html")]
    noon, islam = records
    assert noon["title"] == 'تنسيق استخباراتي أمريكي-سوري.. هل يكبح عودة "داعش"؟'
    assert noon["lang"] == "ar" and noon["lang_prob"] > 0.9
    assert noon["published_at"] == "2025-01-28T09:15:00+00:00"
    assert noon["outlet"] is None                    # a file without --url belongs to no outlet
    assert islam["encoding"] == "windows-1256"
    assert "missing.html: no such file" in err
    assert "1 of 3 pages failed" in err


def test_url_option_chooses_the_outlet_and_its_zone(cli):
    code, [record], err = cli(str(GOLDEN / "alkhanadeq-316.html"), "--url", "https://alkhanadeq.org.lb/post/316/x")
    assert code == 0, err
    assert record["outlet"] == "alittihad"
    assert record["url"] == "https://alkhanadeq.org.lb/post/316/x"
    assert record["published_at"] == "2021-04-21T22:42:00+00:00"       # read in Beirut time
    assert record["author"] == "خليل نصر الله"


def test_outlet_option_and_directories(cli, tmp_path):
    for name in ("almayadeen-news-2024.html", "almayadeen-article-2024.html"):
        shutil.copy(GOLDEN / name, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a page", encoding="utf-8")
    code, records, err = cli(str(tmp_path), "--outlet", "almayadeen")
    assert code == 0, err
    assert sorted(r["country"] for r in records) == ["السنغال", "اليمن"]
    assert all(r["date_source"] == "tawsiyat-metadata" for r in records)


def test_usage_errors(cli):
    code, records, err = cli(str(GOLDEN / "alkhanadeq-316.html"), str(GOLDEN / "noonpost-26480.html"),
                             "--url", "https://alkhanadeq.org.lb/post/316/x")
    assert code == 2 and not records and "exactly one file" in err
    code, records, err = cli(str(GOLDEN / "alkhanadeq-316.html"), "--outlet", "nosuch")
    assert code == 3 and "no outlet named 'nosuch'" in err and "almayadeen" in err


class _Pages(BaseHTTPRequestHandler):
    requests: list[tuple[str, str]] = []

    def do_GET(self):   # noqa: N802 (http.server's naming)
        _Pages.requests.append((self.path, self.headers.get("User-Agent", "")))
        if self.path == "/post/316/x":
            body = (GOLDEN / "alkhanadeq-316.html").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
        elif self.path == "/blocked":
            body = b"<html><head><title>Just a moment...</title></head><body>Checking your browser</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
        else:
            body = b"<html><body>not found</body></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Pages.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_url_is_fetched_once_politely(cli, server):
    code, records, err = cli(f"{server}/post/316/x", f"{server}/gone", f"{server}/blocked", "--outlet", "alittihad")
    assert code == 1
    assert [r["title"] for r in records] == ['أميركا والعلاقات مع تنظيم "داعش" في سوريا - دراسة توثيقية']
    assert records[0]["url"] == f"{server}/post/316/x"
    assert f"{server}/gone: the server answered HTTP 404" in err
    assert f"{server}/blocked: a block or challenge page" in err
    # one request per URL, nothing else (no robots.txt, no assets), with raqib's User-Agent
    assert [path for path, _ in _Pages.requests] == ["/post/316/x", "/gone", "/blocked"]
    assert all(ua.startswith("raqib/") and "+http" in ua for _, ua in _Pages.requests)


def test_unreachable_url(cli):
    import socket

    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, records, err = cli(f"http://127.0.0.1:{port}/a", "--timeout", "5")
    assert code == 1 and not records
    assert "cannot fetch it" in err and "Traceback" not in err


def test_page_on_stdin(cli, monkeypatch):
    import io
    import sys

    data = gzip.compress((GOLDEN / "noonpost-26480.html").read_bytes())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, [record], err = cli("-", "--url", "https://www.noonpost.com/26480/")
    assert code == 0, err
    assert record["source"] == "-" and record["outlet"] == "noonpost"
    assert record["date_source"] == "json-ld"
