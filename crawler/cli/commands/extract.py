"""`raqib extract`: run the crawl's extraction on saved pages (or one explicit URL) and print
one JSON line per page.

The same functions the crawl uses (`pipelines.extract`, `pipelines.language`) do the work, so
what this prints is what would be indexed. Pages are independent: a page that fails is
reported on stderr and the others are still extracted; the exit code says whether any failed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

from crawler.cli import commands
from crawler.cli.commands import Subcommands

PAGE_SUFFIXES = (".html", ".htm", ".xhtml", ".html.gz", ".htm.gz", ".gz")
FETCH_TIMEOUT = 30.0


def register(sub: Subcommands, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "extract", parents=[common],
        help="extract articles from saved pages or a URL; prints one JSON line per page",
        description="Extracts each page as the crawl would (structured metadata, outlet hints, trafilatura, "
                    "dates in UTC, language) and prints one JSON object per line: source, url, outlet, title, "
                    "text, summary, author, published_at, modified_at, lang, lang_prob, declared_lang, "
                    "date_source, extraction_method, canonical_url_hint, keywords, section, country, "
                    "encoding, warnings. Files ending in .gz are decompressed; a directory stands for the "
                    "pages in it. An http(s) URL is fetched with one GET, with raqib's User-Agent; nothing "
                    "else is ever fetched. A page that fails is reported on stderr and the others go on; "
                    "the exit code is 1 if any failed.",
    )
    p.add_argument("sources", nargs="+", metavar="PATH_OR_URL",
                   help="saved pages (.html, .html.gz), directories, http(s) URLs, or - for a page on stdin")
    p.add_argument("--url", metavar="URL",
                   help="the address a saved page was fetched from: resolves relative links and chooses the outlet "
                        "(only with a single file)")
    p.add_argument("--outlet", metavar="NAME",
                   help="read the pages with this outlet's hints and time zone (default: the outlet whose "
                        "domains contain the page's URL, if any)")
    p.add_argument("--content-type", metavar="VALUE",
                   help="the Content-Type a saved page was served with, e.g. 'text/html; charset=windows-1256'")
    p.add_argument("--timeout", type=float, default=FETCH_TIMEOUT, metavar="SECONDS",
                   help=f"for URLs: give up after this long (default {FETCH_TIMEOUT:g})")
    p.set_defaults(run=run)


class PageError(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    from pipelines.extract import ExtractionError
    from pipelines.outlets import select

    outlets = commands.load_outlets(args)
    forced = select(outlets, [args.outlet])[0] if args.outlet else None
    pages = list(_expand(args.sources))
    files = [p for p in pages if not _is_url(p)]
    if args.url and (len(pages) != 1 or not files):
        print("raqib extract: --url names the address of one saved page; give exactly one file with it", file=sys.stderr)
        return 2
    if args.url and not _is_url(args.url):
        print(f"raqib extract: --url {args.url!r} is not an http(s) URL", file=sys.stderr)
        return 2

    failed = 0
    user_agent = None
    for source in pages:
        try:
            if _is_url(source):
                if user_agent is None:
                    user_agent = _user_agent(args)
                url, body, headers = _fetch(source, user_agent, args.timeout)
            else:
                url, body, headers = _read(source, args.url, args.content_type)
            outlet = forced or _outlet_for(outlets, url)
            record = _extract(source, url, body, headers, outlet)
        except (PageError, ExtractionError) as exc:
            failed += 1
            reason = exc.reason if isinstance(exc, ExtractionError) else str(exc)
            print(f"raqib extract: {source}: {reason}", file=sys.stderr)
            continue
        print(json.dumps(record, ensure_ascii=False), flush=True)
    if failed and len(pages) > 1:
        print(f"raqib extract: {failed} of {len(pages)} pages failed", file=sys.stderr)
    return 1 if failed else 0


def _extract(source: str, url: str, body: bytes, headers: dict, outlet) -> dict:
    from pipelines import language
    from pipelines.extract import extract_article

    article = extract_article(body, url, outlet=outlet, headers=headers)
    hint = article.get("declared_lang") or (outlet.language if outlet else None)
    detected = language.detect(article["title"], article["text"], hint=hint)
    record = {"source": source, "url": url, "outlet": outlet.key if outlet else None}
    record.update(article)
    record["lang"] = detected.lang
    record["lang_prob"] = detected.prob
    return record


def _is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def _expand(sources: list[str]):
    """Files and URLs as given; a directory stands for the pages directly in it, sorted."""
    for source in sources:
        path = Path(source)
        if source != "-" and not _is_url(source) and path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(PAGE_SUFFIXES))
            if not found:
                print(f"raqib extract: {source}: no .html or .html.gz files in this directory", file=sys.stderr)
            yield from (str(p) for p in found)
        else:
            yield source


def _read(source: str, url: str | None, content_type: str | None) -> tuple[str, bytes, dict]:
    from pipelines.extract import ExtractionError, read_page_file

    if source == "-":
        data = sys.stdin.buffer.read()
        if data[:2] == b"\x1f\x8b":
            from pipelines.compression import InflateError, inflate
            from pipelines.extract import MAX_BODY_BYTES

            try:
                data = inflate(data, MAX_BODY_BYTES)
            except InflateError as exc:
                raise PageError(f"cannot decompress the gzip data on stdin ({exc})") from None
        return url or "stdin:", data, ({"Content-Type": content_type} if content_type else {})
    path = Path(source)
    if not path.exists():
        raise PageError("no such file")
    if not path.is_file():
        raise PageError("not a file")
    try:
        body = read_page_file(path)
    except ExtractionError as exc:
        raise PageError(exc.reason) from None
    except OSError as exc:
        raise PageError(f"cannot read it ({exc.strerror or exc})") from None
    return url or path.resolve().as_uri(), body, ({"Content-Type": content_type} if content_type else {})


def _outlet_for(outlets: dict, url: str):
    host = urlsplit(url).hostname
    matches = [o for o in outlets.values() if o.allows_host(host)]
    # The most specific domain wins if two outlets share a parent domain.
    return max(matches, key=lambda o: max(len(d) for d in o.domains), default=None)


def _user_agent(args: argparse.Namespace) -> str:
    from pipelines.fetchrules import user_agent

    return user_agent(commands.load_settings(args))


def _fetch(url: str, user_agent: str, timeout: float) -> tuple[str, bytes, dict]:
    """One GET, as the user asked for it. Redirects are followed (each is one more request to
    the same kind of address); the body is read up to the size extraction accepts."""
    import socket
    import urllib.error
    import urllib.request

    from pipelines.extract import MAX_BODY_BYTES

    request = urllib.request.Request(url, headers={
        "User-Agent": user_agent,
        "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
        "Accept-Language": "ar,en;q=0.7",
    })
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(MAX_BODY_BYTES + 1)
            return response.geturl(), body, dict(response.headers.items())
    except urllib.error.HTTPError as exc:
        raise PageError(f"the server answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise PageError(f"no answer within {timeout:g} s") from None
        raise PageError(f"cannot fetch it ({reason})") from None
    except TimeoutError:
        raise PageError(f"no answer within {timeout:g} s") from None
    except (OSError, ValueError) as exc:
        raise PageError(f"cannot fetch it ({exc})") from None
