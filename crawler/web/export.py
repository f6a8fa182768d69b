"""A search's articles as a file an analyst takes into a spreadsheet or a script: CSV or JSON
Lines, every matching article (up to `MAX_ROWS`), newest first.

The CSV is meant for Excel and LibreOffice as much as for code: UTF-8 with a byte-order mark
(without it Excel reads Arabic as Latin-1), and a cell that a spreadsheet would run as a
formula (one that begins with = + - @, a tab or a carriage return; a headline can) is written
with a leading apostrophe, the usual defence against CSV formula injection. JSON Lines keeps
every value as it is stored.

Articles are read in pages with `search_after` on the publication date, then the URL and the
content hash (keywords, so no field data on `_id` is needed): a deep export costs the cluster
what the pages cost, and an article indexed meanwhile neither shifts nor repeats a row.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from crawler.web.queries import SearchParams, es_query
from pipelines.es import explain
from pipelines.safetext import clean_value

MAX_ROWS = 10_000
PAGE = 500
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
COLUMNS = ["published_at", "outlet", "outlet_name", "title", "url", "lang", "topics", "author",
           "summary", "seed", "duplicate_of", "id"]
_SOURCE = [c for c in COLUMNS if c != "id"]
_SORT = [{"published_at": {"order": "desc", "missing": "_last"}}, {"url": "asc"}, {"content_hash": "asc"}]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def articles(client, alias: str, p: SearchParams, config_dir=None, *, limit: int = MAX_ROWS,
             page: int = PAGE) -> Iterator[dict[str, Any]]:
    """The search's articles, newest first, each as {column: value}."""
    query, after, left = es_query(p, config_dir), None, limit
    while left > 0:
        body: dict[str, Any] = {"query": query, "size": min(page, left), "sort": _SORT, "_source": _SOURCE}
        if after is not None:
            body["search_after"] = after
        try:
            hits = client.search(index=alias, **body).body["hits"]["hits"]
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, "the configured cluster") from None
        for h in hits:
            src = clean_value(h["_source"])
            yield {**{c: src.get(c) for c in _SOURCE}, "id": h["_id"]}
        if len(hits) < body["size"]:
            return
        left -= len(hits)
        after = hits[-1]["sort"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    yield "\ufeff" + out.getvalue()
    for row in rows:
        out.seek(0)
        out.truncate()
        writer.writerow([_cell(row[c]) for c in COLUMNS])
        yield out.getvalue()


def jsonl_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


def lines(fmt: str, rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    return csv_lines(rows) if fmt == "csv" else jsonl_lines(rows)
