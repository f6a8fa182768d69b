"""Politeness and faults, served for real by local sites: who we say we are, robots.txt,
Retry-After and back-off, blocks and challenges, private addresses, and every kind of broken
response counted while the crawl goes on."""
from __future__ import annotations

import socket
import time

import pytest

from crawler.engine.middlewares import address_allowed, block_reason, retry_after_seconds
from tests.support.crawlrun import AR, crawl, docs, outlet_yaml, write_config
from tests.support.localsite import Site, article_html, listing_html, recent


def _article(site: Site, path: str, i: int = 0, **kw) -> None:
    row = AR[i % len(AR)]
    site.add(path, article_html(row["title"], row["text"], published=recent(1).isoformat(), **kw))


def _config(tmp_path, es_url, alias, yaml, **crawl_settings):
    return write_config(tmp_path / "c", es_url=es_url, alias=alias, state_dir=tmp_path / "s",
                        outlets_yaml="outlets:\n" + yaml, **crawl_settings)


def test_the_crawler_says_who_it_is(tmp_path, es_url, alias):
    with Site() as site:
        _article(site, "/news/1")
        site.add("/", listing_html([site.url("/news/1")]))
        config = _config(tmp_path, es_url, alias, outlet_yaml("local", site), contact="https://example.org/raqib-crawler")
        assert crawl(config).code == 0
        agents = {r.headers.get("user-agent") for r in site.requests()}
        assert len(agents) == 1
        agent = agents.pop()
        assert agent.startswith("raqib/") and "+https://example.org/raqib-crawler" in agent
        assert all("cookie" not in r.headers for r in site.requests())


def test_retry_after_is_honoured_then_the_page_is_fetched(tmp_path, es_url, es, alias):
    with Site() as site:
        _article(site, "/news/1")
        calls = []
        row = AR[1]
        page = article_html(row["title"], row["text"], published=recent(1).isoformat()).encode()

        answered = []

        def busy_then_ok(handler):
            calls.append(time.monotonic())
            if len(calls) == 1:
                Site.send(handler, 429, b"slow down", headers={"Retry-After": "2"})
                answered.append(time.time())
                return 429
            Site.send(handler, 200, page)
            return 200
        site.add("/news/2", handler=busy_then_ok)
        site.add("/", listing_html([site.url("/news/2"), site.url("/news/1")]))
        config = _config(tmp_path, es_url, alias, outlet_yaml("local", site), concurrency_per_domain=1)
        result = crawl(config)
        assert result.code == 0, result.err
        assert len(calls) == 2 and calls[1] - calls[0] >= 1.9
        # the pause held the whole host, not just the one URL
        arrivals = [(r.path, round(r.at - answered[0], 2)) for r in site.requests() if r.path != "/news/2"]
        assert all(t >= 1.9 or t < 0 for _, t in arrivals), arrivals
        assert len(docs(es, alias)) == 2
        assert result.outlet("local")["errors"] == {}


def test_a_retry_after_too_long_gives_the_url_up_for_this_crawl(tmp_path, es_url, alias):
    with Site() as site:
        site.add("/news/1", b"come back tomorrow", status=503, headers={"Retry-After": "86400"})
        site.add("/", listing_html([site.url("/news/1")]))
        config = _config(tmp_path, es_url, alias, outlet_yaml("local", site), retry_after_max="60s")
        started = time.monotonic()
        result = crawl(config)
        assert time.monotonic() - started < 60
        assert len(site.requests("/news/1")) == 1
        assert result.outlet("local")["errors"] == {"http_5xx": 1}


def test_robots_txt_rules_crawl_delay_and_unreachable_robots(tmp_path, es_url, alias):
    with Site("127.0.0.1") as polite, Site("127.0.0.2") as broken:
        for n in (1, 2, 3):
            _article(polite, f"/news/{n}", n)
            _article(broken, f"/news/{n}", n)
        polite.add("/robots.txt", "User-agent: raqib\nDisallow: /news/3\nCrawl-delay: 1\n", content_type="text/plain")
        polite.add("/", listing_html([polite.url(f"/news/{n}") for n in (1, 2, 3)]))
        broken.add("/robots.txt", b"oops", status=500)
        broken.add("/", listing_html([broken.url(f"/news/{n}") for n in (1, 2, 3)]))
        config = _config(tmp_path, es_url, alias, outlet_yaml("polite", polite) + outlet_yaml("broken", broken))
        result = crawl(config)
        # RFC 9309: a robots.txt answering 5xx means "disallow everything" until it can be read
        assert {r.path for r in broken.requests()} == {"/robots.txt"}
        assert result.outlet("broken")["errors"] == {"robots_unreachable": 1}
        assert "/news/3" not in polite.paths()
        times = sorted(r.at for r in polite.requests() if r.path != "/robots.txt")
        assert len(times) >= 3 and all(b - a >= 0.95 for a, b in zip(times, times[1:]))  # Crawl-delay: 1


