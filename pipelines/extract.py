"""One fetched page in, one article out: `extract_article(body, url, outlet=…, headers=…)`.

The order is the order of trust:

1. what the page states for machines: the outlet's own embedded JSON (Al Mayadeen's
   `script#tawsiyat-metadata`), JSON-LD, then `article:*` / `og:*` / `<meta>` tags;
2. the outlet's hints from `config/outlets.yaml` (`extraction:` block): boilerplate elements
   removed first (`drop_selectors`), the body read from `body_selector` when it matches,
   `title/author/date/summary_selector` for fields a page only shows;
3. trafilatura for the body everywhere else, in precision mode (the crawl indexes what it
   extracts: a stray menu costs more than a lost paragraph), falling back to its balanced
   mode when precision keeps only a fragment;
4. cleaning of the text: the outlet's `drop_text` line patterns, then lines that are not
   article text on any site (ad placeholders, print links, view counters, the title repeated,
   a line that is only a date, labelled bylines, which become the author when none is known).

Dates go through `pipelines.dates`: parsed in the outlet's zone when the page gives none,
stored in UTC, and refused (with a warning, falling through to the next source) when they
lie in the future or before 1990.

Everything returned is plain text. A page that is not an article (empty, binary, not HTML,
a block or challenge page, no text) raises `ExtractionError` with the URL and the reason.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from lxml.cssselect import CSSSelector
from lxml.etree import ParserError

from pipelines import dates, normalize
from pipelines.blocks import find_block_marker
from pipelines.compression import InflateError, inflate
from pipelines.encoding import decode_html
from pipelines.safetext import clean_value
from pipelines.structured import (
    Metadata,
    amp_link,
    canonical_link,
    element_text,
    embedded_json,
    html_lang,
    plain,
    read_embedded,
    read_json_ld,
    read_meta,
    time_elements,
)

# Bigger than any article page; bigger bodies are refused before parsing (parsing cost and
# memory grow with size, and such a page is a file, a feed dump or an attack, not an article).
MAX_BODY_BYTES = 16 * 1024 * 1024
# Below this many characters a precision-mode extraction is suspected to be a fragment ...
SHORT_TEXT = 500
# ... and replaced by the balanced-mode text when that is at least this many times longer.
FALLBACK_GAIN = 2.0
# An article has at least a sentence; less is a teaser, an error page or an empty template.
MIN_TEXT = 25

OUTPUT_KEYS = (
    "title", "text", "summary", "author", "published_at", "modified_at", "date_source",
    "extraction_method", "canonical_url_hint", "amp_url_hint", "declared_lang", "keywords", "section",
    "country", "encoding", "warnings",
)


class ExtractionError(ValueError):
    """The page holds no article; `str()` names the URL and what was wrong, `kind` says which
    of KINDS it is (for per-kind crawl statistics)."""

    KINDS = ("empty", "too_large", "not_html", "unparseable", "no_text", "blocked")

    def __init__(self, url: str | None, reason: str, kind: str = "no_text"):
        self.url, self.reason, self.kind = url, reason, kind
        super().__init__(f"{url or '(no URL)'}: {reason}")


class BlockedPageError(ExtractionError):
    """The page is a block or challenge page (a CDN's "checking your browser", a 403 body)."""

    def __init__(self, url: str | None, reason: str):
        super().__init__(url, reason, kind="blocked")


# --- boilerplate that is never article text, on any site ------------------------------------

GENERIC_DROP_LINES = [re.compile(p, re.I) for p in (
    r"^(ad|ads|advertisement|إعلان|اعلان|مساحة إعلانية)(\s+(ad|a|b))*$",   # ad slots left as text
    r"^(طباعة|اطبع|print|print article|print this article)$",
    r"^((عدد\s+)?(المشاهدات|مشاهدات|القراءات|قراءات|views?|reads?))\s*[:：]?\s*[\d٠-٩,.]+$",
    r"^[\d٠-٩,.]+\s*(مشاهدة|قراءة|views?)$",
    r"^(شارك|مشاركة|share|share this|share this article|شارك هذا المقال|شارك الخبر)\s*[:：]?$",
    r"^(تابعونا على|follow us on)\b.{0,40}$",
    r"^(اقرأ|إقرأ|اقرا) (أيضا|أيضاً|ايضا|ايضاً)\s*[:：]?$",
    # "read more: <another headline>", a link to another article inside the body
    r"^(للمزيد|لمزيد من التفاصيل|(اقرأ|إقرأ|اقرا|طالع|شاهد) (أيضا|أيضاً|ايضا|ايضاً)|ذات صلة|مواضيع ذات صلة"
    r"|read more|read also|see also|see more|related)\s*[:：].{0,200}$",
    r"^(don'?t miss|must read|recommended|advertisement|story continues below( advertisement)?"
    r"|لا تفوت|لا يفوتك|مقالات مقترحة|الأكثر قراءة)\s*[:：]?$",
    r"^\[(\w+)\b[^\]]*\].*\[/\1\]$",       # a CMS shortcode left unrendered: [button …]…[/button]
    r"^(\d+\s*)?(comments?|تعليقات?|التعليقات)$",  # a comment counter
    # a row of page tools: «طباعة | أرسل لصديق»
    r"^((طباعة|اطبع|أرسل لصديق|ارسل لصديق|إرسال لصديق|أرسل إلى صديق|حفظ|تكبير الخط|تصغير الخط|print|email|e-mail"
    r"|send to a friend|save)\s*[|/•·\\-]*\s*){2,}$",
)]

# Labels of the metadata lines Arabic sites print above or below an article:
# «الكاتب : المرصد الاستراتيجي التاريخ : 15 ديسمبر 2017 م المشاهدات : 4130».
_AUTHOR_LABELS = r"الكاتب|الكاتبة|الكتاب|بقلم|كتب|كتبت|كتبه|إعداد|اعداد|المؤلف|author|by"
_DATE_LABELS = r"التاريخ|تاريخ النشر|تاريخ الإصدار|نشر في|نشر بتاريخ|آخر تحديث|اخر تحديث|published|updated|date"
_COUNT_LABELS = r"المشاهدات|عدد المشاهدات|القراءات|عدد القراءات|views|reads"
_LABELLED = re.compile(rf"(?:^|\s)(?P<label>{_AUTHOR_LABELS}|{_DATE_LABELS}|{_COUNT_LABELS})\s*[:：]\s*", re.I)
# A date after one of these says when the article was last changed, not when it was published
# (templates often print «آخر تحديث: …» before «تاريخ النشر: …»). Folded forms (dates.fold).
_UPDATE_LABELS = r"اخر تحديث|تم التحديث|تحديث|محدث|last updated|updated|modified"
_UPDATE_BEFORE = re.compile(rf"(?:^|[\s|(])(?:{_UPDATE_LABELS})(?:\s+(?:في|on|at))?[\s:：|\-–—]*$", re.I)


# Embedded social posts: quoted statements are part of the story (readers and annotators count
# them as article text), but a post that repeats the headline is the outlet promoting this very
# article, and is dropped.
_SOCIAL_EMBEDS = CSSSelector(
    "blockquote.twitter-tweet, blockquote.twitter-video, blockquote.instagram-media, blockquote.tiktok-embed, "
    "blockquote.reddit-card, div.fb-post, div.fb-video, blockquote.threads-post, blockquote.bluesky-embed")

_BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "h1", "h2", "h3", "h4",
    "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "table", "tr", "figure",
    "figcaption", "form", "hr", "address", "details", "summary", "center",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "iframe", "object", "embed", "button",
              "select", "option", "textarea", "input", "canvas", "video", "audio", "map", "head"}

