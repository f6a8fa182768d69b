"""The outlet probe (`crawler.probe`) against real local sites that block, challenge,
show a CAPTCHA, changed their layout, hang, or redirect away: the verdict, the finding and the
suggested config change must be right, and the probe must stay as polite as the crawl."""
from __future__ import annotations

import re
import socket
import time
from dataclasses import fields

import pytest

from crawler.probe.check import ProbeOptions, check_outlet
from crawler.probe.http import MAX_REDIRECTS, Fetcher
from crawler.probe.patterns import suggest_pattern, url_shape
from pipelines.fetchrules import FetchRules
from pipelines.outlets import parse_outlets
from tests.support.probe_servers import (
    CAPTCHA,
    CHALLENGE,
    FORBIDDEN,
    NewsSite,
    ProbeSite,
    ago,
    listing_page,
    outlet_entry,
    rss,
    urlset,
)

UA = "raqib/0.1.0 (news monitoring crawler; +https://example.org/raqib)"


def outlet_for(site: ProbeSite, **extra):
    return parse_outlets({"outlets": {"site": outlet_entry(site, **extra)}})["site"]


def options(**kw) -> ProbeOptions:
    kw.setdefault("delay", 0.0)
    kw.setdefault("timeout", 5.0)
    rules = {k: kw.pop(k) for k in [f.name for f in fields(FetchRules)] if k in kw}
    return ProbeOptions(FetchRules(user_agent=UA, **rules), **kw)


def levels(report) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in report.findings:
        out.setdefault(f.level, []).append(f.message + " → " + (f.suggestion or ""))
    return out


# --- a working site -----------------------------------------------------------------------------------

def test_a_working_site_is_ok_with_samples_extracted():
    with ProbeSite("127.0.0.41") as site:
        news = NewsSite(site)
        report = check_outlet(outlet_for(site, feeds=[site.url("/feed/")]), options())
    assert report.verdict == "ok", levels(report)
    assert not [f for f in report.findings if f.level != "note"]
    assert report.channels["feed"] == {"urls": 6, "matched": 6}
    assert report.channels["home"]["matched"] == 6
    feed = next(s for s in report.sources if s.kind == "feed")
    assert feed.format == "rss" and feed.entries == 6 and feed.newest is not None
    assert len(report.samples) == 2
    for sample in report.samples:
        assert sample.error is None
        assert sample.url in news.urls
        assert sample.title and sample.text_chars > 300 and sample.lang == "ar"
        assert sample.published_at and sample.date_source
    # The newest article (the feed's first item) is the first sample.
    assert report.samples[0].url == news.urls[0]
    assert report.robots["allows"] == {"home": [1, 1], "feed": [1, 1], "article": [6, 6]}
    # Every request identified itself with raqib's User-Agent.
    assert {h.headers["user-agent"] for h in site.hits} == {UA}


def test_topics_come_from_the_tagger():
    from pipelines.tagging import default_tagger

    with ProbeSite("127.0.0.41") as site:
        NewsSite(site, n=3)
        report = check_outlet(outlet_for(site), options(samples=3, tagger=default_tagger()))
    # The first corpus article is about a US-led coalition strike in Syria.
    assert report.samples[0].error is None
    assert {"syria", "us_presence"} <= set(report.samples[0].topics)


# --- blocks and challenges ------------------------------------------------------------------------------

def test_403_on_every_page_is_blocked_and_the_probe_stops():
    with ProbeSite("127.0.0.42") as site:
        NewsSite(site)
        site.routes = {"/robots.txt": site.routes["/robots.txt"]}
        site.default = site.route("/__forbidden", FORBIDDEN, status=403)
        report = check_outlet(outlet_for(site), options())
    assert report.verdict == "blocked"
    assert report.failed
    assert any("HTTP 403" in m for m in levels(report)["blocked"])
    assert site.paths() == ["/robots.txt", "/"]     # once home refuses, nothing more is asked


def test_cloudflare_challenge_on_pages_is_blocked():
    with ProbeSite("127.0.0.43") as site:
        NewsSite(site)
        page = CHALLENGE.replace("{host}", site.host)
        site.routes = {"/robots.txt": site.routes["/robots.txt"]}
        site.default = site.route("/__challenge", page, status=403,
                                  headers={"Server": "cloudflare", "cf-mitigated": "challenge"})
        report = check_outlet(outlet_for(site), options())
    assert report.verdict == "blocked"
    message = levels(report)["blocked"][0]
    assert "challenge page" in message and "cf_chl_opt" in message
    assert report.findings[0].suggestion and "enabled: false" in report.findings[0].suggestion


