"""The family's HTTP proxy: plain requests in absolute form, and CONNECT tunnels that it
terminates with a self-signed certificate, so generated sites can be served over https (and
redirect http to https) while the crawl goes through an ordinary `http_proxy`/`https_proxy`.

Requests that arrive through a tunnel carry `X-Family-Scheme: https` for the router; every
CONNECT is logged too, so a tunnel opened towards a host no site owns is an off-domain
request like any other.
"""
from __future__ import annotations

import socketserver
import ssl
import time
from pathlib import Path

from crawler.mirror.certs import self_signed
from crawler.mirror.server import HostServer, _Handler

SCHEME_HEADER = "X-Family-Scheme"


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for `*.test` (crawlers of news sites do not pin certificates;
    Scrapy does not verify them by default)."""
    return self_signed(directory, "*.test", stem="family")


class ProxyServer(HostServer):
    def __init__(self, *args, certificate: tuple[Path, Path], **kwargs):
        super().__init__(*args, **kwargs)
        self.RequestHandlerClass = _ProxyHandler
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(*map(str, certificate))


class _ProxyHandler(_Handler):
    server: ProxyServer
    tunnel: str | None = None

    def do_CONNECT(self):
        srv = self.server
        host = self.path.split(":")[0].lower()
        srv.log.start({"time": time.time(), "outlet": srv.outlet, "host": host, "server": srv.host,
                       "method": "CONNECT", "path": f"https://{self.path}", "decoded_path": "/",
                       "headers": {k.lower(): v for k, v in self.headers.items()},
                       "user_agent": self.headers.get("user-agent"), "if_none_match": None,
                       "if_modified_since": None, "status": 200, "bytes": 0})
        self.send_response_only(200, "Connection established")
        self.end_headers()
        try:
            self.connection = srv.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True
            return
        self.rfile = self.connection.makefile("rb", self.rbufsize)
        self.wfile = socketserver._SocketWriter(self.connection)  # type: ignore[attr-defined]
        self.tunnel = host
        self.close_connection = False

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok and self.tunnel is not None:
            self.headers[SCHEME_HEADER] = "https"
        return ok
