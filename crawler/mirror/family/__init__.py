"""A family of generated news sites: complete outlets built from a seed, with ground truth.

    with Family(seeds=range(50), now=FIXED) as f:
        f.write_config(dir)            # dir/outlets.yaml: one entry per site, as a user writes it
        f.proxy_url                    # http://127.0.0.1:PORT: the crawl's HTTP proxy
        ...crawl with http_proxy=f.proxy_url...
        f.truth()                      # what a complete crawl must index
        f.offdomain_requests(), f.disallowed_requests()   # must stay empty
        f.publish(key)                 # a new article, dated at the family's clock

Each site combines independently drawn traits (`traits.py`): CMS URL shape, feed kind and
link quirks, sitemap kind, pagination, URL variants and canonical-tag quirks, charset, date
convention, byline place, boilerplate blocks, faults, robots rules. Sites are addressed by
name (`www.sawt17.test`, `sawt17.test`) through one local HTTP proxy that routes by Host,
so `www`/bare hosts, http→https redirects (CONNECT tunnels terminated with a throw-away
certificate, `proxy.py`) and off-domain links behave as on the web while nothing leaves the
machine (a request for any other host is logged and answered 404). The clock is the
caller's (`now`): nothing depends on the calendar.
"""
from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

from crawler.mirror import catalog
from crawler.mirror.family.proxy import SCHEME_HEADER, ProxyServer, make_certificate
from crawler.mirror.family.site import GeneratedSite, Story, TruthEntry
from crawler.mirror.family.traits import Traits, draw
from crawler.mirror.server import Request, RequestLog, Response

__all__ = ["Family", "GeneratedSite", "Story", "Traits", "TruthEntry", "draw"]


class Family:
    def __init__(self, seeds: Iterable[int], now: datetime):
        self.now = now.astimezone(UTC).replace(microsecond=0)
        records = catalog.load_records()
        self.sites: dict[str, GeneratedSite] = {}
        for seed in seeds:
            site = GeneratedSite(seed, records, self.now)
            self.sites[site.key] = site
        self._by_host = {h: s for s in self.sites.values() for h in (s.host, s.other_host)}
        self.log = RequestLog()
        self._stop = threading.Event()
        self._server: ProxyServer | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Family:
        self._tmp = tempfile.TemporaryDirectory(prefix="raqib-family-")
        self._server = ProxyServer("127.0.0.1", "family", self._route, self.log, self._stop, lambda: "honest",
                                   certificate=make_certificate(Path(self._tmp.name)))
        self._server.serve_in_thread()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._tmp is not None:
            self._tmp.cleanup()

    @property
    def proxy_url(self) -> str:
        assert self._server is not None, "use the family as a context manager"
        return f"http://{self._server.host}"

    def _route(self, request: Request) -> Response:
        host = (urlsplit(request.target).hostname or request.headers.get("host", "").split(":")[0]).lower()
        site = self._by_host.get(host)
        if site is None:
            return Response.not_found()
        return site.route(request, host, request.headers.get(SCHEME_HEADER.lower(), "http"))

    # --- config and truth ----------------------------------------------------------------------
    def outlets_yaml(self, keys: Iterable[str] | None = None) -> str:
        wanted = list(keys) if keys is not None else list(self.sites)
        data = {"outlets": {k: self.sites[k].yaml_entry() for k in wanted}}
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)

    def write_config(self, directory: Path, keys: Iterable[str] | None = None) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "outlets.yaml"
        path.write_text(self.outlets_yaml(keys), encoding="utf-8")
        return path

    def truth(self, key: str | None = None) -> list[TruthEntry]:
        sites = [self.sites[key]] if key else self.sites.values()
        return [e for s in sites for e in s.truth()]

    def article_urls(self) -> set[str]:
        """Every address of every published article page (for "fetched again?" checks)."""
        return {s.canonical_url(a) for s in self.sites.values() for a in s.published()}

    def publish(self, key: str, after: timedelta = timedelta(minutes=30)) -> TruthEntry:
        """A new article on `key`, dated `after` past the family's clock (which moves on)."""
        self.now = self.now + after
        site = self.sites[key]
        story = site.publish(self.now)
        if story is None:
            raise ValueError(f"{key} has no reserve article left to publish")
        return site.truth_entry(story)

    # --- what the crawler asked for ------------------------------------------------------------
    def requests(self) -> list[dict]:
        out = []
        for e in self.log.entries():
            parts = urlsplit(e["path"])
            host = (parts.hostname or e["host"].split(":")[0]).lower()
            scheme = parts.scheme or e["headers"].get(SCHEME_HEADER.lower(), "http")
            url = e["path"] if parts.scheme else f"{scheme}://{host}{e['path']}"
            out.append({**e, "target_host": host, "scheme": scheme, "url": url,
                        "target_path": unquote(parts.path), "target_query": parts.query})
        return out

    def clear_requests(self) -> None:
        self.log.clear()

    def offdomain_requests(self, requests: list[dict] | None = None) -> list[dict]:
        """Requests for a host no site owns (`requests`: a saved `requests()`, default now's)."""
        return [r for r in (self.requests() if requests is None else requests) if r["target_host"] not in self._by_host]

    def disallowed_requests(self, requests: list[dict] | None = None) -> list[dict]:
        """Requests robots.txt forbids to every crawler but GPTBot."""
        bad = []
        for r in self.requests() if requests is None else requests:
            site = self._by_host.get(r["target_host"])
            if site is None:
                continue
            target = r["target_path"] + (f"?{unquote(r['target_query'])}" if r["target_query"] else "")
            if any(_robots_rule(rule).match(target) for rule in site.robots_rules()):
                bad.append(r)
        return bad


def _robots_rule(rule: str) -> re.Pattern[str]:
    """RFC 9309 §2.2.3: `*` matches any sequence, a final `$` the end of the path."""
    anchored = rule.endswith("$")
    body = re.escape(unquote(rule.rstrip("$"))).replace(r"\*", ".*")
    return re.compile(body + ("$" if anchored else ""))
