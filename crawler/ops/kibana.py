"""Kibana saved objects for raqib: declared here, checked, written as ndjson, imported over HTTP.

The objects (data views, saved searches in Lucene syntax, Lens charts, a map, dashboards) are
declared once, in Python, from three facts that live elsewhere: the index fields
(pipelines/mapping.json), the outlets (config/outlets.yaml) and the index names (settings.toml).
`deploy/kibana/*.ndjson` is the same set written out for people who import through Kibana's UI;
a test keeps the files equal to what this module builds.

Format notes, taken from Kibana's own sample data and saved-object type definitions:
- each object carries `typeMigrationVersion`, the version of the shape it is written in, so
  Kibana 9 runs only the migrations that come after it (saved searches, for instance, are
  written in the 8.x shape and Kibana turns them into its newer "Discover session" tabs);
- a reference is `{type, id, name}`; inside attributes, objects point at references by name:
  `indexRefName` (searches), `indexpattern-datasource-layer-<layer>` (Lens),
  `indexPatternRefName` (map layers) and `panelRefName` (dashboard panels, whose reference is
  named `<panelIndex>:<panelRefName>`);
- ids are fixed strings, so importing again with `overwrite=true` replaces instead of copying.
"""
from __future__ import annotations

import base64
import json
import os
import re
import time
import urllib.parse
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from crawler.errors import ERROR_KINDS
from crawler.ops.esnode import ES_VERSION
from crawler.report import crawls
from pipelines import http
from pipelines.es import redact, redact_url, register_secret
from pipelines.index import mapping as load_mapping
from pipelines.settings import DEFAULT_ALIAS, DEFAULT_CRAWLS_INDEX

KIBANA_VERSION = ES_VERSION          # Kibana must run the same version as Elasticsearch
DEFAULT_KIBANA_URL = "http://127.0.0.1:5601"

# The shape versions objects are written in (see the module docstring).
CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSION = {
    "index-pattern": "7.11.0",
    "search": "8.0.0",
    "lens": "8.9.0",
    "map": "7.4.0",        # layer list in the 7.x shape of Kibana's sample maps; migrated on import
    "dashboard": "8.7.0",
}
PANEL_VERSION = "8.11.0"

TOPICS = ("isis", "syria", "us_presence")   # the topic keys of config/topics.yaml

# Readable names for the index fields, shown in Discover, Lens and the map tooltips.
ARTICLE_FIELD_LABELS = {
    "url": "Link",
    "canonical_url": "Canonical link",
    "outlet": "Outlet key",
    "outlet_name": "Outlet",
    "title": "Title",
    "title.raw": "Title (exact)",
    "text": "Text",
    "summary": "Summary",
    "author": "Author",
    "keywords": "Outlet keywords",
    "section": "Outlet section",
    "country": "Country (outlet)",
    "published_at": "Published",
    "modified_at": "Modified",
    "crawled_at": "Crawled",
    "indexed_at": "Indexed",
    "first_seen_at": "First seen",
    "first_indexed_at": "First indexed",
    "lang": "Language",
    "lang_prob": "Language confidence",
    "declared_lang": "Declared language",
    "topics": "Topics",
    "matched_terms": "Matched terms",
    "entities.actors": "Actors",
    "entities.places": "Places",
    "locations": "Place coordinates",
    "seed": "Seed document",
    "discovered_via": "Found via",
    "content_hash": "Content hash",
    "duplicate_of": "Duplicate of",
    "extraction_method": "Extraction method",
    "date_source": "Date source",
    "word_count": "Words",
    "version": "Revisions",
}
# Index-internal search fields (normalised Arabic): useful to Elasticsearch, noise to a reader.
ARTICLE_HIDDEN_FIELDS = ("title_norm", "text_norm", "simhash", "minhash", "minhash_bands", "fetched_url")

# The document every crawl writes to `raqib-crawls` is defined by crawler/report/crawls_mapping.json
# (crawler.report.crawls.fields() flattens it); the health dashboard reads it.
CRAWL_FIELD_LABELS = {
    "outlet": "Outlet key", "outlet_name": "Outlet", "started_at": "Crawl started", "finished_at": "Crawl finished",
    "duration_s": "Duration (s)", "status": "Result", "blocked": "Blocked because", "host": "Crawled from",
    "discovered.feed": "Found in feeds", "discovered.sitemap": "Found in sitemaps",
    "discovered.section": "Found on section pages", "discovered.idwalk": "Found by id walk",
    "discovered.total": "Article URLs found", "discovered.new": "Article URLs new to raqib",
    "requests": "Requests", "fetched": "Pages fetched", "fetched_articles": "Article pages fetched",
    "not_modified": "Not modified (304)", "extracted": "Extracted", "indexed": "New articles",
    "updated": "Updated articles", "unchanged": "Unchanged articles", "duplicates": "Duplicates",
    "deferred": "Left for the next crawl", "errors_total": "Errors (robots.txt refusals not counted)", "bytes": "Bytes downloaded",
    "health.consecutive_failures": "Failures in a row", "health.failure_points": "Failure points",
    "health.failure_kind": "Failing because", "health.backoff_until": "Backing off until",
    "health.last_success_at": "Last success", "health.last_new_at": "Last new article",
}


def crawl_fields() -> dict[str, str]:
    """Field name -> Elasticsearch type of a crawl-metrics document."""
    return crawls.fields()


def error_kinds() -> tuple[str, ...]:
    """The error kinds a crawl counts (crawler/errors.ERROR_KINDS), each an `errors.<kind>` field."""
    return ERROR_KINDS


class KibanaError(Exception):
    """Kibana cannot be used; the message says why and what to do, and holds no secret."""


# =========================================================================== fields

def article_fields(mapping: dict | None = None) -> dict[str, str]:
    """Field name -> Elasticsearch type, flattened from pipelines/mapping.json (sub-fields too)."""
    if mapping is None:

        mapping = load_mapping()
    out: dict[str, str] = {}

    def walk(props: dict, prefix: str) -> None:
        for name, spec in props.items():
            path = prefix + name
            if "properties" in spec:
                out[path] = spec.get("type", "object")
                walk(spec["properties"], path + ".")
                continue
            out[path] = spec.get("type", "object")
            for sub, subspec in (spec.get("fields") or {}).items():
                out[f"{path}.{sub}"] = subspec.get("type", "object")

    walk(mapping["properties"], "")
    return out


# =========================================================================== building blocks

