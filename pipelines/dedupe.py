"""Recognising the same article under another URL or at another outlet.

Two signals, both computed on the normalised text (`pipelines.normalize`), so that markup,
spacing, diacritics and hamza spellings do not hide a copy:

* the exact fingerprint `content_hash` (pipelines.document.content_hash): a re-post;
* the resemblance (Jaccard similarity) of the sets of word 3-shingles, estimated by a MinHash
  signature (Broder, "On the resemblance and containment of documents", 1997): a syndicated
  copy with another headline, a dateline, a dropped paragraph or a "read it at…" footer.

The signature is a one-permutation MinHash (Li, Owen and Zhang, "One permutation hashing",
2012) with optimal densification (Shrivastava, ICML 2017): each shingle's hash picks one of
`PERMUTATIONS` bins and the bin keeps its smallest value; an empty bin borrows the value of
the first filled bin along a fixed probe sequence. Two signatures agree in a bin with
probability equal to the resemblance, as with `PERMUTATIONS` separate permutations, but the
cost is one pass over the shingles instead of one per permutation: it was the largest single
CPU cost of the crawl (6 ms of 31 per page, bench/results/crawl.json). On the corpus's 585
articles (170,820 pairs) its estimates are as close to the exact resemblance (RMSE 0.0020
against 0.0019) and it decides the pairs at `MIN_RESEMBLANCE` as well (12 of 12 found, none
wrongly, against 8 of 12).

Why MinHash and not a 64-bit SimHash: wire copies in Arabic media are short (100-200 words)
and differ by a dateline and a footer. On the project's corpus the three copies of one SPA
dispatch are 7 to 13 SimHash bits apart, as far as unrelated articles on the same subject,
while their shingle resemblance is 0.73-0.84 against at most 0.34 for different articles
on one story. A resemblance of `MIN_RESEMBLANCE` or more is a duplicate.

Candidates are found without comparing against every stored article (locality-sensitive
hashing): the signature is cut into `BANDS` bands of `ROWS` values and each band is stored as
one keyword; two articles share a band with probability 1 - (1 - J^ROWS)^BANDS (0.94 at
J = 0.5, 0.02 at J = 0.1), so a `terms` query finds the candidates and their stored
signatures decide. The same banding serves the in-memory index of one crawl, which catches
copies before Elasticsearch has refreshed.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pipelines import normalize

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

SHINGLE = 3
BANDS = 21
ROWS = 3
PERMUTATIONS = BANDS * ROWS
MIN_RESEMBLANCE = 0.5
# Below this many words a resemblance says little (two one-line briefs share most shingles
# by accident); such texts are compared by exact fingerprint only.
MIN_WORDS = 30

_MASK32 = (1 << 32) - 1
_EMPTY = 1 << 32                 # above every 32-bit value: a bin no shingle fell into
# Fixed seed: signatures stored in the index must stay comparable across runs and versions.
# Each bin's probe sequence: the other bins in a fixed random order.
_rnd = random.Random(0x72617169)
_PROBES = tuple(tuple(_rnd.sample([j for j in range(PERMUTATIONS) if j != i], PERMUTATIONS - 1))
                for i in range(PERMUTATIONS))


def _shingle_hashes(text: str | None, words: list[str] | None = None) -> set[int] | None:
    words = normalize.stems(text or "") if words is None else words
    if len(words) < MIN_WORDS:
        return None
    # each word encoded once, not once per shingle it is in: the same bytes as the joined text's
    encoded = [w.encode("utf-8") for w in words]
    blake2b, number, join = hashlib.blake2b, int.from_bytes, b" ".join
    return {number(blake2b(join(encoded[i:i + SHINGLE]), digest_size=8).digest(), "big")
            for i in range(len(encoded) - SHINGLE + 1)}


def minhash(text: str | None, *, words: list[str] | None = None) -> tuple[int, ...] | None:
    """The MinHash signature of a text (32-bit values), or None when it is too short.
    `words`: the text's stems when already known (an enriched document's `text_norm`)."""
    hashes = _shingle_hashes(text, words)
    if not hashes:
        return None
    bins = [_EMPTY] * PERMUTATIONS
    for h in hashes:
        # the high half of the 64-bit shingle hash chooses the bin, the low half is the value
        i, value = (h >> 32) % PERMUTATIONS, h & _MASK32
        if value < bins[i]:
            bins[i] = value
    if _EMPTY in bins:
        filled = bins[:]
        for i in range(PERMUTATIONS):
            if filled[i] == _EMPTY:
                bins[i] = next(filled[j] for j in _PROBES[i] if filled[j] != _EMPTY)
    return tuple(bins)


def resemblance(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Estimated Jaccard similarity of the two shingle sets behind two signatures."""
    return sum(x == y for x, y in zip(a, b)) / len(a)


def to_hex(signature: tuple[int, ...]) -> str:
    return "".join(f"{v:08x}" for v in signature)


def from_hex(text: str) -> tuple[int, ...]:
    if len(text) != PERMUTATIONS * 8:
        raise ValueError("signature of another length")
    return tuple(int(text[i:i + 8], 16) for i in range(0, len(text), 8))


def bands(signature: tuple[int, ...]) -> list[str]:
    """The band keys stored beside a signature: band number and a hash of its rows."""
    keys = []
    for i in range(BANDS):
        rows = signature[i * ROWS:(i + 1) * ROWS]
        digest = hashlib.blake2b(b"".join(v.to_bytes(4, "big") for v in rows), digest_size=6).hexdigest()
        keys.append(f"{i}:{digest}")
    return keys


