"""Crawl metrics: one document per outlet per crawl in the index `[elasticsearch] crawls_index`
(default `raqib-crawls`), for the Kibana "crawler health" dashboard (crawler/ops/kibana.py).

Every real crawl writes them when it ends (crawler/crawl.run_crawl); a dry run never does.
The document's shape is crawls_mapping.json beside this file, created idempotently as an
index template and the index itself. A cluster that cannot take them does not fail the
crawl: the documents are *spooled* to `<state dir>/crawls-spool.jsonl` with a warning, and
the next crawl writes them first. Their ids are `<crawl id>-<outlet>`, so a document written
twice (a spool flushed by two crawls at once) is overwritten, never doubled.
"""
from __future__ import annotations

import fcntl
import json
import logging
import socket
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from elasticsearch import exceptions as es_exc

from crawler.errors import ERROR_KINDS, NOT_IN_TOTAL
from pipelines.es import explain, redact

log = logging.getLogger(__name__)

MAPPING_FILE = Path(__file__).with_name("crawls_mapping.json")
SPOOL_FILE = "crawls-spool.jsonl"
SPOOL_MAX = 20_000          # documents kept while the cluster is away (months of crawls); then the oldest go
WRITE_TIMEOUT = 15.0        # seconds: a crawl that is done should not wait long for its metrics


@lru_cache(maxsize=1)
def mapping() -> dict:
    """The crawls mapping, with one long field per error kind the crawl counts."""
    data = json.loads(MAPPING_FILE.read_text(encoding="utf-8"))
    data.pop("_comment", None)
    data["properties"]["errors"]["properties"] = {kind: {"type": "long"} for kind in ERROR_KINDS}
    return data


def fields() -> dict[str, str]:
    """Field name -> Elasticsearch type, flattened (what Kibana's objects may name)."""
    out: dict[str, str] = {}

    def walk(props: dict, prefix: str) -> None:
        for name, spec in props.items():
            out[prefix + name] = spec.get("type", "object")
            if "properties" in spec:
                walk(spec["properties"], prefix + name + ".")

    walk(mapping()["properties"], "")
    return out


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds") if epoch else None


