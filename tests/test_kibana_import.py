"""`raqib kibana import` against a local HTTP server standing in for Kibana.

Kibana cannot be installed on these machines, so this server plays its saved-objects import
API: it checks what Kibana checks (POST to /api/saved_objects/_import?overwrite=true, the
kbn-xsrf header, the credentials, a multipart body whose `file` part is ndjson), resolves every
object's references against the upload and what it already holds, and answers in Kibana's
format (successResults with `overwrite: true` for replaced objects, errors per object). Like
Kibana it is all-or-nothing: when any object has a missing reference or a conflict it writes
nothing, while still listing the objects that would have been imported in successResults
(Kibana's own test "imports a visualization with missing references" in elastic/kibana,
src/core/server/integration_tests/saved_objects/routes/import.test.ts, asserts success false,
successCount 1, the dashboard in successResults, and no bulk create). An unsupported type
alone does not stop the others. It can also refuse (401, 403, 404, 500), keep starting (503) or not exist at all (a closed port). The
objects themselves are checked against the real Elasticsearch node in test_kibana_searches.py.
"""
import base64
import email.parser
import email.policy
import json
import socket
import ssl
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crawler.mirror.certs import self_signed
from crawler.ops import kibana

USER, PASSWORD, API_KEY = "analyst", "s3cret-Kibana-pass", "c29tZS1pZDpzb21lLWtleQ=="


class FakeKibana:
    def __init__(self, *, scheme="http", cert=None):
        self.requests: list[dict] = []
        self.store: dict[tuple, dict] = {}
        self.script: list[tuple[int, object]] = []    # canned answers, used first
        self.reject: dict[tuple, dict] = {}            # (type, id) -> error returned for that object
        self.auth = {f"Basic {base64.b64encode(f'{USER}:{PASSWORD}'.encode()).decode()}", f"ApiKey {API_KEY}"}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._send(405, {"statusCode": 405, "error": "Method Not Allowed", "message": "GET"})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append({"method": "POST", "path": self.path, "body": body,
                                      "headers": {k.lower(): v for k, v in self.headers.items()}})
                if fake.script:
                    self._send(*fake.script.pop(0))
                    return
                self._send(*fake.handle(self.path, self.headers, body))

            def _send(self, status, payload):
                data = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*cert)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def handle(self, path, headers, body):
        parts = urllib.parse.urlsplit(path)
        if not parts.path.endswith("/api/saved_objects/_import"):
            return 404, {"statusCode": 404, "error": "Not Found", "message": "Not Found"}
        if headers.get("kbn-xsrf") is None:
            return 400, {"statusCode": 400, "error": "Bad Request", "message": "Request must contain a kbn-xsrf header."}
        if headers.get("Authorization") not in self.auth:
            return 401, {"statusCode": 401, "error": "Unauthorized", "message": "[security_exception] unable to authenticate user"}
        if urllib.parse.parse_qs(parts.query).get("overwrite") != ["true"]:
            return 409, {"statusCode": 409, "error": "Conflict", "message": "overwrite must be true for this test"}
        objects = parse_upload(headers, body)
        # like Kibana, objects refused up front (an unsupported type) do not satisfy references
        uploaded = {(o["type"], o["id"]) for o in objects} - set(self.reject)
        results, errors = [], []
        for o in objects:
            key = (o["type"], o["id"])
            meta = {"title": o["attributes"].get("title")}
            missing = [r for r in o.get("references", []) if (r["type"], r["id"]) not in uploaded | set(self.store)]
            if key in self.reject:
                errors.append({"type": o["type"], "id": o["id"], "meta": meta, "error": self.reject[key]})
            elif missing:
                errors.append({"type": o["type"], "id": o["id"], "meta": meta, "error": {
                    "type": "missing_references", "references": [{"type": r["type"], "id": r["id"]} for r in missing]}})
            else:
                result = {"type": o["type"], "id": o["id"], "meta": meta}
                if key in self.store:
                    result["overwrite"] = True
                results.append(result)
        if not any(e["error"]["type"] in ("missing_references", "conflict", "ambiguous_conflict") for e in errors):
            accepted = {(r["type"], r["id"]) for r in results}
            self.store.update({(o["type"], o["id"]): o for o in objects if (o["type"], o["id"]) in accepted})
        return 200, {"success": not errors, "successCount": len(results), "successResults": results,
                     **({"errors": errors} if errors else {})}


def parse_upload(headers, body) -> list[dict]:
    """The multipart body as Kibana reads it: one `file` part holding ndjson."""
    content_type = headers.get("content-type", "")
    assert content_type.startswith("multipart/form-data; boundary=")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    parts = list(message.iter_parts())
    assert len(parts) == 1
    part = parts[0]
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_filename().endswith(".ndjson")
    text = part.get_payload(decode=True).decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def fake():
    server = FakeKibana()
    yield server
    server.close()


