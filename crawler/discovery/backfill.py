"""Reaching articles older than the discovery channels show (`raqib crawl --backfill`):
monthly sitemaps named by a template, and walks down sequential numeric ids."""
from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlsplit


def sitemap_months(template: str, start: str, today: date) -> list[str]:
    """Monthly sitemap URLs from this month back to `start` (YYYY-MM), newest first.

    `{month}` is not zero-padded (Al Mayadeen's `sitemap-2024-4.xml`); `{month:02}` is.
    """
    year, month = (int(x) for x in start.split("-"))
    first = (year, month)
    y, m = today.year, today.month
    urls = []
    while (y, m) >= first:
        urls.append(template.replace("{year}", str(y)).replace("{month:02}", f"{m:02d}").replace("{month}", str(m)))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return urls


class IdTemplate:
    """An outlet's URL template with `{id}`: builds URLs and reads ids back from article URLs."""

    def __init__(self, template: str):
        self.template = template
        before, _, after = template.partition("{id}")
        path_before = urlsplit(before).path or "/"
        # The id ends at the next path separator or the end; the slug may follow.
        self._regex = re.compile("^" + re.escape(path_before) + r"(\d+)(?=$|[/?#.])")
        self._after = after

    def url(self, number: int) -> str:
        return self.template.replace("{id}", str(number))

    def number(self, url: str) -> int | None:
        m = self._regex.match(urlsplit(url).path)
        return int(m.group(1)) if m else None


def id_walk(known: set[int], id_min: int, limit: int, *, below: int | None = None) -> list[int]:
    """Ids the crawl has never seen, newest first, below `below` (default: the highest known)."""
    if limit <= 0 or (below is None and not known):
        return []
    out: list[int] = []
    n = (max(known) if below is None else below) - 1
    while n >= id_min and len(out) < limit:
        if n not in known:
            out.append(n)
        n -= 1
    return out