def test_every_fault_is_counted_and_the_crawl_goes_on(tmp_path, es_url, es, alias):
    with Site() as site:
        good = [f"/news/{n}" for n in (1, 2, 3)]
        for i, path in enumerate(good):
            _article(site, path, i)
        row = AR[4]
        # Arabic in windows-1256, with no charset anywhere: neither the header nor a meta tag
        legacy = article_html(row["title"], row["text"], published=recent(1).isoformat(), charset=None).encode("cp1256")
        site.add("/news/4", legacy, content_type="text/html")
        site.add("/news/10", b"boom", status=500)
        site.add("/news/12", b"%PDF-1.4 binary", content_type="application/pdf")

        def hang(handler):
            time.sleep(5)
            return 200
        site.add("/news/13", handler=hang)

        def truncated(handler):
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html; charset=utf-8")
            handler.send_header("Content-Length", "50000")
            handler.end_headers()
            handler.wfile.write(b"<html><body><p>" + "نص مقطوع ".encode() * 20)
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return 200
        site.add("/news/14", handler=truncated)

        def huge(handler):
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("Content-Length", str(50 * 1024 * 1024))
            handler.end_headers()
            try:
                for _ in range(100):
                    handler.wfile.write(b"x" * 65536)
            except OSError:
                pass
            handler.close_connection = True
            return 200
        site.add("/news/15", handler=huge)

        def loop(n):
            def go(handler):
                Site.send(handler, 302, b"", headers={"Location": site.url(f"/news/{n}")})
                return 302
            return go
        site.add("/news/16", handler=loop(17))
        site.add("/news/17", handler=loop(16))
        site.add("/feed", "<!DOCTYPE html><html><body>الصفحة غير موجودة</body></html>", content_type="text/html")  # a moved feed
        links = [site.url(p) for p in good + ["/news/4", "/news/10", "/news/11", "/news/12", "/news/13",
                                              "/news/14", "/news/15", "/news/16"]]
        site.add("/", listing_html(links))
        yaml = outlet_yaml("local", site, feeds=f"[{site.url('/feed')}]", sitemaps=f"[{site.url('/missing.xml')}]")
        config = _config(tmp_path, es_url, alias, yaml, timeout=2.0, max_page_bytes=1_000_000)
        result = crawl(config)
        assert result.code == 0, result.err
        errors = result.outlet("local")["errors"]
        assert errors == {"http_5xx": 1, "http_404": 2, "not_html": 1, "timeout": 1, "truncated": 1,
                          "too_large": 1, "redirect_loop": 1, "feed_parse": 1}, errors
        stored = docs(es, alias)
        assert {site.url(p) for p in good + ["/news/4"]} == set(stored)
        assert stored[site.url("/news/4")]["title"] == " ".join(row["title"].split())
        assert stored[site.url("/news/4")]["text"].startswith(row["text"].split()[0])
        assert result.outlet("local")["status"] == "ok with errors"
        assert "Traceback" not in result.err


