"""The item that travels from the spider through the item pipelines: one fetched article
page, then what each pipeline adds to it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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

    def __repr__(self) -> str:   # the body stays out of logs
        return f"<FetchedPage {self.outlet} {self.final_url} {self.status} {len(self.body)} bytes>"
