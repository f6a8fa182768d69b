"""From the bytes of a fetched page to text, and where its encoding came from.

Arabic sites still serve windows-1256 pages, often with a charset that is missing, only in a
`<meta>` tag, or plainly wrong (a template that says UTF-8 around a windows-1256 body, a server
that defaults to ISO-8859-1). A wrong guess does not fail loudly: it yields mojibake that is
then indexed, tagged and searched as if it were text. So a declared charset is a claim to
check against the bytes, not a fact:

1. a byte-order mark wins (as in the WHATWG encoding standard: it cannot be there by accident);
2. then the charset of the HTTP `Content-Type`, then `<meta charset>` / `http-equiv`;
3. a declared charset that does not fit the bytes is replaced by what the bytes are:
   UTF-8 that is declared as a legacy single-byte charset, legacy bytes declared as UTF-8,
   Arabic windows-1256 declared (or defaulted) as windows-1252;
4. with nothing declared: UTF-8 if the bytes are valid UTF-8, else detection.

Nothing here raises on bad input: undecodable bytes become U+FFFD and a warning says so.
"""
from __future__ import annotations

import codecs
import re
from typing import NamedTuple

from charset_normalizer import from_bytes

# How far into the document a <meta charset> is looked for. The WHATWG prescan stops at
# 1024 bytes, but real pages put long inline scripts and styles before their meta tags.
_META_SCAN_BYTES = 16 * 1024
# Bytes sampled for detection and for the fitness checks: enough text to be sure, bounded cost.
_SAMPLE_BYTES = 64 * 1024

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),   # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_CHARSET_IN_CONTENT_TYPE = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I)
_META_TAG = re.compile(rb"<meta\b[^>]*>", re.I)

# Labels that browsers map to another encoding (WHATWG "Encoding" index): a page labelled
# ISO-8859-1 or ASCII is decoded as windows-1252 by every browser, and authors wrote it so.
_WHATWG_ALIASES = {
    "iso-8859-1": "windows-1252", "iso8859-1": "windows-1252", "latin1": "windows-1252",
    "latin-1": "windows-1252", "l1": "windows-1252", "ascii": "windows-1252",
    "us-ascii": "windows-1252", "iso-8859-9": "windows-1254", "iso-8859-11": "windows-874",
    "tis-620": "windows-874", "x-sjis": "shift_jis", "gb2312": "gbk", "x-gbk": "gbk",
    "ks_c_5601-1987": "euc-kr", "unicode-1-1-utf-8": "utf-8", "utf8": "utf-8",
    "arabic": "iso-8859-6", "x-mac-arabic": "mac-arabic", "cp1256": "windows-1256",
}

_ARABIC_LETTER = re.compile(r"[\u0621-\u064A\u0660-\u0669\u0671-\u06D3\u06F0-\u06F9]")
_NON_ASCII_WORD = re.compile(r"[^\x00-\x7f\s]{3,}")


def _nbsp_or_replace(exc: UnicodeError) -> tuple[str, int]:
    """A lone 0xA0 in UTF-8 is a no-break space typed in a Latin-1 editor: read it as one;
    any other invalid byte becomes U+FFFD."""
    if not isinstance(exc, UnicodeDecodeError):  # registered for decoding only
        raise exc
    bad = exc.object[exc.start:exc.end]
    if bad == b"\xa0":
        return "\u00a0", exc.end
    return "\ufffd", exc.end


codecs.register_error("raqib-nbsp", _nbsp_or_replace)


class Decoded(NamedTuple):
    text: str
    encoding: str        # the codec that produced `text`, e.g. "utf-8", "windows-1256"
    source: str          # "bom", "http-header", "meta", "detected" or "default"
    warnings: tuple[str, ...] = ()


def decode_html(body: bytes, content_type: str | bytes | None = None) -> Decoded:
    """Decode a page's bytes; `content_type` is the HTTP Content-Type header value, if any."""
    if isinstance(body, str):
        return Decoded(body, "utf-8", "default")
    if not body:
        return Decoded("", "utf-8", "default")
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return _decode(body[len(bom):], encoding, "bom", ())

    warnings: list[str] = []
    declared: str | None = None
    source = "default"
    header_label = charset_from_content_type(content_type)
    if header_label:
        declared = normalize_label(header_label)
        source = "http-header"
        if declared is None:
            warnings.append(f"the HTTP header declares an unknown charset {header_label!r}; ignored")
    if declared is None:
        meta_label = charset_from_meta(body)
        if meta_label:
            declared = normalize_label(meta_label)
            source = "meta"
            if declared is None:
                warnings.append(f"the page declares an unknown charset {meta_label!r} in a <meta> tag; ignored")
    if declared in ("utf-16-le", "utf-16-be", "utf-16", "utf-32", "utf-32-le", "utf-32-be") and source == "meta":
        # A meta tag read with an ASCII-compatible scan cannot really be UTF-16 (WHATWG rule).
        declared = "utf-8"

    if declared is not None:
        fitted = _check_declared(body, declared)
        if fitted is None:
            return _decode(body, declared, source, warnings)
        encoding, why = fitted
        warnings.append(f"the charset declared in the {'HTTP header' if source == 'http-header' else '<meta> tag'} "
                        f"({declared}) does not fit the bytes ({why}); decoded as {encoding}")
        return _decode(body, encoding, "detected", warnings)

    if _is_utf8(body):
        return _decode(body, "utf-8", "default" if body.isascii() else "detected", warnings)
    encoding = detect(body)
    warnings.append(f"no charset declared; detected {encoding}")
    return _decode(body, encoding, "detected", warnings)


