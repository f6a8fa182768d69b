"""raqib against a cluster secured the way production should be: TLS with a private CA, and an
API key (or a user) holding only raqib's role (deploy/elasticsearch/raqib-role.json).

All against the session's real secured node (`secure_cluster` in conftest.py). Every refusal
must be one clear line that says what to change, exits 4, and holds no secret.
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from elasticsearch import exceptions as es_exc

from crawler.cli.main import main
from crawler.ops.esnode import Node
from crawler.ops.esnode_security import ROLE_NAME, grant_api_key, make_ca, raqib_role
from pipelines.es import connect

ES_ENV = ("RAQIB_ES_URL", "RAQIB_ES_API_KEY", "RAQIB_ES_USER", "RAQIB_ES_PASSWORD", "RAQIB_ES_CA_CERTS")


@pytest.fixture
def secure_alias(secure_cluster):
    name = f"raqib-sec-{uuid.uuid4().hex[:10]}"
    yield name
    with secure_cluster.admin() as admin:
        admin.indices.delete(index=f"{name}-*", ignore_unavailable=True, allow_no_indices=True)
        admin.options(ignore_status=404).indices.delete_index_template(name=name)


@pytest.fixture
def raqib_env(tmp_path, secure_alias, monkeypatch, capsys):
    """Run the CLI in-process with exactly the given RAQIB_ES_* environment (the cluster URL
    included: that is how an operator points raqib at a cluster) and the test's own alias."""
    cfg = tmp_path / "config"
    cfg.mkdir()
    (cfg / "settings.toml").write_text(
        f'[elasticsearch]\nalias = "{secure_alias}"\n[state]\ndir = "{tmp_path / "state"}"\n', encoding="utf-8")

    def run(env: dict[str, str], *args: str):
        for name in ES_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = main(["--config", str(cfg), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def forms(key: dict) -> list[str]:
    """A key as the API returns it and the forms its secret can take."""
    return [key["encoded"], key["api_key"], f"{key['id']}:{key['api_key']}"]


def assert_clean(text: str, *values: str) -> None:
    assert "Traceback" not in text
    for value in values:
        assert value not in text


def hits(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# --------------------------------------------------------------------------- the node itself

def test_the_node_refuses_anonymous_requests_and_plain_http(secure_cluster):
    anonymous = Node(port=secure_cluster.node.port, scheme="https", ca_certs=secure_cluster.ca_certs)
    _, problem = anonymous._probe(timeout=10)
    assert problem and "401" in problem
    plain = Node(port=secure_cluster.node.port)
    assert plain.health(timeout=5) is None
    assert secure_cluster.node.health()["status"] in ("green", "yellow")


def test_a_wrong_bootstrap_password_or_ca_is_named_by_the_health_check(secure_cluster, tmp_path):
    """What `Node.start` stops on instead of waiting out its timeout."""
    wrong = "wrong-" + secrets.token_hex(8)
    node = Node(port=secure_cluster.node.port, scheme="https", auth=("elastic", wrong), ca_certs=secure_cluster.ca_certs)
    health, problem = node._probe(timeout=10)
    assert health is None and "refused the credentials" in problem and "'elastic'" in problem
    assert wrong not in problem
    other = make_ca(tmp_path / "other-ca", name="another CA")
    node = Node(port=secure_cluster.node.port, scheme="https", auth=secure_cluster.node.auth, ca_certs=str(other.cert))
    health, problem = node._probe(timeout=10)
    assert health is None and "does not verify against" in problem and str(other.cert) in problem


# --------------------------------------------------------------------------- raqib works on it

def test_seed_and_search_with_the_api_key_over_verified_tls(secure_cluster, raqib_env, secure_alias):
    env = secure_cluster.env(auth="api_key")
    code, out, err = raqib_env(env, "seed")
    assert code == 0, err
    assert "5 new" in out
    code, out, err = raqib_env(env, "seed")
    assert code == 0 and "5 unchanged" in out
    code, out, err = raqib_env(env, "search", "الامريكية", "--json")
    assert code == 0, err
    assert {"alittihad", "almarjie", "noonpost", "strategic_observatory"} <= {h["outlet"] for h in hits(out)}
    with secure_cluster.admin() as admin:
        admin.indices.refresh(index=secure_alias)
        assert admin.count(index=secure_alias).body["count"] == 5
        written_by = admin.indices.get_alias(name=secure_alias).body
        assert list(written_by) == [f"{secure_alias}-000001"]
    assert_clean(out + err, *forms(secure_cluster.api_key))


def test_seed_and_search_with_user_and_password(secure_cluster, raqib_env):
    env = secure_cluster.env(auth="password")
    code, out, err = raqib_env(env, "seed")
    assert code == 0 and "5 new" in out, err
    code, out, err = raqib_env(env, "search", "داعش", "--outlet", "almayadeen")
    assert code == 0 and out.startswith("1 article match"), err
    assert_clean(out + err, secure_cluster.password)


def test_the_api_key_also_works_in_its_id_colon_key_form(secure_cluster, raqib_env):
    key = secure_cluster.api_key
    env = {**secure_cluster.env(auth="none"), "RAQIB_ES_API_KEY": f"{key['id']}:{key['api_key']}"}
    code, out, err = raqib_env(env, "seed")
    assert code == 0 and "5 new" in out, err


def test_raqibs_role_grants_nothing_beyond_its_indices(secure_cluster, monkeypatch):
    for name, value in secure_cluster.env(auth="api_key").items():
        monkeypatch.setenv(name, value)
    client = connect(secure_cluster.url)
    with pytest.raises(es_exc.AuthorizationException):
        client.index(index=f"other-{uuid.uuid4().hex[:8]}", document={"x": 1})
    with pytest.raises(es_exc.AuthorizationException):
        client.search(index=".security")
    with pytest.raises(es_exc.AuthorizationException):
        client.security.get_user()
    with pytest.raises(es_exc.AuthorizationException):
        client.security.create_api_key(name="escalate")
    with pytest.raises(es_exc.AuthorizationException):
        client.cluster.put_settings(persistent={"cluster.routing.allocation.enable": "all"})
    # and the key carries exactly the role the operator is told to create
    with secure_cluster.admin() as admin:
        role = admin.security.get_role(name=ROLE_NAME).body[ROLE_NAME]
    expected = raqib_role()
    assert role["cluster"] == expected["cluster"]
    assert [(i["names"], sorted(i["privileges"])) for i in role["indices"]] == \
           [(i["names"], sorted(i["privileges"])) for i in expected["indices"]]


# --------------------------------------------------------------------------- refusals, clearly

def test_a_wrong_api_key_is_a_clear_error_without_the_key(secure_cluster, raqib_env):
    key_id, secret = uuid.uuid4().hex[:20], secrets.token_urlsafe(16)
    wrong = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    env = {**secure_cluster.env(auth="none"), "RAQIB_ES_API_KEY": wrong}
    code, out, err = raqib_env(env, "seed")
    assert code == 4
    assert f"Elasticsearch at {secure_cluster.url} refused the API key in RAQIB_ES_API_KEY (401)" in err
    assert "`encoded` value" in err
    assert_clean(out + err, wrong, secret, f"{key_id}:{secret}")


def test_an_invalidated_key_is_refused_clearly(secure_cluster, raqib_env):
    with secure_cluster.admin() as admin:
        key = grant_api_key(admin, user=secure_cluster.user, password=secure_cluster.password, name="to-revoke")
        env = {**secure_cluster.env(auth="none"), "RAQIB_ES_API_KEY": key["encoded"]}
        code, out, err = raqib_env(env, "seed")
        assert code == 0, err
        admin.security.invalidate_api_key(ids=[key["id"]])
    code, out, err = raqib_env(env, "search", "داعش")
    assert code == 4
    assert "refused the API key in RAQIB_ES_API_KEY (401): the key is wrong, expired or invalidated" in err
    assert_clean(out + err, *forms(key))


def test_a_wrong_password_is_a_clear_error_without_the_password(secure_cluster, raqib_env):
    wrong = "pw-" + secrets.token_urlsafe(12)
    env = {**secure_cluster.env(auth="none"), "RAQIB_ES_USER": "raqib", "RAQIB_ES_PASSWORD": wrong}
    code, out, err = raqib_env(env, "seed")
    assert code == 4
    assert "refused user 'raqib' (RAQIB_ES_USER) with the password in RAQIB_ES_PASSWORD (401)" in err
    assert_clean(out + err, wrong)


def test_no_credentials_at_all_says_which_to_set(secure_cluster, raqib_env):
    code, out, err = raqib_env(secure_cluster.env(auth="none"), "search", "x")
    assert code == 4
    assert "requires authentication (401). Set RAQIB_ES_API_KEY, or RAQIB_ES_USER and RAQIB_ES_PASSWORD" in err


def test_a_certificate_from_an_unknown_ca_is_a_clear_error(secure_cluster, raqib_env, tmp_path):
    other = make_ca(tmp_path / "other-ca", name="not the cluster's CA")
    env = {**secure_cluster.env(auth="api_key"), "RAQIB_ES_CA_CERTS": str(other.cert)}
    code, out, err = raqib_env(env, "seed")
    assert code == 4
    assert f"the TLS certificate of Elasticsearch at {secure_cluster.url} was not issued by the CA in RAQIB_ES_CA_CERTS ({other.cert})" in err
    assert_clean(out + err, *forms(secure_cluster.api_key))


def test_without_the_ca_the_system_trust_store_refuses_and_raqib_says_what_to_set(secure_cluster, raqib_env):
    env = secure_cluster.env(auth="api_key")
    del env["RAQIB_ES_CA_CERTS"]
    code, out, err = raqib_env(env, "seed")
    assert code == 4
    assert "could not be verified against the system's trusted CAs" in err
    assert "set RAQIB_ES_CA_CERTS to that CA's certificate" in err
    assert_clean(out + err, *forms(secure_cluster.api_key))


def test_a_ca_file_that_holds_no_certificate(secure_cluster, raqib_env, tmp_path):
    bogus = tmp_path / "ca.pem"
    bogus.write_text("this is not a certificate\n")
    code, out, err = raqib_env({**secure_cluster.env(auth="api_key"), "RAQIB_ES_CA_CERTS": str(bogus)}, "seed")
    assert code == 4
    assert f"RAQIB_ES_CA_CERTS names {bogus}, which holds no usable PEM certificate" in err


def test_plain_http_to_the_tls_node_is_explained(secure_cluster, raqib_env):
    env = secure_cluster.env(auth="api_key")
    env["RAQIB_ES_URL"] = secure_cluster.url.replace("https://", "http://")
    code, out, err = raqib_env(env, "seed")
    assert code == 4
    assert "speaks only HTTPS" in err and f"use {secure_cluster.url} in --es or RAQIB_ES_URL" in err
    assert_clean(out + err, *forms(secure_cluster.api_key))


class _PlainHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status": "green"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_https_to_a_plain_http_server_is_explained(raqib_env):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PlainHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}"
        code, out, err = raqib_env({"RAQIB_ES_URL": url}, "seed")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 4
    assert f"Elasticsearch at {url} does not speak TLS: it answers plain HTTP" in err


def test_a_key_lacking_privileges_gets_a_clear_403_and_a_read_only_key_can_search(secure_cluster, raqib_env):
    with secure_cluster.admin() as admin:
        read_only = grant_api_key(
            admin, user=secure_cluster.user, password=secure_cluster.password, name="read-only",
            role_descriptors={"read_only": {"cluster": ["monitor"],
                                            "indices": [{"names": ["raqib-*"], "privileges": ["read"]}]}},
        )
    env = {**secure_cluster.env(auth="none"), "RAQIB_ES_API_KEY": read_only["encoded"]}
    code, out, err = raqib_env(env, "seed")
    assert code == 4
    assert "denied an operation (403) to the API key in RAQIB_ES_API_KEY" in err
    assert "deploy/elasticsearch/raqib-role.json" in err
    assert "index_template" in err            # the cluster's own words: which action was refused
    assert_clean(out + err, *forms(read_only))
    code, out, err = raqib_env(secure_cluster.env(auth="api_key"), "seed")
    assert code == 0, err
    code, out, err = raqib_env(env, "search", "داعش", "--json")
    assert code == 0, err
    assert len(hits(out)) == 5
