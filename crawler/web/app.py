"""The ASGI application: routes, templates, and the one Elasticsearch client they share.

Pages are rendered on the server (Jinja2 with autoescape: every string from a page is
escaped); htmx (vendored) swaps the results list, uPlot (vendored) draws the charts, and the
live page listens to server-sent events. Handlers that talk to Elasticsearch are plain
functions: Starlette runs them in its thread pool, so a slow query never blocks the loop.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, QueryParams
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from crawler.run.status import gather
from crawler.web import export, geo, queries, render
from crawler.web.saved import Store
from crawler.web.security import Auth, Guard
from pipelines.alerts import context
from pipelines.alerts.rules import known_topics, rule_query
from pipelines.configfile import ConfigError, span
from pipelines.deadletters import DeadLetters, path_in
from pipelines.es import ClusterError, client_for, redact
from pipelines.outlets import load_outlets
from pipelines.safetext import clean_value
from pipelines.tagging import default_tagger

HERE = Path(__file__).parent
LIVE_POLL = 0.4          # seconds between two looks at the index for the live page
LIVE_OVERLAP = 5.0       # each look re-reads this far back (a write's clock vs. its refresh)


@dataclass
class Context:
    settings: Any
    config_dir: Path | None
    es_override: str | None = None
    _client: Any = None
    _tagger: Any = None

    @property
    def alias(self) -> str:
        return self.settings.get("elasticsearch", "alias")

    @property
    def client(self):
        if self._client is None:
            self._client = client_for(self.settings)
        return self._client

    @property
    def tagger(self):
        if self._tagger is None:
            self._tagger = default_tagger(self.config_dir)
        return self._tagger

    @property
    def store(self) -> Store:
        return Store(self.settings.state_dir)

    def alerting(self):
        return context.load(self.config_dir, settings=self.settings)


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["dir"] = render.direction
    env.filters["safe_url"] = render.safe_url
    env.filters["ago"] = _ago
    env.filters["epoch_iso"] = lambda t: datetime.fromtimestamp(float(t), UTC).isoformat(timespec="seconds") if t else ""
    env.globals["geo"] = geo
    env.filters["describe"] = _describe
    return env


def _describe(query: str) -> str:
    """A saved search's URL query as a person reads it: «داعش» · outlet almayadeen · since …"""

    parts = []
    for key, value in parse_qsl(query):
        parts.append(f"«{value}»" if key == "q" else f"{key} {value}")
    return " · ".join(parts) or "all articles"


def _ago(epoch) -> str:
    if not epoch:
        return "never"
    delta = time.time() - float(epoch)
    return f"in {span(-delta)}" if delta < 0 else f"{span(delta)} ago"


def _field(form: FormData, name: str) -> str:
    """A text field of a posted form ('' when absent); a file where text belongs is refused."""
    value = form.get(name, "")
    if not isinstance(value, str):
        raise queries.BadRequest(f"the form field {name!r} takes text, not a file")
    return value


