"""The article index: its template and write alias, and bulk writes that never duplicate.

Every command that writes calls `ensure_index` first; it is idempotent and cheap when all is
in place. Documents are written under a stable id (a hash of the canonical URL), so writing an
article twice updates it; `bulk_index` also reads the stored content hash first so that an
unchanged article is not rewritten and a changed one has its `version` counted.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from elasticsearch import Elasticsearch
from elasticsearch import exceptions as es_exc

from pipelines.es import ClusterError, explain
from pipelines.settings import DEFAULT_ALIAS as DEFAULT_ALIAS  # re-exported: index and search take it as default

MAPPING_FILE = Path(__file__).with_name("mapping.json")


@lru_cache(maxsize=1)
def mapping() -> dict:
    data = json.loads(MAPPING_FILE.read_text(encoding="utf-8"))
    data.pop("_comment", None)
    return data


def mapping_version() -> int:
    return int(mapping()["_meta"]["raqib_mapping_version"])


def has_arabic_analyzer(client: Elasticsearch) -> bool:
    """Whether the cluster has the full distribution's language analyzers (analysis-common)."""
    try:
        client.indices.analyze(analyzer="arabic", text="اختبار")
        return True
    except es_exc.BadRequestError:
        return False
    except es_exc.AuthorizationException:
        # `_analyze` without an index needs the cluster privilege `manage`, which raqib's
        # least-privilege role (deploy/elasticsearch/raqib-role.json) does not grant; the
        # modules every node runs (privilege `monitor`) answer the same question.
        nodes = client.nodes.info(metric="plugins").body.get("nodes", {})
        return bool(nodes) and all(
            any(m.get("name") == "analysis-common" for m in node.get("modules", [])) for node in nodes.values()
        )


def index_settings(client: Elasticsearch, *, replicas: int = -1) -> dict:
    if replicas < 0:
        nodes = client.cluster.health().body.get("number_of_data_nodes", 1)
        replicas = 1 if nodes > 1 else 0
    analyzer = {"type": "arabic"} if has_arabic_analyzer(client) else {"type": "standard"}
    return {
        "number_of_shards": 1,
        "number_of_replicas": replicas,
        "refresh_interval": "1s",
        "analysis": {"analyzer": {"raqib_text": analyzer}},
    }


def ensure_index(client: Elasticsearch, alias: str = DEFAULT_ALIAS, *, replicas: int = -1) -> str:
    """Create (or update) the template, and the first index behind the write alias. Returns
    the name of the index the alias writes to."""
    try:
        return _ensure_index(client, alias, replicas)
    except ClusterError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, _client_urls(client)) from None


def _ensure_index(client: Elasticsearch, alias: str, replicas: int) -> str:
    settings = index_settings(client, replicas=replicas)
    client.indices.put_index_template(
        name=alias,
        index_patterns=[f"{alias}-*"],
        priority=200,
        template={"settings": settings, "mappings": mapping(), "aliases": {}},
        meta={"managed_by": "raqib", "raqib_mapping_version": mapping_version()},
    )
    if client.indices.exists_alias(name=alias):
        found = client.indices.get_alias(name=alias).body
        write = [name for name, a in found.items() if a["aliases"][alias].get("is_write_index", len(found) == 1)]
        target = write[0] if write else sorted(found)[-1]
        # New fields added by a newer raqib reach the existing index too (additions only).
        client.indices.put_mapping(index=target, **_put_mapping_body())
        return target
    if _is_index(client, alias):
        raise ClusterError(
            f"an index named {alias!r} exists where raqib expects its alias; it was not created by raqib. "
            f"Rename or delete it, or use another alias (settings.toml: [elasticsearch] alias)."
        )
    first = f"{alias}-000001"
    try:
        client.indices.create(index=first, aliases={alias: {"is_write_index": True}})
    except es_exc.BadRequestError as exc:
        if "resource_already_exists_exception" not in str(exc):
            raise
        # Another process created it between our check and our create: fine.
    client.cluster.health(index=first, wait_for_status="yellow", timeout="30s")
    return first


def _is_index(client: Elasticsearch, name: str) -> bool:
    """Whether `name` is an index itself. `indices.exists` says yes for an alias as well, and
    the alias another raqib process created a moment ago (a fleet starting at once) is not a
    stranger's index: getting an alias answers with the indices behind it, never its own name."""
    try:
        return name in client.indices.get(index=name).body
    except es_exc.NotFoundError:
        return False


def _put_mapping_body() -> dict:
    m = copy.deepcopy(mapping())
    return {"properties": m["properties"], "dynamic_templates": m["dynamic_templates"], "meta": m["_meta"]}


