"""URLs: the fetchable form of a discovered link, and the canonical form that names an article.

Two functions matter:

* `safe_url` turns whatever a page, feed or sitemap wrote (raw Arabic in a `<loc>`, spaces,
  an internationalised host) into a URL that can be sent on the wire, changing nothing else.
* `canonicalize` is the identity of an article: the document id is a hash of it
  (`pipelines.document.doc_id_for`), so every spelling of one article's address must give the
  same string. Host lower-cased and stripped of `www.`/`m.`, tracking parameters and the
  fragment dropped, AMP copies folded into the page they copy, and the path percent-encoded
  one way (NFC, UTF-8, upper-case hex, unreserved characters literal).

`article_identity` adds what only the fetched page knows: its `rel=canonical`, trusted only
when it stays on the outlet's domains and still looks like an article (some CMSs point every
page's canonical at the home page).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Protocol
from urllib.parse import SplitResult, unquote, urljoin, urlsplit, urlunsplit

# RFC 3986: characters that never need encoding, and the delimiters a path or query may
# carry literally. A percent-escape of a reserved character is kept as an escape: decoding
# `%2F` or `%3D` would change what the URL means.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SUB_DELIMS = frozenset(b"!$&'()*+,;=")
_PATH_LITERAL = _UNRESERVED | _SUB_DELIMS | frozenset(b":@/")
_QUERY_LITERAL = _PATH_LITERAL | frozenset(b"?")
_ESCAPE_RE = re.compile(r"(%[0-9A-Fa-f]{2})")

# Parameters that say who sent the reader, never which article it is.
_TRACKING_EXACT = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid",
    "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id",
})
_TRACKING_PREFIXES = ("utm_",)
# Query flags that ask for the AMP rendering of the same article.
_AMP_PARAMS = {"amp": {"", "1", "true"}, "outputtype": {"amp"}}
_HOST_PREFIXES = ("www.", "m.")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class _OutletLike(Protocol):
    @property
    def home(self) -> str: ...   # read-only: an Outlet is a frozen dataclass

    def allows_host(self, host: str | None) -> bool: ...

    def is_article(self, url: str) -> bool: ...


_TABLES: dict[frozenset[int], list[str]] = {}


def _byte_table(literal: frozenset[int]) -> list[str]:
    """How each byte value is written: itself when `literal`, else its escape. Every URL of
    every sitemap passes through `_encode`, so the per-byte choice is a table look-up."""
    table = _TABLES.get(literal)
    if table is None:
        table = _TABLES[literal] = [chr(b) if b in literal else f"%{b:02X}" for b in range(256)]
    return table


def _encode(text: str, literal: frozenset[int]) -> str:
    """Percent-encode one path or query part the one way: escapes of unreserved and
    non-ASCII bytes are decoded, the result is NFC-normalised, then every byte outside
    `literal` is written as an upper-case escape. Escapes of reserved ASCII are kept."""
    out: list[str] = []
    buffer = bytearray()

    def flush() -> None:
        if not buffer:
            return
        decoded = bytes(buffer).decode("utf-8", errors="surrogateescape")
        data = unicodedata.normalize("NFC", decoded).encode("utf-8", errors="surrogateescape")
        out.append("".join(map(_byte_table(literal).__getitem__, data)))
        buffer.clear()

    for piece in _ESCAPE_RE.split(text):
        if not piece:
            continue
        if _ESCAPE_RE.fullmatch(piece):
            byte = int(piece[1:], 16)
            if byte < 0x80 and byte not in _UNRESERVED:
                flush()
                out.append(piece.upper())
            else:
                buffer.append(byte)
        else:
            buffer.extend(piece.encode("utf-8", errors="surrogateescape"))
    flush()
    return "".join(out)


def _host(netloc_host: str) -> str:
    host = netloc_host.strip().rstrip(".").lower()
    if host and not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass   # left as is: the request will fail with a DNS error, counted as such
    return host


def _netloc(scheme: str, host: str, port: int | None, *, keep_userinfo: str = "") -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"   # IPv6 literal
    netloc = f"{keep_userinfo}@{host}" if keep_userinfo else host
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        netloc += f":{port}"
    return netloc


def _split(url: str) -> tuple[SplitResult, int | None]:
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts, port


# Pure functions of their strings, called several times for one URL on its way from a
# sitemap to the index (discovery, scheduling, identity): cached.
@lru_cache(maxsize=65_536)
def safe_url(url: str, base: str | None = None) -> str:
    """A URL that can be requested: resolved against `base`, whitespace trimmed, host
    IDNA-encoded, path and query percent-encoded; the fragment is dropped (it is never sent)."""
    url = (url or "").strip()
    if base:
        url = urljoin(base, url)
    parts, port = _split(url)
    scheme = parts.scheme.lower()
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    netloc = _netloc(scheme, _host(parts.hostname or ""), port, keep_userinfo=userinfo)
    path = _encode(parts.path, _PATH_LITERAL) or "/"
    query = _encode(parts.query, _QUERY_LITERAL)
    return urlunsplit((scheme, netloc, path, query, ""))


def _is_tracking(name: str) -> bool:
    name = name.lower()
    return name in _TRACKING_EXACT or name.startswith(_TRACKING_PREFIXES)


def _is_amp_flag(name: str, value: str) -> bool:
    allowed = _AMP_PARAMS.get(name.lower())
    return allowed is not None and value.lower() in allowed


def _strip_amp_path(path: str) -> str:
    if path == "/amp" or path.startswith("/amp/"):
        path = path[4:] or "/"
    if path.endswith("/amp"):
        path = path[:-4] or "/"
    elif path.endswith("/amp/"):
        path = path[:-4] or "/"
    return path


def _remove_dot_segments(path: str) -> str:
    if "." not in path:
        return path
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        if seg == ".":
            if i == len(segments) - 1:
                out.append("")
            continue
        if seg == "..":
            if len(out) > 1:
                out.pop()
            if i == len(segments) - 1:
                out.append("")
            continue
        out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


@lru_cache(maxsize=65_536)
def canonicalize(url: str, base: str | None = None) -> str:
    """The one spelling of an article's address (see the module docstring).

    Query parameters other than tracking and AMP flags are kept, sorted, because some CMSs
    address articles by them (`?id=123`). The scheme is kept: an outlet reachable only over
    http must stay fetchable from its canonical URL.
    """
    parts, port = _split(safe_url(url, base))
    scheme = parts.scheme.lower()
    host = _host(parts.hostname or "")
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix):]
            break
    path = _strip_amp_path(_remove_dot_segments(parts.path or "/"))
    params = []
    for pair in parts.query.split("&") if parts.query else ():
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if _is_tracking(name) or _is_amp_flag(name, value):
            continue
        params.append((name, value, pair))
    params.sort(key=lambda p: (p[0], p[1]))
    query = "&".join(p[2] for p in params)
    return urlunsplit((scheme, _netloc(scheme, host, port), path, query, ""))


_NON_ASCII_ESCAPES = re.compile(r"(?:%[89A-Fa-f][0-9A-Fa-f])+")


def _iri(url: str) -> str:
    """`url` with its escaped non-ASCII text shown as text (as an address bar shows an
    Arabic slug); escapes of ASCII delimiters stay escapes. Undecodable bytes stay escaped."""
    def decode(match: re.Match[str]) -> str:
        try:
            return unquote(match.group(0), errors="strict")
        except UnicodeDecodeError:
            return match.group(0)
    return _NON_ASCII_ESCAPES.sub(decode, url)


@lru_cache(maxsize=65_536)
def pattern_forms(url: str) -> tuple[str, ...]:
    """The spellings of a link that an outlet's `article_pattern` and `exclude_pattern` are
    tried on: the link as the source gave it (made sendable by `safe_url`), its canonical
    form, and the canonical form with Arabic shown as text.

    A user writes a pattern from the few article URLs they looked at, in a browser: without
    the `?utm_source=rss` a feed adds, without the AMP wrapper, with the slug in Arabic. A
    pattern written for the raw form (one that names `www.`, say) keeps working too."""
    raw = safe_url(url)
    canonical = canonicalize(raw)
    forms = [raw, canonical, _iri(canonical)]
    return tuple(dict.fromkeys(forms))


def host_of(url: str) -> str:
    return _host(urlsplit(url).hostname or "")


def article_identity(fetched_url: str, canonical_hint: str | None, outlet: _OutletLike) -> str:
    """The canonical URL of a fetched article page: its own `rel=canonical` when that can be
    trusted, else the canonical form of the URL it was fetched from.

    A hint is ignored when it leaves the outlet's domains, points at the home page or a bare
    host, or no longer matches the outlet's article pattern while the fetched URL does: the
    signs of a CMS that sets one canonical for every page, which would merge all articles
    into one document.
    """
    own = canonicalize(fetched_url)
    if not canonical_hint or not canonical_hint.strip():
        return own
    hint_url = safe_url(canonical_hint, fetched_url)
    if urlsplit(hint_url).scheme not in ("http", "https"):
        return own
    if not outlet.allows_host(host_of(hint_url)):
        return own
    hint = canonicalize(hint_url)
    if urlsplit(hint).path in ("", "/") or hint == canonicalize(outlet.home):
        return own
    if outlet.is_article(fetched_url) and not outlet.is_article(hint_url):
        return own
    return hint