def documents(report: dict[str, Any], *, crawl_id: str, names: dict[str, str] | None = None,
              host: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(id, document) per outlet of a crawl report (crawler.report.stats.build_report, with the
    `health` run_crawl adds to each outlet)."""
    host = host or socket.gethostname()
    out = []
    for key, o in report["outlets"].items():
        errors = {k: int(v) for k, v in (o.get("errors") or {}).items() if v}
        h = o.get("health") or {}
        failing = bool(h.get("consecutive_failures"))
        doc = {
            "crawl_id": crawl_id, "host": host, "outlet": key, "outlet_name": (names or {}).get(key, key),
            "started_at": report["started_at"], "finished_at": report["finished_at"],
            "duration_s": float(o.get("duration_s") or 0.0), "status": o.get("status"),
            "finish_reason": report.get("finish_reason"),
            "discovered": {c: int(o["discovered"].get(c, 0))
                           for c in ("feed", "sitemap", "section", "idwalk", "total", "new")},
            "requests": sum(o.get("requests", {}).values()),
            "fetched": sum(o.get("fetched", {}).values()),
            "fetched_articles": int(o.get("fetched", {}).get("article", 0)),
            "not_modified": sum(o.get("not_modified", {}).values()),
            "extracted": int(o.get("extracted", 0)),
            "indexed": int(o["indexed"].get("new", 0)), "updated": int(o["indexed"].get("updated", 0)),
            "unchanged": int(o["indexed"].get("unchanged", 0)),
            "duplicates": int(o.get("duplicates", 0)), "deferred": int(o.get("deferred", 0)),
            "errors": errors, "errors_total": sum(n for k, n in errors.items() if k not in NOT_IN_TOTAL),
            "bytes": int(o.get("bytes", 0)),
        }
        if o.get("blocked"):
            doc["blocked"] = str(o["blocked"])[:1024]
        if h:
            doc["health"] = {k: v for k, v in {
                "consecutive_failures": int(h.get("consecutive_failures") or 0),
                "failure_points": float(h.get("failure_points") or 0.0),
                "failure_kind": h.get("last_failure_kind") if failing else None,
                "backoff_until": _iso(h.get("backoff_until")) if failing else None,
                "last_success_at": _iso(h.get("last_success_at")),
                "last_new_at": _iso(h.get("last_new_at")),
            }.items() if v is not None}
        out.append((f"{crawl_id}-{key}", doc))
    return out


def _replicas(client, replicas: int) -> int:
    if replicas >= 0:
        return replicas
    return 1 if client.cluster.health().body.get("number_of_data_nodes", 1) > 1 else 0


def ensure_index(client, index: str, *, replicas: int = -1) -> None:
    """The template and the index, created if missing; new fields reach an existing index
    (additions only). Idempotent."""

    m = mapping()
    client.indices.put_index_template(
        name=index, index_patterns=[index],
        priority=250,       # above the articles' template, should an operator nest the names
        template={"settings": {"number_of_shards": 1, "number_of_replicas": _replicas(client, replicas)},
                  "mappings": m},
        meta={"managed_by": "raqib", "raqib_crawls_mapping_version": m["_meta"]["raqib_crawls_mapping_version"]},
    )
    if client.indices.exists(index=index):
        client.indices.put_mapping(index=index, properties=m["properties"], dynamic_templates=m["dynamic_templates"])
        return
    try:
        client.indices.create(index=index)
    except es_exc.BadRequestError as exc:
        if "resource_already_exists_exception" not in str(exc):
            raise


@contextmanager
def _locked(spool: Path):
    """The spool, held by one process at a time (the service runs crawls in parallel)."""
    spool.parent.mkdir(parents=True, exist_ok=True)
    with open(spool.with_name(spool.name + ".lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_spool(spool: Path) -> list[tuple[str, dict]]:
    try:
        lines = spool.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            item = json.loads(line)
            out.append((item["id"], item["doc"]))
        except (ValueError, KeyError, TypeError):
            log.warning("a damaged line in %s is skipped", spool)
    return out


def _write_spool(spool: Path, docs: list[tuple[str, dict]]) -> None:
    if not docs:
        spool.unlink(missing_ok=True)
        return
    tmp = spool.with_name(spool.name + ".tmp")
    tmp.write_text("".join(json.dumps({"id": i, "doc": d}, ensure_ascii=False) + "\n" for i, d in docs),
                   encoding="utf-8")
    tmp.replace(spool)


def write(client, index: str, docs: Iterable[tuple[str, dict]], spool: Path, *, replicas: int = -1,
          timeout: float = WRITE_TIMEOUT) -> dict[str, Any]:
    """Write `docs`, after any an earlier crawl spooled. Never raises for the cluster's sake:
    returns {"written": n, "spooled": n, "rejected": n, "error": message or None}."""
    docs = list(docs)
    try:
        return _write(client, index, docs, spool, replicas=replicas, timeout=timeout)
    except OSError as exc:      # the spool itself cannot be written (a full disk): the metrics are lost, the crawl is not
        log.warning("crawl metrics of this crawl are lost: the spool %s cannot be written (%s)", spool,
                    exc.strerror or exc, extra={"fields": {"event": "crawl_metrics_lost", "index": index}})
        return {"written": 0, "spooled": 0, "rejected": 0, "error": f"spool not writable: {exc.strerror or exc}"}


def _write(client, index: str, docs: list[tuple[str, dict]], spool: Path, *, replicas: int,
           timeout: float) -> dict[str, Any]:

    with _locked(spool):
        pending = dict(_read_spool(spool))
        pending.update(docs)
        items = list(pending.items())
        try:
            if client is None:
                raise ConnectionError("no Elasticsearch client")
            fast = client.options(request_timeout=timeout, max_retries=0)
            ensure_index(fast, index, replicas=replicas)
            operations: list[dict] = []
            for doc_id, doc in items:
                operations += [{"index": {"_index": index, "_id": doc_id}}, doc]
            resp = fast.bulk(operations=operations).body
        except Exception as exc:  # noqa: BLE001 - metrics never fail a crawl
            message = redact(str(explain(exc, _urls(client)))) if client is not None else str(exc)
            kept = items[-SPOOL_MAX:]
            if len(items) > len(kept):
                log.warning("the crawl-metrics spool holds more than %d documents; the %d oldest are dropped",
                            SPOOL_MAX, len(items) - len(kept))
            _write_spool(spool, kept)
            log.warning("crawl metrics not written to %s (%s); %d document(s) kept in %s and written by the "
                        "next crawl", index, message, len(kept), spool,
                        extra={"fields": {"event": "crawl_metrics_spooled", "index": index, "spooled": len(kept)}})
            return {"written": 0, "spooled": len(kept), "rejected": 0, "error": message}
        rejected = 0
        for item in resp.get("items", []):
            op = item.get("index") or {}
            if op.get("status", 500) >= 300:
                rejected += 1     # a document the mapping refuses will never fit: logged, not kept
                log.warning("crawl metrics document %s rejected by %s: %s", op.get("_id"), index,
                            (op.get("error") or {}).get("reason"))
        try:
            _write_spool(spool, [])
        except OSError as exc:   # written, and ids are stable: a stale spool only rewrites the same documents
            log.warning("cannot empty the crawl-metrics spool %s: %s", spool, exc.strerror or exc)
        return {"written": len(items) - rejected, "spooled": 0, "rejected": rejected, "error": None}


def _urls(client) -> list[str]:
    try:
        return [n.base_url for n in client.transport.node_pool.all()]
    except Exception:  # noqa: BLE001
        return ["(configured cluster)"]
