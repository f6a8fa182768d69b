"""The mirror's content and its ground truth: real texts, stable ids, what each page shows,
publishing and revising, and the large mirror for benchmarks."""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from html import unescape
from pathlib import Path
from urllib.parse import unquote

import defusedxml.ElementTree as DET
import pytest

from crawler.mirror import Mirror
from crawler.mirror.client import fetch

FIVE = ["almayadeen", "noonpost", "almarjie", "alittihad", "strategic_observatory"]
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"


@pytest.fixture(scope="module")
def mirror():
    with Mirror() as m:
        yield m


def visible_text(html: str) -> str:
    html = re.sub(r"(?s)<(script|style)[^>]*>.*?</\1>", " ", html)
    return re.sub(r"[ \t]+", " ", unescape(re.sub(r"<[^>]+>", "\n", html)))


@pytest.mark.parametrize("outlet", FIVE)
def test_each_outlet_has_forty_real_articles_topical_and_not(mirror, outlet):
    truth = mirror.truth(outlet)
    regular = [t for t in truth if not t["seed"]]
    assert len(regular) >= 40
    groups = Counter(t["selection_group"].split("-")[1] if "-" in t["selection_group"] else t["selection_group"]
                     for t in regular)
    assert groups["top"] >= 15 and groups["hn"] >= 10 and groups["ord"] >= 10, groups
    assert sum(t["seed"] for t in truth) == 1
    assert len({t["url"] for t in truth}) == len(truth)
    assert all(t["lang"] in ("ar", "en") for t in truth)


def test_english_pieces_on_arabic_outlets(mirror):
    assert sum(t["lang"] == "en" for t in mirror.truth("almayadeen")) >= 2
    assert sum(t["lang"] == "en" for t in mirror.truth("noonpost")) >= 2


def test_the_seed_articles_are_on_their_own_outlets(mirror):
    files = {"alittihad": "000", "almarjie": "001", "noonpost": "002", "strategic_observatory": "003", "almayadeen": "004"}
    for outlet, prefix in files.items():
        [s] = [t for t in mirror.truth(outlet) if t["seed"]]
        seed_text = next(SEEDS.glob(f"{prefix}_*.txt")).read_text(encoding="utf-8")
        squash = lambda x: re.sub(r"\s+", " ", x)
        for line in s["text"].splitlines():
            assert squash(line) in squash(seed_text), (outlet, line[:80])
        assert len(s["text"]) > 0.6 * len(seed_text.strip()) or outlet == "alittihad"


def test_truth_entries_have_the_documented_fields(mirror):
    now = mirror.clock()          # the mirror's clock, which the session fixes (conftest)
    for outlet in mirror.sites:
        for t in mirror.truth(outlet):
            assert {"url", "canonical_url", "title", "text", "author", "published_at", "lang", "outlet"} <= set(t)
            published = datetime.fromisoformat(t["published_at"].replace("Z", "+00:00"))
            assert t["published_at"].endswith("Z") and published <= now
            assert published > datetime(2016, 1, 1, tzinfo=timezone.utc)
            if t["recent"]:
                assert now - published < timedelta(days=3)
            assert t["outlet"] == outlet and t["title"] and len(t["text"]) > 200


@pytest.mark.parametrize("outlet", FIVE + ["levant_monitor"])
def test_each_page_shows_the_truth_and_its_boilerplate(mirror, outlet):
    for t in mirror.truth(outlet):
        page = visible_text(fetch(t["url"]).text)
        squashed = re.sub(r"\s+", " ", page)
        assert t["title"] in squashed
        for line in t["text"].splitlines():
            assert re.sub(r"\s+", " ", line) in squashed, (t["url"], line[:60])
        for junk in t["boilerplate"]:
            assert junk in squashed and junk not in t["text"], junk
        if t["author"]:
            assert t["author"] in squashed


def test_syndicated_copies_sit_on_different_outlets(mirror):
    members: dict[str, list[str]] = {}
    for k in FIVE:
        for t in mirror.truth(k):
            if t["duplicate_group"]:
                members.setdefault(t["duplicate_group"], []).append(k)
    assert sorted(members["spa-coalition-41-strikes"]) == ["almarjie", "almayadeen", "strategic_observatory"]
    for group, outlets in members.items():
        assert len(outlets) >= 2 and len(set(outlets)) == len(outlets), group   # never twice on one outlet


def test_channels_say_where_a_crawl_finds_each_article(mirror):
    may = mirror.truth("almayadeen")
    assert all("sitemap" in t["channels"] for t in may)
    politics = [t for t in may if "section" in t["channels"]]
    assert politics and all("/news/politics/" in unquote(t["url"]) for t in politics)
    assert {t["depth"]["section"] for t in politics} == {1, 2}
    marjie = mirror.truth("almarjie")
    normal = mirror.truth("almarjie", channels=("home", "feed", "sitemap", "section"))
    assert 10 <= len(normal) < len(marjie) and all("idwalk" in t["channels"] for t in marjie)
    noon = mirror.truth("noonpost")
    assert max(t["depth"]["home"] for t in noon) >= 4


def test_ids_and_urls_are_stable_across_runs():
    now = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)
    with Mirror(outlets=["almarjie"], now=now) as a:
        first = [(t["key"], t["url"].split("/", 3)[3], t["published_at"]) for t in a.truth("almarjie")]
    with Mirror(outlets=["almarjie"], now=now) as b:
        second = [(t["key"], t["url"].split("/", 3)[3], t["published_at"]) for t in b.truth("almarjie")]
    assert first == second
    with Mirror(outlets=["almarjie"], now=now + timedelta(days=30)) as c:
        later = {t["key"]: (t["url"].split("/", 3)[3], t["published_at"]) for t in c.truth("almarjie")}
    for key, path, published in first:
        assert later[key][0] == path                                # same URL whatever the clock
    old = [(key, published) for key, path, published in first if not key.endswith(("recent",))]
    assert sum(later[k][1] == p for k, p in old) >= 30              # old articles keep their dates


def test_publish_puts_a_new_article_in_every_channel():
    with Mirror(outlets=["almayadeen", "noonpost", "almarjie"]) as m:
        before = {k: {t["url"] for t in m.truth(k)} for k in m.sites}
        may = m.publish("almayadeen", title="عنوان جديد عن التنف", text="فقرة أولى عن القاعدة.\nفقرة ثانية.")
        assert may["url"] not in before["almayadeen"] and may["title"] == "عنوان جديد عن التنف"
        assert may["text"] == "فقرة أولى عن القاعدة.\nفقرة ثانية."
        site = m.site("almayadeen")
        year, month = site.months()[-1]
        base = m.base_url("almayadeen")
        sitemap = fetch(f"{base}/sitemaps/all/sitemap-{year}-{month}.xml").text
        assert unquote(may["url"]) in sitemap
        assert unquote(may["url"]) in fetch(base + "/sitemaps/news.xml").text
        assert may["url"] in fetch(base + "/news/politics").text or may["url"] in fetch(base + "/articles").text \
            or may["url"] in fetch(base + "/press").text
        assert may["url"] in fetch(base + "/").text
        assert may in m.truth("almayadeen")

        noon = m.publish("noonpost")                     # a reserve text, kept back for this
        feed = DET.fromstring(fetch(m.base_url("noonpost") + "/feed/").body)
        assert feed.find("channel/item").findtext("link") == noon["url"]
        assert noon["text"] and noon["recent"]
        mar = m.publish("almarjie")
        assert mar["url"] in fetch(m.base_url("almarjie") + "/rss/1").text
        ids = sorted(t["site_id"] for t in m.truth("almarjie"))
        assert mar["site_id"] == ids[-1]                 # the next id


def test_revise_changes_the_page_and_its_modification_time():
    with Mirror(outlets=["noonpost"]) as m:
        t = m.truth("noonpost")[5]
        revised = m.revise("noonpost", t["url"], text="نص مصحح.\nفقرة جديدة.")
        assert revised["modified_at"] > t["modified_at"] and revised["published_at"] == t["published_at"]
        assert "نص مصحح." in fetch(t["url"]).text
        lastmods = {e.findtext(f"{SM}loc"): e.findtext(f"{SM}lastmod")
                    for e in DET.fromstring(fetch(m.base_url("noonpost") + "/wp-sitemap-posts-post-1.xml").body)
                    .findall(f"{SM}url")}
        assert datetime.fromisoformat(lastmods[t["url"]]) == datetime.fromisoformat(revised["modified_at"].replace("Z", "+00:00"))


def test_the_large_mirror_for_benchmarks():
    with Mirror(articles_per_outlet=1000) as m:
        total = 0
        for outlet in FIVE:
            truth = m.truth(outlet)
            assert len(truth) >= 1000
            assert len({t["url"] for t in truth}) == len(truth)
            texts = Counter(t["text"] for t in truth)
            assert texts.most_common(1)[0][1] == 1, outlet            # no two pages share a text
            total += len(truth)
            sample = truth[-1]
            reply = fetch(sample["url"])
            assert reply.status == 200 and sample["text"].splitlines()[0][:40] in unescape(reply.text)
        assert total >= 5000
        # the synthetic articles are old: feeds and home pages still show the real recent ones
        recent = {t["url"] for t in m.truth("noonpost") if t["recent"]}
        items = DET.fromstring(fetch(m.base_url("noonpost") + "/feed/").body).findall("channel/item")
        assert {i.findtext("link") for i in items} <= recent | set(m.disallowed("noonpost"))
