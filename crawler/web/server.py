"""Running the workspace: in the foreground (`raqib web`) or on a thread of `raqib run`."""
from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

from crawler.web.security import Auth, WebConfigError, check_bind

log = logging.getLogger("raqib.web")


class WebServer:
    def __init__(self, settings, config_dir: Path | None, *, host: str = "127.0.0.1", port: int = 8080,
                 es_override: str | None = None, auth: Auth | None = None):
        import uvicorn

        from crawler.web.app import create_app

        self.auth = auth or Auth.from_env()
        check_bind(host, self.auth)          # WebConfigError before anything listens
        self.host, self.port = host, port
        app = create_app(settings, config_dir, auth=self.auth, es_override=es_override)
        self.config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                     lifespan="off", server_header=False, timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(self.config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def _socket(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))     # OSError (port taken) here, in the caller's thread
        if self.port == 0:
            self.port = sock.getsockname()[1]
        sock.set_inheritable(True)
        return sock

    def serve(self) -> None:
        """Foreground until interrupted."""
        sock = self._socket()
        self.server.run(sockets=[sock])

    def start(self) -> WebServer:
        """On a daemon thread (`raqib run`); returns once it accepts connections."""
        sock = self._socket()
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, name="raqib-web",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        log.info("web workspace on %s", self.url)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread:
            self._thread.join(timeout=5)


def start_if_enabled(settings, config_dir: Path | None) -> WebServer | None:
    """`raqib run`'s workspace when settings.toml says `[web] enabled = true`."""
    web = settings["web"]
    if not web["enabled"]:
        return None
    server = WebServer(settings, config_dir, host=web["host"], port=web["port"])
    try:
        return server.start()
    except OSError as exc:
        raise WebConfigError(f"[web] cannot listen on {web['host']}:{web['port']} ({exc.strerror or exc}); "
                             f"set another [web] port or enabled = false") from None
