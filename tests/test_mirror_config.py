"""The shipped config/outlets.yaml, rewritten to point at the mirror, is the config the crawl
tests use: it must validate, keep the real article patterns' paths, and those patterns must
tell the mirror's article pages from everything else it links to."""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import quote, urljoin, urlsplit

import pytest
import yaml

from crawler.mirror import Mirror, MirrorError
from crawler.mirror.client import fetch
from crawler.mirror.config import rewrite_pattern, rewrite_url
from pipelines.outlets import load_outlets
from pipelines.paths import shipped_config_dir

SHIPPED = yaml.safe_load((shipped_config_dir() / "outlets.yaml").read_text(encoding="utf-8"))["outlets"]


@pytest.fixture(scope="module")
def mirror():
    with Mirror(faults=True) as m:
        yield m


@pytest.fixture(scope="module")
def outlets(mirror, tmp_path_factory):
    directory = tmp_path_factory.mktemp("config")
    mirror.write_config(directory, include_new_site=True)
    return load_outlets(directory)


def path_part(pattern: str) -> str:
    """What follows the host in a URL regex."""
    host_start = pattern.index("://") + 3
    depth = 0
    for i in range(host_start, len(pattern)):
        ch = pattern[i]
        depth += ch == "("
        depth -= ch == ")"
        if ch == "/" and depth == 0 and pattern[i - 1] != "\\":
            return pattern[i:]
    return ""


def test_rewritten_config_validates_and_points_only_at_the_mirror(mirror, outlets, tmp_path):
    assert set(outlets) == set(SHIPPED) | {"levant_monitor"}
    for key, outlet in outlets.items():
        host = urlsplit(mirror.base_url(key)).hostname
        assert outlet.domains == (host,)
        for url in (outlet.home, *outlet.feeds, *outlet.sitemaps, *outlet.sections):
            assert url.startswith(mirror.base_url(key) + "/"), url
        for template in outlet.backfill.values():
            if isinstance(template, str) and "://" in template:
                assert template.startswith(mirror.base_url(key) + "/")
    text = (mirror.write_config(tmp_path) ).read_text(encoding="utf-8")
    for entry in SHIPPED.values():
        for domain in entry["domains"]:
            assert domain not in text, f"{domain} left in the mirror's config"


def test_paths_stay_as_in_the_shipped_config(mirror, outlets):
    for key, entry in SHIPPED.items():
        outlet = outlets[key]
        assert path_part(outlet.article_pattern.pattern) == path_part(entry["article_pattern"])
        assert [urlsplit(u).path for u in outlet.sitemaps] == [urlsplit(u).path for u in entry.get("sitemaps") or []]
        assert [urlsplit(u).path for u in outlet.feeds] == [urlsplit(u).path for u in entry.get("feeds") or []]
        assert [urlsplit(u).path for u in outlet.sections] == [urlsplit(u).path for u in entry.get("sections") or []]
        for k, v in (entry.get("backfill") or {}).items():
            if isinstance(v, str) and "://" in v:
                assert outlet.backfill[k].split("/", 3)[3] == v.split("/", 3)[3]
        assert outlet.extraction == load_outlets()[key].extraction      # hints untouched


def site_links(url: str, base: str) -> set[str]:
    reply = fetch(url)
    assert reply.status == 200, url
    found = set()
    for href in re.findall(r'href="([^"]+)"', reply.body.decode("utf-8", "replace")):
        u = urljoin(url, unescape(href)).split("#")[0]
        if u.startswith(base + "/") or u == base:
            parts = urlsplit(u)
            found.add(parts._replace(path=quote(parts.path, safe="/%:@!$&'()*+,;=-._~")).geturl())
    return found


@pytest.mark.parametrize("key", ["almayadeen", "noonpost", "almarjie", "alittihad", "strategic_observatory",
                                 "levant_monitor"])