def _client_urls(client: Elasticsearch) -> list[str]:
    try:
        return [n.base_url for n in client.transport.node_pool.all()]
    except Exception:  # noqa: BLE001
        return ["(configured cluster)"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class BulkResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)   # (id, reason): the document itself is refused
    retry: list[tuple[str, str]] = field(default_factory=list)      # (id, reason): the cluster is busy or recovering

    def merge(self, other: BulkResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.retry += other.retry


def _body(doc: dict, added: dict[str, Any], serialized: str | None) -> dict | str:
    """The document with the fields indexing adds: its JSON text extended when the caller
    has it (and it holds none of those fields), else a new dict."""
    if serialized is not None and len(serialized) > 2 and serialized.endswith("}") and not added.keys() & doc.keys():
        return serialized[:-1] + "," + json.dumps(added, ensure_ascii=False)[1:]
    return {**doc, **added}


def bulk_index(client: Elasticsearch, docs: Iterable[tuple[str, dict]], alias: str = DEFAULT_ALIAS,
               *, refresh: bool | str = False, serialized: Mapping[str, str] | None = None) -> BulkResult:
    """Write (id, document) pairs. A document whose `content_hash` equals the stored one is left
    alone; a changed one is rewritten with `version` + 1 and its `first_seen_at` kept.

    Rejections (a mapping error, say) are returned per document with the cluster's reason;
    the rest of the batch is written. A document the cluster could not take *now* (429: its
    queues are full; 5xx: a shard is not ready, as after a restart) is returned in `retry`,
    never as a rejection: writing it again later succeeds. Connection failures raise
    ClusterError. `serialized`: the documents' `pipelines.storage.doc_json` by id, where the caller already made
    it (the spool did), so that a document is not serialized a second time.
    """
    docs = list(docs)
    result = BulkResult()
    if not docs:
        return result
    try:
        existing = _existing(client, alias, [doc_id for doc_id, _ in docs])
        operations: list[dict | str] = []
        kinds: dict[str, str] = {}
        now = now_iso()
        for doc_id, doc in docs:
            old = existing.get(doc_id)
            if old is not None and old.get("content_hash") == doc.get("content_hash") and old.get("content_hash"):
                result.unchanged.append(doc_id)
                continue
            added: dict[str, Any] = {"indexed_at": now}
            if old is None:
                if "first_seen_at" not in doc:
                    added["first_seen_at"] = doc.get("crawled_at") or now
                added["first_indexed_at"] = now   # what alert evaluation keys on
                added["version"] = 1
                kinds[doc_id] = "created"
            else:
                added["first_seen_at"] = old.get("first_seen_at") or doc.get("crawled_at") or now
                added["first_indexed_at"] = old.get("first_indexed_at") or now
                added["version"] = int(old.get("version") or 1) + 1
                kinds[doc_id] = "updated"
            # An article stored before a rollover is rewritten where it lives, never copied into
            # the new write index: one article, one document, whatever the alias spans.
            target = (old or {}).get("_index") or alias
            operations.append({"index": {"_index": target, "_id": doc_id}})
            operations.append(_body(doc, added, (serialized or {}).get(doc_id)))
        if not operations:
            return result
        # the client's NDJSON serializer sends a line that is already text as it is
        resp = client.bulk(operations=cast(Any, operations), refresh=refresh).body
    except ClusterError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, _client_urls(client)) from None
    for item in resp["items"]:
        op = item.get("index") or next(iter(item.values()))
        doc_id = op["_id"]
        status = op.get("status", 500)
        if status >= 300:
            err = op.get("error") or {}
            reason = f"{err.get('type', 'error')}: {err.get('reason', '')}"
            caused = err.get("caused_by") or {}
            if caused.get("reason"):
                reason += f" ({caused['reason']})"
            (result.retry if status == 429 or status >= 500 else result.rejected).append((doc_id, reason))
        elif kinds[doc_id] == "created":
            result.created.append(doc_id)
        else:
            result.updated.append(doc_id)
    return result


_EXISTING_FIELDS = ["content_hash", "version", "first_seen_at", "first_indexed_at"]


def _existing(client: Elasticsearch, alias: str, ids: list[str]) -> dict[str, dict]:
    """What is stored under these ids, with `_index` set where a document lives in an index
    the alias no longer writes to.

    A multi-get through the alias reads only its write index (and is real-time, so a document
    written a moment ago is seen); after a rollover the older indices are searched for the
    rest. They are no longer written to, so a search sees all of them.
    """
    resp = client.mget(index=alias, ids=ids, source_includes=_EXISTING_FIELDS).body
    found = {d["_id"]: d.get("_source", {}) for d in resp["docs"] if d.get("found")}
    missing = [i for i in ids if i not in found]
    older = _older_indices(client, alias) if missing else []
    if older:
        hits = client.search(index=",".join(older), query={"ids": {"values": missing}}, size=len(missing),
                             source_includes=_EXISTING_FIELDS).body["hits"]["hits"]
        for hit in hits:
            found.setdefault(hit["_id"], dict(hit.get("_source") or {}, _index=hit["_index"]))
    return found


def _older_indices(client: Elasticsearch, alias: str) -> list[str]:
    """Indices behind the alias other than its write index (none until a first rollover)."""
    indices = client.indices.get_alias(name=alias).body
    if len(indices) < 2:
        return []
    return sorted(name for name, a in indices.items() if not a["aliases"][alias].get("is_write_index"))
