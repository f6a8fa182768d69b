"""Text from pages raqib does not control, made harmless for where it goes.

A title or an author name comes from a hostile page. Markup in it stays text (escaped by each
renderer: mail and pages with `html.escape`, Slack with its own escaping); this module handles
what escaping does not:

* terminal control sequences: ESC (and the C1 CSI, U+009B) start sequences that move the
  cursor, clear the screen, retitle the window or plant a hyperlink; other C0/C1 controls ring
  bells or erase;
* bidirectional overrides, embeddings and isolates (U+202A–U+202E, U+2066–U+2069): they reorder
  the text displayed after them, so a title could show a different URL or date than it holds
  ("Trojan Source"); Arabic text needs none of them (the letters carry their direction);
* lone surrogates (from a `\\ud800` escape in JSON-LD): valid in a Python string, not in UTF-8,
  so printing or storing one fails.

`clean` is applied to every string an article is stored with (pipelines/extract.py), so what
is indexed is already free of them; `for_terminal` and `one_line` are applied again to what
raqib prints, because an index may hold documents written by older versions or other tools.
"""
from __future__ import annotations

import re
from typing import Any

# C0 controls but tab and newline, DEL, C1 controls; bidi embeddings, overrides and isolates;
# lone surrogates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _replace(match: re.Match) -> str:
    ch = match.group()
    if "\ud800" <= ch <= "\udfff":
        return "\ufffd"
    if ch in "\r\x0b\x0c\x85":      # line breaks of other conventions stay line breaks
        return "\n"
    return ""


def clean(text: str) -> str:
    """`text` without control characters (tab and newline kept), bidi overrides and lone
    surrogates (replaced by U+FFFD)."""
    return _UNSAFE.sub(_replace, text) if _UNSAFE.search(text) else text


def clean_value(value: Any) -> Any:
    """`clean` applied to a string, or to every string in a list or dict."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(clean_value(v) for v in value)
    if isinstance(value, dict):
        return {k: clean_value(v) for k, v in value.items()}
    return value


def for_terminal(text: Any) -> str:
    """Text safe to print on a terminal: no escape sequences, no reordering, no surrogates;
    line breaks kept."""
    return clean(str(text or ""))


def one_line(text: Any, limit: int | None = None) -> str:
    """Text safe to print as (part of) one terminal line: `for_terminal`, with every run of
    whitespace and every control character made one space; cut at `limit` characters."""
    flat = _UNSAFE_LINE.sub(lambda m: "\ufffd" if "\ud800" <= m.group() <= "\udfff" else " ", str(text or ""))
    flat = " ".join(flat.split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat
