"""The offline mirror serves each outlet in the layout outlets.md describes.

Everything is checked over HTTP, on the wire, as a crawler sees it.
"""
from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from html import unescape
from urllib.parse import quote, unquote, urljoin

import defusedxml.ElementTree as DET
import pytest

from crawler.mirror import Mirror
from crawler.mirror.client import fetch

SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
ATOM = "{http://www.w3.org/2005/Atom}"
NOW = datetime(2026, 3, 18, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def mirror():
    with Mirror(now=NOW) as m:
        yield m


def page(url: str, **kw) -> str:
    reply = fetch(url, **kw)
    assert reply.status == 200, (url, reply.status)
    return reply.text


def visible_text(html: str) -> str:
    html = re.sub(r"(?s)<(script|style)[^>]*>.*?</\1>", " ", html)
    return unescape(re.sub(r"<[^>]+>", "\n", html))


def seed(mirror, outlet: str) -> dict:
    [entry] = [t for t in mirror.truth(outlet) if t["seed"]]
    return entry


def links(html: str, base: str) -> list[str]:
    return [urljoin(base, unescape(h)) for h in re.findall(r'href="([^"]+)"', html)]


# --- Al Mayadeen --------------------------------------------------------------------------

def test_almayadeen_discovery_is_by_monthly_sitemaps_with_raw_arabic(mirror):
    base = mirror.base_url("almayadeen")
    robots = page(base + "/robots.txt")
    assert f"Sitemap: {base}/sitemaps/all.xml" in robots
    index = DET.fromstring(fetch(base + "/sitemaps/all.xml").body)
    locs = [e.findtext(f"{SM}loc") for e in index.findall(f"{SM}sitemap")]
    assert f"{base}/sitemaps/all/sitemap-2021-1.xml.gz" in locs          # the archived month, gzipped
    assert f"{base}/sitemaps/all/sitemap-2026-3.xml" in locs             # month not zero-padded
    assert not any(re.search(r"sitemap-\d{4}-0\d", u) for u in locs)
    assert all(e.findtext(f"{SM}lastmod") for e in index.findall(f"{SM}sitemap"))
    assert fetch(base + "/sitemaps/all/sitemap-2026-03.xml").status == 404

    current = fetch(base + "/sitemaps/all/sitemap-2026-3.xml")
    raw = current.body.decode("utf-8")
    assert re.search(r"<loc>http://[^<]*/news/politics/[\u0600-\u06ff]", raw), "Arabic must be raw in <loc>"
    urls = [e.findtext(f"{SM}loc") for e in DET.fromstring(current.body).findall(f"{SM}url")]
    truth = {unquote(t["url"]) for t in mirror.truth("almayadeen")}
    hidden = {unquote(u) for u in mirror.disallowed("almayadeen")}    # listed, but robots.txt forbids it
    assert urls and set(urls) <= truth | hidden and hidden <= set(urls)

    archived = fetch(base + "/sitemaps/all/sitemap-2021-1.xml.gz")
    assert archived.header("content-type") == "application/x-gzip" and archived.header("content-encoding") is None
    assert b"<urlset" in gzip.decompress(archived.body)

    news = fetch(base + "/sitemaps/news.xml").text
    assert "<news:publication_date>" in news and "xmlns:news=" in news
    assert f"Sitemap: {base}/sitemaps/news.xml" in robots


def test_almayadeen_every_article_page_embeds_tawsiyat_metadata(mirror):
    base = mirror.base_url("almayadeen")
    for t in mirror.truth("almayadeen"):
        html = page(t["url"])
        raw = re.search(r'<script id="tawsiyat-metadata" type="text/tawsiyat">(.*?)</script>', html, re.S).group(1)
        meta = json.loads(raw)
        assert set(meta) == {"type", "postid", "title", "url", "keywords", "thumbnail", "word_count", "lang",
                             "published_time", "last_updated", "description", "author", "classes"}
        assert meta["title"] == t["title"] and meta["lang"] == t["lang"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+03:00", meta["published_time"])
        assert datetime.fromisoformat(meta["published_time"]) == datetime.fromisoformat(t["published_at"])
        assert {c["mapping"] for c in meta["classes"]} >= {"posttype", "category"}
        assert f'<meta name="postid" content="{meta["postid"]}">' in html
        assert f'<meta property="article:published_time" content="{meta["published_time"]}">' in html
        assert '<html lang="ar"' in html and 'property="og:title"' in html
        assert 'class="lg_para summary"' in html and 'class="col-4"' in html
        body = re.search(r'<section class="read-section">(.*?)</section>', html, re.S).group(1)
        assert '<div class="p-content">' in body
    assert base


def test_almayadeen_url_shapes_slugs_and_the_amp_copy(mirror):
    truth = mirror.truth("almayadeen")
    paths = [unquote(t["url"]).split("/", 3)[3] for t in truth]
    assert {p.split("/")[0] for p in paths} >= {"news", "articles", "press"}
    current = [p for p in paths if p.startswith("news/politics/")]
    assert current and all(len(p.split("/", 2)[2]) <= 60 for p in current)
    # seed 004 keeps its real 2021-era URL: /news/<id>/<slug>, with an AMP copy under /amp/
    s = seed(mirror, "almayadeen")
    real = "/news/1545644/هجوم-داعش-الأخير-على-الجيش-السوري-دعم-أميركي-خفي-للتنظيم"
    assert unquote(s["url"]).endswith(real)
    [amp] = s["also_at"]
    assert unquote(amp).endswith("/amp" + real)
    amp_html = page(amp)
    assert f'<link rel="canonical" href="{s["url"]}">' in amp_html
    assert "<html ⚡" in amp_html and "tawsiyat-metadata" not in amp_html
    assert s["text"].splitlines()[0] in visible_text(amp_html)
    assert f'<link rel="amphtml" href="{amp}">' in page(s["url"])


def test_almayadeen_section_paginates_with_rel_next(mirror):
    base = mirror.base_url("almayadeen")
    first = page(base + "/news/politics")
    assert '<link rel="next" href="/news/politics?page=2">' in first
    second = page(base + "/news/politics?page=2")
    assert '<link rel="prev" href="/news/politics">' in second
    last = max(int(n) for n in re.findall(r"\?page=(\d+)", first))
    assert fetch(f"{base}/news/politics?page={last + 1}").status == 404
    seen = set()
    for n in range(1, last + 1):
        html = page(f"{base}/news/politics?page={n}")
        seen |= {u for u in links(html, base) if "/news/politics/" in u}
    politics = {t["url"] for t in mirror.truth("almayadeen") if "/news/politics/" in unquote(t["url"])}
    assert politics <= seen


# --- Noon Post ------------------------------------------------------------------------------

def test_noonpost_is_wordpress_feed_sitemaps_and_permalinks(mirror):
    base = mirror.base_url("noonpost")
    home = page(base + "/")
    assert f'<link rel="alternate" type="application/rss+xml" title="نون بوست &laquo; الخلاصة" href="{base}/feed/">' in home
    feed = DET.fromstring(fetch(base + "/feed/").body)
    items = feed.findall("channel/item")
    assert len(items) == 10
    content = items[0].findtext("{http://purl.org/rss/1.0/modules/content/}encoded")
    assert content and "<p>" in content
    assert all(re.fullmatch(rf"{re.escape(base)}/\d+/", i.findtext("link")) for i in items)

    index = DET.fromstring(fetch(base + "/wp-sitemap.xml").body)
    children = [e.findtext(f"{SM}loc") for e in index.findall(f"{SM}sitemap")]
    assert f"{base}/wp-sitemap-posts-post-1.xml" in children and f"{base}/wp-sitemap-users-1.xml" in children
    posts = DET.fromstring(fetch(base + "/wp-sitemap-posts-post-1.xml").body)
    listed = {e.findtext(f"{SM}loc") for e in posts.findall(f"{SM}url")}
    assert {t["url"] for t in mirror.truth("noonpost")} <= listed

    t = mirror.truth("noonpost")[0]
    post_id = t["site_id"]
    for legacy in (f"/content/{post_id}", f"/{post_id}", f"/?p={post_id}"):
        moved = fetch(base + legacy)
        assert moved.status == 301 and moved.header("location") == t["url"], legacy
    html = page(t["url"])
    graph = json.loads(re.search(r'<script type="application/ld\+json" class="yoast-schema-graph">(.*?)</script>',
                                 html, re.S).group(1))["@graph"]
    article = next(g for g in graph if g["@type"] == "NewsArticle")
    assert article["headline"] == t["title"]
    assert datetime.fromisoformat(article["datePublished"]) == datetime.fromisoformat(t["published_at"])
    assert f'<meta property="article:published_time" content="{article["datePublished"]}">' in html
    assert fetch(base + "/wp-json/wp/v2/posts?per_page=5").status == 200


def test_noonpost_category_and_home_pagination(mirror):
    base = mirror.base_url("noonpost")
    first = page(base + "/category/politics/")
    assert f'<link rel="next" href="{base}/category/politics/page/2/">' in first
    assert f'rel="prev" href="{base}/category/politics/"' in page(base + "/category/politics/page/2/")
    assert f'<link rel="next" href="{base}/page/2/">' in page(base + "/")


def test_blocked_outlet_answers_every_request_with_a_challenge():
    with Mirror(outlets=["noonpost"], blocked=["noonpost"]) as m:
        base = m.base_url("noonpost")
        home = fetch(base + "/")
        assert home.status == 403 and "Just a moment..." in home.text
        assert home.header("server") == "cloudflare" and home.header("cf-mitigated") == "challenge"
        feed = fetch(base + "/feed/")
        assert feed.status == 503 and "Just a moment..." in feed.text
        assert fetch(base + "/robots.txt").status == 503
        m.set_blocked("noonpost", False)
        assert fetch(base + "/").status == 200
        m.set_blocked("noonpost", True)
        assert fetch(m.truth("noonpost")[0]["url"]).status == 403


# --- Al-Marjie ------------------------------------------------------------------------------

EGYPTIAN_LINE = re.compile(r"(الإثنين|الثلاثاء|الأربعاء|الخميس|الجمعة|السبت|الأحد) (\d\d)/"
                           r"(يناير|فبراير|مارس|أبريل|إبريل|مايو|يونيو|يوليو|أغسطس|سبتمبر|أكتوبر|نوفمبر|ديسمبر)/"
                           r"(\d{4}) - (\d\d):(\d\d) (ص|م)")


def test_almarjie_page_order_banner_ads_title_date_label_author_print_body(mirror):
    s = seed(mirror, "almarjie")
    text = [line.strip() for line in visible_text(page(s["url"])).splitlines() if line.strip()]
    start = text.index("يصدر عن مركز سيمو - باريس")
    assert text[start + 1:start + 3] == ["ad a b", "ad ad ad"]
    rest = text[start + 3:]
    assert rest[:6] == [s["title"], "الأحد 04/أبريل/2021 - 10:20 ص", "المرجع", "مصطفى كامل", "طباعة",
                        s["text"].splitlines()[0]]
    assert s["published_at"] == "2021-04-04T08:20:00Z"             # Cairo wall time, UTC+2 then


def test_almarjie_dates_ids_feed_and_gaps(mirror):
    base = mirror.base_url("almarjie")
    truth = mirror.truth("almarjie")
    spellings = set()
    for t in truth:
        html = page(t["url"])
        m = EGYPTIAN_LINE.search(html)
        assert m, t["url"]
        spellings.add(m.group(3))
        assert re.fullmatch(rf"{re.escape(base)}/\d+", t["url"])
    assert "إبريل" in spellings or "أبريل" in spellings
    home = page(base + "/")
    assert '<link rel="alternate" type="application/rss+xml" title="المرجع - آخر الأخبار" href="/rss/1" />' in home
    rss = DET.fromstring(fetch(base + "/rss/1").body)
    assert len(rss.findall("channel/item")) == 20
    ids = sorted(t["site_id"] for t in truth)
    gaps = [i for i in range(ids[0], ids[-1]) if i not in ids]
    assert gaps, "ids must have gaps, as deleted articles leave"
    hidden = {int(u.rsplit("/", 1)[1]) for u in mirror.disallowed("almarjie")}
    gap = next(i for i in gaps if i not in hidden)
    assert fetch(f"{base}/{gap}").status == 404


# --- Al-Khanadeq ----------------------------------------------------------------------------

LEVANTINE_LINE = re.compile(r"(الإثنين|الثلاثاء|الأربعاء|الخميس|الجمعة|السبت|الأحد) \d{1,2} "
                            r"(كانون الثاني|شباط|آذار|نيسان|أيار|حزيران|تموز|آب|أيلول|تشرين الأول|تشرين الثاني|كانون الأول)"
                            r" , \d{4} \d\d:\d\d")


def test_alkhanadeq_post_layout(mirror):
    s = seed(mirror, "alittihad")
    base = mirror.base_url("alittihad")
    assert unquote(s["url"]).startswith(f"{base}/post/316/")
    html = page(s["url"])
    assert "الخميس 22 نيسان , 2021 01:42" in html
    text = visible_text(html)
    last_line = s["text"].splitlines()[-1]
    assert text.index(last_line) < text.index("الكاتب: خليل نصر الله") < text.index("روزنامة المحور")
    assert re.search(r'src="/static/media/pics/\d+x\d+/', html)
    assert any(label in html for label in ("تقدير موقف", "مترجم", "دراسة"))
    # links are raw Arabic, host-relative
    assert re.search(r'href="/post/\d+/[\u0600-\u06ff]', page(base + "/"))
    for t in mirror.truth("alittihad"):
        assert LEVANTINE_LINE.search(page(t["url"])), t["url"]
    moved = fetch(f"{base}/post/316")
    assert moved.status == 301 and moved.header("location") == s["url"]


def test_alkhanadeq_atom_feed_and_section_listing(mirror):
    base = mirror.base_url("alittihad")
    assert '<link rel="alternate" type="application/atom+xml" title="الخنادق" href="/atom.xml">' in page(base + "/")
    feed = DET.fromstring(fetch(base + "/atom.xml").body)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 20
    urls = {t["url"] for t in mirror.truth("alittihad")} | set(mirror.disallowed("alittihad"))
    assert all(e.find(f"{ATOM}link").get("href") in urls for e in entries)
    listing = page(base + "/category/1/" + quote("تقدير-موقف"))
    assert "/post/" in listing


# --- islamsyria -----------------------------------------------------------------------------

def test_islamsyria_header_line_and_view_counter(mirror):
    s = seed(mirror, "strategic_observatory")
    assert unquote(s["url"]).endswith("/portal/article/show/3187")
    first = visible_text(page(s["url"]))
    line = re.search(r"الكاتب : \s*المرصد الاستراتيجي\s* التاريخ : 15 ديسمبر 2017 م المشاهدات : (\d+)", first)
    assert line, first[:500]
    second = re.search(r"المشاهدات : (\d+)", visible_text(page(s["url"])))
    assert int(second.group(1)) == int(line.group(1)) + 1
    assert s["published_precision"] == "day" and s["published_date"] == "2017-12-15"
    assert s["published_at"] == "2017-12-14T22:00:00Z"           # midnight in Damascus (UTC+2 in December)


def test_islamsyria_listing_and_json_feed(mirror):
    base = mirror.base_url("strategic_observatory")
    home = page(base + "/")
    assert '<link rel="alternate" type="application/feed+json" title="المرصد الاستراتيجي" href="/portal/feed.json">' in home
    feed = json.loads(fetch(base + "/portal/feed.json").body)
    assert feed["version"] == "https://jsonfeed.org/version/1.1" and len(feed["items"]) == 20
    assert '<link rel="next" href="/portal/article/list/12?page=2">' in page(base + "/portal/article/list/12")


# --- the sixth site -------------------------------------------------------------------------

def test_the_new_site_is_ghost_and_absent_from_the_shipped_config(mirror):
    from pipelines.outlets import load_outlets

    assert "levant_monitor" not in load_outlets()
    assert "levant_monitor" not in mirror.outlets
    base = mirror.base_url("levant_monitor")
    assert f"Sitemap: {base}/sitemap.xml" in page(base + "/robots.txt")
    home = page(base + "/")
    assert f'<link rel="alternate" type="application/rss+xml" title="Levant Monitor" href="{base}/rss/">' in home
    assert '<meta name="generator" content="Ghost' in home
    index = DET.fromstring(fetch(base + "/sitemap.xml").body)
    assert f"{base}/sitemap-posts.xml" in [e.findtext(f"{SM}loc") for e in index.findall(f"{SM}sitemap")]
    truth = mirror.truth("levant_monitor")
    assert {t["lang"] for t in truth} == {"ar", "en"}
    rss = DET.fromstring(fetch(base + "/rss/").body)
    assert {i.findtext("link") for i in rss.findall("channel/item")} <= {t["url"] for t in truth} | set(mirror.disallowed())


# --- every outlet ---------------------------------------------------------------------------

@pytest.mark.parametrize("outlet", ["almayadeen", "noonpost", "almarjie", "alittihad", "strategic_observatory",
                                    "levant_monitor"])
def test_every_outlet_has_robots_a_linked_disallowed_page_and_recent_and_old_articles(mirror, outlet):
    base = mirror.base_url(outlet)
    robots = page(base + "/robots.txt")
    rules = [line.split(":", 1)[1].strip() for line in robots.splitlines() if line.startswith("Disallow:")]
    [hidden] = mirror.disallowed(outlet)
    assert any(hidden[len(base):].startswith(r) for r in rules if r), (hidden, rules)
    assert hidden in {u for u in links(page(base + "/"), base)} | {quote(u, safe=":/%?=&") for u in links(page(base + "/"), base)}
    truth = mirror.truth(outlet)
    assert hidden not in {t["url"] for t in truth}
    recent = [t for t in truth if t["recent"]]
    old = [t for t in truth if not t["recent"]]
    assert len(recent) >= 10 and len(old) >= 10
    home_links = {quote(u, safe=":/%?=&") for u in links(page(base + "/"), base)}
    assert sum(t["url"] in home_links for t in recent) >= 10
