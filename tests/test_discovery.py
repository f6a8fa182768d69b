"""Discovery parsers: feeds, sitemaps, listing pages, robots.txt, backfill templates."""
from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime

import pytest

from crawler.discovery import DiscoveryError
from crawler.discovery.backfill import IdTemplate, id_walk, sitemap_months
from crawler.discovery.dates import iso_utc, parse_date
from crawler.discovery.feeds import feed_links, parse_feed
from crawler.discovery.robots import Robots
from crawler.discovery.sections import next_pages, page_links
from crawler.discovery.sitemaps import INDEX, URLSET, gunzip, parse_sitemap

BASE = "https://www.example.org/"


# --- feeds ------------------------------------------------------------------------------------

def test_rss2_entries_with_dates():
    body = """<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>نون بوست</title>
      <item><title>الأول</title><link>https://www.example.org/26480/</link>
        <pubDate>Tue, 30 Apr 2024 00:58:00 +0300</pubDate></item>
      <item><title>بلا رابط</title><guid isPermaLink="true">https://www.example.org/26481/</guid></item>
      <item><title>guid ليس رابطا</title><guid isPermaLink="false">tag:1</guid></item>
    </channel></rss>""".encode()
    links = parse_feed(body, BASE + "feed/").links
    assert [l.url for l in links] == ["https://www.example.org/26480/", "https://www.example.org/26481/"]
    assert links[0].lastmod == datetime(2024, 4, 29, 21, 58, tzinfo=UTC)
    assert links[0].title == "الأول"


def test_feedburner_proxy_links_give_way_to_the_original_link():
    fb = 'xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"'
    rss = f"""<rss version="2.0" {fb}><channel><item><title>a</title>
      <link>https://feeds.example.net/~r/site/~3/abc/</link>
      <feedburner:origLink>https://www.example.org/news/1</feedburner:origLink></item></channel></rss>""".encode()
    assert [l.url for l in parse_feed(rss, BASE).links] == ["https://www.example.org/news/1"]
    atom = f"""<feed xmlns="http://www.w3.org/2005/Atom" {fb}><entry><title>x</title>
      <link rel="alternate" type="text/html" href="https://feeds.example.net/~r/site/~3/def/"/>
      <feedburner:origLink>https://www.example.org/news/2</feedburner:origLink></entry></feed>""".encode()
    assert [l.url for l in parse_feed(atom, BASE).links] == ["https://www.example.org/news/2"]


def test_rss1_rdf_and_atom_and_json_feed():
    rdf = b"""<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
      xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
      <item rdf:about="https://www.example.org/a"><title>a</title><dc:date>2024-04-01T10:00:00Z</dc:date></item></rdf:RDF>"""
    assert [(l.url, iso_utc(l.lastmod)) for l in parse_feed(rdf, BASE).links] == [("https://www.example.org/a", "2024-04-01T10:00:00+00:00")]
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>x</title>
      <link rel="edit" href="/edit/1"/><link rel="alternate" type="text/html" href="/news/1"/>
      <updated>2024-04-02T00:00:00+02:00</updated></entry></feed>"""
    assert [(l.url, iso_utc(l.lastmod)) for l in parse_feed(atom, BASE).links] == [("https://www.example.org/news/1", "2024-04-01T22:00:00+00:00")]
    js = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "1", "url": "https://www.example.org/j/1", "date_modified": "2024-04-03T00:00:00Z"},
        {"id": "2", "title": "no url"}]}).encode()
    assert [l.url for l in parse_feed(js, BASE).links] == ["https://www.example.org/j/1"]


@pytest.mark.parametrize("body, message", [
    (b"<!DOCTYPE html><html><body>Just a moment...</body></html>", "HTML page"),
    (b"", "empty"),
    (b"<urlset/>", "not an RSS or Atom feed"),
    (b'{"data": []}', "JSON Feed"),
])
def test_what_is_not_a_feed_says_so(body, message):
    with pytest.raises(DiscoveryError, match=message):
        parse_feed(body, BASE)


def test_feeds_announced_by_a_page():
    html = """<html><head><base href="https://www.example.org/ar/">
      <link rel="alternate" type="application/rss+xml" href="feed.xml">
      <link rel="alternate" type="application/atom+xml" href="https://www.example.org/atom">
      <link rel="alternate" hreflang="en" href="https://en.example.org/">
      <link rel="stylesheet" href="/s.css"></head><body></body></html>"""
    assert feed_links(html, BASE) == ["https://www.example.org/ar/feed.xml", "https://www.example.org/atom"]


# --- sitemaps ---------------------------------------------------------------------------------

def test_index_and_raw_arabic_locs():
    index = b"""<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <sitemap><loc> https://www.example.org/sitemaps/all/sitemap-2024-4.xml </loc><lastmod>2024-04-30</lastmod></sitemap>
      <sitemap><loc>https://www.example.org/sitemaps/all/sitemap-2024-3.xml</loc></sitemap></sitemapindex>"""
    sm = parse_sitemap(index, BASE)
    assert sm.kind == INDEX
    assert [(l.url, iso_utc(l.lastmod)) for l in sm.links] == [
        ("https://www.example.org/sitemaps/all/sitemap-2024-4.xml", "2024-04-30T00:00:00+00:00"),
        ("https://www.example.org/sitemaps/all/sitemap-2024-3.xml", None)]
    urlset = """<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <url><loc>https://www.example.org/news/politics/هجوم-داعش-الأخير</loc><lastmod>2024-04-30T00:58:00+03:00</lastmod></url>
    </urlset>""".encode()
    link = parse_sitemap(urlset, BASE).links[0]
    assert link.url == ("https://www.example.org/news/politics/%D9%87%D8%AC%D9%88%D9%85-%D8%AF%D8%A7%D8%B9%D8%B4-"
                        "%D8%A7%D9%84%D8%A3%D8%AE%D9%8A%D8%B1")
    assert iso_utc(link.lastmod) == "2024-04-29T21:58:00+00:00"