def _ref(type_: str, id_: str, name: str) -> dict:
    return {"type": type_, "id": id_, "name": name}


def _obj(type_: str, id_: str, attributes: dict, references: list[dict]) -> dict:
    return {
        "type": type_,
        "id": id_,
        "attributes": attributes,
        "references": references,
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSION[type_],
        "managed": False,
    }


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def data_view(view_id: str, title: str, name: str, time_field: str, labels: dict[str, str],
              *, hidden: Iterable[str] = (), link_fields: Iterable[str] = ()) -> dict:
    field_attrs = {f: {"customLabel": label} for f, label in labels.items()}
    formats = {f: {"id": "url", "params": {"type": "a", "openLinkInCurrentTab": False}} for f in link_fields}
    return _obj("index-pattern", view_id, {
        "title": title,
        "name": name,
        "timeFieldName": time_field,
        "fieldAttrs": _json(field_attrs),
        "fieldFormatMap": _json(formats),
        "sourceFilters": _json([{"value": f} for f in hidden]),
        "fields": "[]",
        "runtimeFieldMap": "{}",
        "typeMeta": "{}",
        "allowNoIndex": True,   # the view is useful before the first crawl has written anything
    }, [])


def saved_search(search_id: str, title: str, query: str, view_id: str, *, description: str,
                 columns: list[str], sort_field: str) -> dict:
    source = {
        "query": {"query": query, "language": "lucene"},
        "filter": [],
        "highlightAll": True,
        "version": True,
        "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
    }
    return _obj("search", search_id, {
        "title": title,
        "description": description,
        "columns": columns,
        "sort": [[sort_field, "desc"]],
        "grid": {},
        "hideChart": False,
        "isTextBasedQuery": False,
        "kibanaSavedObjectMeta": {"searchSourceJSON": _json(source)},
    }, [_ref("index-pattern", view_id, "kibanaSavedObjectMeta.searchSourceJSON.index")])


# --- Lens columns ------------------------------------------------------------------

def _count(label: str = "Articles") -> dict:
    return {"label": label, "customLabel": True, "dataType": "number", "operationType": "count",
            "sourceField": "___records___", "isBucketed": False, "scale": "ratio",
            "params": {"emptyAsNull": True}}


def _metric(operation: str, field_name: str, label: str) -> dict:
    return {"label": label, "customLabel": True, "dataType": "number", "operationType": operation,
            "sourceField": field_name, "isBucketed": False, "scale": "ratio", "params": {"emptyAsNull": True}}


def _date_histogram(field_name: str, label: str, interval: str = "auto") -> dict:
    return {"label": label, "customLabel": True, "dataType": "date", "operationType": "date_histogram",
            "sourceField": field_name, "isBucketed": True, "scale": "interval",
            "params": {"interval": interval, "includeEmptyRows": True, "dropPartials": False}}


def _terms(field_name: str, label: str, order_by: str, size: int, *, other: bool = True) -> dict:
    return {"label": label, "customLabel": True, "dataType": "string", "operationType": "terms",
            "sourceField": field_name, "isBucketed": True, "scale": "ordinal",
            "params": {"size": size, "orderBy": {"type": "column", "columnId": order_by},
                       "orderDirection": "desc", "otherBucket": other, "missingBucket": False,
                       "parentFormat": {"id": "terms"}}}


def lens(lens_id: str, title: str, view_id: str, vis_type: str, columns: dict[str, dict],
         visualization: dict, *, description: str, query: str = "") -> dict:
    layer = "layer1"
    state = {
        "datasourceStates": {"formBased": {"layers": {layer: {
            "columns": columns, "columnOrder": list(columns), "incompleteColumns": {},
        }}}},
        "visualization": visualization,
        "query": {"query": query, "language": "lucene"},
        "filters": [],
        "internalReferences": [],
        "adHocDataViews": {},
    }
    return _obj("lens", lens_id, {
        "title": title,
        "description": description,
        "visualizationType": vis_type,
        "state": state,
    }, [_ref("index-pattern", view_id, f"indexpattern-datasource-layer-{layer}")])


def _xy(series: str, x: str, y: list[str], split: str | None = None, *, legend: bool = True) -> dict:
    layer = {"layerId": "layer1", "layerType": "data", "seriesType": series, "xAccessor": x, "accessors": y}
    if split:
        layer["splitAccessor"] = split
    return {
        "legend": {"isVisible": legend, "position": "right"},
        "valueLabels": "hide",
        "fittingFunction": "None",
        "preferredSeriesType": series,
        "layers": [layer],
        "axisTitlesVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
        "tickLabelsVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
        "gridlinesVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
        "yLeftExtent": {"mode": "full"},
    }


def _donut(group: str, metric: str) -> dict:
    return {"shape": "donut", "layers": [{
        "layerId": "layer1", "layerType": "data", "primaryGroups": [group], "metrics": [metric],
        "numberDisplay": "percent", "categoryDisplay": "default", "legendDisplay": "default",
        "nestedLegend": False,
    }]}