@dataclass(frozen=True)
class Fingerprint:
    content_hash: str
    signature: tuple[int, ...] | None

    def fields(self) -> dict[str, Any]:
        """The index fields that let later articles find this one."""
        if self.signature is None:
            return {}
        return {"minhash": to_hex(self.signature), "minhash_bands": self.bands}

    @cached_property
    def bands(self) -> list[str]:
        """The signature's band keys, computed once: the in-memory index, the stored fields
        and the cluster look-up all need them."""
        return bands(self.signature) if self.signature is not None else []


def fingerprint(doc: dict[str, Any]) -> Fingerprint:
    """From an enriched document (it has `content_hash` and `text_norm` from
    pipelines.document.enrich: the stems are not computed a second time)."""
    norm = doc.get("text_norm")
    return Fingerprint(doc["content_hash"], minhash(doc.get("text"), words=norm.split() if isinstance(norm, str) else None))


@dataclass(frozen=True)
class Match:
    doc_id: str          # the original: the article the new one copies
    resemblance: float   # 1.0 for an identical text


def best_match(fp: Fingerprint, candidates: Iterable[tuple[str, dict[str, Any]]], *, exclude: str) -> Match | None:
    """The closest candidate (id, stored fields) that `fp` duplicates, or None.

    A candidate that is itself a duplicate points to its original, so chains collapse to the
    first article. The document's own id is never a match: a re-crawl is an update.
    """
    best: Match | None = None
    for doc_id, src in candidates:
        original = src.get("duplicate_of") or doc_id
        if exclude in (doc_id, original):
            continue
        if src.get("content_hash") == fp.content_hash:
            score = 1.0
        elif fp.signature is not None and src.get("minhash"):
            try:
                score = resemblance(fp.signature, from_hex(src["minhash"]))
            except ValueError:
                continue
            if score < MIN_RESEMBLANCE:
                continue
        else:
            continue
        if best is None or score > best.resemblance:
            best = Match(original, score)
    return best


class RecentIndex:
    """The fingerprints of one crawl's articles, consulted before the cluster: articles
    written in the last second are not yet searchable there."""

    def __init__(self) -> None:
        self._by_hash: dict[str, str] = {}
        self._by_band: dict[str, set[str]] = {}
        self._fields: dict[str, dict[str, Any]] = {}

    def add(self, doc_id: str, fp: Fingerprint, duplicate_of: str | None = None) -> None:
        fields: dict[str, Any] = {"content_hash": fp.content_hash, **fp.fields()}
        if duplicate_of:
            fields["duplicate_of"] = duplicate_of
        self._fields[doc_id] = fields
        self._by_hash.setdefault(fp.content_hash, doc_id)
        for band in fields.get("minhash_bands", ()):
            self._by_band.setdefault(band, set()).add(doc_id)

    def candidates(self, fp: Fingerprint) -> list[tuple[str, dict[str, Any]]]:
        ids = set()
        if fp.content_hash in self._by_hash:
            ids.add(self._by_hash[fp.content_hash])
        if fp.signature is not None:
            for band in fp.bands:
                ids |= self._by_band.get(band, set())
        return [(i, self._fields[i]) for i in ids]

    def __len__(self) -> int:
        return len(self._fields)


def _candidates_search(fp: Fingerprint, exclude: str, size: int) -> dict[str, Any]:
    """The search for stored articles that share the exact fingerprint or a MinHash band
    with `fp`, oldest first (the original of a story is the first one indexed)."""
    should: list[dict[str, Any]] = [{"term": {"content_hash": fp.content_hash}}]
    if fp.signature is not None:
        should.append({"terms": {"minhash_bands": fp.bands}})
    return {
        "size": size,
        "query": {"bool": {"should": should, "minimum_should_match": 1, "must_not": [{"ids": {"values": [exclude]}}]}},
        "_source": ["content_hash", "minhash", "duplicate_of"],
        "sort": [{"first_indexed_at": {"order": "asc", "unmapped_type": "date"}}],
    }


def _hits(resp: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(h["_id"], h.get("_source") or {}) for h in resp["hits"]["hits"]]


def cluster_candidates(client: Elasticsearch, alias: str, fp: Fingerprint, *, exclude: str, size: int = 50) -> list[tuple[str, dict[str, Any]]]:
    """Stored articles that share the exact fingerprint or a MinHash band with `fp`, oldest
    first (the original of a story is the first one indexed)."""
    return _hits(client.search(index=alias, body=_candidates_search(fp, exclude, size)).body)


def cluster_candidates_many(client: Elasticsearch, alias: str, lookups: list[tuple[Fingerprint, str]], *,
                            size: int = 50) -> list[list[tuple[str, dict[str, Any]]]]:
    """`cluster_candidates` for several (fingerprint, exclude) at once, in one _msearch: the
    crawl asks for every article, and one request per article cost the node about three
    times the CPU of the same searches sent together (bench/results/crawl.json). A search
    that fails alone raises, as a failed request does."""
    if not lookups:
        return []
    searches: list[dict[str, Any]] = []
    for fp, exclude in lookups:
        searches += [{"index": alias}, _candidates_search(fp, exclude, size)]
    out = []
    for resp in client.msearch(searches=searches).body["responses"]:
        if "error" in resp:
            raise RuntimeError(f"duplicate look-up failed: {resp['error']}")
        out.append(_hits(resp))
    return out