def test_gzip_news_and_text_sitemaps():
    news = """<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
      xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>https://www.example.org/n/1</loc>
      <news:news><news:publication_date>2024-04-01T12:00:00Z</news:publication_date><news:title>خبر</news:title></news:news>
      </url></urlset>""".encode()
    sm = parse_sitemap(gzip.compress(news), BASE + "news.xml.gz")
    assert sm.kind == URLSET and sm.links[0].title == "خبر"
    assert iso_utc(sm.links[0].lastmod) == "2024-04-01T12:00:00+00:00"
    text = b"https://www.example.org/t/1\n\nhttps://www.example.org/t/2\n"
    assert [l.url for l in parse_sitemap(text, BASE).links] == ["https://www.example.org/t/1", "https://www.example.org/t/2"]


def test_a_gzip_bomb_stops_at_the_limit():
    bomb = gzip.compress(b"<" + b" " * (2 * 1024 * 1024))
    with pytest.raises(DiscoveryError, match="more than 1 MB"):
        gunzip(bomb, limit=1024 * 1024)


@pytest.mark.parametrize("evil", [
    b"""<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>
      <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://www.example.org/&x;</loc></url></urlset>""",
    b"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
      <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><rss><channel><item><title>&c;</title>
      <link>https://www.example.org/1</link></item></channel></rss>""",
])
def test_documents_declaring_entities_are_refused_unread(evil):
    with pytest.raises(DiscoveryError, match="entities"):
        parse_sitemap(evil, BASE)