def places_map(map_id: str, title: str, view_id: str, geo_field: str, *, description: str,
               tooltip: list[str], center: tuple[float, float], zoom: float) -> dict:
    """A basemap, clusters of the places articles mention, and the articles themselves up close."""
    layers = [
        {"id": "basemap", "type": "VECTOR_TILE", "alpha": 1, "visible": True, "minZoom": 0, "maxZoom": 24,
         "style": {}, "sourceDescriptor": {"type": "EMS_TMS", "isAutoSelect": True,
                                           "lightModeDefault": "road_map_desaturated"}},
        {"id": "places-grid", "type": "VECTOR", "label": "Articles per area", "alpha": 0.8, "visible": True,
         "minZoom": 0, "maxZoom": 9,
         "sourceDescriptor": {"id": "raqib-places-grid", "type": "ES_GEO_GRID", "geoField": geo_field,
                              "requestType": "point", "resolution": "COARSE",
                              "metrics": [{"type": "count", "label": "articles"}],
                              "indexPatternRefName": "layer_1_source_index_pattern"},
         "style": {"type": "VECTOR", "properties": {
             "fillColor": {"type": "DYNAMIC", "options": {"field": {"name": "doc_count", "origin": "source"},
                                                          "color": "Yellow to Red"}},
             "lineColor": {"type": "STATIC", "options": {"color": "#FFFFFF"}},
             "lineWidth": {"type": "STATIC", "options": {"size": 1}},
             "iconSize": {"type": "DYNAMIC", "options": {"field": {"name": "doc_count", "origin": "source"},
                                                         "minSize": 6, "maxSize": 28}},
             "labelText": {"type": "DYNAMIC", "options": {"field": {"name": "doc_count", "origin": "source"}}},
         }}},
        {"id": "places-articles", "type": "VECTOR", "label": "Articles", "alpha": 1, "visible": True,
         "minZoom": 9, "maxZoom": 24,
         "sourceDescriptor": {"id": "raqib-places-articles", "type": "ES_SEARCH", "geoField": geo_field,
                              "limit": 2048, "filterByMapBounds": True, "tooltipProperties": tooltip,
                              "indexPatternRefName": "layer_2_source_index_pattern"},
         "style": {"type": "VECTOR", "properties": {
             "fillColor": {"type": "STATIC", "options": {"color": "#D6452B"}},
             "lineColor": {"type": "STATIC", "options": {"color": "#FFFFFF"}},
             "lineWidth": {"type": "STATIC", "options": {"size": 1}},
             "iconSize": {"type": "STATIC", "options": {"size": 8}},
         }}},
    ]
    state = {"zoom": zoom, "center": {"lat": center[0], "lon": center[1]},
             "timeFilters": {"from": "now-30d", "to": "now"},
             "refreshConfig": {"isPaused": True, "interval": 0},
             "query": {"query": "", "language": "lucene"}}
    return _obj("map", map_id, {
        "title": title,
        "description": description,
        "mapStateJSON": _json(state),
        "layerListJSON": _json(layers),
        "uiStateJSON": _json({"isLayerTOCOpen": True, "openTOCDetails": []}),
    }, [_ref("index-pattern", view_id, "layer_1_source_index_pattern"),
        _ref("index-pattern", view_id, "layer_2_source_index_pattern")])


@dataclass
class Panel:
    obj: dict            # the saved object shown
    x: int
    y: int
    w: int
    h: int


def dashboard(dash_id: str, title: str, panels: list[Panel], *, description: str,
              time_from: str = "now-30d") -> dict:
    saved, refs = [], []
    for i, p in enumerate(panels, 1):
        index = f"p{i}"
        saved.append({
            "version": PANEL_VERSION,
            "type": p.obj["type"],
            "gridData": {"x": p.x, "y": p.y, "w": p.w, "h": p.h, "i": index},
            "panelIndex": index,
            "embeddableConfig": {"enhancements": {}},
            "panelRefName": f"panel_{index}",
        })
        refs.append(_ref(p.obj["type"], p.obj["id"], f"{index}:panel_{index}"))
    return _obj("dashboard", dash_id, {
        "title": title,
        "description": description,
        "panelsJSON": _json(saved),
        "optionsJSON": _json({"useMargins": True, "syncColors": True, "syncCursor": True,
                              "syncTooltips": False, "hidePanelTitles": False}),
        "timeRestore": True,
        "timeFrom": time_from,
        "timeTo": "now",
        "refreshInterval": {"pause": False, "value": 300000},
        "kibanaSavedObjectMeta": {"searchSourceJSON": _json({"query": {"query": "", "language": "lucene"},
                                                             "filter": []})},
        "version": 1,
    }, refs)


# =========================================================================== raqib's objects

@dataclass(frozen=True)
class SearchSpec:
    """One saved search: `query` is Lucene, run as is by Kibana and by Elasticsearch."""
    key: str
    title: str
    query: str
    description: str


def article_searches(outlets: dict | None = None) -> list[SearchSpec]:
    specs = [
        SearchSpec("isis-syria", "ISIS in Syria", "topics:isis AND topics:syria",
                   "Articles tagged both isis and syria."),
        SearchSpec("us-presence", "US presence in Syria", "topics:us_presence",
                   "Articles tagged us_presence (US forces, bases and operations in Syria)."),
        SearchSpec("isis-and-us-presence", "ISIS and the US presence together", "topics:isis AND topics:us_presence",
                   "Articles tagged both isis and us_presence: the core of the monitoring brief."),
        SearchSpec("tagged-latest", "Latest tagged articles", "_exists_:topics",
                   "Every article with at least one topic, newest first."),
        SearchSpec("seeds", "The five seed documents", "seed:true",
                   "The documents raqib was created from (`raqib seed`)."),
        SearchSpec("arabic", "Arabic-language articles", "lang:ar", "Articles detected as Arabic."),
        SearchSpec("untagged-recent", "Recent articles with no topic", "crawled_at:[now-7d TO *] AND NOT _exists_:topics",
                   "Crawled in the last 7 days and tagged with nothing: read a few to spot missed tags."),
    ]
    for key, outlet in sorted((outlets or {}).items()):
        name = getattr(outlet, "name", key)
        specs.append(SearchSpec(f"outlet-{key.replace('_', '-')}", f"Outlet: {name}", f"outlet:{key}",
                                f"Everything indexed from {name} ({key} in config/outlets.yaml)."))
    return specs


ARTICLE_COLUMNS = ["outlet_name", "title", "topics", "lang", "url"]


def article_objects(alias: str = DEFAULT_ALIAS, outlets: dict | None = None) -> list[dict]:
    """The data view over `<alias>*`, the saved searches, the charts, the map and the overview dashboard."""
    view_id = alias
    view = data_view(view_id, f"{alias}*", "raqib articles", "published_at", ARTICLE_FIELD_LABELS,
                     hidden=ARTICLE_HIDDEN_FIELDS, link_fields=("url", "canonical_url"))
    searches = {
        s.key: saved_search(f"raqib-search-{s.key}", f"raqib: {s.title}", s.query, view_id,
                            description=s.description, columns=ARTICLE_COLUMNS, sort_field="published_at")
        for s in article_searches(outlets)
    }
    topics_over_time = lens(
        "raqib-lens-topics-over-time", "Articles over time by topic", view_id, "lnsXY",
        {"when": _date_histogram("published_at", "Published"), "topic": _terms("topics", "Topic", "n", 10),
         "n": _count()},
        _xy("bar_stacked", "when", ["n"], "topic"),
        description="Articles per publication date, stacked by topic (an article with two topics counts in both).")
    by_outlet = lens(
        "raqib-lens-by-outlet", "Articles by outlet", view_id, "lnsXY",
        {"outlet": _terms("outlet_name", "Outlet", "n", 20), "n": _count()},
        _xy("bar_horizontal", "outlet", ["n"], legend=False),
        description="Articles per outlet in the chosen time range.")
    languages = lens(
        "raqib-lens-languages", "Language split", view_id, "lnsPie",
        {"lang": _terms("lang", "Language", "n", 8), "n": _count()},
        _donut("lang", "n"),
        description="Detected language of the articles.")
    terms = lens(
        "raqib-lens-matched-terms", "Top matched terms", view_id, "lnsXY",
        {"term": _terms("matched_terms", "Matched term", "n", 25, other=False), "n": _count()},
        _xy("bar_horizontal", "term", ["n"], legend=False),
        description="The tagging terms that fired most often: what drives the topics.")
    places = places_map(
        "raqib-map-places", "Places mentioned", view_id, "locations",
        description="Places in Syria and around it that articles mention (entities.places, with coordinates).",
        tooltip=["title", "outlet_name", "published_at", "entities.places", "topics", "url"],
        center=(35.0, 38.5), zoom=5.6)
    overview = dashboard(
        "raqib-dashboard-overview", "raqib: overview", [
            Panel(topics_over_time, 0, 0, 32, 14),
            Panel(languages, 32, 0, 16, 14),
            Panel(by_outlet, 0, 14, 24, 14),
            Panel(terms, 24, 14, 24, 14),
            Panel(places, 0, 28, 48, 20),
            Panel(searches["tagged-latest"], 0, 48, 48, 18),
        ],
        description="Coverage of ISIS, Syria and the US presence: topics over time, outlets, languages, "
                    "the terms that drive the tags, places mentioned and the latest tagged articles.")
    return [view, *searches.values(), topics_over_time, by_outlet, languages, terms, places, overview]


