"""The item that travels from the spider through the item pipelines: one fetched article
page, then what each pipeline adds to it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict, cast


class RequestInfo(TypedDict, total=False):
    """What raqib attaches to every request as `request.meta["raqib"]`, and reads back in the
    middlewares, the stats, the frontier and the spider's callbacks. JSON-safe: the Redis
    frontier (crawler/fleet/frontier.py) stores it with the request."""
    outlet: str               # the outlet's key in outlets.yaml
    kind: str                 # robots, feed, sitemap, section, article
    channel: str | None       # how an article was discovered: feed, sitemap, section, idwalk
    key: str                  # article: its frontier key
    lastmod: str | None       # article: what its source said when it was scheduled
    reason: str               # article: why it is fetched (new, pending, retry, changed, refetch)
    depth: int                # source: links followed from the outlet's entry points
    home: bool                # source: the outlet's home page
    probe: bool               # sitemap: a guessed location (/sitemap.xml), not a listed one
    backfill: bool            # sitemap or section page walked back in time
    job: str                  # fleet: the coordinator's crawl the article counts towards
    queued_at: float          # frontier: when it entered the shared queue (epoch seconds)
    fid: str                  # frontier: keeps two equal requests two queue entries


def request_info(request: Any) -> RequestInfo:
    """The request's RequestInfo; empty for a request raqib did not make (robots.txt is)."""
    return cast(RequestInfo, request.meta.get("raqib") or {})


@dataclass(repr=False)
class FetchedPage:
    outlet: str
    key: str                      # the frontier key: canonical form of the URL as discovered
    url: str                      # the URL requested
    final_url: str                # after redirects
    status: int
    headers: dict[str, str]       # lower-case names
    body: bytes
    channel: str                  # how it was discovered: feed, sitemap, section, idwalk
    fetched_at: str               # ISO UTC
    lastmod: str | None = None    # what the source said when it was scheduled
    reason: str = "new"           # why it was fetched: new, pending, retry, changed, refetch
    # added by the pipelines
    article: dict[str, Any] | None = None    # pipelines.extract.extract_article's result
    canonical_url: str | None = None
    doc_id: str | None = None
    doc: dict[str, Any] | None = None        # the document to index
    duplicate_of: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def document(self) -> tuple[str, dict[str, Any]]:
        """(doc_id, doc), set by the extract and enrich pipelines that every later one follows."""
        if self.doc_id is None or self.doc is None:
            raise ValueError(f"{self!r} reached a pipeline after extraction without a document")
        return self.doc_id, self.doc

    def __repr__(self) -> str:   # the body stays out of logs
        return f"<FetchedPage {self.outlet} {self.final_url} {self.status} {len(self.body)} bytes>"
