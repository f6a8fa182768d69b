"""Canonical URLs: every spelling of one article's address gives one document id."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from pipelines.document import doc_id_for
from pipelines.urls import article_identity, canonicalize, safe_url


@pytest.mark.parametrize("variant", [
    "https://www.almayadeen.net/news/politics/هجوم-داعش",
    "https://WWW.ALMAYADEEN.NET/news/politics/هجوم-داعش",
    "https://almayadeen.net/news/politics/%d9%87%d8%ac%d9%88%d9%85-%d8%af%d8%a7%d8%b9%d8%b4",
    "https://m.almayadeen.net/news/politics/%D9%87%D8%AC%D9%88%D9%85-%D8%AF%D8%A7%D8%B9%D8%B4",
    "https://www.almayadeen.net/news/politics/هجوم-داعش?utm_source=twitter&utm_medium=social",
    "https://www.almayadeen.net/news/politics/هجوم-داعش?fbclid=IwAR0abc#comments",
    "https://www.almayadeen.net/news/politics/هجوم-داعش?gclid=x&amp=1",
    "https://www.almayadeen.net:443/news/./politics/../politics/هجوم-داعش",
    "  https://www.almayadeen.net/news/politics/هجوم-داعش  ",
])
def test_spellings_of_one_article_are_one_canonical_url(variant):
    expected = "https://almayadeen.net/news/politics/%D9%87%D8%AC%D9%88%D9%85-%D8%AF%D8%A7%D8%B9%D8%B4"
    assert canonicalize(variant) == expected
    assert doc_id_for(canonicalize(variant)) == doc_id_for(expected)


def test_amp_copies_fold_into_the_article():
    assert canonicalize("https://almayadeen.net/amp/news/1545644/slug") == "https://almayadeen.net/news/1545644/slug"
    assert canonicalize("https://example.org/2024/05/story/amp/") == "https://example.org/2024/05/story/"
    assert canonicalize("https://example.org/story?outputType=amp") == "https://example.org/story"


def test_arabic_is_encoded_one_way_nfc_uppercase_hex():
    decomposed = "https://example.org/\u0627\u0653"       # alef + combining madda
    composed = "https://example.org/\u0622"                 # alef with madda, NFC
    assert canonicalize(decomposed) == canonicalize(composed) == "https://example.org/%D8%A2"
    assert re.search(r"%[0-9a-f]{2}", canonicalize("https://example.org/%d8%a2")) is None


def test_meaningful_query_is_kept_sorted_and_reserved_escapes_stay():
    assert canonicalize("https://x.org/show.php?id=5&cat=2") == "https://x.org/show.php?cat=2&id=5"
    assert canonicalize("https://x.org/a%2Fb?q=x%26y") == "https://x.org/a%2Fb?q=x%26y"
    assert canonicalize("https://x.org/~user/%41") == "https://x.org/~user/A"   # unreserved decoded


def test_canonicalize_is_idempotent():
    for url in ("https://www.noonpost.com/26480/", "http://m.example.com:8080/a b/ج?utm_x=1&z=%3d"):
        once = canonicalize(url)
        assert canonicalize(once) == once


def test_safe_url_keeps_the_address_but_makes_it_sendable():
    assert safe_url(" https://www.almayadeen.net/news/هجوم ") == "https://www.almayadeen.net/news/%D9%87%D8%AC%D9%88%D9%85"
    assert safe_url("/news/1?utm_source=x", "https://www.site.org/") == "https://www.site.org/news/1?utm_source=x"
    assert safe_url("https://x.org/100% sure#top") == "https://x.org/100%25%20sure"


@dataclass
class _Outlet:
    home: str = "https://www.almayadeen.net/"
    domains: tuple = ("almayadeen.net",)

    def allows_host(self, host):
        return any(host == d or host.endswith("." + d) for d in self.domains)

    def is_article(self, url):
        return bool(re.search(r"almayadeen\.net/(amp/)?(news/[a-z-]+|news/\d+)/[^/?#]+$", url))


def test_rel_canonical_is_trusted_when_it_is_an_article_of_the_outlet():
    outlet = _Outlet()
    fetched = "https://www.almayadeen.net/amp/news/1545644/slug"
    assert article_identity(fetched, "https://www.almayadeen.net/news/politics/slug", outlet) == \
        "https://almayadeen.net/news/politics/slug"
    assert article_identity(fetched, "/news/politics/slug", outlet) == "https://almayadeen.net/news/politics/slug"


@pytest.mark.parametrize("hint", [
    "https://www.almayadeen.net/",                       # every page's canonical is the home page
    "https://evil.example.com/news/politics/slug",      # another site
    "https://www.almayadeen.net/tags/syria",             # not an article any more
    "javascript:alert(1)",
    "",
])
def test_untrustworthy_rel_canonical_is_ignored(hint):
    fetched = "https://www.almayadeen.net/news/politics/slug"
    assert article_identity(fetched, hint, _Outlet()) == canonicalize(fetched)