def _last_value(field_name: str, label: str, data_type: str, sort_field: str = "started_at") -> dict:
    return {"label": label, "customLabel": True, "dataType": data_type, "operationType": "last_value",
            "sourceField": field_name, "isBucketed": False, "scale": "ordinal" if data_type == "string" else "ratio",
            "params": {"sortField": sort_field, "showArrayValues": False}}


@dataclass(frozen=True)
class CrawlSearchSpec:
    """A saved search over the crawl-metrics documents (Lucene, run as is by Elasticsearch)."""
    key: str
    title: str
    query: str
    description: str
    columns: tuple[str, ...]


CRAWL_SEARCHES = (
    CrawlSearchSpec("crawls-with-errors", "Crawls with errors", "errors_total:[1 TO *]",
                    "Crawls that counted errors; open one to see its errors per kind (errors.<kind>).",
                    ("outlet", "status", "errors_total", "fetched", "indexed", "blocked")),
    CrawlSearchSpec("outlets-failing", "Outlets failing and backing off", "health.consecutive_failures:[1 TO *]",
                    "Crawls after which the outlet had failed one or more times in a row: why, and until when "
                    "`raqib run` leaves it alone. Fix a config failure with `raqib outlets check NAME`.",
                    ("outlet", "status", "health.failure_kind", "health.consecutive_failures",
                     "health.backoff_until", "blocked")),
    CrawlSearchSpec("outlets-silent", "Outlets silent for 2 days",
                    "finished_at:[now-1d TO *] AND NOT health.last_new_at:[now-2d TO *]",
                    "Crawls of the last day whose outlet has given no new article for two days (or never): the "
                    "site is quiet, blocks us, or changed its layout. Run `raqib outlets check NAME`.",
                    ("outlet", "status", "health.last_new_at", "fetched", "errors_total")),
)


def crawl_objects(index: str = DEFAULT_CRAWLS_INDEX) -> list[dict]:
    """The crawler-health data view, charts, searches and dashboard over the crawl-metrics
    documents (crawler/report/crawls.py: one per outlet per crawl)."""
    view_id = index
    view = data_view(view_id, f"{index}*", "raqib crawls", "started_at", CRAWL_FIELD_LABELS)
    indexed_per_day = lens(
        "raqib-lens-crawls-indexed", "New articles per outlet per day", view_id, "lnsXY",
        {"day": _date_histogram("started_at", "Day", "1d"), "outlet": _terms("outlet", "Outlet", "new", 20),
         "new": _metric("sum", "indexed", "New articles")},
        _xy("bar_stacked", "day", ["new"], "outlet"),
        description="Articles indexed for the first time, per outlet and day.")
    kinds = {f"e_{kind}": _metric("sum", f"errors.{kind}", kind) for kind in error_kinds()}
    errors_by_kind = lens(
        "raqib-lens-crawls-errors", "Errors by kind", view_id, "lnsXY",
        {"day": _date_histogram("started_at", "Day", "1d"), **kinds},
        _xy("bar_stacked", "day", list(kinds)),
        description="Errors per day, stacked by kind: timeouts and 5xx come and go; blocked, http_4xx or "
                    "robots mean the site refuses us; feed_parse or sitemap_parse that its layout changed.")
    fetched_per_day = lens(
        "raqib-lens-crawls-fetched", "Pages fetched and not modified", view_id, "lnsXY",
        {"day": _date_histogram("started_at", "Day", "1d"),
         "fetched": _metric("sum", "fetched", "Fetched"),
         "not_modified": _metric("sum", "not_modified", "Not modified (304)"),
         "duplicates": _metric("sum", "duplicates", "Duplicates")},
        _xy("line", "day", ["fetched", "not_modified", "duplicates"]),
        description="How much each day's crawls fetched, and how much of it was unchanged.")
    silent = lens(
        "raqib-lens-crawls-silent", "Outlets that went silent", view_id, "lnsDatatable",
        {"outlet": _terms("outlet", "Outlet", "last_new", 50, other=False),
         "last_new": _metric("max", "health.last_new_at", "Last new article") | {"dataType": "date"},
         "last": _metric("max", "finished_at", "Last crawl") | {"dataType": "date"},
         "status": _last_value("status", "Last result", "string"),
         "failures": _last_value("health.consecutive_failures", "Failures in a row", "number"),
         "new": _metric("sum", "indexed", "New articles")},
        {"layerId": "layer1", "layerType": "data",
         "columns": [{"columnId": c} for c in ("outlet", "last_new", "last", "status", "failures", "new")],
         "sorting": {"columnId": "last_new", "direction": "asc"}},
        description="Oldest last new article first: an outlet still crawled but giving nothing new for days has "
                    "gone silent, blocks us, or changed its layout; run `raqib outlets check` on it.")
    duration = lens(
        "raqib-lens-crawls-duration", "Crawl duration", view_id, "lnsXY",
        {"day": _date_histogram("started_at", "Day", "1d"), "outlet": _terms("outlet", "Outlet", "secs", 20),
         "secs": _metric("average", "duration_s", "Average duration (s)")},
        _xy("line", "day", ["secs"], "outlet"),
        description="Average crawl duration per outlet: a sudden rise often means throttling or timeouts.")
    searches = {
        s.key: saved_search(f"raqib-search-{s.key}", f"raqib: {s.title}", s.query, view_id,
                            description=s.description, columns=list(s.columns), sort_field="started_at")
        for s in CRAWL_SEARCHES
    }
    health = dashboard(
        "raqib-dashboard-crawler-health", "raqib: crawler health", [
            Panel(indexed_per_day, 0, 0, 30, 15),
            Panel(silent, 30, 0, 18, 15),
            Panel(errors_by_kind, 0, 15, 24, 15),
            Panel(fetched_per_day, 24, 15, 24, 15),
            Panel(searches["outlets-failing"], 0, 30, 24, 14),
            Panel(searches["outlets-silent"], 24, 30, 24, 14),
            Panel(duration, 0, 44, 24, 14),
            Panel(searches["crawls-with-errors"], 24, 44, 24, 14),
        ],
        description="One document per crawl and outlet: new articles per outlet per day, outlets that went "
                    "silent, errors by kind, fetch volume, outlets failing and backing off, crawl duration.",
        time_from="now-14d")
    return [view, indexed_per_day, errors_by_kind, fetched_per_day, silent, duration, *searches.values(), health]