def test_broken_markup_is_read_up_to_the_damage_and_reported():
    cut = (b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://www.example.org/1</loc></url>'
           b'<url><loc>https://www.example.org/2</loc></url><url><loc>https://www.exa')
    sm = parse_sitemap(cut, BASE)
    assert [l.url for l in sm.links][:2] == ["https://www.example.org/1", "https://www.example.org/2"]
    assert sm.problems
    clean = parse_sitemap(b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>', BASE)
    assert clean.problems == []


@pytest.mark.parametrize("body", [b"<html><body>404</body></html>", b"<rss><channel></channel></rss>", b"\x1f\x8bnot gzip"])
def test_broken_sitemaps(body):
    if body.startswith(b"<rss"):
        assert parse_sitemap(body, BASE).links == []      # a feed where a sitemap was expected is read as one
    else:
        with pytest.raises(DiscoveryError):
            parse_sitemap(body, BASE)


# --- listing pages ----------------------------------------------------------------------------

def test_page_links_are_resolved_and_unique():
    html = """<html><body><a href="/news/1">a</a><a href="/news/1#c">dup</a><a href="mailto:x@y">m</a>
      <a href="https://other.org/x">o</a><a href="javascript:void(0)">j</a><a href="/news/عربي">ar</a></body></html>"""
    assert page_links(html, BASE) == ["https://www.example.org/news/1", "https://other.org/x",
                                      "https://www.example.org/news/%D8%B9%D8%B1%D8%A8%D9%8A"]


@pytest.mark.parametrize("html, url, expected", [
    ('<link rel="next" href="/cat/page/2/">', BASE + "cat/", [BASE + "cat/page/2/"]),
    ('<a href="/cat?page=3">التالي</a>', BASE + "cat?page=2", [BASE + "cat?page=3"]),
    ('<a class="next page-numbers" href="/cat/page/4/">›</a>', BASE + "cat/page/3/", [BASE + "cat/page/4/"]),
    ('<a href="/cat/page/1/">1</a><a href="/cat/page/2/">2</a><a href="/other/page/2/">x</a>', BASE + "cat/", [BASE + "cat/page/2/"]),
    ('<a href="/cat/page/2/">2</a>', BASE + "cat/page/2/", []),
    # Drupal's pager counts from 0: the link labelled 2 is ?page=1, and page 3 follows ?page=1
    ('<span>1</span><a href="/cat?page=1">2</a><a href="/cat?page=2">3</a>', BASE + "cat", [BASE + "cat?page=1"]),
    ('<a href="/cat">1</a><span>2</span><a href="/cat?page=2">3</a>', BASE + "cat?page=1", [BASE + "cat?page=2"]),
    # a "load more" link to the same listing at another offset; one to another listing is not pagination
    ('<a class="btn" href="/cat?start=10">عرض المزيد</a>', BASE + "cat", [BASE + "cat?start=10"]),
    ('<a href="/sports/">المزيد</a>', BASE + "cat", []),
])
def test_pagination(html, url, expected):
    assert next_pages(f"<html><head></head><body>{html}</body></html>", url) == expected


# --- robots.txt -------------------------------------------------------------------------------

def test_robots_rules_sitemaps_and_crawl_delay():
    robots = Robots.parse(b"User-agent: *\nDisallow: /search\n\nUser-agent: raqib\nDisallow: /private/\n"
                          b"Crawl-delay: 5\nSitemap: https://www.example.org/sitemap_index.xml\nSitemap: /relative.xml\n")
    assert not robots.allowed("https://www.example.org/private/1", "raqib")
    assert robots.allowed("https://www.example.org/search", "raqib")      # raqib's own group applies
    assert not robots.allowed("https://www.example.org/search", "otherbot")
    assert robots.crawl_delay("raqib") == 5.0
    assert robots.sitemaps(BASE) == ["https://www.example.org/sitemap_index.xml", "https://www.example.org/relative.xml"]
    assert not Robots.disallow_all().allowed(BASE, "raqib") and Robots.allow_all().allowed(BASE + "x", "raqib")


# --- dates and backfill -----------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2024-04-30T00:58:00+03:00", "2024-04-29T21:58:00+00:00"),
    ("2024-04-30T00:58:00Z", "2024-04-30T00:58:00+00:00"),
    ("2024-04-30", "2024-04-30T00:00:00+00:00"),
    ("2024-04", "2024-04-01T00:00:00+00:00"),
    ("2024-04-30 10:00:00+0300", "2024-04-30T07:00:00+00:00"),
    ("Tue, 30 Apr 2024 00:58:00 GMT", "2024-04-30T00:58:00+00:00"),
    ("yesterday", None), ("", None), ("2024-13-45", None),
])
def test_parse_date(text, expected):
    assert iso_utc(parse_date(text)) == expected


def test_sitemap_months_newest_first_month_not_padded():
    assert sitemap_months("https://x.org/sitemap-{year}-{month}.xml", "2023-11", date(2024, 2, 10)) == [
        "https://x.org/sitemap-2024-2.xml", "https://x.org/sitemap-2024-1.xml",
        "https://x.org/sitemap-2023-12.xml", "https://x.org/sitemap-2023-11.xml"]
    assert sitemap_months("https://x.org/{year}/{month:02}.xml", "2024-1", date(2024, 2, 1))[0] == "https://x.org/2024/02.xml"


def test_id_templates_and_walks():
    t = IdTemplate("https://alkhanadeq.org.lb/post/{id}/")
    assert t.number("https://alkhanadeq.org.lb/post/316/%D8%B3%D9%84%D8%A7%D8%BA") == 316
    assert t.number("https://alkhanadeq.org.lb/posts/316/") is None
    assert IdTemplate("https://www.almarjie-paris.com/{id}").number("https://almarjie-paris.com/1140") == 1140
    assert id_walk({10, 8, 5}, 1, 4) == [9, 7, 6, 4]
    assert id_walk({10, 8, 5}, 7, 10) == [9, 7]
    assert id_walk({10}, 1, 3, below=6) == [5, 4, 3]