@pytest.fixture
def creds(monkeypatch):
    for name in ("RAQIB_KIBANA_URL", "RAQIB_KIBANA_API_KEY", "RAQIB_KIBANA_USER", "RAQIB_KIBANA_PASSWORD",
                 "RAQIB_KIBANA_CA_CERTS", "RAQIB_ES_API_KEY", "RAQIB_ES_USER", "RAQIB_ES_PASSWORD", "RAQIB_ES_CA_CERTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAQIB_KIBANA_USER", USER)
    monkeypatch.setenv("RAQIB_KIBANA_PASSWORD", PASSWORD)
    return monkeypatch


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_import_posts_every_object_as_kibana_expects_and_reports_created_then_updated(raqib, fake, creds, alias):
    code, out, err = raqib("kibana", "import", "--kibana", fake.url)
    assert code == 0, err
    request = fake.requests[-1]
    assert request["method"] == "POST"
    assert request["path"] == "/api/saved_objects/_import?overwrite=true"
    assert request["headers"]["kbn-xsrf"]
    assert request["headers"]["authorization"] == f"Basic {base64.b64encode(f'{USER}:{PASSWORD}'.encode()).decode()}"
    uploaded = parse_upload(request["headers"], request["body"])
    from pipelines.outlets import load_outlets

    built = [o for objs in kibana.build_bundles(alias, load_outlets(), f"{alias}-crawls").values() for o in objs]
    assert [(o["type"], o["id"]) for o in uploaded] == [(o["type"], o["id"]) for o in built]
    n = len(built)
    assert f"{n} objects imported ({n} created, 0 updated), 0 failed" in out
    assert "created  dashboard      raqib-dashboard-overview" in out
    assert f"open: {fake.url}/app/dashboards#/view/raqib-dashboard-overview" in out

    code, out, _ = raqib("kibana", "import", "--kibana", fake.url)
    assert code == 0
    assert f"{n} objects imported (0 created, {n} updated), 0 failed" in out
    assert len(fake.store) == n   # re-importing replaced, it did not copy


def test_import_uses_the_data_view_names_of_the_configured_alias(raqib, fake, creds, alias):
    code, _, err = raqib("kibana", "import", "--kibana", fake.url)
    assert code == 0, err
    views = {o["id"]: o["attributes"]["title"] for (t, _), o in fake.store.items() if t == "index-pattern"}
    assert views[alias] == f"{alias}*"


def test_api_key_space_and_url_from_environment(raqib, fake, creds):
    creds.delenv("RAQIB_KIBANA_USER")
    creds.setenv("RAQIB_KIBANA_API_KEY", API_KEY)
    creds.setenv("RAQIB_KIBANA_URL", fake.url)
    code, _, err = raqib("kibana", "import", "--space", "analysts")
    assert code == 0, err
    request = fake.requests[-1]
    assert request["path"] == "/s/analysts/api/saved_objects/_import?overwrite=true"
    assert request["headers"]["authorization"] == f"ApiKey {API_KEY}"


def test_elasticsearch_credentials_are_used_when_no_kibana_ones_are_set(raqib, fake, creds):
    creds.delenv("RAQIB_KIBANA_USER")
    creds.delenv("RAQIB_KIBANA_PASSWORD")
    creds.setenv("RAQIB_ES_API_KEY", "some-id:some-key")   # id:key form is encoded for the header
    code, _, err = raqib("kibana", "import", "--kibana", fake.url)
    assert code == 0, err
    assert fake.requests[-1]["headers"]["authorization"] == f"ApiKey {API_KEY}"


def test_import_of_shipped_ndjson_files(raqib, fake, creds):
    from pathlib import Path

    shipped = Path(__file__).resolve().parent.parent / "deploy" / "kibana"
    code, out, err = raqib("kibana", "import", "--kibana", fake.url,
                           "--file", str(shipped / "raqib-articles.ndjson"), "--file", str(shipped / "raqib-crawls.ndjson"))
    assert code == 0, err
    assert ", 0 failed" in out and ("index-pattern", "raqib-articles") in fake.store


def test_a_missing_reference_means_nothing_is_imported_and_each_failure_is_named(raqib, fake, creds):
    fake.reject[("map", "raqib-map-places")] = {"type": "unsupported_type"}
    code, out, _ = raqib("kibana", "import", "--kibana", fake.url)
    assert code == 1
    assert "nothing imported, 2 failed" in out and "imports no object while any has a missing reference" in out
    assert "FAILED   map            raqib-map-places" in out and "does not support this type" in out
    # the dashboard that shows the map references it: Kibana reports it as missing, and so
    # (as real Kibana does) writes none of the other objects either
    assert "FAILED   dashboard      raqib-dashboard-overview" in out and "missing references: map raqib-map-places" in out
    assert fake.store == {}
    assert "created" not in out and "open:" not in out


