"""`Mirror`: the offline copy of the outlets, served on loopback addresses, with ground truth.

    with Mirror() as m:
        m.write_config(tmp)          # outlets.yaml pointing at the mirror
        ...crawl...
        m.requests("almarjie")       # what the crawler asked for
        m.truth("almarjie")          # what it should have indexed

Each outlet has its own address (127.0.0.11 …), so it is its own host as on the web; ports
are chosen by the system, so several mirrors (parallel tests) never collide.

The mirror's clock: every date it serves is relative to `now` (default: $RAQIB_MIRROR_NOW, an
ISO 8601 time, else the real time when it starts), and runs on from there in real time for
what is published or revised while it serves (`Mirror.clock`). Tests set the variable once
for the session (tests/conftest.py) so that a run can be repeated at the first minute of a
month or of a year, whatever the calendar says.
"""
from __future__ import annotations

import errno
import functools
import os
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crawler.mirror import catalog
from crawler.mirror import faults as F
from crawler.mirror.catalog import Article
from crawler.mirror.config import write_config
from crawler.mirror.errors import MirrorError
from crawler.mirror.server import VALIDATOR_MODES, HostServer, Request, RequestLog, Response
from crawler.mirror.sites import NEW_SITE, SITES
from crawler.mirror.sites.base import Context, Site
from crawler.mirror.weight import WEIGHTS

CLOCK_ENV = "RAQIB_MIRROR_NOW"
TRAP_IP = "127.0.0.30"
TRAP = "offsite"


def clock_from_env() -> datetime | None:
    """The time $RAQIB_MIRROR_NOW names (None when unset); a value that is not an ISO 8601
    time with a zone is a MirrorError saying what to write instead."""
    text = os.environ.get(CLOCK_ENV, "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise MirrorError(f"${CLOCK_ENV}={text!r} is not an ISO 8601 time with a zone; "
                          f"write it like 2027-01-01T00:00:00Z, or unset it to use the real time")
    return when


