"""Who may use the workspace, and what a page may do.

* Binding: loopback by default. Any other address needs authentication configured in the
  environment (never in settings.toml, which is often world-readable and in backups):
  RAQIB_WEB_TOKEN (a bearer token; a browser presents it once as ?token=… and gets an
  HttpOnly session cookie), or RAQIB_WEB_USER and RAQIB_WEB_PASSWORD (HTTP Basic). On loopback
  they are optional and enforced when set.
* CSRF: every state-changing request (POST) must carry the per-session token that the server
  put in the form, and come from this origin (Origin/Referer checked). The token is an HMAC of
  the session cookie with a per-process key, so it is never stored and never in a URL.
* Content-Security-Policy: scripts and styles from this origin only, no inline script, no
  eval, no frames, no plugins, connections to this origin only; the vendored libraries are
  served from /static.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipelines.configfile import ConfigError

SESSION_COOKIE = "raqib_session"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class WebConfigError(ConfigError):
    """The server must not start as configured; the message says why and what to do."""


@dataclass(frozen=True)
class Auth:
    token: str = ""
    user: str = ""
    password: str = ""

    @property
    def required(self) -> bool:
        return bool(self.token or (self.user and self.password))

    @classmethod
    def from_env(cls, env=None) -> Auth:
        env = os.environ if env is None else env
        user, password = env.get("RAQIB_WEB_USER", ""), env.get("RAQIB_WEB_PASSWORD", "")
        if bool(user) != bool(password):
            raise WebConfigError("raqib web: set both RAQIB_WEB_USER and RAQIB_WEB_PASSWORD, or neither")
        token = env.get("RAQIB_WEB_TOKEN", "")
        if token and len(token) < 16:
            raise WebConfigError("raqib web: RAQIB_WEB_TOKEN is too short to be a secret (use at least 16 "
                                 "characters, e.g. `python -c 'import secrets; print(secrets.token_urlsafe())'`)")
        return cls(token=token, user=user, password=password)


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, auth: Auth) -> None:
    """Refuse a non-loopback address without authentication: the index holds what analysts
    follow, and the workspace can create alert rules."""
    if not is_loopback(host) and not auth.required:
        raise WebConfigError(
            f"raqib web: refusing to listen on {host} without authentication: set RAQIB_WEB_TOKEN "
            f"(or RAQIB_WEB_USER and RAQIB_WEB_PASSWORD) in the environment, or listen on 127.0.0.1 and "
            f"reach it through an SSH tunnel or a reverse proxy (README: Web)")


class Guard:
    """Authentication, sessions, CSRF and the security headers, as one ASGI middleware."""

    def __init__(self, app: ASGIApp, auth: Auth, key: bytes | None = None):
        self.app = app
        self.auth = auth
        self.key = key or secrets.token_bytes(32)

    def csrf_token(self, session: str) -> str:
        return hmac.new(self.key, b"csrf:" + session.encode(), hashlib.sha256).hexdigest()

    def _session_ok(self, value: str) -> bool:
        sid, _, mac = value.partition(".")
        want = hmac.new(self.key, b"session:" + sid.encode(), hashlib.sha256).hexdigest()
        return bool(sid) and hmac.compare_digest(mac, want)

    def _new_session(self) -> str:
        sid = secrets.token_urlsafe(18)
        return sid + "." + hmac.new(self.key, b"session:" + sid.encode(), hashlib.sha256).hexdigest()

    def _authenticated(self, headers: Headers, session_ok: bool, query_token: str) -> bool:
        if not self.auth.required:
            return True
        if session_ok:
            return True
        got = headers.get("authorization", "")
        if self.auth.token:
            if got.startswith("Bearer ") and hmac.compare_digest(got[7:].strip(), self.auth.token):
                return True
            if query_token and hmac.compare_digest(query_token, self.auth.token):
                return True
        if self.auth.user and got.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(got[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return hmac.compare_digest(user, self.auth.user) and hmac.compare_digest(password, self.auth.password)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers = Headers(scope=scope)
        cookie = _cookie(headers.get("cookie", ""), SESSION_COOKIE)
        session_ok = bool(cookie) and self._session_ok(cookie)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        query_token = (query.get("token") or [""])[0]
        set_cookie = None
        if not self._authenticated(headers, session_ok, query_token):
            extra = [(b"www-authenticate", b'Basic realm="raqib", charset="UTF-8"')] if self.auth.user else []
            await _send(PlainTextResponse("raqib web: authentication required (see README: Web)", 401), scope,
                        receive, send, extra)
            return
        if not session_ok:
            cookie = self._new_session()
            set_cookie = cookie
            if query_token:    # the token leaves the address bar: the session cookie carries it from now on
                resp = RedirectResponse(scope.get("path", "/"), 303)
                await _send(resp, scope, receive, send, [_cookie_header(cookie)])
                return
        scope.setdefault("state", {})["csrf"] = self.csrf_token(cookie)
        if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            problem = await self._csrf_problem(scope, headers, cookie, receive)
            if problem:
                await _send(PlainTextResponse(f"raqib web: {problem}", 403), scope, receive, send, [])
                return
            receive = scope["state"].pop("_replay")

        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                # the handler's own time (bench/web.py reads it; the browser's devtools show it)
                timing = (b"server-timing", f"app;dur={1000 * (time.perf_counter() - started):.1f}".encode())
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS + [timing]
                if set_cookie:
                    message["headers"].append(_cookie_header(set_cookie))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _csrf_problem(self, scope: Scope, headers: Headers, cookie: str, receive: Receive) -> str | None:
        host = headers.get("host", "")
        origin = headers.get("origin") or headers.get("referer") or ""

        if not origin or urlsplit(origin).netloc != host:
            return "refused a request from another origin (or without Origin/Referer)"
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > 1_000_000:
                return "request body too large"

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        scope["state"]["_replay"] = replay
        sent = headers.get("x-csrf-token", "")
        if not sent:
            ctype = headers.get("content-type", "")
            if ctype.startswith("application/x-www-form-urlencoded"):
                sent = (parse_qs(body.decode("utf-8", "replace")).get("csrf") or [""])[0]
        if not sent or not hmac.compare_digest(sent, self.csrf_token(cookie)):
            return "the form's CSRF token is missing or stale: reload the page and try again"
        return None


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def _cookie_header(value: str) -> tuple[bytes, bytes]:
    return (b"set-cookie", f"{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict".encode())


async def _send(resp: Response, scope: Scope, receive: Receive, send: Send, extra: list) -> None:
    resp.raw_headers.extend(SECURITY_HEADERS + extra)
    await resp(scope, receive, send)
