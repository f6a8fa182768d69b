"""Filling the sites' HTML templates (`templates/<site>/*.html`, `string.Template` syntax).

Values are escaped unless wrapped in `Markup`, so a title with `<` or `&` cannot break a page
by accident; the pages' deliberate oddities are written into the templates instead.
"""
from __future__ import annotations

import html
import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from string import Template
from typing import Any
from xml.sax.saxutils import escape as xml_escape


class Markup(str):
    """Text that is already HTML."""


def esc(value: Any) -> str:
    if isinstance(value, Markup):
        return value
    return html.escape("" if value is None else str(value), quote=True)


@cache
def template(name: str) -> Template:
    text = resources.files("crawler.mirror").joinpath("templates", name).read_text(encoding="utf-8")
    return Template(text)


def fill(name: str, **values: Any) -> Markup:
    return Markup(template(name).substitute({k: esc(v) for k, v in values.items()}))


def join(parts: Iterable[str], sep: str = "\n") -> Markup:
    return Markup(sep.join(parts))


def script_json(data: Any, indent: int | None = None) -> Markup:
    """JSON for a <script> element: `</` is escaped so the data cannot close the element."""
    text = json.dumps(data, ensure_ascii=False, indent=indent)
    return Markup(text.replace("</", "<\\/"))


def xml(value: Any) -> str:
    return xml_escape("" if value is None else str(value))


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def paragraphs_html(lines: Iterable[str], heading_tag: str = "h3", tweet: Markup | None = None,
                    wysiwyg: bool = False) -> Markup:
    """An article body as the CMS emits it: <p> per paragraph, headings marked `## `.

    `wysiwyg`: the style of old rich-text editors, headings as bold paragraphs after an empty
    `<p>&nbsp;</p>` spacer (what seed 001's text shows of Al-Marjie's pages)."""
    out: list[str] = []
    for line in lines:
        if line == "@@TWEET@@":
            if tweet:
                out.append(tweet)
        elif line.startswith("## ") and wysiwyg:
            out.append("<p>&nbsp;</p>")
            out.append(f"<p><strong>{esc(line[3:])}</strong></p>")
        elif line.startswith("## "):
            out.append(f"<{heading_tag}>{esc(line[3:])}</{heading_tag}>")
        else:
            out.append(f"<p>{esc(line)}</p>")
    return Markup("\n".join(out))