def test_patterns_match_the_articles_and_nothing_else_the_pages_link_to(mirror, outlets, key):
    outlet = outlets[key]
    base = mirror.base_url(key)
    truth = mirror.truth(key)
    articles = {t["url"] for t in truth} | {u for t in truth for u in t["also_at"]}
    articles |= set(mirror.disallowed(key))
    articles |= {row["url"] for row in mirror.faults_table() if row["outlet"] == key
                 and (not row["kind"].startswith(("sitemap_", "feed_")) or row["kind"] == "sitemap_url_404")}
    for url in articles:
        assert outlet.is_article(url), url
    moved = {u for t in truth for u in t["redirects_from"]}      # legacy URLs: may or may not match
    pages = {base + "/"} | {urljoin(base + "/", s) for s in outlet.sections} | {truth[0]["url"], truth[-1]["url"]}
    seen = set()
    for page in pages:
        seen |= site_links(page, base)
    others = seen - articles - moved
    assert len(others) > 5
    wrong = sorted(u for u in others if outlet.is_article(u))
    assert wrong == [], f"{key}: listing or other pages taken for articles: {wrong[:5]}"
    assert seen & articles


def test_only_the_mirrored_outlets_are_written(tmp_path):
    with Mirror(outlets=["almarjie"]) as m:
        m.write_config(tmp_path)
        assert list(load_outlets(tmp_path)) == ["almarjie"]
        m.write_config(tmp_path, include_new_site=True)
        assert list(load_outlets(tmp_path)) == ["almarjie", "levant_monitor"]


def test_the_new_site_entry_is_plain(outlets):
    new = outlets["levant_monitor"]
    assert new.extraction == {} and new.backfill == {} and new.feeds == () and new.sitemaps == ()


def test_write_config_leaves_other_files_alone(mirror, tmp_path):
    (tmp_path / "settings.toml").write_text("[crawl]\n", encoding="utf-8")
    mirror.write_config(tmp_path)
    assert (tmp_path / "settings.toml").read_text(encoding="utf-8") == "[crawl]\n"


def test_pattern_rewrite_replaces_only_the_host():
    pattern = r"^https?://(www\.)?alkhanadeq\.(org\.lb|com)/post/\d+/[^/?#]+/?$"
    out = rewrite_pattern(pattern, ["alkhanadeq.org.lb", "alkhanadeq.com"], "127.0.0.11", 4321)
    assert out == r"^https?://127\.0\.0\.11:4321/post/\d+/[^/?#]+/?$"
    assert rewrite_pattern(r"^https://news\.example\.org/(a|b)/\d+$", ["example.org"], "127.0.0.9", 80) \
        == r"^https?://127\.0\.0\.9:80/(a|b)/\d+$"
    assert rewrite_pattern(r"/story/\d+$", ["example.org"], "127.0.0.9", 80) == r"/story/\d+$"
    with pytest.raises(Exception, match="matches none of the domains"):
        rewrite_pattern(r"^https?://elsewhere\.net/\d+$", ["example.org"], "127.0.0.9", 80)
    assert rewrite_url("https://www.example.org/feed/?x=1", ["example.org"], "http://127.0.0.9:80") \
        == "http://127.0.0.9:80/feed/?x=1"
    assert rewrite_url("https://other.net/feed/", ["example.org"], "http://127.0.0.9:80") == "https://other.net/feed/"


def test_a_config_the_rewrite_cannot_read_is_a_clear_error(tmp_path):
    from crawler.mirror.config import write_config

    entry = dict(SHIPPED["almarjie"], article_pattern=r"^https?://somewhere-else\.com/\d+$")
    source = tmp_path / "outlets.yaml"
    source.write_text(yaml.safe_dump({"outlets": {"almarjie": entry}}, allow_unicode=True), encoding="utf-8")
    with Mirror(outlets=["almarjie"]) as m, pytest.raises(MirrorError, match="outlet almarjie: the host part"):
        write_config(tmp_path / "out", m, source=source)
