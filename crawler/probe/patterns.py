"""URL shapes: what `article_pattern` should have matched. A URL's shape keeps its literal path
words and turns numbers and slugs into classes; the commonest shape among the URLs a source
lists is the pattern to suggest."""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from crawler.probe.context import EXAMPLES, Step
from pipelines.urls import canonicalize, host_of


def _escape(text: str) -> str:
    """re.escape, minus the escapes a reader of outlets.yaml would trip on (- _ : are literal
    outside a character class)."""
    return re.sub(r"\\([-_:])", r"\1", re.escape(text))


def _segment_shape(segment: str) -> str:
    if not segment:
        return ""
    stem, dot, ext = segment.rpartition(".")
    if dot and stem and ext.lower() in ("html", "htm", "php", "aspx", "asp", "shtml"):
        return _segment_shape(stem) + _escape("." + ext)
    if segment.isdigit():
        return r"\d+"
    m = re.fullmatch(r"\d+([-_])[^/]+", segment)
    if m:
        return r"\d+" + _escape(m.group(1)) + "[^/]+"
    if len(segment) > 20 or not segment.isascii() or "%" in segment or segment.count("-") >= 2 \
            or segment.count("_") >= 2 or any(c.isdigit() for c in segment):
        return "[^/]+"
    return _escape(segment)


def url_shape(url: str) -> tuple[str, str]:
    """(host without www., regex of path and query) shared by URLs of one kind: numbers become
    \\d+, slugs [^/]+, other path words stay literal."""
    parts = urlsplit(url)
    host = host_of(url)
    host = host[4:] if host.startswith("www.") and host.count(".") >= 2 else host
    if parts.port:
        host += f":{parts.port}"
    segments = parts.path.split("/")
    path = "/".join(_segment_shape(s) for s in segments)
    if path.endswith("/") and path != "/":
        path = path[:-1] + "/?"
    query = ""
    if parts.query:
        pairs = sorted(parse_qsl(parts.query, keep_blank_values=True))
        query = r"\?" + "&".join(_escape(k) + "=" + (r"\d+" if v.isdigit() else "[^&]*") for k, v in pairs)
    return host, path + query


def suggest_pattern(urls: Iterable[str], *, min_count: int = 2) -> dict[str, Any] | None:
    """The most common URL shape among `urls` as an `article_pattern`, with its count and
    examples; None when no shape repeats or the commonest is a fixed address."""
    groups: dict[tuple[str, str], list[str]] = {}
    for url in urls:
        groups.setdefault(url_shape(url), []).append(url)
    ranked = sorted(((k, v) for k, v in groups.items() if "\\d+" in k[1] or "[^/]+" in k[1] or "[^&]*" in k[1]),
                    key=lambda kv: -len(kv[1]))
    if not ranked or len(ranked[0][1]) < min_count:
        return None
    (host, shape), members = ranked[0]
    www = "" if re.fullmatch(r"[\d.]+(:\d+)?|\[.*", host) else r"(www\.)?"    # no www. before an address
    pattern = rf"^https?://{www}{_escape(host)}{shape}$"
    compiled = re.compile(pattern)
    if not all(compiled.search(u) for u in members):   # a shape always matches its own URLs
        return None
    return {"pattern": pattern, "count": len(members), "examples": members[:EXAMPLES]}


class PatternCheck(Step):
    """When nothing any source lists matches article_pattern: the pattern that would."""

    def check_pattern(self) -> None:
        matched = {k for channel in self.state.matched.values() for k in channel}
        if matched:
            return
        listed = [canonicalize(u) for channel in ("feed", "sitemap") for u in self.state.unmatched.get(channel, {}).values()]
        pages = [canonicalize(u) for channel in ("home", "section") for u in self.state.unmatched.get(channel, {}).values()]
        everything = list(dict.fromkeys(listed + pages))
        if not everything:
            self.report.add("config", "no URL on the outlet's domains was found: home links none, and no feed or "
                                      "sitemap that answered lists any",
                            "check home and domains, and configure a feed or a sitemap (see what answered below)",
                            "domains")
            return
        shape = suggest_pattern(listed) or suggest_pattern(pages, min_count=3)
        self.report.pattern_suggestion = shape
        fix = (f"{shape['count']} of them look like {shape['examples'][0]}: "
               f"article_pattern: '{shape['pattern']}' matches those") if shape else \
            "write article_pattern to match the outlet's article addresses (see the examples)"
        self.report.add("config", f"no URL matched article_pattern; {len(everything)} URLs on the outlet's domains "
                                  f"were found, like {everything[0]}", fix, "article_pattern")

