"""The mirror's pages weigh what real news pages weigh (crawler/mirror/weight.py, sized to the
181 real pages measured into crawler/mirror/data/page_weight.json), the same bytes on every
run, and the article inside them is unchanged."""
from __future__ import annotations

import statistics
from urllib.parse import quote

import pytest

from bench.page_weight import measure
from crawler.mirror import Mirror
from crawler.mirror.client import fetch
from crawler.mirror.mirror import MirrorError
from crawler.mirror.weight import distribution


def pages(m: Mirror, per_outlet: int = 6) -> list[bytes]:
    out = []
    for key in m.sites:
        for entry in m.truth(key)[:per_outlet]:
            out.append(fetch(entry["url"]).body)
    return out


def test_article_pages_match_the_real_distribution():
    real = distribution()
    with Mirror() as m:
        weights = [measure(b) for b in pages(m)]
    for name in ("raw_kb", "gzip_kb", "links", "script_kb"):
        median = statistics.median(getattr(w, name) for w in weights)
        assert real[name]["p25"] <= median <= real[name]["p75"], (name, median, real[name])
    # a spread, not one size
    raw = sorted(w.raw_kb for w in weights)
    assert raw[-1] > 2 * raw[0]


def test_same_bytes_on_every_run_and_light_pages_are_the_bare_ones():
    with Mirror(outlets=["almayadeen", "noonpost"]) as a, Mirror(outlets=["almayadeen", "noonpost"]) as b:
        for key in ("almayadeen", "noonpost"):
            url_a, url_b = a.truth(key)[3]["url"], b.truth(key)[3]["url"]
            body_a, body_b = fetch(url_a).body, fetch(url_b).body
            assert unported(body_a, a.base_url(key)) == unported(body_b, b.base_url(key))
            a.set_weight("light")
            bare = fetch(url_a).body
            a.set_weight("heavy")
            heavy = fetch(url_a).body
            a.set_weight("real")
            assert len(bare) < len(body_a) < len(heavy)
            assert measure(heavy).raw_kb > real_p(75)
            # the article's own markup is all still there, in the same order
            start, end = bare.index(b"<body"), bare.rindex(b"</body>")
            inner = bare[bare.index(b">", start) + 1:end].strip()
            assert inner.split(b"\n")[0] in heavy and inner.split(b"\n")[-1] in heavy


def unported(body: bytes, base: str) -> bytes:
    """The page without its (system-chosen) address, plain or percent-encoded."""
    return body.replace(base.encode(), b"BASE").replace(quote(base, safe="").encode(), b"BASE")


def real_p(p: int) -> float:
    return distribution()["raw_kb"][f"p{p}"]


def test_an_unknown_weight_is_refused_with_the_choices():
    with Mirror(outlets=["almarjie"]) as m:
        with pytest.raises(MirrorError, match="light, real, heavy"):
            m.set_weight("medium")
