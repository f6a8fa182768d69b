"""What a page says about itself in machine-readable form: an outlet's embedded JSON, JSON-LD,
and `<meta>`/`<link>` tags.

Publishers fill these for search engines and social networks, so they are usually more exact
than anything read from the visible page: ISO dates with a zone, the author without "By", the
title without the site name. Each reader returns a `Metadata` with the same fields, so the
extractor can take each field from the most trustworthy source that has it.

Readers never raise on malformed data (a JSON-LD block with a trailing comma, an author given
as a URL): they skip what they cannot read and say so in `warnings`.
"""
from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml.cssselect import CSSSelector
from lxml.html import HtmlElement  # no type information: an alias of Any for mypy

ARTICLE_TYPES = {
    "article", "newsarticle", "reportagenewsarticle", "analysisnewsarticle", "opinionnewsarticle",
    "backgroundnewsarticle", "reviewnewsarticle", "askpublicnewsarticle", "satiricalarticle",
    "blogposting", "liveblogposting", "socialmediaposting", "report", "scholarlyarticle",
    "techarticle", "medicalscholarlyarticle", "creativework", "posting",
}

PUBLISHED_META = (
    "article:published_time", "og:article:published_time", "article:published", "og:published_time",
    "datepublished", "publishdate", "publish-date", "publish_date", "pubdate", "date",
    "dc.date.issued", "dc.date", "dcterms.issued", "dcterms.created", "dc.date.created",
    "sailthru.date", "parsely-pub-date", "citation_publication_date", "citation_date", "release_date",
)
MODIFIED_META = (
    "article:modified_time", "og:article:modified_time", "og:updated_time", "datemodified",
    "dcterms.modified", "dc.date.modified", "last-modified", "lastmod",
)
AUTHOR_META = ("author", "article:author", "og:article:author", "dc.creator", "dcterms.creator",
               "sailthru.author", "parsely-author", "citation_author", "byl")
TITLE_META = ("og:title", "twitter:title", "dc.title", "headline", "title")
DESCRIPTION_META = ("og:description", "description", "twitter:description", "dc.description")
KEYWORD_META = ("keywords", "news_keywords", "article:tag", "og:article:tag", "parsely-tags")
SECTION_META = ("article:section", "og:article:section", "parsely-section", "section")

_TAG = re.compile(r"</?[A-Za-z!][^>]*>")     # a tag, not a lone "<" in "a < b"
_SPACE = re.compile(r"\s+")
_SCRIPT_TEXT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.I | re.S)
_JSON_COMMENTS = re.compile(r"^\s*(<!--|//\s*<!\[CDATA\[|<!\[CDATA\[)|(-->|//\s*\]\]>|\]\]>)\s*$")


@dataclass
class Metadata:
    """One source's view of an article; empty fields are None (keywords: empty list)."""
    source: str
    title: str | None = None
    author: str | None = None
    published: str | None = None     # as written: the date module parses it
    modified: str | None = None
    description: str | None = None
    keywords: list[str] = field(default_factory=list)
    section: str | None = None
    country: str | None = None
    lang: str | None = None
    url: str | None = None
    body: str | None = None          # a full text the page carries in its metadata (JSON-LD articleBody)
    site_name: str | None = None
    warnings: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.title, self.author, self.published, self.modified, self.description,
                    self.keywords, self.section, self.url, self.body))


# --- plain-text helpers ----------------------------------------------------------------------