def test_challenge_on_robots_txt_with_503_is_blocked_before_anything_else():
    with ProbeSite("127.0.0.43") as site:
        site.default = site.route("/__challenge", CHALLENGE.replace("{host}", site.host), status=503)
        report = check_outlet(outlet_for(site), options())
    assert report.verdict == "blocked"
    assert report.robots["state"] == "unreachable"
    assert site.paths() == ["/robots.txt"]


def test_a_captcha_served_with_200_on_articles_is_blocked():
    with ProbeSite("127.0.0.44") as site:
        news = NewsSite(site)
        for path in list(site.routes):
            if path.startswith("/news/"):
                site.route(path, CAPTCHA)
        report = check_outlet(outlet_for(site), options())
    assert report.verdict == "blocked", levels(report)
    assert all((s.error or "").startswith("blocked") for s in report.samples)
    assert "ddos-guard" in levels(report)["blocked"][0]
    assert {s.url for s in report.samples} <= set(news.urls)


def test_robots_txt_disallowing_raqib_blocks_without_fetching_anything_else():
    with ProbeSite("127.0.0.45") as site:
        NewsSite(site, robots="User-agent: raqib\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
        report = check_outlet(outlet_for(site), options())
    assert report.verdict == "blocked"
    assert report.robots["allows_site"] is False
    assert "robots.txt disallows the whole site for raqib" in levels(report)["blocked"][0]
    assert site.paths() == ["/robots.txt"]


def test_robots_txt_disallowing_articles_means_nothing_to_index():
    with ProbeSite("127.0.0.45") as site:
        NewsSite(site, robots="User-agent: *\nDisallow: /news/\n")
        report = check_outlet(outlet_for(site), options())
    assert report.verdict == "blocked"
    assert "disallows all 6 article URLs" in levels(report)["blocked"][0]
    assert report.robots["allows"]["article"] == [0, 6]
    assert not any(p.startswith("/news/") for p in site.paths())


# --- changed layouts and wrong configs ---------------------------------------------------------------------

def test_changed_layout_pattern_and_moved_feed_are_config_wrong_with_the_fix():
    with ProbeSite("127.0.0.46") as site:
        news = NewsSite(site, article_path="/article/{id}-{slug}", feed_path="/rss.xml")
        outlet = outlet_for(site, feeds=[site.url("/feed/")])     # the old feed, now 404
        report = check_outlet(outlet, options())
    assert report.verdict == "config_wrong"
    config = [f for f in report.findings if f.level == "config"]
    feed = next(f for f in config if f.key == "feeds")
    assert "/feed/ failed: HTTP 404" in feed.message
    assert site.url("/rss.xml") in feed.suggestion and "instead of" in feed.suggestion
    pattern = next(f for f in config if f.key == "article_pattern")
    assert pattern.message.startswith("no URL matched article_pattern")
    suggested = report.pattern_suggestion["pattern"]
    assert f"article_pattern: '{suggested}'" in pattern.suggestion
    assert all(re.search(suggested, u) for u in news.urls)
    assert not re.search(suggested, site.url("/about"))
    # One page of the suggested shape was extracted to show it is an article.
    sample = report.samples[0]
    assert not sample.matches_pattern and sample.error is None and sample.title
    assert report.channels["total"]["matched"] == 0


def test_feed_items_the_pattern_misses_are_a_warning():
    with ProbeSite("127.0.0.47") as site:
        news = NewsSite(site, n=3)
        extra = [(site.url(f"/story/{2000 + i}/slug-{i}"), ago(0.2)) for i in range(5)]
        site.route("/feed/", rss(news.dated + extra), content_type="application/rss+xml")
        report = check_outlet(outlet_for(site), options())
    assert report.verdict == "warnings"
    warning = next(f for f in report.findings if f.key == "article_pattern")
    assert "5 of 8 items of feed" in warning.message
    assert r"/story/\d+/[^/]+" in warning.suggestion


def test_feed_items_with_tracking_parameters_match_the_pattern_of_the_clean_urls():
    with ProbeSite("127.0.0.50") as site:
        news = NewsSite(site, n=4)
        tracked = [(f"{u}?utm_source=rss&utm_medium=feed", d) for u, d in news.dated]
        site.route("/feed/", rss(tracked), content_type="application/rss+xml")
        report = check_outlet(outlet_for(site), options())
    assert report.verdict == "ok", levels(report)
    assert not [f for f in report.findings if f.key == "article_pattern"]
    assert report.channels["feed"] == {"urls": 4, "matched": 4}
    # the site serves only the clean address: the sample was read from there
    assert report.samples and all(s.error is None and "utm_" not in s.final_url for s in report.samples)


def test_a_feed_the_pattern_refuses_entirely_gets_a_widened_pattern_while_pages_match():
    with ProbeSite("127.0.0.51") as site:
        news = NewsSite(site, n=3)
        items = [(site.url(f"/story/{2000 + i}-slug-{i}.html?utm_source=rss"), ago(0.2)) for i in range(4)]
        site.route("/feed/", rss(items), content_type="application/rss+xml")
        outlet = outlet_for(site)
        report = check_outlet(outlet, options())
    warning = next(f for f in report.findings if f.key == "article_pattern")
    assert warning.level == "warning" and "4 of 4 items of feed" in warning.message
    assert "the crawl does not fetch them" in warning.message
    widened = re.search(r"article_pattern: '([^']+)'", warning.suggestion).group(1)
    assert all(re.search(widened, u) for u in news.urls)                   # what matched still does
    assert all(re.search(widened, u.split("?")[0]) for u, _ in items)
    assert not any(outlet.is_article(u) for u, _ in items)
    assert "utm" not in widened


def test_a_few_refused_feed_items_are_a_note_that_leaves_the_outlet_ok():
    with ProbeSite("127.0.0.52") as site:
        news = NewsSite(site, n=5)
        site.route("/feed/", rss(news.dated + [(site.url("/about"), ago(0.1))]), content_type="application/rss+xml")
        report = check_outlet(outlet_for(site), options())
    assert report.verdict == "ok", levels(report)
    note = next(f for f in report.findings if f.key == "article_pattern")
    assert note.level == "note" and "1 of 6 items of feed" in note.message and "/about" in note.message


def test_a_feed_listing_only_another_host_says_which_host():
    with ProbeSite("127.0.0.47") as site:
        news = NewsSite(site, n=3)
        elsewhere = [(u.replace(site.host, "127.0.0.99"), d) for u, d in news.dated]
        site.route("/feed/", rss(elsewhere), content_type="application/rss+xml")
        report = check_outlet(outlet_for(site, feeds=[site.url("/feed/")]), options(samples=1))
    assert report.verdict == "warnings"
    finding = next(f for f in report.findings if f.key == "domains")
    assert "lists 3 URLs, none on the outlet's domains" in finding.message
    assert finding.suggestion == "if 127.0.0.99 belongs to the outlet, add it to domains"


def test_configured_sitemap_404_names_the_sitemap_found_instead():
    with ProbeSite("127.0.0.48") as site:
        news = NewsSite(site)
        site.route("/sitemap.xml", urlset(news.dated), content_type="application/xml")
        report = check_outlet(outlet_for(site, sitemaps=[site.url("/sitemaps/all.xml")]), options())
    assert report.verdict == "config_wrong"
    finding = next(f for f in report.findings if f.key == "sitemaps" and f.level == "config")
    assert "/sitemaps/all.xml failed: HTTP 404" in finding.message
    assert finding.suggestion == (f"sitemap found at {site.url('/sitemap.xml')} (at a usual address, linked from "
                                  f"nowhere): put it in sitemaps instead of {site.url('/sitemaps/all.xml')}")
    assert report.channels["sitemap"] == {"urls": 6, "matched": 6}


def test_a_stale_feed_is_a_warning_not_a_failure():
    with ProbeSite("127.0.0.49") as site:
        NewsSite(site, feed_age_days=200)
        report = check_outlet(outlet_for(site, feeds=[site.url("/feed/")]), options())
    assert report.verdict == "warnings"
    assert not report.failed
    assert any("days old" in m and "abandoned" in m for m in levels(report)["warning"])


def test_pattern_matching_listing_pages_fails_extraction():
    with ProbeSite("127.0.0.50") as site:
        news = NewsSite(site)
        # The pattern wrongly matches category pages, which hold links, not text.
        for i in range(3):
            site.route(f"/news/cat{i}/list", listing_page(news.urls))
        site.route("/", listing_page([site.url(f"/news/cat{i}/list") for i in range(3)]))
        site.routes.pop("/feed/")
        report = check_outlet(outlet_for(site, pattern_path=r"/news/cat\d+/[^/?#]+"), options())
    assert report.verdict == "config_wrong", levels(report)
    finding = next(f for f in report.findings if f.level == "config")
    assert "no sample article could be extracted" in finding.message and "no_text" in finding.message


def test_home_redirecting_off_the_domains_is_config_wrong_and_not_followed():
    with ProbeSite("127.0.0.51") as old, ProbeSite("127.0.0.52") as new:
        NewsSite(new)
        old.route("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
        old.route("/", "", status=301, headers={"Location": new.url("/")})
        report = check_outlet(outlet_for(old), options())
    assert report.verdict == "config_wrong"
    finding = next(f for f in report.findings if f.key == "home")
    assert f"home redirects to {new.url('/')}" in finding.message
    assert f"add {new.host} to domains" in finding.suggestion
    assert new.hits == []


# --- sites that do not answer ---------------------------------------------------------------------------------

def test_a_closed_port_is_unreachable():
    sock = socket.socket()
    sock.bind(("127.0.0.53", 0))
    port = sock.getsockname()[1]
    sock.close()
    outlet = parse_outlets({"outlets": {"gone": {
        "name": "gone", "home": f"http://127.0.0.53:{port}/", "domains": ["127.0.0.53"],
        "article_pattern": r"/news/\d+"}}})["gone"]
    report = check_outlet(outlet, options())
    assert report.verdict == "unreachable"
    assert "refused the connection" in levels(report)["unreachable"][0]


def test_home_answering_503_is_unreachable():
    with ProbeSite("127.0.0.54") as site:
        NewsSite(site)
        site.route("/", "<html><body>maintenance</body></html>", status=503)
        report = check_outlet(outlet_for(site), options())
    assert report.verdict == "unreachable"
    assert "HTTP 503" in levels(report)["unreachable"][0]


def test_a_hanging_home_times_out_within_the_timeout():
    def hang(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        for _ in range(100):           # a slow drip: each byte in time, the whole far too late
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.2)

    with ProbeSite("127.0.0.55") as site:
        NewsSite(site)
        site.route("/", handler=hang)
        report = check_outlet(outlet_for(site), options(timeout=1.0))
    assert report.verdict == "unreachable"
    assert "no complete answer within 1 s" in levels(report)["unreachable"][0]
    assert report.requests[-1]["error"] == "timeout"


# --- politeness and the guard -----------------------------------------------------------------------------------

def test_delay_crawl_delay_cap_and_request_budget():
    with ProbeSite("127.0.0.56") as site:
        NewsSite(site, robots="User-agent: *\nCrawl-delay: 30\n")
        report = check_outlet(outlet_for(site), options(delay=0.1, max_delay=0.4, max_requests=5))
    times = [h.at for h in site.hits]
    assert len(times) == 5 == len(report.requests)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.35           # Crawl-delay honoured up to the cap (0.4 s, minus clock slack) ...
    assert max(gaps) < 5               # ... and the cap holds
    assert any("Crawl-delay" in f.message for f in report.findings)


def test_the_guard_refuses_private_addresses_when_home_is_public():
    with ProbeSite("127.0.0.57") as site:
        NewsSite(site)
        outlet = parse_outlets({"outlets": {"public": {
            "name": "public", "home": "http://8.8.8.8/", "domains": ["8.8.8.8", site.host],
            "article_pattern": r"/news/\d+"}}})["public"]
        response = Fetcher(outlet, options().rules).get(site.url("/"), "home")
    assert response.error == "private_address"
    assert "private or local address" in response.message
    assert site.hits == []


def test_redirect_loops_stop_at_the_crawl_limit():
    with ProbeSite("127.0.0.58") as site:
        site.route("/robots.txt", "User-agent: *\n", content_type="text/plain")
        site.route("/a", "", status=302, headers={"Location": "/b"})
        site.route("/b", "", status=302, headers={"Location": "/a"})
        response = Fetcher(outlet_for(site), options().rules).get(site.url("/a"), "article")
    assert response.error == "redirect_loop"
    assert site.paths().count("/a") + site.paths().count("/b") == MAX_REDIRECTS + 1


def _raw_deflate(data: bytes) -> bytes:
    import zlib

    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize("encoding, pack", [
    ("gzip", lambda b: __import__("gzip").compress(b)),
    ("deflate", lambda b: __import__("zlib").compress(b)),
    ("deflate", _raw_deflate),           # deflate without the zlib header, as some servers send it
])
def test_compressed_bodies_are_read(encoding, pack):
    with ProbeSite("127.0.0.59") as site:
        news = NewsSite(site)
        home = site.routes["/"]
        site.route("/", pack(home.body), headers={"Content-Encoding": encoding})
        report = check_outlet(outlet_for(site), options(samples=1))
    assert report.verdict == "ok", levels(report)
    assert report.channels["home"]["matched"] == len(news.urls)


def test_an_unverifiable_certificate_is_a_warning_and_the_site_still_read(tmp_path):
    from tests.support.probe_servers import self_signed

    with ProbeSite("127.0.0.62", tls=self_signed(tmp_path, "127.0.0.62")) as site:
        news = NewsSite(site)
        report = check_outlet(outlet_for(site), options(samples=1))
    assert report.home.startswith("https://")
    assert report.verdict == "warnings", levels(report)
    warning = levels(report)["warning"][0]
    assert "TLS certificate of 127.0.0.62 cannot be verified" in warning and "self-signed" in warning
    assert report.channels["home"]["matched"] == len(news.urls)
    assert report.samples[0].error is None


def test_through_the_crawl_proxy_with_credentials_never_leaked():
    import json

    target = "127.0.0.60"
    with ProbeSite("127.0.0.61") as proxy:
        base = f"http://{target}:8080"
        proxy.route(f"{base}/robots.txt", "User-agent: *\n", content_type="text/plain")
        proxy.route(f"{base}/", listing_page([f"{base}/news/1/a"]))
        outlet = parse_outlets({"outlets": {"viaproxy": {
            "name": "via proxy", "home": f"{base}/", "domains": [target],
            "article_pattern": r"/news/\d+/"}}})["viaproxy"]
        report = check_outlet(outlet, options(proxy=f"http://user:s3cret-pw@{proxy.host}:{proxy.port}", samples=0))
    assert [h.path for h in proxy.hits[:2]] == [f"{base}/robots.txt", f"{base}/"]
    assert all(h.headers.get("proxy-authorization", "").startswith("Basic ") for h in proxy.hits)
    assert report.channels["home"]["matched"] == 1
    assert "s3cret-pw" not in json.dumps(report.to_dict())


# --- URL shapes ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("urls, pattern", [
    (["https://www.x.org/post/316/%D8%AD%D8%B2%D8%A8", "https://www.x.org/post/317/other-words-here"],
     r"^https?://(www\.)?x\.org/post/\d+/[^/]+$"),
    (["https://x.org/26480/", "https://x.org/26481/"], r"^https?://(www\.)?x\.org/\d+/?$"),
    (["https://x.org/article.php?id=12", "https://x.org/article.php?id=13"],
     r"^https?://(www\.)?x\.org/article\.php\?id=\d+$"),
    (["https://x.org/2024/05/01/a-long-slug-of-words.html", "https://x.org/2023/12/30/another-slug-here.html"],
     r"^https?://(www\.)?x\.org/\d+/\d+/\d+/[^/]+\.html$"),
])
def test_suggest_pattern_generalises_ids_and_slugs(urls, pattern):
    suggestion = suggest_pattern(urls)
    assert suggestion["pattern"] == pattern
    assert suggestion["count"] == len(urls)
    assert all(re.search(pattern, u) for u in urls)


def test_suggest_pattern_prefers_the_commonest_shape_and_ignores_fixed_pages():
    urls = [f"https://x.org/news/{i}/slug-of-story" for i in range(5)] + \
        ["https://x.org/about", "https://x.org/contact", "https://x.org/category/politics"] * 3
    suggestion = suggest_pattern(urls)
    assert suggestion["count"] == 5 and "/news/" in suggestion["pattern"]
    assert suggest_pattern(["https://x.org/about", "https://x.org/about"]) is None
    assert suggest_pattern(["https://x.org/news/1/a"]) is None          # one URL is no pattern


def test_url_shape_keeps_the_port_and_drops_www():
    assert url_shape("http://www.x.org:8080/news/12/") == ("x.org:8080", r"/news/\d+/?")
    assert url_shape("https://x.org/a_b/12-the-title") == ("x.org", r"/a_b/\d+-[^/]+")


def test_suggested_pattern_for_an_address_has_no_www():
    suggestion = suggest_pattern(["http://127.0.0.1:8080/p/1", "http://127.0.0.1:8080/p/2"])
    assert suggestion["pattern"] == r"^https?://127\.0\.0\.1:8080/p/\d+$"
