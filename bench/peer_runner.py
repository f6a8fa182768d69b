"""One peer crawling the mirror, run by the peers' own interpreter (bench/.peers-venv).

    <peers-venv>/bin/python bench/peer_runner.py TOOL SPEC.json OUT.jsonl

This file imports nothing of raqib's: it runs where only the peer is installed. SPEC gives the
outlets ({"key", "home"}), the concurrency and a work directory; OUT gets one JSON line per
page the tool kept as an article: {"outlet", "url", "title", "text"}.

* trafilatura (its URL library told to accept the mirror's loopback hosts, see
  accept_loopback_hosts, and its SSRF filter off): its discovery (sitemap_search: robots.txt and sitemaps; find_feed_urls: the
  home page's feeds; focused_crawler from the home page when neither finds anything), with
  SLEEP_TIME 0, then buffered_downloads with SPEC's concurrency and bare_extraction with its
  defaults.
* news-please: its command line (`news-please -c CONFIG -no-confirm`) on a config written
  here from its shipped config.cfg: SitemapCrawler for every outlet (its default, falling back
  to RecursiveCrawler), Scrapy's CONCURRENT_REQUESTS and per-domain concurrency set to SPEC's,
  no delay, robots.txt obeyed, its default extractors and JSON file storage, which is read back.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit


def accept_loopback_hosts() -> None:
    """courlan (trafilatura's URL library) drops URLs whose host is an IP address with a port
    or has no public suffix: every URL of the mirror, whose outlets live at 127.0.0.x:port.
    Teach its two host checks that such a host is its own domain; nothing else changes."""
    import courlan.core
    import courlan.filters
    import courlan.urlutils

    def loopback(netloc: str) -> str | None:
        host = netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc
        return netloc if host.startswith("127.") and host.replace(".", "").isdigit() else None

    domain_filter, tldinfo = courlan.filters.domain_filter, courlan.urlutils.get_tldinfo

    def patched_filter(domain: str) -> bool:
        return bool(loopback(domain)) or domain_filter(domain)

    def patched_tldinfo(url: str, fast: bool = False):
        netloc = loopback(urlsplit(url).netloc)
        return (netloc, netloc) if netloc else tldinfo(url, fast=fast)

    courlan.core.domain_filter = courlan.filters.domain_filter = patched_filter
    courlan.urlutils.get_tldinfo = patched_tldinfo


def run_trafilatura(spec: dict, out) -> None:
    accept_loopback_hosts()
    from trafilatura import bare_extraction
    from trafilatura.downloads import buffered_downloads
    from trafilatura.feeds import find_feed_urls
    from trafilatura.settings import DEFAULT_CONFIG
    from trafilatura.sitemaps import sitemap_search
    from trafilatura.spider import focused_crawler

    # its documented settings, on the configuration every call defaults to: no delay, and no
    # SSRF filter (it refuses loopback addresses, where the mirror is)
    config = DEFAULT_CONFIG
    config.set("DEFAULT", "SLEEP_TIME", "0")
    config.set("DEFAULT", "SSRF_PROTECTION", "off")
    for outlet in spec["outlets"]:
        home = outlet["home"]
        host = urlsplit(home).netloc
        links = set(sitemap_search(home, sleep_time=0, config=config))
        links |= set(find_feed_urls(home, sleep_time=0, config=config))
        if not links:
            todo, known = focused_crawler(home, max_seen_urls=spec["max_seen_urls"], config=config)
            links = set(known)
        links = {u for u in links if urlsplit(u).netloc == host}
        for url, html in buffered_downloads(sorted(links), spec["concurrency"]):
            if not html:
                continue
            found = bare_extraction(html, url=url)
            if found is None:
                continue
            doc = found if isinstance(found, dict) else found.as_dict()
            if doc.get("text"):
                out.write(json.dumps({"outlet": outlet["key"], "url": url, "title": doc.get("title"),
                                      "text": doc["text"]}, ensure_ascii=False) + "\n")


def run_newsplease(spec: dict, out) -> None:
    import newsplease  # type: ignore[import-not-found]  # an optional peer: untyped, installed by bench.peers only

    work = Path(spec["work"])
    config_dir = work / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    shipped = Path(newsplease.__file__).parent / "config" / "config.cfg"
    text = shipped.read_text(encoding="utf-8")
    replace = {
        "working_path = ~/news-please-repo/": f"working_path = {work / 'repo'}/",
        "CONCURRENT_REQUESTS=16": f"CONCURRENT_REQUESTS={spec['concurrency']}",
        "CONCURRENT_REQUESTS_PER_DOMAIN=4": f"CONCURRENT_REQUESTS_PER_DOMAIN={spec['per_domain']}",
        "LOG_LEVEL = INFO": os.environ.get("PEER_LOG_LEVEL", "LOG_LEVEL = ERROR"),
    }
    for old, new in replace.items():
        if old not in text:
            raise SystemExit(f"peer_runner: news-please's config.cfg has no line {old!r}; its format changed")
        text = text.replace(old, new)
    # news-please names a site's allowed domain by its host and port ("127.0.0.13:35369"), which
    # Scrapy's offsite filter never matches: every request to the mirror would be dropped. The
    # same filter, comparing host and port, replaces it (mirror_offsite.py, written here).
    text = text.replace("ITEM_CLASS = ", "DOWNLOADER_MIDDLEWARES = {'scrapy.downloadermiddlewares.offsite.OffsiteMiddleware': None, "
                        "'mirror_offsite.NetlocOffsite': 50}\nITEM_CLASS = ", 1)
    (work / "mirror_offsite.py").write_text(OFFSITE, encoding="utf-8")
    os.environ["PYTHONPATH"] = str(work)
    (config_dir / "config.cfg").write_text(text, encoding="utf-8")
    sites = {"base_urls": [{"url": o["home"], "crawler": "SitemapCrawler"} for o in spec["outlets"]]}
    (config_dir / "sitelist.hjson").write_text(json.dumps(sites), encoding="utf-8")
    exe = Path(sys.executable).parent / "news-please"
    subprocess.run([str(exe), "-c", str(config_dir), "-no-confirm"], check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL)
    hosts = {urlsplit(o["home"]).netloc: o["key"] for o in spec["outlets"]}
    for path in sorted((work / "repo").rglob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        url = doc.get("url") or ""
        if doc.get("maintext") and urlsplit(url).netloc in hosts:
            out.write(json.dumps({"outlet": hosts[urlsplit(url).netloc], "url": url, "title": doc.get("title"),
                                  "text": doc["maintext"]}, ensure_ascii=False) + "\n")


OFFSITE = '''from scrapy.exceptions import IgnoreRequest
from urllib.parse import urlsplit


class NetlocOffsite:
    """Scrapy's offsite filter, for allowed domains written as host:port."""

    def process_request(self, request, spider=None):
        allowed = getattr(spider, "allowed_domains", None) if spider is not None else None
        if request.dont_filter or not allowed:
            return None
        netloc = urlsplit(request.url).netloc
        if any(netloc == d or netloc.endswith("." + d) for d in allowed):
            return None
        raise IgnoreRequest(f"offsite: {request.url}")
'''


TOOLS = {"trafilatura": run_trafilatura, "news-please": run_newsplease}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in TOOLS:
        print(f"usage: peer_runner.py {{{'|'.join(TOOLS)}}} SPEC.json OUT.jsonl", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    os.environ.setdefault("HOME", spec["work"])
    with open(argv[2], "w", encoding="utf-8") as out:
        TOOLS[argv[0]](spec, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