class Handlers:
    """The workspace's pages and form posts (Starlette endpoints); each reads the index, the
    alert rules or the crawl state through the one Context."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.env = _env()

    def page(self, request: Request, name: str, status: int = 200, **values) -> HTMLResponse:
        values.setdefault("nav", name.split(".")[0])
        html = self.env.get_template(name).render(request=request, csrf=request.scope.get("state", {}).get("csrf", ""),
                                             **values)
        return HTMLResponse(html, status)

    def problem(self, request: Request, message: str, status: int = 400) -> HTMLResponse:
        return self.page(request, "error.html", status, message=message, nav="")

    def search_page(self, request: Request):
        try:
            p = queries.SearchParams.from_query(request.query_params)
        except queries.BadRequest as exc:
            return self.problem(request, str(exc))
        result = queries.run_search(self.ctx.client, self.ctx.alias, p, self.ctx.config_dir)
        fragment = request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "results"
        resp = self.page(request, "results.html" if fragment else "search.html", r=result, p=p,
                         saved=self.ctx.store.searches(), nav="search")
        resp.headers.append("server-timing", f"es;dur={result.took_ms}")     # the node's share
        return resp

    def export_search(self, request: Request):
        """The search's articles as a download (crawler/web/export.py). The first page is read
        before the answer starts, so a cluster that is away gives the error page, not half a file."""
        try:
            p = queries.SearchParams.from_query(request.query_params)
        except queries.BadRequest as exc:
            return self.problem(request, str(exc))
        fmt = request.query_params.get("format", "csv")
        if fmt not in export.FORMATS:
            return self.problem(request, f"format must be one of {', '.join(export.FORMATS)}, got {fmt[:20]!r}")
        rows = export.articles(self.ctx.client, self.ctx.alias, p, self.ctx.config_dir)
        first = list(itertools.islice(rows, 1))
        name = f"raqib-{datetime.now(UTC):%Y%m%d-%H%M}.{fmt}"
        return StreamingResponse(export.lines(fmt, itertools.chain(first, rows)), media_type=export.FORMATS[fmt],
                                 headers={"content-disposition": f'attachment; filename="{name}"'})

    def article_page(self, request: Request):
        doc_id = request.path_params["doc_id"]
        doc = queries.get_article(self.ctx.client, self.ctx.alias, doc_id)
        if doc is None:
            return self.problem(request, "no article with this id in the index (it may have been deleted)", 404)
        why = render.explain(self.ctx.tagger, doc)
        evidence = [e for t in why if t.passed for e in t.evidence]
        coverage = queries.related(self.ctx.client, self.ctx.alias, doc_id, doc)
        return self.page(request, "article.html", doc=doc, doc_id=doc_id, why=why,
                         title=render.title_html(doc.get("title") or "", evidence),
                         paragraphs=render.paragraphs(doc.get("text") or "", evidence), coverage=coverage, nav="")

    def live_page(self, request: Request):
        store = self.ctx.store
        name = request.query_params.get("saved", "")
        chosen = store.search(name) if name else None
        return self.page(request, "live.html", saved=store.searches(), chosen=chosen, nav="live")

    async def live_stream(self, request: Request):
        name = request.query_params.get("saved", "")
        chosen = self.ctx.store.search(name) if name else None

        try:
            p = queries.SearchParams.from_query(QueryParams(chosen.query if chosen else ""))
        except queries.BadRequest as exc:
            return Response(f"raqib web: {exc}", 400)
        query = queries.es_query(p, self.ctx.config_dir)
        item = self.env.get_template("live_item.html")

        async def events():
            seen: set[str] = set()
            cursor = datetime.now(UTC) - timedelta(seconds=1)
            yield "retry: 1000\n\n"
            quiet = 0.0
            while not await request.is_disconnected():
                since = (cursor - timedelta(seconds=LIVE_OVERLAP)).isoformat()
                try:
                    found = await run_in_threadpool(queries.new_since, self.ctx.client, self.ctx.alias, query, since)
                except Exception:  # noqa: BLE001 - a cluster hiccup: say so and keep listening
                    yield "event: problem\ndata: the cluster did not answer; retrying\n\n"
                    await asyncio.sleep(2)
                    continue
                for doc in found:
                    if doc["id"] in seen:
                        continue
                    seen.add(doc["id"])
                    html = item.render(doc=doc)
                    yield "event: article\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
                    quiet = 0.0
                if found:
                    last = max(d.get("first_indexed_at") or "" for d in found)
                    if last:
                        cursor = max(cursor, datetime.fromisoformat(last))
                await asyncio.sleep(LIVE_POLL)
                quiet += LIVE_POLL
                if quiet > 15:
                    yield ": still here\n\n"
                    quiet = 0.0

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    def alerts_page(self, request: Request, message: str = "", error: str = "", status: int = 200):
        try:
            alerting = self.ctx.alerting()
            rules, rules_error = alerting.rules, ""
            deliveries = alerting.ledger.deliveries()
        except ConfigError as exc:
            rules, rules_error, deliveries = [], str(exc), []
        web_names = {e.get("name") for e in self.ctx.store.rule_entries()}
        rows = []
        for rule in rules:
            mine = [d for d in deliveries if d["rule"] == rule.name]
            sent = [d for d in mine if d["state"] == "sent"]
            matched = _last_matches(self.ctx, rule)
            rows.append({"rule": rule, "from_web": rule.name in web_names, "sent": len(sent),
                         "pending": sum(1 for d in mine if d["state"] == "pending"),
                         "last_sent": max((d["sent_at"] or 0 for d in sent), default=0), "matches": matched})
        return self.page(request, "alerts.html", status, rows=rows, rules_error=rules_error, saved=self.ctx.store.searches(),
                         message=message, error=error, nav="alerts")

    async def save_search(self, request: Request):
        form = await request.form()
        try:
            p = queries.SearchParams.from_query(_qp(_field(form, "query")))
            saved = self.ctx.store.save_search(_field(form, "name"), p)
        except (ValueError, queries.BadRequest) as exc:
            return await run_in_threadpool(self.alerts_page, request, "", str(exc), 400)
        return RedirectResponse(f"/alerts?saved={saved.name}", 303)

    async def make_alert(self, request: Request):
        form = await request.form()
        try:
            saved = self.ctx.store.search(_field(form, "saved"))
            if saved is None:
                raise ValueError("no saved search by that name: save the search first")
            p = queries.SearchParams.from_query(_qp(saved.query))
            alerting = await run_in_threadpool(self.ctx.alerting)

            self.ctx.store.add_rule(_field(form, "name") or saved.name, p, email=_field(form, "email"),
                                    taken=[r.name for r in alerting.rules], outlets=load_outlets(self.ctx.config_dir),
                                    topics=known_topics(self.ctx.config_dir))
        except (ValueError, ConfigError, queries.BadRequest) as exc:
            return await run_in_threadpool(self.alerts_page, request, "", str(exc), 400)
        return RedirectResponse("/alerts", 303)

    async def delete(self, request: Request):
        form = await request.form()
        try:
            kind, name = _field(form, "kind"), _field(form, "name")
        except queries.BadRequest as exc:
            return await run_in_threadpool(self.alerts_page, request, "", str(exc), 400)
        if kind == "rule":
            self.ctx.store.delete_rule(name)
        elif kind == "search":
            self.ctx.store.delete_search(name)
        return RedirectResponse("/alerts", 303)

    def overview_page(self, request: Request):
        data = queries.overview(self.ctx.client, self.ctx.alias)
        return self.page(request, "overview.html", o=data, dots=geo.dots(data["cells"]),
                         charts=json.dumps({"all": data["all"], "topics": data["topics"], "outlets": data["outlets"]}),
                         nav="overview")

    def health_page(self, request: Request):
        try:
            configured = list(load_outlets(self.ctx.config_dir))
        except ConfigError:       # the page still shows what ran; `raqib outlets check` says why
            configured = []
        info = gather(self.ctx.settings, configured)
        letters: list[dict[str, Any]] = []
        if info["dead_letters"]["waiting"]:
            letters, _ = DeadLetters(path_in(self.ctx.settings.state_dir)).read()
        return self.page(request, "health.html", info=info, letters=letters[:50], now=time.time(), nav="health",
                         errors={name: _errors_by_kind(st.get("last_stats") or {}, name) for name, st in info["outlets"].items()})

    async def on_error(self, request: Request, exc: Exception):
        if isinstance(exc, ClusterError):
            return self.problem(request, redact(str(exc)), 503)
        if isinstance(exc, ConfigError):
            return self.problem(request, "configuration error: " + str(exc), 500)
        raise exc


def create_app(settings, config_dir: Path | None, *, auth: Auth | None = None, es_override: str | None = None) -> Starlette:
    ctx = Context(settings=settings, config_dir=config_dir, es_override=es_override)
    h = Handlers(ctx)
    routes = [
        Route("/", h.search_page), Route("/search", h.search_page),
        Route("/export", h.export_search), Route("/article/{doc_id}", h.article_page),
        Route("/live", h.live_page), Route("/live/stream", h.live_stream),
        Route("/alerts", h.alerts_page), Route("/saved", h.save_search, methods=["POST"]),
        Route("/alerts/new", h.make_alert, methods=["POST"]), Route("/delete", h.delete, methods=["POST"]),
        Route("/overview", h.overview_page), Route("/health", h.health_page),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    app = Starlette(routes=routes, exception_handlers={ClusterError: h.on_error, ConfigError: h.on_error},
                    middleware=[Middleware(GZipMiddleware, minimum_size=1000)])     # never the event stream
    app.state.ctx = ctx
    return Guard(app, auth or Auth())  # type: ignore[return-value]


def _errors_by_kind(stats: dict, outlet: str) -> dict[str, int]:
    """The last service crawl's errors of one outlet by kind (the stats JSON `raqib run` keeps)."""
    per = (stats.get("outlets") or {}).get(outlet, stats) if isinstance(stats.get("outlets"), dict) else stats
    errors = per.get("errors") if isinstance(per, dict) else None
    return {k: int(v) for k, v in errors.items() if isinstance(v, (int, float)) and v} if isinstance(errors, dict) else {}


def _qp(query: str):
    return QueryParams(query.lstrip("?"))


def _last_matches(ctx: Context, rule, size: int = 5) -> list[dict]:
    """The rule's newest matching articles now (what `raqib alerts list` shows)."""

    try:
        resp = ctx.client.search(index=ctx.alias, size=size, source_includes=queries.LIST_FIELDS,
                                 query={"bool": {"must": [rule_query(rule)], "must_not": [{"term": {"seed": True}}]}},
                                 sort=[{"published_at": {"order": "desc", "missing": "_last"}}]).body
    except Exception:  # noqa: BLE001 - one rule's bad query must not hide the others
        return []

    return [{"id": h["_id"], **clean_value(h["_source"])} for h in resp["hits"]["hits"]]