def build_bundles(alias: str = DEFAULT_ALIAS, outlets: dict | None = None,
                  crawls_index: str = DEFAULT_CRAWLS_INDEX) -> dict[str, list[dict]]:
    """File name -> objects, as shipped in deploy/kibana/."""
    return {
        "raqib-articles.ndjson": article_objects(alias, outlets),
        "raqib-crawls.ndjson": crawl_objects(crawls_index),
    }


# =========================================================================== ndjson

def to_ndjson(objects: Iterable[dict]) -> str:
    return "".join(json.dumps(o, ensure_ascii=False, separators=(",", ":")) + "\n" for o in objects)


def parse_ndjson(text: str, source: str = "<ndjson>") -> list[dict]:
    """Objects from ndjson text; a bad line is a KibanaError naming the file and the line."""
    objects = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise KibanaError(f"{source}: line {n} is not JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise KibanaError(f"{source}: line {n} is not a JSON object")
        objects.append(obj)
    return objects


def read_ndjson(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KibanaError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise KibanaError(f"{path} is not UTF-8 text") from None
    return parse_ndjson(text, str(path))


def export(directory: Path, bundles: dict[str, list[dict]]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, objects in bundles.items():
        path = directory / name
        path.write_text(to_ndjson(objects), encoding="utf-8")
        written.append(path)
    return written


# =========================================================================== validation

# Attributes each type accepts (Kibana validates imports against its schemas, rejecting unknown keys).
ALLOWED_ATTRIBUTES = {
    "index-pattern": {"title", "name", "timeFieldName", "fieldAttrs", "fieldFormatMap", "sourceFilters",
                      "fields", "runtimeFieldMap", "typeMeta", "allowNoIndex", "allowHidden"},
    "search": {"title", "description", "columns", "sort", "grid", "rowHeight", "rowsPerPage", "hideChart",
               "breakdownField", "kibanaSavedObjectMeta", "isTextBasedQuery", "usesAdHocDataView",
               "timeRestore", "timeRange", "refreshInterval", "viewMode", "hideAggregatedPreview",
               "hits", "version", "sampleSize"},
    "lens": {"title", "description", "visualizationType", "state"},
    "map": {"title", "description", "mapStateJSON", "layerListJSON", "uiStateJSON"},
    "dashboard": {"title", "description", "kibanaSavedObjectMeta", "timeRestore", "timeFrom", "timeTo",
                  "refreshInterval", "controlGroupInput", "panelsJSON", "optionsJSON", "hits", "version"},
}
JSON_ATTRIBUTES = {
    "index-pattern": ("fieldAttrs", "fieldFormatMap", "sourceFilters", "fields", "runtimeFieldMap", "typeMeta"),
    "map": ("mapStateJSON", "layerListJSON", "uiStateJSON"),
    "dashboard": ("panelsJSON", "optionsJSON"),
}
LENS_TYPES = {"lnsXY", "lnsPie", "lnsDatatable", "lnsMetric", "lnsTagcloud", "lnsHeatmap"}
GRID_COLUMNS = 48


def validate(objects: list[dict], fields_by_view: dict[str, dict[str, str]]) -> list[str]:
    """Every problem in a set of saved objects, as readable lines; empty when all is well.

    `fields_by_view` maps a data view id to its fields (name -> Elasticsearch type), so that a
    chart or search naming a field the index does not have is caught here, not by an analyst.
    """
    problems: list[str] = []
    present = {(o.get("type"), o.get("id")) for o in objects}
    seen: set[tuple] = set()
    for o in objects:
        type_, id_ = o.get("type"), o.get("id")
        where = f"{type_} {id_}"
        if (type_, id_) in seen:
            problems.append(f"{where}: appears twice")
        seen.add((type_, id_))
        if type_ not in ALLOWED_ATTRIBUTES:
            problems.append(f"{where}: unknown saved-object type")
            continue
        if not isinstance(id_, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]+", id_ or ""):
            problems.append(f"{where}: id must be a plain string (letters, digits, - _ . :)")
        attrs = o.get("attributes")
        if not isinstance(attrs, dict) or not attrs.get("title"):
            problems.append(f"{where}: attributes must be an object with a title")
            continue
        unknown = set(attrs) - ALLOWED_ATTRIBUTES[type_]
        if unknown:
            problems.append(f"{where}: attributes Kibana would reject: {', '.join(sorted(unknown))}")
        if o.get("typeMigrationVersion") != TYPE_MIGRATION_VERSION[type_]:
            problems.append(f"{where}: typeMigrationVersion should be {TYPE_MIGRATION_VERSION[type_]}")
        parsed: dict[str, Any] = {}
        for key in JSON_ATTRIBUTES.get(type_, ()):
            if key in attrs:
                try:
                    parsed[key] = json.loads(attrs[key])
                except (TypeError, json.JSONDecodeError):
                    problems.append(f"{where}: attribute {key} is not a JSON string")
        refs = o.get("references")
        if not isinstance(refs, list) or not all(isinstance(r, dict) and {"type", "id", "name"} <= set(r) for r in refs):
            problems.append(f"{where}: references must be a list of {{type, id, name}}")
            continue
        names = [r["name"] for r in refs]
        if len(names) != len(set(names)):
            problems.append(f"{where}: two references share a name")
        by_name = {r["name"]: r for r in refs}
        for r in refs:
            if (r["type"], r["id"]) not in present:
                problems.append(f"{where}: reference {r['name']} points at {r['type']} {r['id']}, which is not in the set")
        checker = _CHECKS.get(type_)
        if checker:
            checker(where, o, parsed, by_name, fields_by_view, problems)
    return problems


def _fields_for(ref: dict | None, fields_by_view: dict[str, dict[str, str]]) -> dict[str, str] | None:
    if ref is None or ref.get("type") != "index-pattern":
        return None
    return fields_by_view.get(ref["id"])


def _known_field(name: str, fields: dict[str, str]) -> bool:
    if name in fields or name == "___records___":
        return True
    # dynamic sub-fields (topic_scores.<topic>, matches.<topic>, errors.<kind>)
    return any(fields.get(prefix) == "object" for prefix in _prefixes(name))


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _check_index_pattern(where, obj, parsed, by_name, fields_by_view, problems):
    attrs = obj["attributes"]
    fields = fields_by_view.get(obj["id"])
    if fields is None:
        problems.append(f"{where}: no field list is known for this data view")
        return
    if fields.get(attrs.get("timeFieldName")) != "date":
        problems.append(f"{where}: time field {attrs.get('timeFieldName')!r} is not a date field of the index")
    for name in (parsed.get("fieldAttrs") or {}):
        if not _known_field(name, fields):
            problems.append(f"{where}: fieldAttrs names {name!r}, which the index does not have")
    for name in (parsed.get("fieldFormatMap") or {}):
        if not _known_field(name, fields):
            problems.append(f"{where}: fieldFormatMap names {name!r}, which the index does not have")


def _check_search(where, obj, parsed, by_name, fields_by_view, problems):
    attrs = obj["attributes"]
    try:
        source = json.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])
    except (KeyError, TypeError, json.JSONDecodeError):
        problems.append(f"{where}: kibanaSavedObjectMeta.searchSourceJSON is missing or not JSON")
        return
    ref_name = source.get("indexRefName")
    if ref_name not in by_name:
        problems.append(f"{where}: indexRefName {ref_name!r} has no reference")
        return
    query = source.get("query") or {}
    if query.get("language") != "lucene":
        problems.append(f"{where}: the query must be Lucene, so Elasticsearch can run it as is")
    fields = _fields_for(by_name[ref_name], fields_by_view)
    if fields is not None:
        for name in list(attrs.get("columns") or []) + [s[0] for s in attrs.get("sort") or []]:
            if not _known_field(name, fields):
                problems.append(f"{where}: column or sort field {name!r} is not in the index")
        for name in lucene_fields(query.get("query") or ""):
            if not _known_field(name, fields):
                problems.append(f"{where}: the query names field {name!r}, which the index does not have")


def _check_lens(where, obj, parsed, by_name, fields_by_view, problems):
    attrs = obj["attributes"]
    state = attrs.get("state") or {}
    if attrs.get("visualizationType") not in LENS_TYPES:
        problems.append(f"{where}: unknown Lens visualization {attrs.get('visualizationType')!r}")
    layers = (((state.get("datasourceStates") or {}).get("formBased") or {}).get("layers")) or {}
    if not layers:
        problems.append(f"{where}: no formBased layer")
    columns_by_layer = {}
    for layer_id, layer in layers.items():
        ref = by_name.get(f"indexpattern-datasource-layer-{layer_id}")
        if ref is None:
            problems.append(f"{where}: layer {layer_id} has no reference indexpattern-datasource-layer-{layer_id}")
            continue
        columns = layer.get("columns") or {}
        columns_by_layer[layer_id] = columns
        if list(columns) != list(layer.get("columnOrder") or []):
            problems.append(f"{where}: layer {layer_id} columnOrder does not list its columns")
        fields = _fields_for(ref, fields_by_view)
        for col_id, col in columns.items():
            src = col.get("sourceField")
            if fields is not None and src and not _known_field(src, fields):
                problems.append(f"{where}: column {col_id} uses field {src!r}, which the index does not have")
            if fields is not None and col.get("operationType") == "date_histogram" and fields.get(src) != "date":
                problems.append(f"{where}: column {col_id} draws a date histogram over {src!r}, not a date field")
            sort_by = (col.get("params") or {}).get("sortField")
            if fields is not None and col.get("operationType") == "last_value" and fields.get(sort_by) != "date":
                problems.append(f"{where}: column {col_id} takes the last value by {sort_by!r}, not a date field")
            order = ((col.get("params") or {}).get("orderBy") or {}).get("columnId")
            if order and order not in columns:
                problems.append(f"{where}: column {col_id} is ordered by {order!r}, which is not a column")
    vis = state.get("visualization") or {}
    vis_layers = vis.get("layers") if isinstance(vis.get("layers"), list) else [vis]
    for vl in vis_layers:
        columns = columns_by_layer.get(vl.get("layerId"))
        if columns is None:
            problems.append(f"{where}: the visualization draws layer {vl.get('layerId')!r}, which has no data")
            continue
        accessors = [vl.get("xAccessor"), vl.get("splitAccessor"), *(vl.get("accessors") or []),
                     *(vl.get("primaryGroups") or []), *(vl.get("metrics") or []),
                     *[c.get("columnId") for c in vl.get("columns") or []]]
        for acc in filter(None, accessors):
            if acc not in columns:
                problems.append(f"{where}: the visualization uses column {acc!r}, which the layer does not define")


def _check_map(where, obj, parsed, by_name, fields_by_view, problems):
    for layer in parsed.get("layerListJSON") or []:
        source = layer.get("sourceDescriptor") or {}
        ref_name = source.get("indexPatternRefName")
        if not ref_name:
            continue
        if ref_name not in by_name:
            problems.append(f"{where}: layer {layer.get('id')} names reference {ref_name!r}, which is missing")
            continue
        fields = _fields_for(by_name[ref_name], fields_by_view)
        if fields is None:
            continue
        geo = source.get("geoField")
        if fields.get(geo) not in ("geo_point", "geo_shape"):
            problems.append(f"{where}: layer {layer.get('id')} draws {geo!r}, which is not a geo field of the index")
        for name in source.get("tooltipProperties") or []:
            if not _known_field(name, fields):
                problems.append(f"{where}: layer {layer.get('id')} tooltip names {name!r}, which the index does not have")


def _check_dashboard(where, obj, parsed, by_name, fields_by_view, problems):
    panels = parsed.get("panelsJSON")
    if not isinstance(panels, list) or not panels:
        problems.append(f"{where}: panelsJSON holds no panels")
        return
    indexes = [p.get("panelIndex") for p in panels]
    if len(indexes) != len(set(indexes)):
        problems.append(f"{where}: two panels share a panelIndex")
    cells: set[tuple[int, int]] = set()
    for p in panels:
        index, grid = p.get("panelIndex"), p.get("gridData") or {}
        ref_name = f"{index}:{p.get('panelRefName')}"
        ref = by_name.get(ref_name)
        if ref is None:
            problems.append(f"{where}: panel {index} has no reference named {ref_name!r}")
        elif ref["type"] != p.get("type"):
            problems.append(f"{where}: panel {index} is a {p.get('type')} but its reference is a {ref['type']}")
        if grid.get("i") != index:
            problems.append(f"{where}: panel {index} gridData.i differs from its panelIndex")
        x, y, w, h = (grid.get(k) for k in ("x", "y", "w", "h"))
        if not all(isinstance(v, int) and v >= 0 for v in (x, y, w, h)) or x + w > GRID_COLUMNS or not w or not h:
            problems.append(f"{where}: panel {index} does not fit the {GRID_COLUMNS}-column grid")
            continue
        mine = {(cx, cy) for cx in range(x, x + w) for cy in range(y, y + h)}
        if mine & cells:
            problems.append(f"{where}: panel {index} overlaps another panel")
        cells |= mine


_CHECKS = {
    "index-pattern": _check_index_pattern,
    "search": _check_search,
    "lens": _check_lens,
    "map": _check_map,
    "dashboard": _check_dashboard,
}

def lucene_fields(query: str) -> list[str]:
    """Field names a Lucene query string refers to (`field:value` and `_exists_:field`)."""
    out = []
    for m in re.finditer(r'(?<![\w.\\])(_exists_):([A-Za-z_][\w.]*)|(?<![\w.\\])([A-Za-z_][\w.]*):', query):
        out.append(m.group(2) if m.group(1) else m.group(3))
    return out


def default_fields_by_view(alias: str = DEFAULT_ALIAS, crawls_index: str = DEFAULT_CRAWLS_INDEX) -> dict[str, dict[str, str]]:
    """Fields per data view id: the configured index names and the default ones (the shipped files)."""
    fields = {DEFAULT_ALIAS: article_fields(), DEFAULT_CRAWLS_INDEX: crawl_fields()}
    fields[alias] = fields[DEFAULT_ALIAS]
    fields[crawls_index] = fields[DEFAULT_CRAWLS_INDEX]
    return fields


# =========================================================================== import over HTTP

# Errors after which Kibana creates nothing at all (its importer only writes when none of
# these is present; the objects it lists in successResults then were *not* created). Kibana's
# own test "imports a visualization with missing references" (elastic/kibana,
# src/core/server/integration_tests/saved_objects/routes/import.test.ts) shows it: the
# answer lists the dashboard as a success, and nothing is written.
RESOLVABLE_ERRORS = ("missing_references", "conflict", "ambiguous_conflict")


@dataclass
class ImportReport:
    created: list[dict] = field(default_factory=list)
    updated: list[dict] = field(default_factory=list)
    failed: list[tuple[dict, str]] = field(default_factory=list)
    # Kibana imported nothing (a missing reference or a conflict); these would have been imported
    withheld: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.withheld

    @property
    def nothing_imported(self) -> bool:
        return bool(self.withheld)


@dataclass
class KibanaTarget:
    """Where Kibana is and how to authenticate; secrets only from the environment."""
    url: str
    space: str | None = None
    api_key: str | None = None
    user: str | None = None
    password: str | None = None
    ca_certs: str | None = None
    timeout: float = 60.0

    @classmethod
    def from_env(cls, url: str | None = None, *, space: str | None = None, timeout: float = 60.0) -> KibanaTarget:
        """RAQIB_KIBANA_* when set, else the Elasticsearch credentials (Kibana accepts the same
        users and API keys as the cluster it runs on)."""
        env = os.environ.get
        url = url or env("RAQIB_KIBANA_URL") or DEFAULT_KIBANA_URL
        api_key = env("RAQIB_KIBANA_API_KEY")
        user = env("RAQIB_KIBANA_USER")
        password = env("RAQIB_KIBANA_PASSWORD")
        if not api_key and not user:
            api_key, user, password = env("RAQIB_ES_API_KEY"), env("RAQIB_ES_USER"), env("RAQIB_ES_PASSWORD")
        parts = urllib.parse.urlsplit(url)
        if parts.username:   # https://user:password@host: credentials given in the URL win
            api_key, user = None, urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            url = redact_url(url)
        ca = env("RAQIB_KIBANA_CA_CERTS") or env("RAQIB_ES_CA_CERTS")
        return cls(url=url.rstrip("/"), space=space, api_key=api_key or None, user=user or None,
                   password=password, ca_certs=ca or None, timeout=timeout)

    @property
    def shown_url(self) -> str:
        return redact_url(self.url)

    def endpoint(self, path: str) -> str:
        base = self.url
        if self.space and self.space != "default":
            base += "/s/" + urllib.parse.quote(self.space, safe="")
        return base + path

    def headers(self) -> dict[str, str]:
        headers = {"kbn-xsrf": "raqib", "Accept": "application/json", "User-Agent": f"raqib/{_version()}"}
        if self.api_key:
            key = self.api_key
            if ":" in key:   # "id:secret" as printed by the create-API-key call: encode it
                key = base64.b64encode(key.encode()).decode()
            headers["Authorization"] = f"ApiKey {key}"
        elif self.user:
            token = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers

    def __post_init__(self) -> None:
        # every message raqib prints goes through pipelines.es.redact: it masks these too
        for secret in (self.api_key, self.password):
            register_secret(secret)


def _version() -> str:
    try:
        return version("raqib")
    except PackageNotFoundError:
        return "dev"


def multipart(ndjson: str, filename: str = "raqib.ndjson") -> tuple[bytes, str]:
    """A multipart/form-data body with the ndjson as the `file` part, and its content type."""
    boundary = f"raqib-{uuid.uuid4().hex}"
    head = (f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/ndjson\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + ndjson.encode("utf-8") + tail, f"multipart/form-data; boundary={boundary}"


def import_objects(target: KibanaTarget, objects: list[dict], *, wait: float = 0.0,
                   log=lambda message: None) -> ImportReport:
    """POST the objects to Kibana's saved-objects import API (overwrite=true).

    With `wait` > 0, a Kibana that is not up yet (connection refused, 503 while it starts) is
    retried until `wait` seconds have passed. Refusals (401, 403, other 4xx) are not retried.
    """
    body, content_type = multipart(to_ndjson(objects))
    url = target.endpoint("/api/saved_objects/_import?overwrite=true")
    headers = target.headers() | {"Content-Type": content_type}
    deadline = time.monotonic() + wait
    while True:
        try:
            status, payload = _post(target, url, body, headers)
        except _NotReady as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                waited = f" (waited {wait:g}s)" if wait > 0 else ""
                raise KibanaError(redact(str(exc)) + waited) from None
            log(f"Kibana at {target.shown_url} is not ready ({exc.short}); retrying for {remaining:.0f}s more")
            time.sleep(min(5.0, remaining))
            continue
        break
    if status != 200:
        raise KibanaError(redact(_explain_status(status, payload, target)))
    if not isinstance(payload, dict) or "success" not in payload:
        raise KibanaError(f"{target.shown_url} answered 200 but not like Kibana's import API; is the URL Kibana's?")
    return _report(payload, objects)


class _NotReady(Exception):
    def __init__(self, message: str, short: str):
        super().__init__(message)
        self.short = short


def _post(target: KibanaTarget, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """Status and decoded answer; a redirect comes back as its status (on a POST to the API
    it means the URL is not Kibana's API: a login page, a proxy)."""
    if url.startswith("https:") and target.ca_certs and not os.path.exists(target.ca_certs):
        raise KibanaError(f"the CA certificate file {target.ca_certs} does not exist "
                          "(RAQIB_KIBANA_CA_CERTS or RAQIB_ES_CA_CERTS)")
    try:
        answer = http.post(url, body, headers, timeout=target.timeout, ca_certs=target.ca_certs, max_body=16 << 20)
    except http.Unreachable as exc:
        if exc.kind == "tls_verify":
            raise KibanaError(f"the TLS certificate of Kibana at {target.shown_url} could not be verified. "
                              "If Kibana uses its own CA, set RAQIB_KIBANA_CA_CERTS to the CA certificate file.") from None
        if exc.kind == "tls":
            raise KibanaError(f"TLS with Kibana at {target.shown_url} failed: {exc}. "
                              "Check the scheme (http or https) of the URL.") from None
        if exc.kind == "timeout":
            raise _NotReady(f"Kibana at {target.shown_url} did not answer within {target.timeout:g}s", "timeout") from None
        raise _NotReady(f"cannot reach Kibana at {target.shown_url} ({exc}). Start Kibana, or point raqib at it "
                        "with --kibana URL or RAQIB_KIBANA_URL.", str(exc)) from None
    payload = _json_or_text(answer.body)
    if answer.status == 503:
        raise _NotReady(f"Kibana at {target.shown_url} answered 503: {_message(payload)}", "503")
    return answer.status, payload


def _json_or_text(raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _message(payload: Any) -> str:
    if isinstance(payload, dict):
        return str(payload.get("message") or payload.get("error") or payload)[:500]
    return " ".join(str(payload).split())[:200] or "(empty body)"


def _explain_status(status: int, payload: Any, target: KibanaTarget) -> str:
    where = f"Kibana at {target.shown_url}"
    if status == 401:
        return (f"{where} refused the credentials (401: {_message(payload)}). Set RAQIB_KIBANA_API_KEY, or "
                "RAQIB_KIBANA_USER and RAQIB_KIBANA_PASSWORD (the Elasticsearch ones are used when these are unset).")
    if status == 403:
        return (f"{where} denied the import (403: {_message(payload)}). The user or API key needs the "
                "Saved Objects Management privilege (and Dashboard, Discover, Visualize, Maps) in the target space.")
    if status == 404:
        space = f" or the space {target.space!r} does not exist" if target.space else ""
        return (f"{where} has no saved-objects API at that address (404){space}. Give the Kibana URL with its base "
                "path, e.g. https://host/kibana when Kibana runs under /kibana.")
    if 300 <= status < 400:
        return f"{where} redirected the request ({status}): the URL is not Kibana's own address (a proxy or login page?)"
    if status == 413:
        return f"{where} refused the upload as too large (413): raise savedObjects.maxImportPayloadBytes"
    if 400 <= status < 500:
        return f"{where} rejected the import ({status}): {_message(payload)}"
    return f"{where} failed ({status}): {_message(payload)}. Check Kibana's log."


def _report(payload: dict, objects: list[dict]) -> ImportReport:
    titles = {(o.get("type"), o.get("id")): (o.get("attributes") or {}).get("title", "") for o in objects}
    report = ImportReport()
    errors = payload.get("errors") or []
    all_or_nothing = any((item.get("error") or {}).get("type") in RESOLVABLE_ERRORS for item in errors)
    for item in payload.get("successResults") or []:
        entry = {"type": item.get("type"), "id": item.get("destinationId") or item.get("id"),
                 "title": ((item.get("meta") or {}).get("title")) or titles.get((item.get("type"), item.get("id")), "")}
        target = report.withheld if all_or_nothing else report.updated if item.get("overwrite") else report.created
        target.append(entry)
    for item in errors:
        entry = {"type": item.get("type"), "id": item.get("id"),
                 "title": ((item.get("meta") or {}).get("title")) or titles.get((item.get("type"), item.get("id")), "")}
        report.failed.append((entry, _error_reason(item.get("error") or {})))
    if not payload.get("success") and not report.failed:
        report.failed.append(({"type": "-", "id": "-", "title": ""}, "Kibana reported the import as failed without details"))
    return report


def _error_reason(error: dict) -> str:
    kind = error.get("type")
    if kind == "missing_references":
        refs = ", ".join(f"{r.get('type')} {r.get('id')}" for r in error.get("references") or [])
        return f"missing references: {refs}"
    if kind == "unsupported_type":
        return "Kibana does not support this type (is the plugin that owns it disabled?)"
    if kind in ("conflict", "ambiguous_conflict"):
        return f"{kind.replace('_', ' ')} with an existing object"
    message = error.get("message") or error.get("error") or kind or "unknown error"
    status = error.get("statusCode")
    return f"{message} ({status})" if status else str(message)