def charset_from_content_type(content_type: str | bytes | None) -> str | None:
    if not content_type:
        return None
    if isinstance(content_type, str):
        content_type = content_type.encode("latin-1", "replace")
    match = _CHARSET_IN_CONTENT_TYPE.search(content_type)
    return match.group(1).decode("ascii").lower() if match else None


def charset_from_meta(body: bytes) -> str | None:
    """The charset of the first `<meta charset>` or `<meta http-equiv=content-type>` tag."""
    for tag in _META_TAG.finditer(body[:_META_SCAN_BYTES]):
        match = _CHARSET_IN_CONTENT_TYPE.search(tag.group(0))
        if match:
            return match.group(1).decode("ascii").lower()
    return None


def normalize_label(label: str) -> str | None:
    """A charset label as a Python codec name browsers would agree with; None if unknown."""
    label = label.strip().lower()
    label = _WHATWG_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # Python calls windows-125x "cp125x"; keep the web's names in what we report.
    if re.fullmatch(r"cp125\d", name):
        name = "windows-" + name[2:]
    return {"utf_8": "utf-8", "iso8859-6": "iso-8859-6"}.get(name, name.replace("_", "-"))


def detect(body: bytes) -> str:
    """The encoding of bytes that are not UTF-8: windows-1256 when they read as Arabic,
    else charset-normalizer's best guess, else windows-1252."""
    sample = _sample(body)
    if _looks_arabic(sample.decode("windows-1256", "replace")):
        return "windows-1256"
    try:
        best = from_bytes(sample).best()
    except Exception:   # a detector bug must not lose the page: fall back below
        best = None
    if best is not None and best.encoding:
        return normalize_label(best.encoding) or "windows-1252"
    return "windows-1252"


def _check_declared(body: bytes, declared: str) -> tuple[str, str] | None:
    """None if `declared` fits the bytes; else (the encoding they are in, why)."""
    sample = _sample(body)
    if declared == "utf-8":
        if _is_utf8(sample, partial=len(sample) < len(body)):
            return None
        bad = _invalid_utf8_ratio(sample)
        if bad < 0.001:
            return None   # a few broken sequences in real UTF-8: replaced, warned about in _decode
        legacy = detect(body)
        return legacy, "they are not valid UTF-8"
    if _is_single_byte(declared) and not sample.isascii():
        if _is_utf8(sample, partial=len(sample) < len(body)):
            return "utf-8", "they are valid UTF-8"
        if declared != "windows-1256" and _looks_arabic(sample.decode("windows-1256", "replace")) \
                and not _looks_like_text(sample.decode(declared, "replace")):
            return "windows-1256", "they read as Arabic in windows-1256"
    return None


def _decode(body: bytes, encoding: str, source: str, warnings: list[str] | tuple[str, ...]) -> Decoded:
    warnings = list(warnings)
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        text = body.decode(encoding, "raqib-nbsp" if encoding == "utf-8" else "replace")
        count = text.count("\ufffd") + (text.count("\u00a0") - body.count(b"\xc2\xa0") if encoding == "utf-8" else 0)
        warnings.append(f"{count} byte sequence{'s' if count != 1 else ''} invalid in {encoding} "
                        f"replaced by U+FFFD")
    except LookupError:   # cannot happen for normalised labels; never lose the page over it
        text, encoding = body.decode("utf-8", "replace"), "utf-8"
    return Decoded(text, encoding, source, tuple(warnings))


def _sample(body: bytes) -> bytes:
    if len(body) <= 2 * _SAMPLE_BYTES:
        return body
    return body[:_SAMPLE_BYTES] + body[-_SAMPLE_BYTES:]


def _is_utf8(data: bytes, *, partial: bool = False) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        # A sample cut in the middle of a character is not evidence against UTF-8.
        return partial and exc.start >= len(data) - 4 and _is_utf8(data[:exc.start])


def _invalid_utf8_ratio(data: bytes) -> float:
    text = data.decode("utf-8", "replace")
    return text.count("\ufffd") / max(1, len(text))


def _is_single_byte(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name.startswith(("cp", "iso8859", "windows", "latin", "koi8", "mac"))
    except LookupError:
        return False


def _looks_arabic(text: str) -> bool:
    """Most non-ASCII characters outside markup are Arabic letters, in words of several."""
    visible = re.sub(r"<[^>]*>", " ", text)
    non_ascii = sum(1 for ch in visible if ord(ch) > 127 and not ch.isspace())
    if non_ascii < 20:
        return False
    return len(_ARABIC_LETTER.findall(visible)) / non_ascii > 0.8


def _looks_like_text(text: str) -> bool:
    """Latin-script text has its accented letters inside mostly-ASCII words; the same bytes
    read in the wrong single-byte charset give runs of non-ASCII symbols instead."""
    visible = re.sub(r"<[^>]*>", " ", text)
    words = re.findall(r"\S+", visible)
    with_non_ascii = [w for w in words if not w.isascii()]
    if not with_non_ascii:
        return True
    runs = sum(1 for w in with_non_ascii if _NON_ASCII_WORD.search(w))
    return runs / len(with_non_ascii) < 0.5
