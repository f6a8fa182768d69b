"""The dates feeds and sitemaps give: W3C datetime (sitemaps, Atom, JSON Feed), RFC 822
(RSS), and the sloppy variants found in the wild. Always returned as aware UTC datetimes, or
None: a wrong lastmod must never stop a URL from being discovered."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_W3C_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


def parse_date(text: str | None) -> datetime | None:
    if not text:
        return None
    text = text.strip()
    if not text:
        return None
    m = _W3C_PARTIAL.match(text)
    if m:
        try:
            return datetime(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1), tzinfo=UTC)
        except ValueError:
            return None
    iso = text.replace("Z", "+00:00").replace("z", "+00:00")
    if " " in iso and "T" not in iso and re.match(r"^\d{4}-\d{2}-\d{2} \d", iso):
        iso = iso.replace(" ", "T", 1)
    # "+0300" → "+03:00": fromisoformat in 3.11 needs the colon.
    iso = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", iso)
    try:
        value = datetime.fromisoformat(iso)
    except ValueError:
        try:
            value = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def iso_utc(value: datetime | None) -> str | None:
    """The form the crawl state stores: comparable as text."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