def test_a_blocking_outlet_is_reported_and_the_others_go_on(tmp_path, es_url, es, alias):
    with Site("127.0.0.1") as fine, Site("127.0.0.2") as walled, Site("127.0.0.3") as challenged:
        _article(fine, "/news/1")
        fine.add("/", listing_html([fine.url("/news/1")]))
        walled.add("/", b"Forbidden", status=403)
        for n in range(1, 8):
            walled.add(f"/news/{n}", b"Forbidden", status=403)
        walled.add("/sitemap.xml", "<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                   + "".join(f"<url><loc>{walled.url(f'/news/{n}')}</loc></url>" for n in range(1, 8)) + "</urlset>",
                   content_type="application/xml")
        walled.add("/robots.txt", f"Sitemap: {walled.url('/sitemap.xml')}\n", content_type="text/plain")
        challenge = ("<html><head><title>Just a moment...</title></head><body>"
                     "<script src='/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1'></script></body></html>")
        challenged.add("/", listing_html([challenged.url("/news/1")]))
        challenged.add("/news/1", challenge, status=200)
        yaml = outlet_yaml("fine", fine) + outlet_yaml("walled", walled) + outlet_yaml("challenged", challenged)
        config = _config(tmp_path, es_url, alias, yaml, download_delay=0.2, concurrency_per_domain=1)
        result = crawl(config)
        assert result.code == 0
        assert result.outlet("fine")["status"] == "ok" and result.outlet("fine")["indexed"]["new"] == 1
        walled_stats = result.outlet("walled")
        assert walled_stats["status"] == "blocked" and "403" in walled_stats["blocked"]
        # after three blocks in a row the rest of the outlet's queue is dropped, not requested
        assert len(walled.requests("/news/")) < 7
        assert walled_stats["skipped"].get("outlet_blocked", 0) >= 1
        assert result.outlet("challenged")["errors"] == {"blocked": 1}
        assert set(docs(es, alias)) == {fine.url("/news/1")}
        assert "walled: blocked" in result.out


def test_private_addresses_are_refused_unless_home_is_on_one(tmp_path, es_url, alias):
    with Site("127.0.0.1") as site:
        site.add("/list", listing_html([]))
        yaml = ("  public:\n    name: Public\n    home: http://raqib-test.invalid/\n"
                f"    domains: [raqib-test.invalid, 127.0.0.1]\n    sections: [{site.url('/list')}]\n"
                "    article_pattern: '/news/\\d+$'\n")
        config = _config(tmp_path, es_url, alias, yaml)
        result = crawl(config)
        assert site.requests() == []
        errors = result.outlet("public")["errors"]
        assert errors == {"private_address": 1, "dns": 1}
        assert result.code == 1                                    # nothing at all could be fetched


# --- the rules behind the above, one by one ------------------------------------------------------

@pytest.mark.parametrize("address, private_ok, allowed", [
    ("93.184.216.34", False, True), ("10.0.0.5", False, False), ("127.0.0.1", False, False),
    ("169.254.169.254", False, False), ("::1", False, False), ("fe80::1", False, False),
    ("100.64.0.1", False, False), ("127.0.0.1", True, True), ("not-an-ip", True, False),
])
def test_address_allowed(address, private_ok, allowed):
    assert address_allowed(address, private_ok=private_ok) is allowed


def test_retry_after_forms():
    assert retry_after_seconds(b"120") == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 60) == pytest.approx(60.0)
    assert retry_after_seconds(b"soon") is None and retry_after_seconds(None) is None


def test_block_reasons():
    markers = ("Just a moment...", "cf_chl_opt")
    assert block_reason(403, b"", "text/html", markers) == "HTTP 403"
    assert "challenge" in block_reason(503, b"<title>Just a moment...</title>", "text/html", markers)
    assert block_reason(200, "<p>مقال عادي</p>".encode(), "text/html", markers) is None
    assert block_reason(200, b"%PDF Just a moment...", "application/pdf", markers) is None


# What Cloudflare's JavaScript detections put before </body> of an ordinary page (its
# documentation: a snippet whose source starts with /cdn-cgi/challenge-platform/).
JSD = ("<script>(function(){function c(){var b=a.contentDocument||a.contentWindow.document;if(b){"
       "var d=b.createElement('script');d.innerHTML=\"window.__CF$cv$params={r:'9a55',t:'MTc2'};"
       "var a=document.createElement('script');a.src='/cdn-cgi/challenge-platform/scripts/jsd/main.js';"
       "document.getElementsByTagName('head')[0].appendChild(a);\";b.getElementsByTagName('head')[0]"
       ".appendChild(d)}}c()})();</script>")


def test_an_ordinary_page_with_cloudflares_injected_detection_script_is_no_block():
    page = ("<html><head><title>مقال</title></head><body>" + "<p>فقرة من مقال عادي عن الأخبار.</p>" * 40
            + JSD + "</body></html>").encode()
    assert block_reason(200, page, "text/html", ()) is None
    challenge = b"<html><body><script src='/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1'></script></body></html>"
    assert "challenge page" in block_reason(503, challenge, "text/html", ())