_BINARY_MAGIC = (
    (b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"), (b"RIFF", "a RIFF (WebP/WAV/AVI) file"), (b"PK\x03\x04", "a ZIP archive"),
    (b"ID3", "an MP3 file"), (b"OggS", "an Ogg file"), (b"\x7fELF", "an executable"),
    (b"\xd0\xcf\x11\xe0", "an MS Office document"),
)


# --- the entry point --------------------------------------------------------------------------

def _read_structured(tree: Any, hints: Mapping[str, Any],
                     warnings: list[str]) -> tuple[Metadata, Metadata, Metadata]:
    """(the outlet's embedded JSON, JSON-LD, <meta> tags) of the page, each a Metadata."""
    embedded = Metadata(source="embedded-json")
    if hints.get("metadata_json"):
        data, problem = embedded_json(tree, hints["metadata_json"])
        if problem:
            warnings.append(problem)
        if data is not None:
            embedded = read_embedded(data, source=_selector_label(tree, hints["metadata_json"]))
    ld = read_json_ld(tree)
    warnings.extend(ld.warnings)
    return embedded, ld, read_meta(tree)


def _drop_selected(tree: Any, selectors: Iterable[str], warnings: list[str]) -> None:
    """Remove what the outlet's `drop_selectors` name (share bars, related lists)."""
    for selector in selectors:
        for el in _css(selector, tree, warnings, "drop_selectors"):
            if el.getparent() is not None:
                el.drop_tree()


def extract_article(body: bytes | str, url: str, *, outlet=None, headers: Mapping | Any = None,
                    now: datetime | None = None) -> dict[str, Any]:
    """Extract one article; `outlet` is a `pipelines.outlets.Outlet` (hints, zone), `headers` the
    response headers (a dict or Scrapy `Headers`), `now` the reference for "in the future"
    (default: the clock). Returns the fields of OUTPUT_KEYS; raises ExtractionError."""
    hints: dict[str, Any] = dict(getattr(outlet, "extraction", None) or {})
    tz = outlet.tz if outlet is not None else UTC
    convention = hints.get("date_convention", "auto")
    warnings: list[str] = []

    content_type = _header(headers, "content-type")
    decoded_text, encoding = _decode_body(body, url, content_type, warnings)
    tree = _parse(decoded_text, url)

    # Structured data, read before anything is removed from the tree.
    embedded, ld, meta = _read_structured(tree, hints, warnings)
    selected = {name: _select_text(tree, hints.get(f"{name}_selector"), warnings, name)
                for name in ("title", "author", "date", "summary")}

    _unwrap_layout_tables(tree)
    # The title first: it is needed to recognise what repeats it.
    title, title_source = _pick_title(tree, embedded, selected["title"], ld, meta)
    _drop_promotional_embeds(tree, title)
    _drop_selected(tree, hints.get("drop_selectors") or (), warnings)

    text, method = _body(tree, url, hints, warnings, [embedded, ld])
    drop_patterns = [p if hasattr(p, "search") else re.compile(p) for p in hints.get("drop_text") or ()]
    headline = next((t for t in (element_text(el) for el in tree.iter("h1")) if t), None)
    text, found = clean_text(text, title=title, drop=drop_patterns, tz=tz, convention=convention,
                             headline=headline)

    if len(text) < MIN_TEXT:
        _raise_if_blocked(decoded_text, hints, url)
        raise ExtractionError(url, "no article text found on the page"
                              + (f" (only {len(text)} characters of text)" if text else ""))
    if len(text) < 1000:
        _raise_if_blocked(decoded_text, hints, url)

    page = _PageLines(tree, title)
    published, date_source = _pick_published(tree, page, embedded, ld, meta, selected["date"], found,
                                             tz, convention, now, warnings)
    modified = _pick_modified(embedded, ld, meta, tz, now, warnings)

    author = (embedded.author or selected["author"] or ld.author or meta.author or found.get("author")
              or page.labelled_author(text, tz, convention))
    structured = bool(embedded) or bool(ld) or bool(meta.published) or title_source == "meta"
    method = f"metadata+{method}" if structured and method.startswith(("trafilatura", "body_selector")) else method

    canonical = canonical_link(tree) or meta.url or embedded.url
    lang = embedded.lang or html_lang(tree) or ld.lang or meta.lang
    summary = embedded.description or selected["summary"] or ld.description or meta.description
    keywords = embedded.keywords or ld.keywords or meta.keywords
    # Control characters, bidi overrides and lone surrogates out of every field (pipelines/safetext.py).
    return clean_value({
        "title": title,
        "text": text,
        "summary": summary,
        "author": _clean_author(author),
        "published_at": published.iso() if published else None,
        "modified_at": modified.iso() if modified else None,
        "date_source": date_source,
        "extraction_method": method,
        "canonical_url_hint": _absolute(url, canonical),
        "amp_url_hint": _absolute(url, amp_link(tree)),
        "declared_lang": _lang_code(lang),
        "keywords": keywords,
        "section": embedded.section or ld.section or meta.section,
        "country": embedded.country,
        "encoding": encoding,
        "warnings": warnings,
    })


# --- decoding and parsing ----------------------------------------------------------------------

def _header(headers: Mapping | Any, name: str) -> str | None:
    if not headers:
        return None
    value = None
    try:
        value = headers.get(name)          # Scrapy Headers and CaseInsensitiveDicts fold case
    except Exception:
        value = None
    if value is None and hasattr(headers, "items"):
        for key, val in headers.items():
            key = key.decode("latin-1") if isinstance(key, bytes) else str(key)
            if key.lower() == name:
                value = val
                break
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value


def _decode_body(body: bytes | str, url: str, content_type: str | None, warnings: list[str]) -> tuple[str, str]:
    if body is None or len(body) == 0:
        raise ExtractionError(url, "the response body is empty", "empty")
    if isinstance(body, str):
        return body, "unicode"
    if len(body) > MAX_BODY_BYTES:
        raise ExtractionError(url, f"the page is {len(body) / 2**20:.1f} MB, more than the "
                                   f"{MAX_BODY_BYTES // 2**20} MB an article page can be", "too_large")
    if body[:2] == b"\x1f\x8b":     # gzip the server did not declare as Content-Encoding
        try:
            body = inflate(body, MAX_BODY_BYTES)
        except InflateError as exc:
            raise ExtractionError(url, f"the body is gzip data that cannot be decompressed ({exc})",
                                  "too_large" if exc.too_large else "unparseable") from None
        warnings.append("the body was gzip-compressed without Content-Encoding; decompressed")
    mime = (content_type or "").split(";")[0].strip().lower()
    kind = _binary_kind(body)
    if mime and not _html_like_mime(mime) and not _sniff_html(body):
        raise ExtractionError(url, f"not an HTML page: the server says it is {mime}"
                                   + (f" and the body looks like {kind}" if kind else ""), "not_html")
    if kind:
        raise ExtractionError(url, f"not an HTML page: the body looks like {kind}", "not_html")
    decoded = decode_html(body, content_type)
    warnings.extend(decoded.warnings)
    if not _sniff_html(body) and "<" not in decoded.text[:4096]:
        raise ExtractionError(url, "not an HTML page: no markup in the body"
                                   + (f" (Content-Type {mime})" if mime else ""), "not_html")
    return decoded.text, decoded.encoding


def _html_like_mime(mime: str) -> bool:
    return mime in ("text/html", "application/xhtml+xml", "application/xml", "text/xml", "text/plain",
                    "application/octet-stream", "binary/octet-stream") or mime.endswith("+xml") or "html" in mime


def _sniff_html(body: bytes) -> bool:
    head = body[:2048].lstrip().lower()
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return True
    return bool(re.search(rb"<(!doctype html|html|head|body|meta|title|p|div|article)[\s>/]", head))


_CONTROL_BYTES = bytes(set(range(32)) - {9, 10, 12, 13, 27})
_FEED_ROOT = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(rss|feed|rdf:RDF|urlset|sitemapindex)\b", re.S)


def _binary_kind(body: bytes) -> str | None:
    head = body[:16]
    for magic, kind in _BINARY_MAGIC:
        if head.startswith(magic):
            return kind
    sample = body[:4096]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")) or sample[1::2].count(0) > len(sample) // 3 \
            or sample[0::2].count(0) > len(sample) // 3:
        return None          # UTF-16, with or without a BOM: NULs in every other byte
    # Text has almost no control bytes; a stray NUL in a real page must not cost the page.
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if sample and controls > 0.05 * len(sample):
        return "binary data (it is full of control bytes)"
    feed = _FEED_ROOT.match(body[:2048])
    if feed:
        return {b"urlset": "a sitemap", b"sitemapindex": "a sitemap index"}.get(feed.group(3), "a news feed")
    return None


class _OnlyWhenDebugging(logging.Filter):
    """trafilatura and htmldate log at WARNING/ERROR what raqib reports itself, once and with
    the URL (an ExtractionError, a warning in the result); their own lines are shown only
    when their loggers are set to DEBUG (`raqib -vv`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return logging.getLogger(record.name.split(".")[0]).isEnabledFor(logging.DEBUG)


_quieted = False


def _quiet_libraries() -> None:
    global _quieted
    if _quieted:
        return
    _quieted = True
    quiet = _OnlyWhenDebugging()
    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in ("trafilatura", "htmldate")]
    for name in names + ["trafilatura", "htmldate"]:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _OnlyWhenDebugging) for f in logger.filters):
            logger.addFilter(quiet)


def _parse(text: str, url: str):
    from trafilatura.utils import load_html

    _quiet_libraries()

    try:
        tree = load_html(text)
    except (ParserError, ValueError, TypeError) as exc:
        raise ExtractionError(url, f"the page cannot be parsed as HTML ({exc})", "unparseable") from None
    if tree is None:
        raise ExtractionError(url, "not an HTML page: the parser found no document in it", "not_html")
    return tree


# --- fields -------------------------------------------------------------------------------------

def _css(selector: str, tree, warnings: list[str], what: str) -> list:
    try:
        return CSSSelector(selector)(tree)
    except Exception as exc:     # cssselect raises several exception types for bad selectors
        warnings.append(f"the outlet's {what} {selector!r} is not a valid CSS selector ({exc}); ignored")
        return []


def _unwrap_layout_tables(tree) -> None:
    """Old portals set the whole article in a one-column table. Read as a table its paragraphs
    would be fused into one cell; a table none of whose rows has two cells is layout, so it
    becomes plain blocks."""
    for table in list(tree.iter("table")):
        rows = table.xpath("./tr | ./tbody/tr | ./thead/tr | ./tfoot/tr")
        if not rows or any(len(row.xpath("./td | ./th")) > 1 for row in rows):
            continue
        if not table.xpath(".//p | .//br | .//div"):
            continue
        for el in [table, *table.xpath("./tbody | ./thead | ./tfoot"), *rows,
                   *[cell for row in rows for cell in row.xpath("./td | ./th")]]:
            el.tag = "div"
            for attr in ("width", "cellpadding", "cellspacing", "border", "colspan", "rowspan"):
                el.attrib.pop(attr, None)


def _drop_promotional_embeds(tree, title: str | None) -> None:
    title_form = " ".join(normalize.tokens(title or ""))
    if len(title_form) < 10:
        return
    for el in _SOCIAL_EMBEDS(tree):
        if el.getparent() is not None and title_form in " ".join(normalize.tokens(element_text(el))):
            el.drop_tree()


def _selector_label(tree, selector: str) -> str:
    """How a date from embedded JSON is labelled: the element's id (`tawsiyat-metadata`)."""
    for el in _css(selector, tree, [], "metadata_json"):
        if el.get("id"):
            return el.get("id")
    return "embedded-json"


def _select_text(tree, selector: str | None, warnings: list[str], name: str) -> str | None:
    if not selector:
        return None
    for el in _css(selector, tree, warnings, f"{name}_selector"):
        text = element_text(el)
        if text:
            return text
    return None


def _pick_title(tree, embedded: Metadata, selected: str | None, ld: Metadata, meta: Metadata) -> tuple[str | None, str]:
    site = meta.site_name or ld.site_name
    for value, source in ((embedded.title, "embedded"), (selected, "selector"), (ld.title, "json-ld"),
                          (meta.title, "meta")):
        if value:
            return _strip_site_name(value, site), source
    h1 = next((t for t in (element_text(el) for el in tree.iter("h1")) if t), None)
    if h1:
        return h1, "h1"
    title_el = tree.find(".//title")
    if title_el is not None:
        text = plain(title_el.text_content())
        if text:
            return _strip_site_name(text, site), "title"
    return None, "none"


_SEPARATORS = re.compile(r"\s+[|\-–—:•·»]\s+")


def _strip_site_name(title: str, site: str | None) -> str:
    """«Headline - Al Mayadeen» → «Headline», when the part cut off names the site. Only the
    site's part and its separator go: the headline keeps its own colons, dashes and quotes
    («سوريا : قتلى …», «… «داعش»»)."""
    separators = list(_SEPARATORS.finditer(title))
    if not separators:
        return title
    site_form = " ".join(normalize.tokens(site or ""))
    if not site_form:
        return title
    last, first = separators[-1], separators[0]
    for cut, rest in ((title[last.end():], title[:last.start()]), (title[:first.start()], title[first.end():])):
        cut_form = " ".join(normalize.tokens(cut))
        if cut_form and (cut_form == site_form or cut_form in site_form or site_form in cut_form):
            if len(rest.strip()) >= 10:
                return rest.strip()
    return title


def _clean_author(author: str | None) -> str | None:
    if not author:
        return None
    author = re.sub(rf"^(?:{_AUTHOR_LABELS})\s*[:：]?\s+", "", author.strip(), flags=re.I).strip(" :-|,")
    return author or None


def _lang_code(lang: str | None) -> str | None:
    if not lang:
        return None
    code = lang.strip().replace("_", "-").split("-")[0].lower()
    return code if re.fullmatch(r"[a-z]{2,3}", code) else None


def _absolute(base: str, href: str | None) -> str | None:
    if not href:
        return None
    try:
        return urljoin(base, href.strip())
    except ValueError:
        return None


# --- body ----------------------------------------------------------------------------------------

def _body(tree, url: str, hints: dict, warnings: list[str], structured: list[Metadata]) -> tuple[str, str]:
    selector = hints.get("body_selector")
    if selector:
        elements = _css(selector, tree, warnings, "body_selector")
        text = "\n".join(t for t in (html_to_text(el) for el in elements) if t)
        if len(text) >= MIN_TEXT * 4:
            return text, "body_selector"
        warnings.append(f"body_selector {selector!r} " + ("matched nothing" if not elements else
                        f"held only {len(text)} characters") + "; the generic extractor was used")

    # trafilatura's comparison with readability and jusText on every page cost 30 % more CPU
    # on the 181 benchmark pages (twice as much on the mirror's) for no better body F1
    # (bench/extraction_eval): it runs on the second pass below, and on every page only for
    # an outlet that asks.
    text = _trafilatura(tree, url, precision=True, compare=bool(hints.get("compare_extractors")))
    method = "trafilatura"
    if len(text) < SHORT_TEXT:
        # A fragment: the publisher's own full text (JSON-LD articleBody, embedded JSON) when
        # it has one, else trafilatura's balanced mode with every comparison, whichever is
        # clearly longer.
        for meta in structured:
            body = (meta.body or "").strip()
            if len(body) >= max(MIN_TEXT, FALLBACK_GAIN * len(text)):
                return body, f"{meta.source}-body"
        balanced = _trafilatura(tree, url, precision=False, compare=True)
        if len(balanced) >= FALLBACK_GAIN * max(len(text), 1) and not _only_link_texts(balanced, tree):
            text, method = balanced, "trafilatura-fallback"
    return text, method


def _only_link_texts(text: str, tree) -> bool:
    """Whether every line of `text` is the text of one of the page's links: the balanced mode's
    reading of a listing or a menu, which the precision mode rightly found no article in."""
    links = {t for t in (element_text(a) for a in tree.iter("a")) if t}
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return bool(lines) and all(line in links for line in lines)


def _trafilatura(tree, url: str, *, precision: bool, compare: bool) -> str:
    from trafilatura import bare_extraction

    try:
        doc = bare_extraction(tree, url=url, fast=not compare, favor_precision=precision, include_comments=False,
                              include_tables=True, with_metadata=False, deduplicate=False)
    except (ValueError, TypeError, RecursionError, AttributeError):
        # trafilatura signals "nothing found" by exceptions in some paths; an unusual tree must
        # never cost the page: it falls back to the other mode or to structured text.
        return ""
    if isinstance(doc, dict):   # the as_dict form (not asked for here, but in its return type)
        return str(doc.get("text") or "").strip()
    return (doc.text or "").strip() if doc is not None else ""


def html_to_text(el) -> str:
    """The text of an element as paragraphs, one per line: block elements end a line, `<br>` too,
    scripts, styles, forms and media are left out."""
    lines: list[str] = []
    current: list[str] = []

    def flush():
        line = re.sub(r"\s+", " ", "".join(current)).strip()
        if line:
            lines.append(line)
        current.clear()

    def walk(node):
        tag = node.tag if isinstance(node.tag, str) else None
        if tag is None:                       # comment or processing instruction
            if node.tail:
                current.append(node.tail)
            return
        tag = tag.lower()
        if tag in _SKIP_TAGS:
            if node.tail:
                current.append(node.tail)
            return
        block = tag in _BLOCK_TAGS
        if block:
            flush()
        if tag == "br":
            flush()
        if node.text:
            current.append(node.text)
        for child in node:
            walk(child)
        if block:
            flush()
        if node.tail and node is not el:
            current.append(node.tail)

    walk(el)
    flush()
    return "\n".join(lines)


# --- cleaning the text ---------------------------------------------------------------------------

def clean_text(text: str, *, title: str | None = None, drop: list[re.Pattern] | tuple = (),
               tz=None, convention: str = "auto", headline: str | None = None) -> tuple[str, dict[str, Any]]:
    """Remove what is not article text; return (text, what was found in removed lines:
    'author' from a byline, 'date' (a ParsedDate) from a date line). `headline` is the page's
    <h1>, which may word the title differently from the metadata."""
    found: dict[str, Any] = {}
    title_form = " ".join(normalize.tokens(title or ""))
    headings = {title_form, " ".join(normalize.tokens(headline or ""))} - {""}
    text = _INVISIBLE.sub("", text or "")
    lines = [_unwrap_cell(_SPACES.sub(" ", line).strip()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    kept: list[str] = []
    n = len(lines)
    for i, line in enumerate(lines):
        near_edge = i < 6 or i >= n - 6
        if any(p.search(line) for p in drop):
            _harvest(line, found, tz, convention)
            continue
        if any(p.match(line) for p in GENERIC_DROP_LINES):
            continue
        if headings and not kept and i < 4 and " ".join(normalize.tokens(line)) in headings:
            continue
        if near_edge and _is_metadata_line(line, title_form, found, tz, convention):
            continue
        if kept and kept[-1] == line:
            continue
        kept.append(line)
    # A heading left with nothing under it («المصادر:» whose list was a sidebar widget).
    while kept and kept[-1].endswith((":", "：")) and len(kept[-1].split()) <= 5:
        kept.pop()
    return "\n".join(kept), found


# Direction marks and overrides, zero-width spaces, byte-order marks and the replacement
# character of undecodable bytes: invisible, or noise, and they split words for search.
_INVISIBLE = re.compile("[\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufffd]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_ONE_CELL = re.compile(r"^\|\s(.*?)\s\|$")


def _unwrap_cell(line: str) -> str:
    """A table row with a single cell is page layout (old portals set articles in tables),
    not tabular data: «| text |» becomes «text»."""
    match = _ONE_CELL.match(line)
    if not match or re.search(r"(?<!\\)\s\|\s", match.group(1)):
        return line
    return match.group(1).replace("\\|", "|").strip()


def _is_metadata_line(line: str, title_form: str, found: dict, tz, convention: str) -> bool:
    """A line made only of a date, or of labelled fields (author, date, views), optionally after
    the title; what it says is kept in `found`."""
    if len(line) > 200:
        return False
    labels = list(_LABELLED.finditer(line))
    if labels:
        head = line[: labels[0].start()].strip()
        if head and not (title_form and " ".join(normalize.tokens(head)) == title_form):
            return False
        seen: dict[str, Any] = {}
        for j, match in enumerate(labels):
            end = labels[j + 1].start() if j + 1 < len(labels) else len(line)
            value = line[match.end():end].strip(" :-|،,")
            label = match.group("label")
            if re.fullmatch(_AUTHOR_LABELS, label, re.I):
                if not value or len(value) > 80:
                    return False       # a long value is a sentence that happens to start so
                seen.setdefault("author", value)
            elif re.fullmatch(_COUNT_LABELS, label, re.I):
                if not re.fullmatch(r"[\d٠-٩,.]+", value):
                    return False
                seen.setdefault("views", value)
            else:
                parsed = dates.parse_date(value, tz=tz, convention=convention)
                if parsed is None:
                    return False       # «التاريخ: …» is also "history: …"
                update = bool(_UPDATE_BEFORE.search(dates.fold(label)))
                seen.setdefault("modified" if update else "date", parsed)
        for key, value in seen.items():
            found.setdefault(key, value)
        return True
    spans = dates.find_dates(line, tz=tz, convention=convention)
    if spans:
        folded = dates.fold(line)
        covered = sum(end - start for (start, end), _ in spans)
        rest = re.sub(r"[\s\-–—|,:/()]+", "", folded[: spans[0][0][0]] + folded[spans[-1][0][1]:])
        if covered >= 0.6 * len(folded.strip()) and len(rest) <= 12:
            published = publication_dates(line, tz=tz, convention=convention)
            if published:
                found.setdefault("date", published[0])
            return True
    return False


def publication_dates(line: str, *, tz=None, convention: str = "auto") -> list[dates.ParsedDate]:
    """The dates a line gives, in order, without those it labels as the last update."""
    folded = dates.fold(line)
    out, previous_end = [], 0
    for (start, end), parsed in dates.find_dates(line, tz=tz, convention=convention):
        if not _UPDATE_BEFORE.search(folded[previous_end:start]):
            out.append(parsed)
        previous_end = end
    return out


def _harvest(line: str, found: dict, tz, convention: str) -> None:
    """A dropped line may still say when the article was published."""
    if "date" not in found:
        published = publication_dates(line, tz=tz, convention=convention)
        if published:
            found["date"] = published[0]


# --- dates ----------------------------------------------------------------------------------------

def _pick_published(tree, page: _PageLines, embedded: Metadata, ld: Metadata, meta: Metadata,
                    selected: str | None, found: dict, tz, convention: str, now, warnings: list[str]):
    candidates: list[tuple[str | None, str]] = [
        (embedded.published, embedded.source),
        (selected, f"selector:{convention}"),
        (ld.published, "json-ld"),
        (meta.published, meta.source),
    ]
    candidates += [(value, source) for source, value in time_elements(tree, page.title) if source != "time"]
    for value, source in candidates:
        if not value:
            continue
        parsed = dates.parse_date(value, tz=tz, convention=convention)
        if parsed is None:
            warnings.append(f"date {value!r} ({source}) not understood")
            continue
        if _accept(parsed, source, now, warnings):
            return parsed, source if not source.startswith("selector") else f"selector:{parsed.convention}"
    if found.get("date") and _accept(found["date"], "page text", now, warnings):
        return found["date"], f"page-text:{found['date'].convention}"
    near = page.date_near_title(tz, convention, now, warnings)
    if near is not None:
        return near, f"page-text:{near.convention}"
    guessed = _htmldate(tree, tz, now, warnings)
    if guessed is not None:
        return guessed, "htmldate"
    return None, None


def _accept(parsed: dates.ParsedDate, source: str, now, warnings: list[str]) -> bool:
    try:
        dates.check_plausible(parsed, now=now)
    except dates.ImplausibleDate as exc:
        warnings.append(f"date from {source} rejected: {exc}")
        return False
    return True


def _pick_modified(embedded: Metadata, ld: Metadata, meta: Metadata, tz, now, warnings: list[str]):
    for value, source in ((embedded.modified, embedded.source), (ld.modified, "json-ld"), (meta.modified, "meta")):
        parsed = dates.parse_date(value, tz=tz) if value else None
        if parsed is not None and _accept(parsed, f"{source} (modified)", now, warnings):
            return parsed
    return None


class _PageLines:
    """The page's visible text as lines, computed only when a field has to be looked for in
    it: dates and bylines are printed next to the headline or right after the body, so only
    those windows are searched (a sidebar's dates and names are further away)."""

    BEFORE_TITLE, AFTER_TITLE, AFTER_BODY = 4, 12, 4

    def __init__(self, tree, title: str | None):
        self.tree, self.title = tree, title
        self._lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            body = self.tree.find(".//body")
            self._lines = html_to_text(body).splitlines() if body is not None else []
        return self._lines

    def around_title(self) -> list[str]:
        lines = self.lines
        title = self.title or ""
        title_form = " ".join(normalize.tokens(title))
        index = None
        if title_form:
            for i, line in enumerate(lines):
                if not 0.3 * len(title) <= len(line) <= 3 * len(title) + 20:
                    continue              # cheap test first: most lines are far from the title's size
                form = " ".join(normalize.tokens(line))
                if form and (form == title_form or (len(form) > 15 and title_form.startswith(form)) or
                             (len(title_form) > 15 and title_form in form and len(form) < 3 * len(title_form))):
                    index = i
                    break
        if index is None:
            h1 = next((element_text(el) for el in self.tree.iter("h1")), None)
            if h1:
                index = next((i for i, line in enumerate(lines) if line.strip() == h1), None)
        if index is None:
            return []
        return lines[max(0, index - self.BEFORE_TITLE): index + self.AFTER_TITLE]

    def after_text(self, text: str) -> list[str]:
        last = text.rsplit("\n", 1)[-1].strip()
        if not last:
            return []
        for i in range(len(self.lines) - 1, -1, -1):
            if self.lines[i].strip() == last:
                return self.lines[i + 1: i + 1 + self.AFTER_BODY]
        return []

    def date_near_title(self, tz, convention: str, now, warnings: list[str]):
        for line in self.around_title():
            for parsed in publication_dates(line, tz=tz, convention=convention):
                if _accept(parsed, "page text", now, warnings):
                    return parsed
        return None

    def labelled_author(self, text: str, tz, convention: str) -> str | None:
        """«الكاتب : …» / «بقلم: …» printed by the headline or under the body."""
        title_form = " ".join(normalize.tokens(self.title or ""))
        for line in self.around_title() + self.after_text(text):
            found: dict[str, Any] = {}
            if _is_metadata_line(line, title_form, found, tz, convention) and found.get("author"):
                return found["author"]
        return None


def _htmldate(tree, tz, now, warnings: list[str]):
    try:
        from htmldate import find_date
    except ImportError:    # pragma: no cover - htmldate comes with trafilatura
        return None
    try:
        value = find_date(tree, extensive_search=False, original_date=True, outputformat="%Y-%m-%d",
                          max_date=(now or datetime.now(UTC)).strftime("%Y-%m-%d"))
    except Exception:      # htmldate is a heuristic: its failure means "no date", not a lost page
        return None
    if not value:
        return None
    parsed = dates.parse_date(value, tz=tz)
    if parsed is not None and _accept(parsed, "htmldate", now, warnings):
        return parsed
    return None


# --- block pages -----------------------------------------------------------------------------------

def _raise_if_blocked(decoded: str, hints: dict, url: str) -> None:
    marker = find_block_marker(decoded[:200_000], hints.get("blocked_markers") or ())
    if marker:
        raise BlockedPageError(url, f"a block or challenge page, not an article (it contains {marker!r}); "
                                    "the outlet is refusing the crawler")


def read_page_file(path) -> bytes:
    """A saved page: `.gz` files are decompressed (bounded, like a response body)."""
    path = Path(path)
    data = path.read_bytes()
    if path.suffix == ".gz" or data[:2] == b"\x1f\x8b":
        try:
            return inflate(data, MAX_BODY_BYTES)
        except InflateError as exc:
            raise ExtractionError(str(path), f"cannot decompress the gzip file ({exc})", "unparseable") from None
    return data