class Mirror:
    def __init__(self, outlets: Iterable[str] | None = None, faults: bool = False,
                 articles_per_outlet: int | dict[str, int] | None = None, blocked: Iterable[str] = (), *,
                 now: datetime | None = None, hang_seconds: float = 120.0, drip_seconds: float = 90.0,
                 port: int = 0):
        # port 0: the system picks one per address (parallel mirrors never collide); a fixed
        # port gives stable URLs across runs, which the demo needs to be re-runnable
        self.port = port
        known = list(SITES)
        wanted = list(outlets) if outlets is not None else known
        unknown = [o for o in wanted if o not in SITES]
        if unknown:
            raise MirrorError(f"the mirror has no outlet named {', '.join(map(repr, unknown))}; it has {', '.join(known)}")
        if NEW_SITE not in wanted:
            wanted.append(NEW_SITE)      # always served; only in the config when asked for
        self.faults = faults
        self.now = (now or clock_from_env() or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        self._born = time.monotonic()
        self.fault_state = F.FaultState(hang_seconds=hang_seconds, drip_seconds=drip_seconds)
        self.log = RequestLog()
        self._stop = threading.Event()
        self._blocked = set(blocked)
        bad = self._blocked - set(wanted)
        if bad:
            raise MirrorError(f"cannot block {', '.join(sorted(bad))}: not served by this mirror")
        self._validators: dict[str, str] = {}
        self._servers: dict[str, HostServer] = {}
        ctx = Context(now=self.now, faults=faults, fault_state=self.fault_state,
                      trap_base=lambda: self._base(TRAP), blocked=lambda key: key in self._blocked)
        self._ctx = ctx
        articles = catalog.build(catalog.load_records(), self.now)
        self.sites: dict[str, Site] = {}
        for key in wanted:
            mine = [a for a in articles if a.outlet == key]
            # one size for every outlet, or {outlet: size} (the others keep their real articles)
            size = articles_per_outlet.get(key) if isinstance(articles_per_outlet, dict) else articles_per_outlet
            if size:
                mine += catalog.expand(mine, key, size)
            self.sites[key] = SITES[key](ctx, mine)
        self._started = False

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> Mirror:
        if self._started:
            return self
        try:
            for key, site in self.sites.items():
                server = HostServer(site.ip, key, site.handle, self.log, self._stop,
                                    validators=functools.partial(self.validators_of, key),
                                    server_header=site.server_header, port=self.port)
                self._servers[key] = server
                site.base = f"http://{server.host}"
            trap = HostServer(TRAP_IP, TRAP, _trap_page, self.log, self._stop, validators=lambda: "none", port=self.port)
            self._servers[TRAP] = trap
        except OSError as exc:
            self.close()
            if self.port and exc.errno == errno.EADDRINUSE:
                raise MirrorError(f"port {self.port} is already in use on a mirror address; choose another port") from None
            raise MirrorError(
                f"cannot listen on a loopback address ({exc.strerror}). The mirror gives each outlet its own "
                "address in 127.0.0.0/8, which Linux routes to the loopback interface; on macOS add them first, "
                "e.g. `sudo ifconfig lo0 alias 127.0.0.11 up` for .11-.16 and .30") from None
        for server in self._servers.values():
            server.serve_in_thread()
        self._started = True
        return self

    def close(self) -> None:
        self._stop.set()
        for server in self._servers.values():
            try:
                server.shutdown()
            except Exception:
                pass
            server.server_close()
        self._servers.clear()
        self._started = False

    def __enter__(self) -> Mirror:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the interface the tests and the demo use -------------------------------------------
    @property
    def outlets(self) -> list[str]:
        """The outlets in the shipped config that this mirror serves."""
        return [k for k, s in self.sites.items() if s.in_config]

    def base_url(self, outlet: str) -> str:
        return self._base(outlet)

    def _base(self, key: str) -> str:
        if not self._started:
            raise MirrorError("the mirror is not running: use `with Mirror() as m:` or call start()")
        server = self._servers.get(key)
        if server is None:
            raise MirrorError(f"this mirror does not serve {key!r}; it serves {', '.join(self.sites)}")
        return f"http://{server.host}"

    def write_config(self, directory: str | Path, include_new_site: bool = False) -> Path:
        """Write directory/outlets.yaml: the shipped config rewritten to point at this mirror."""
        if not self._started:
            raise MirrorError("start the mirror before writing its config (its ports are chosen at start)")
        return write_config(Path(directory), self, include_new_site=include_new_site)

    def requests(self, outlet: str | None = None) -> list[dict]:
        """Every request received, in order (`outlet="offsite"`: the off-site trap)."""
        return self.log.entries(outlet)

    def clear_requests(self) -> None:
        self.log.clear()

    def set_weight(self, weight: str) -> None:
        """How heavy its HTML pages are from now on (weight.py): "real" (the default), "heavy"
        or "light" (no page furniture)."""

        if weight not in WEIGHTS:
            raise MirrorError(f"unknown page weight {weight!r}; choose one of {', '.join(WEIGHTS)}")
        with self._ctx.lock:
            self._ctx.weight = weight
            for site in self.sites.values():
                site.changed()

    def truth(self, outlet: str, channels: Iterable[str] | None = None) -> list[dict]:
        """What a complete crawl of the outlet must index, newest first. `channels`: only
        the articles linked from at least one of them (e.g. ("home", "feed", "sitemap",
        "section") for a crawl without --backfill); see README for each entry's keys."""
        site = self._site(outlet)
        wanted = set(channels) if channels is not None else None
        with self._ctx.lock:
            entries = [site.truth_entry(a) for a in site.expected()]
        return [e for e in entries if wanted is None or wanted & set(e["channels"])]

    def fault_urls(self) -> dict[str, str]:
        if not self.faults:
            return {}
        urls: dict[str, str] = {}
        for site in self.sites.values():
            urls.update(site.fault_urls())
        return urls

    def faults_table(self) -> list[dict]:
        """Each fault served by this mirror: kind, outlet, url, channel, served, expect, indexed."""
        urls = self.fault_urls()
        return [dict(kind=f.kind, outlet=f.outlet, url=urls[f.kind], channel=f.channel, served=f.served,
                     expect=f.expect, indexed=f.indexed) for f in F.FAULTS if f.kind in urls]

    def disallowed(self, outlet: str | None = None) -> list[str]:
        """URLs the outlets' pages link to that robots.txt forbids: never to be requested."""
        keys = [outlet] if outlet else list(self.sites)
        return [self._site(k).url(self._site(k).article_path(a)) for k in keys for a in self._site(k).hidden()]

    def set_blocked(self, outlet: str, blocked: bool = True) -> None:
        self._site(outlet)
        (self._blocked.add if blocked else self._blocked.discard)(outlet)

    def validators_of(self, outlet: str) -> str:
        """The conditional-GET mode an outlet's server uses now (a test may switch it)."""
        return self._validators.get(outlet, self.sites[outlet].validators)

    def set_validators(self, outlet: str, mode: str) -> None:
        """honest: ETag and Last-Modified, 304 when unchanged; lying: a new ETag and
        Last-Modified on every response for the same bytes; last-modified: no ETag; none."""
        if mode not in VALIDATOR_MODES:
            raise MirrorError(f"validators must be one of {', '.join(VALIDATOR_MODES)}, not {mode!r}")
        self._site(outlet)
        self._validators[outlet] = mode

    @property
    def hang_seconds(self) -> float:
        return self.fault_state.hang_seconds

    @hang_seconds.setter
    def hang_seconds(self, value: float) -> None:
        self.fault_state.hang_seconds = value

    @property
    def drip_seconds(self) -> float:
        return self.fault_state.drip_seconds

    @drip_seconds.setter
    def drip_seconds(self, value: float) -> None:
        self.fault_state.drip_seconds = value

    def publish(self, outlet: str, title: str | None = None, text: str | None = None, *,
                lang: str | None = None, author: str | None = None) -> dict:
        """A new article appears now in the outlet's feeds, sitemaps, sections and home page.
        Without a title and text, one of the outlet's reserve articles (real texts kept back
        for this) is published. Returns its truth entry."""
        site = self._site(outlet)
        now = self.clock().replace(second=0, microsecond=0)
        with self._ctx.lock:
            reserve = next((a for a in site.articles if a.role == "reserve"), None)
            if title is None or text is None:
                if reserve is None:
                    raise MirrorError(f"{outlet} has no reserve article left; pass title= and text=")
                article = reserve
                article.role = "article"
            else:
                template = reserve or next(a for a in site.articles if a.role == "article")
                article = Article(
                    key=f"{outlet}-p{len(site.articles):03d}", outlet=outlet, role="article",
                    lang=lang or site.lang, title=title, paragraphs=[p for p in text.split("\n") if p.strip()],
                    author=author, site_id=0, section=template.section, published=None, modified=None,
                    source="published", source_id="publish", selection_group="published",
                )
                site.articles.append(article)
            if author is not None:
                article.author = author
            if lang is not None:
                article.lang = lang
            article.site_id = site.next_site_id()
            article.published = article.modified = now
            article.recent = True
            site.changed()
            return site.truth_entry(article)

    def revise(self, outlet: str, url: str, *, title: str | None = None, text: str | None = None) -> dict:
        """The outlet corrects an article: new text or title, a new modification time."""
        site = self._site(outlet)
        with self._ctx.lock:
            article = next((a for a in site.listed() if site.url(site.article_path(a)) == url or a.key == url), None)
            if article is None:
                raise MirrorError(f"{outlet} has no article at {url}")
            if title is not None:
                article.title = title
            if text is not None:
                article.paragraphs = [p for p in text.split("\n") if p.strip()]
            article.modified = self.clock().replace(microsecond=0)
            site.changed()
            return site.truth_entry(article)

    def clock(self) -> datetime:
        """The mirror's time now: `now` when it was made, plus the real time since."""
        return self.now + timedelta(seconds=time.monotonic() - self._born)

    def site(self, outlet: str) -> Site:
        return self._site(outlet)

    def _site(self, outlet: str) -> Site:
        site = self.sites.get(outlet)
        if site is None:
            raise MirrorError(f"this mirror does not serve {outlet!r}; it serves {', '.join(self.sites)}")
        return site


def _trap_page(req: Request) -> Response:
    """The off-site host redirects point to: anything it logs is a crawler leaving its domains."""
    return Response(body=b"<html><body><h1>off-site host</h1><p>A crawler should never be here.</p></body></html>",
                    cacheable=False)