def plain(value: Any) -> str | None:
    """A metadata value as one line of plain text: entities decoded, markup and scripts
    removed, whitespace collapsed. Markup in a title is never kept (it would be rendered, or
    worse, executed, by whatever displays it)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = ", ".join(v for v in (plain(x) for x in value) if v)
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value") or ""
    text = str(value)
    for _ in range(2):     # titles arrive double-escaped (&amp;quot;) more often than one would think
        if "&" not in text and "<" not in text:
            break
        text = _TAG.sub(" ", _SCRIPT_TEXT.sub(" ", html.unescape(text)))
    text = _SPACE.sub(" ", text).strip()
    return text or None


def split_keywords(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else re.split(r"[,،;|]", str(value))
    out: list[str] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            out.extend(split_keywords(item))
            continue
        text = plain(item)
        if text and text not in out:
            out.append(text)
    return out


def _is_url(text: str | None) -> bool:
    return bool(text) and bool(re.match(r"^(https?:)?//|^www\.", (text or "").strip(), re.I))


# --- <meta> and <link> ----------------------------------------------------------------------

def meta_values(tree: HtmlElement) -> dict[str, list[str]]:
    """Every `<meta>` content, keyed by its lower-cased property / name / itemprop / http-equiv."""
    out: dict[str, list[str]] = {}
    for el in tree.iter("meta"):
        content = el.get("content")
        if content is None:
            continue
        content = content.strip()
        if not content:
            continue
        for attr in ("property", "name", "itemprop", "http-equiv"):
            key = el.get(attr)
            if key:
                out.setdefault(key.strip().lower(), []).append(content)
    return out


def read_meta(tree: HtmlElement) -> Metadata:
    values = meta_values(tree)

    def first(keys: Iterable[str], *, reject_urls: bool = False) -> str | None:
        for key in keys:
            for value in values.get(key, ()):
                text = plain(value)
                if text and not (reject_urls and _is_url(text)):
                    return text
        return None

    meta = Metadata(source="meta")
    meta.title = first(TITLE_META)
    meta.author = first(AUTHOR_META, reject_urls=True)
    if meta.author and meta.author.lower().startswith("by "):
        meta.author = meta.author[3:].strip() or None
    meta.description = first(DESCRIPTION_META)
    meta.section = first(SECTION_META)
    meta.site_name = first(("og:site_name", "application-name", "twitter:site"))
    for key in KEYWORD_META:
        for value in values.get(key, ()):
            for kw in split_keywords(value):
                if kw not in meta.keywords:
                    meta.keywords.append(kw)
    meta.url = first(("og:url",))
    locale = first(("og:locale", "content-language", "language", "dc.language"))
    if locale:
        meta.lang = locale.replace("_", "-").split(",")[0].strip()
    meta.published, published_key = _first_with_key(values, PUBLISHED_META)
    meta.modified, _ = _first_with_key(values, MODIFIED_META)
    if published_key:
        meta.source = f"meta:{published_key}"
    return meta


def _first_with_key(values: dict[str, list[str]], keys: Iterable[str]) -> tuple[str | None, str | None]:
    for key in keys:
        for value in values.get(key, ()):
            if value.strip():
                return value.strip(), key
    return None, None


def canonical_link(tree: HtmlElement) -> str | None:
    for el in tree.iter("link"):
        rel = (el.get("rel") or "").lower().split()
        if "canonical" in rel and el.get("href", "").strip():
            return str(el.get("href")).strip()
    return None


def amp_link(tree: HtmlElement) -> str | None:
    for el in tree.iter("link"):
        if "amphtml" in (el.get("rel") or "").lower().split() and el.get("href", "").strip():
            return str(el.get("href")).strip()
    return None


def html_lang(tree: HtmlElement) -> str | None:
    root = tree.getroottree().getroot() if hasattr(tree, "getroottree") else tree
    for el in (root, root.find(".//body")):
        if el is not None:
            lang = el.get("lang") or el.get("{http://www.w3.org/XML/1998/namespace}lang")
            if lang and lang.strip():
                return str(lang).strip()
    return None


def time_elements(tree: HtmlElement, title: str | None = None) -> list[tuple[str, str]]:
    """(how it was marked, value) of `<time datetime>` and `itemprop=datePublished` elements.

    An unmarked `<time>` is `time:headline` when it is the first one in the headline's own
    block (the `<header>`/`<article>` around the first `<h1>`, or around the heading that
    reads `title` when the page has no h1): the article's date as most
    templates print it. Other unmarked ones (`time`) may date anything on the page: a
    sidebar, a related list, a comment."""
    out: list[tuple[str, str]] = []
    for el in tree.xpath('//*[@itemprop="datePublished"][not(self::meta)]'):
        value = el.get("datetime") or el.get("content") or el.text_content()
        if value and value.strip():
            out.append(("itemprop:datePublished", value.strip()))
    headline = _headline_time(tree, title)
    for el in tree.iter("time"):
        value = el.get("datetime")
        if value and value.strip():
            cls = (el.get("class") or "") + " " + (el.get("itemprop") or "") + " " + (el.get("pubdate") or "")
            if re.search(r"publish|pubdate|posted|created", cls, re.I) or el.get("pubdate") is not None:
                out.insert(0, ("time:published", value.strip()))
            elif el is headline:
                out.append(("time:headline", value.strip()))
            else:
                out.append(("time", value.strip()))
    return out


def _headline(tree: HtmlElement, title: str | None) -> HtmlElement | None:
    h1 = next(tree.iter("h1"), None)
    if h1 is not None or not title:
        return h1
    wanted = " ".join(title.split())
    return next((el for el in tree.iter("h2", "h3") if " ".join(element_text(el).split()) == wanted), None)


def _headline_time(tree: HtmlElement, title: str | None = None) -> HtmlElement | None:
    """The first `<time datetime>` after the headline inside its header or article block (or
    its grandparent when it has neither), else None."""
    h1 = _headline(tree, title)
    if h1 is None:
        return None
    block = next((a for a in h1.iterancestors() if a.tag in ("header", "article")), None)
    if block is None:
        parent = h1.getparent()
        block = parent.getparent() if parent is not None and parent.getparent() is not None else parent
    if block is None:
        return None
    seen_h1 = False
    for el in block.iter():
        if el is h1:
            seen_h1 = True
        elif el.tag == "time" and (el.get("datetime") or "").strip():
            # before the headline only inside a <header> (kicker, then date, then h1)
            if seen_h1 or block.tag == "header":
                return el
    return None


# --- JSON ------------------------------------------------------------------------------------

def load_json_text(text: str | None) -> Any:
    """Parse JSON as pages write it: wrapped in comments or CDATA, with raw control characters,
    trailing commas. Raises ValueError when it still is not JSON."""
    if text is None:
        raise ValueError("empty")
    lines = [line for line in text.strip().splitlines() if not _JSON_COMMENTS.fullmatch(line)]
    body = "\n".join(lines).strip()
    body = re.sub(r"^\s*(<!--|<!\[CDATA\[)", "", body)
    body = re.sub(r"(-->|\]\]>)\s*$", "", body).strip()
    if not body:
        raise ValueError("empty")
    try:
        return json.loads(body, strict=False)
    except json.JSONDecodeError:
        pass
    repaired = re.sub(r",\s*([}\]])", r"\1", body)
    try:
        return json.loads(repaired, strict=False)
    except json.JSONDecodeError as exc:
        # Several objects one after another: read them as a list.
        decoder, items, pos = json.JSONDecoder(strict=False), [], 0
        try:
            while pos < len(repaired):
                obj, pos = decoder.raw_decode(repaired, pos)
                items.append(obj)
                while pos < len(repaired) and repaired[pos] in " \t\r\n;,":
                    pos += 1
        except json.JSONDecodeError:
            raise ValueError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
        return items


def json_ld_objects(tree: HtmlElement, warnings: list[str] | None = None) -> list[dict[str, Any]]:
    """Every JSON-LD object of the page, with `@graph` containers and lists flattened."""
    out: list[dict[str, Any]] = []
    for i, script in enumerate(tree.xpath('//script[@type="application/ld+json" or @type="application/json+ld"]')):
        try:
            data = load_json_text(script.text)
        except ValueError as exc:
            if warnings is not None and str(exc) != "empty":
                warnings.append(f"JSON-LD block {i + 1} is not valid JSON ({exc}); skipped")
            continue
        _flatten_ld(data, out, depth=0)
    return out


def _flatten_ld(data: Any, out: list[dict[str, Any]], depth: int) -> None:
    if depth > 6:
        return
    if isinstance(data, list):
        for item in data:
            _flatten_ld(item, out, depth + 1)
    elif isinstance(data, dict):
        if "@graph" in data:
            _flatten_ld(data["@graph"], out, depth + 1)
        if data.get("@type"):
            out.append(data)
        for key in ("mainEntity", "mainEntityOfPage", "hasPart", "itemListElement"):
            child = data.get(key)
            if isinstance(child, (dict, list)):
                _flatten_ld(child, out, depth + 1)


def _types(obj: dict[str, Any]) -> set[str]:
    t = obj.get("@type")
    items = t if isinstance(t, list) else [t]
    return {str(x).rsplit("/", 1)[-1].lower() for x in items if x}


def read_json_ld(tree: HtmlElement) -> Metadata:
    warnings: list[str] = []
    objects = json_ld_objects(tree, warnings)
    meta = Metadata(source="json-ld", warnings=warnings)
    articles = [o for o in objects if _types(o) & ARTICLE_TYPES and (o.get("headline") or o.get("name") or o.get("articleBody"))]
    if not articles:
        # A WebPage with a date is the next best thing (some CMSs describe articles that way).
        articles = [o for o in objects if _types(o) & {"webpage", "itempage"} and o.get("datePublished")]
    if not articles:
        return meta
    # The main article is the one with a body, else the one with a date, else the first.
    art = max(articles, key=lambda o: (bool(o.get("articleBody")), bool(o.get("datePublished"))))
    meta.title = plain(art.get("headline") or art.get("name"))
    meta.author = _ld_people(art.get("author") or art.get("creator"))
    meta.published = _ld_scalar(art.get("datePublished") or art.get("dateCreated"))
    meta.modified = _ld_scalar(art.get("dateModified"))
    meta.description = plain(art.get("description"))
    meta.keywords = split_keywords(art.get("keywords"))
    meta.section = plain(_ld_scalar(art.get("articleSection")))
    meta.lang = plain(_ld_scalar(art.get("inLanguage")))
    url = art.get("url") or art.get("mainEntityOfPage")
    if isinstance(url, dict):
        url = url.get("@id") or url.get("url")
    meta.url = url if isinstance(url, str) and url.strip() else None
    body = art.get("articleBody") or art.get("text")
    if isinstance(body, str) and body.strip():
        meta.body = html.unescape(_TAG.sub(" ", body)) if "<" in body else html.unescape(body)
    publisher = art.get("publisher")
    if isinstance(publisher, dict):
        meta.site_name = plain(publisher.get("name"))
    return meta


def _ld_scalar(value: Any) -> str | None:
    while isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("@value") or value.get("name")
    return str(value).strip() if value not in (None, "") else None


def _ld_people(value: Any) -> str | None:
    items = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, list):
            name = " ".join(str(n) for n in name)
        name = plain(name)
        if name and not _is_url(name) and name not in names:
            names.append(name)
    return ", ".join(names) or None


# --- an outlet's own embedded JSON -----------------------------------------------------------

# Key names first-party metadata uses for each field (Al Mayadeen's tawsiyat-metadata uses the
# first of each; the others are what other CMSs call the same thing).
_EMBEDDED_KEYS = {
    "title": ("title", "headline", "name"),
    "author": ("author", "authors", "writer", "byline"),
    "published": ("published_time", "publication_date", "datePublished", "published_at", "publishDate",
                  "pubDate", "date", "created_at"),
    "modified": ("last_updated", "last_updated_date", "dateModified", "modified_time", "updated_at", "modified"),
    "description": ("description", "summary", "excerpt", "lead"),
    "keywords": ("keywords", "tags"),
    "lang": ("lang", "language", "inLanguage"),
    "url": ("url", "canonical", "link"),
    "section": ("section", "category", "articleSection"),
}


def embedded_json(tree: HtmlElement, selector: str) -> tuple[Any, str | None]:
    """The JSON inside the first element `selector` matches: (data, None), or (None, why not)."""
    try:
        elements = CSSSelector(selector)(tree)
    except Exception as exc:   # cssselect raises several types for a bad selector
        return None, f"metadata_json selector {selector!r} is not valid CSS ({exc})"
    if not elements:
        return None, None
    raw = elements[0].text or ""
    try:
        return load_json_text(raw), None
    except ValueError as exc:
        return None, f"the embedded metadata ({selector}) is not valid JSON ({exc}); ignored"


def read_embedded(data: Any, source: str = "embedded-json") -> Metadata:
    meta = Metadata(source=source)
    if isinstance(data, list):
        data = next((d for d in data if isinstance(d, dict)), None)
    if not isinstance(data, dict):
        return meta

    def pick(name: str) -> Any:
        for key in _EMBEDDED_KEYS[name]:
            if data.get(key) not in (None, "", []):
                return data[key]
        return None

    meta.title = plain(pick("title"))
    author = pick("author")
    meta.author = _ld_people(author) if isinstance(author, (list, dict)) else plain(author)
    meta.published = _ld_scalar(pick("published"))
    meta.modified = _ld_scalar(pick("modified"))
    meta.description = plain(pick("description"))
    meta.keywords = split_keywords(pick("keywords"))
    meta.lang = plain(_ld_scalar(pick("lang")))
    url = pick("url")
    meta.url = url.strip() if isinstance(url, str) and url.strip() else None
    meta.section = plain(_ld_scalar(pick("section"))) if not isinstance(pick("section"), dict) else None
    # Classifications as a list of {key, mapping, value} (Al Mayadeen's `classes`).
    classes = data.get("classes")
    if isinstance(classes, list):
        by_mapping: dict[str, str] = {}
        for item in classes:
            value = plain(item.get("value")) if isinstance(item, dict) else None
            if isinstance(item, dict) and item.get("mapping") and value:
                by_mapping.setdefault(str(item["mapping"]).lower(), value)
        meta.section = (meta.section or by_mapping.get("category") or by_mapping.get("section")
                        or by_mapping.get("posttype"))
        meta.country = by_mapping.get("country")
        if not meta.author and by_mapping.get("author"):
            meta.author = by_mapping["author"]
    body = data.get("articleBody") or data.get("full_text") or data.get("body")
    if isinstance(body, str) and len(body.strip()) > 200:
        meta.body = html.unescape(_TAG.sub("\n", body)) if "<" in body else body
    return meta


def element_text(el: HtmlElement) -> str:
    """The visible text of one element as one line (scripts and styles left out)."""
    return _SPACE.sub(" ", " ".join(_itertext_visible(el))).strip()


def _itertext_visible(el: HtmlElement) -> Iterator[str]:
    skip = {"script", "style", "noscript", "template"}

    def walk(node: HtmlElement) -> Iterator[str]:
        if not isinstance(node.tag, str):     # comments, processing instructions
            if node.tail:
                yield node.tail
            return
        if node.tag in skip:
            if node.tail:
                yield node.tail
            return
        if node.text:
            yield node.text
        for child in node:
            yield from walk(child)
        if node.tail and node is not el:
            yield node.tail

    yield from walk(el)