def test_an_error_kibana_can_skip_imports_the_others_but_prints_no_link(raqib, fake, creds):
    # an object that nothing references fails on its own (not a missing reference): Kibana
    # writes the others; the overview dashboard exists then, but a partial import is not
    # announced with links
    fake.reject[("dashboard", "raqib-dashboard-crawler-health")] = {
        "type": "unknown", "message": "mapping set to strict", "statusCode": 400}
    code, out, _ = raqib("kibana", "import", "--kibana", fake.url)
    assert code == 1 and ", 1 failed" in out
    assert "FAILED   dashboard      raqib-dashboard-crawler-health" in out and "mapping set to strict (400)" in out
    assert ("dashboard", "raqib-dashboard-overview") in fake.store
    assert ("dashboard", "raqib-dashboard-crawler-health") not in fake.store
    assert "open:" not in out


@pytest.mark.parametrize("status, message, expected", [
    (401, "unable to authenticate user", "refused the credentials (401"),
    (403, "missing privileges", "denied the import (403"),
    (404, "Not Found", "no saved-objects API at that address (404)"),
    (500, "An internal server error occurred.", "failed (500): An internal server error occurred."),
    (400, "Request must contain a kbn-xsrf header.", "rejected the import (400): Request must contain"),
])
def test_refusals_are_one_clear_line_without_secrets(raqib, fake, creds, status, message, expected):
    fake.script.append((status, {"statusCode": status, "error": "x", "message": message}))
    code, out, err = raqib("kibana", "import", "--kibana", fake.url)
    assert code == 4
    assert expected in err and "Traceback" not in err
    assert PASSWORD not in out + err


def test_wrong_credentials_are_refused_by_the_server(raqib, fake, creds):
    creds.setenv("RAQIB_KIBANA_PASSWORD", "not-the-password")
    code, _, err = raqib("kibana", "import", "--kibana", fake.url)
    assert code == 4 and "refused the credentials (401" in err and "RAQIB_KIBANA_API_KEY" in err
    assert "not-the-password" not in err


def test_unreachable_kibana_is_a_clear_error(raqib, creds):
    port = _closed_port()
    code, _, err = raqib("kibana", "import", "--kibana", f"http://{USER}:{PASSWORD}@127.0.0.1:{port}")
    assert code == 4
    assert f"cannot reach Kibana at http://127.0.0.1:{port}" in err and "--kibana URL or RAQIB_KIBANA_URL" in err
    assert PASSWORD not in err


def test_wait_retries_while_kibana_starts(fake, creds, monkeypatch):
    monkeypatch.setattr(kibana.time, "sleep", lambda s: None)   # no real pause; the retries are real requests
    fake.script += [(503, {"statusCode": 503, "error": "Service Unavailable",
                           "message": "Kibana server is not ready yet"})] * 2
    logged = []
    target = kibana.KibanaTarget.from_env(fake.url)
    report = kibana.import_objects(target, kibana.crawl_objects(), wait=60, log=logged.append)
    assert report.ok and len(report.created) == len(kibana.crawl_objects())
    assert len(fake.requests) == 3 and len(logged) == 2 and "not ready (503)" in logged[0]


def test_without_wait_a_starting_kibana_is_an_error(raqib, fake, creds):
    fake.script.append((503, {"statusCode": 503, "message": "Kibana server is not ready yet"}))
    code, _, err = raqib("kibana", "import", "--kibana", fake.url)
    assert code == 4 and "503: Kibana server is not ready yet" in err


def test_a_server_that_is_not_kibana(raqib, fake, creds):
    fake.script.append((200, b"<html>hello</html>"))
    code, _, err = raqib("kibana", "import", "--kibana", fake.url)
    assert code == 4 and "not like Kibana's import API" in err


def test_a_bad_ndjson_file_is_named(raqib, fake, creds, tmp_path):
    bad = tmp_path / "objects.ndjson"
    bad.write_text('{"type": "search", "id": "x"}\n{oops\n', encoding="utf-8")
    code, _, err = raqib("kibana", "import", "--kibana", fake.url, "--file", str(bad))
    assert code == 2 and f"{bad}: line 2 is not JSON" in err
    assert not fake.requests


# --- TLS with a private CA ----------------------------------------------------------------------

def _self_signed(tmp_path):
    cert, key = self_signed(tmp_path, "127.0.0.1", stem="kibana")
    return str(cert), str(key)


def test_https_with_a_private_ca(raqib, creds, tmp_path):
    cert = _self_signed(tmp_path)
    server = FakeKibana(scheme="https", cert=cert)
    try:
        code, _, err = raqib("kibana", "import", "--kibana", server.url)
        assert code == 4 and "could not be verified" in err and "RAQIB_KIBANA_CA_CERTS" in err
        creds.setenv("RAQIB_KIBANA_CA_CERTS", cert[0])
        code, out, err = raqib("kibana", "import", "--kibana", server.url)
        assert code == 0, err
        assert ", 0 failed" in out
    finally:
        server.close()
