"""Term syntax and term matching, shared by the topic rules and the entity gazetteer.

A term is written the way an analyst would type it, in any spelling (normalisation folds
hamza forms, taa marbuta, diacritics and case), with three marks:

* words separated by spaces form a phrase: the words must follow each other;
* a trailing ``*`` on a word accepts any ending (``امريك*`` finds أمريكا, الأمريكية,
  الأميركيين; ``strike*`` finds strikes);
* a leading ``=`` makes a word case-sensitive (``=IS`` is the group, never the verb "is";
  ``=US`` is never the pronoun "us").

Arabic proclitics (و ف، ب ك ل، ال) are optional in front of every word, so ``داعش`` also finds
«لداعش» and «وبداعش». A word written with the article requires it: ``الرقة`` finds «بالرقة»
and «الرقة» but not «رقة» (tenderness), ``الاسد`` is never the last letters of «فاسد». The
matcher tries every proclitic reading of a token (`normalize.proclitic_splits`) and keeps the
ones whose word is a known term, which is how it can strip a ب the stemmer must leave alone.

`Text` splits a title and a body into tokens with their zone (title, lead, body), sentence and
paragraph, because the rules weigh where a term occurs and what occurs beside it.
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple, cast

from pipelines.normalize import _WORD_RE, is_arabic, normalize_token, proclitic_splits, stem

# A wildcard needs this many letters before it: «ام*» would match half the Arabic lexicon.
MIN_WILDCARD_STEM = 3
# A term is a name or a short phrase; the limit keeps `not` look-ups to a few positions.
MAX_TERM_WORDS = 8

# Abbreviations whose full stop does not end a sentence ("U.S. troops", "Lt. Gen.").
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st gen lt col maj sgt capt adm gov sen rep jr sr no vs etc al fig".split()
)
_SENTENCE_END_RE = re.compile(r"[.!?؟…]")


@dataclass(frozen=True)
class Word:
    """One word of a term, normalised."""
    text: str                 # the word without proclitics (and without the article)
    prefix: bool = False      # written with a trailing *
    article: bool = False     # written with the article: the article is required
    case: str | None = None   # written with =: the exact surface form required

    def matches(self, token: Token) -> bool:
        if self.case is not None:
            return token.surface == self.case
        for split in token.splits:
            if self.article and not split.article:
                continue
            if split.base == self.text or (self.prefix and split.base.startswith(self.text)):
                return True
        return False


@dataclass(frozen=True)
class Term:
    source: str               # as written in the configuration
    words: tuple[Word, ...]


def parse_term(source: str) -> Term:
    """A term from its written form; ValueError says what is wrong with it."""
    if not isinstance(source, str) or not source.strip():
        raise ValueError("a term must be a non-empty string")
    words: list[Word] = []
    for raw in source.split():
        case = raw.startswith("=")
        body = raw[1:] if case else raw
        prefix = body.endswith("*")
        body = body[:-1] if prefix else body
        if "*" in body or "=" in body:
            raise ValueError(f"{raw!r}: * may only end a word and = only start one")
        if case and prefix:
            raise ValueError(f"{raw!r}: a case-sensitive word cannot also end in *")
        parts = [m.group() for m in _WORD_RE.finditer(body)]
        if not parts:
            raise ValueError(f"{raw!r} has no letters or digits")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if case:
                words.append(Word(text=normalize_token(part), case=unicodedata.normalize("NFKC", part)))
                continue
            norm = normalize_token(part)
            article = is_arabic(norm) and norm.startswith("ال") and len(norm) >= 4
            base = norm[2:] if article else norm
            is_prefix = prefix and last
            if is_prefix and len(base) < MIN_WILDCARD_STEM:
                raise ValueError(f"{raw!r}: a wildcard needs at least {MIN_WILDCARD_STEM} letters before *")
            words.append(Word(text=base, prefix=is_prefix, article=article))
    if len(words) > MAX_TERM_WORDS:
        raise ValueError(f"{source.strip()!r} has {len(words)} words; a term has at most {MAX_TERM_WORDS}")
    return Term(source=source.strip(), words=tuple(words))


class Token(NamedTuple):
    # A tuple, not a frozen dataclass: a text has thousands of tokens, and a frozen
    # dataclass's __init__ (object.__setattr__ per field) cost tagging a fifth of its time.
    start: int                # offsets in the zone's original string (title or text)
    end: int
    norm: str
    surface: str
    splits: tuple
    zone: str                 # "title", "lead" or "body"
    sentence: int             # 0 is the title; the text's sentences count from 1
    paragraph: int            # 0 is the title


@dataclass
class Text:
    """A title and a body as one token sequence, with zones, sentences and paragraphs."""
    title: str
    body: str
    lead_tokens: int = 60
    tokens: list[Token] = field(default_factory=list)
    n_sentences: int = 0

    def __post_init__(self) -> None:
        self.tokens = self._tokenize()
        self.n_sentences = (self.tokens[-1].sentence + 1) if self.tokens else 1

    def source(self, token: Token) -> str:
        return self.title if token.zone == "title" else self.body

    def index_forms(self) -> tuple[str, str]:
        """`normalize.index_form` of the title and of the body, from these tokens: the same
        words, normalised alike, so only their stems are added (an enriched article needs
        both, and tokenizing its text once is cheaper than twice)."""
        tokens = self.tokens
        n = 0
        for token in tokens:
            if token.zone != "title":
                break
            n += 1
        return " ".join([stem(t.norm) for t in tokens[:n]]), " ".join([stem(t.norm) for t in tokens[n:]])

    def sentence_tokens(self, sentence: int) -> tuple[int, int]:
        """The first and last token of a sentence (tokens are in sentence order)."""
        numbers = self.__dict__.get("_sentence_numbers")
        if numbers is None:
            numbers = self.__dict__["_sentence_numbers"] = [t.sentence for t in self.tokens]
        return bisect_left(numbers, sentence), bisect_right(numbers, sentence) - 1

    def span_text(self, first: int, last: int) -> str:
        """The original text of tokens first..last (inclusive), as the reader sees it."""
        a, b = self.tokens[first], self.tokens[last]
        return self.source(a)[a.start:b.end]

    def _tokenize(self) -> list[Token]:
        # Every word of every crawled article passes here: one loop, locals only, and the
        # usual gap between two words (one space) recognised without slicing it out.
        out: list[Token] = []
        append, forms, new = out.append, _forms, tuple.__new__    # Token(...) without its Python __new__
        for m in _WORD_RE.finditer(self.title or ""):
            surface, norm, splits = forms(m.group())
            append(new(Token, (*m.span(), norm, surface, splits, "title", 0, 0)))
        # The lead is every sentence that starts within the first `lead_tokens` words: the
        # first sentence or two of a news story, where it says what it is about.
        body = self.body or ""
        lead_tokens, lead_limit = self.lead_tokens, 3 * self.lead_tokens
        sentence, paragraph, count, lead_sentence = 1, 1, 0, 1
        prev_end, prev_word = 0, ""
        for m in _WORD_RE.finditer(body):
            start, end = m.span()
            word = m.group()
            if count:
                if start - prev_end != 1 or body[prev_end] != " ":
                    gap = body[prev_end:start]
                    if "\n" in gap:
                        sentence += 1
                        paragraph += 1
                    elif _SENTENCE_END_RE.search(gap) and not _is_abbreviation(prev_word, gap):
                        sentence += 1
                if count < lead_tokens:
                    lead_sentence = sentence
            surface, norm, splits = forms(word)
            append(new(Token, (start, end, norm, surface, splits,
                               "lead" if sentence <= lead_sentence and count < lead_limit else "body", sentence, paragraph)))
            count += 1
            prev_end, prev_word = end, word
        return out


@lru_cache(maxsize=200_000)
def _forms(word: str) -> tuple[str, str, tuple]:
    """Surface form, normalised form and proclitic readings of a word: one cached look-up
    per token instead of three calls (news vocabulary is small next to its token count)."""
    norm = normalize_token(word)
    return unicodedata.normalize("NFKC", word), norm, proclitic_splits(norm)


def _is_abbreviation(word: str, gap: str) -> bool:
    """A full stop after a single Latin letter or a known abbreviation does not end a sentence."""
    if not gap.lstrip().startswith(".") or any(c in gap for c in "!?؟…"):
        return False
    if gap.strip() != ".":
        return False
    return (len(word) == 1 and word.isascii() and word.isalpha()) or word.casefold() in _ABBREVIATIONS


@dataclass(frozen=True)
class Hit:
    key: object               # what the term was registered for
    term: Term
    first: int                # token indices, inclusive
    last: int


class TermSet:
    """Many terms compiled for one pass over a text.

    Candidates are found by the first word of each term (an exact dictionary, a dictionary of
    wildcard stems probed with every prefix of a token's readings, and one of case-sensitive
    forms), then the remaining words are checked in place: the cost per token is a handful of
    dictionary look-ups, whatever the number of terms.
    """

    def __init__(self) -> None:
        self._exact: dict[str, list[tuple[Term, object]]] = {}
        self._prefix: dict[str, list[tuple[Term, object]]] = {}
        self._case: dict[str, list[tuple[Term, object]]] = {}
        self._prefix_lengths: set[int] = set()
        # keyed by the surface form alone: the normalised form and the readings follow from it
        self._cache: dict[str, tuple[tuple[Term, object], ...]] = {}

    def add(self, term: Term, key: object) -> None:
        first = term.words[0]
        if first.case is not None:
            self._case.setdefault(first.case, []).append((term, key))
        elif first.prefix:
            self._prefix.setdefault(first.text, []).append((term, key))
            self._prefix_lengths.add(len(first.text))
        else:
            self._exact.setdefault(first.text, []).append((term, key))
        self._cache.clear()

    def _candidates(self, token: Token) -> tuple[tuple[Term, object], ...]:
        """Terms whose first word may match the token; cached per word form, since a news
        vocabulary is small next to the number of tokens."""
        key = token.surface
        cached = self._cache.get(key)
        if cached is None:
            if len(self._cache) > 200_000:
                self._cache.clear()
            cached = self._cache[key] = tuple(
                dict.fromkeys(c for c in self._lookup(token) if c[0].words[0].matches(token)))
        return cached

    def _lookup(self, token: Token) -> Iterable[tuple[Term, object]]:
        found = self._case.get(token.surface)
        if found:
            yield from found
        for split in token.splits:
            found = self._exact.get(split.base)
            if found:
                yield from found
            if self._prefix:
                for n in self._prefix_lengths:
                    if n <= len(split.base):
                        found = self._prefix.get(split.base[:n])
                        if found:
                            yield from found

    def find(self, text: Text) -> list[Hit]:
        """Every occurrence of every term; a phrase never runs from the title into the text."""
        hits: list[Hit] = []
        tokens = text.tokens
        n = len(tokens)
        # Most tokens start no term: their cached empty answer is read here, without a call.
        cached, candidates = self._cache.get, self._candidates
        for i, token in enumerate(tokens):
            found = cached(token.surface)
            if found is None:
                found = candidates(token)
            if not found:
                continue
            in_title = token.zone == "title"
            for term, key in found:   # first word matched, each term once
                last = i + len(term.words) - 1
                if last >= n:
                    continue
                if len(term.words) > 1 and not all(
                    (tokens[i + k].zone == "title") == in_title and term.words[k].matches(tokens[i + k])
                    for k in range(1, len(term.words))
                ):
                    continue
                hits.append(Hit(key, term, i, last))
        return hits


# --- concepts: named term lists with their disambiguation -------------------------------

LANGUAGES = ("ar", "en", "fr")
CONCEPT_KEYS = (*LANGUAGES, "not", "unless_near", "only_near")
NEAR_KEYS = ("within", "terms")
# How close two hits must be: "sentence", "paragraph", N words, or ("sentences", N) for
# N sentences before or after.
Within = int | str | tuple[str, int]


@dataclass(frozen=True)
class Near:
    """Terms looked for around a hit: within N tokens, or in the same sentence or paragraph."""
    within: Within
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Concept:
    """A named list of terms, in any language, and what voids one of its hits:

    * `not`: a longer term that contains the hit («الائتلاف الوطني السوري» is the opposition,
      not a coalition the United States leads: ``not: [national coalition]``);
    * `unless_near`: a term close by (الرقة near الكويت is the Kuwaiti district);
    * `only_near`: a term that must be close by (تدمر is also the verb "destroys": only
      near مدينة, ريف, اثار… is it Palmyra).
    """
    name: str
    terms: tuple[Term, ...]
    not_terms: tuple[Term, ...] = ()
    unless_near: Near | None = None
    only_near: Near | None = None


def check_terms(check, value, path: str) -> tuple[Term, ...]:
    """Terms from a YAML list, every bad one reported through the `Checker`."""
    out = []
    for i, raw in enumerate(check.string_list(value, path)):
        try:
            out.append(parse_term(raw))
        except ValueError as exc:
            check.add(f"{path}[{i}]", str(exc))
    return tuple(out)


_SENTENCES_RE = re.compile(r"^\s*(\d+)\s+sentences?\s*$")


def check_within(check, value, path: str, default: Within = "sentence") -> Within:
    """`sentence`, `paragraph`, a number of words, or "N sentences" (N before or after)."""
    if value is None:
        return default
    if value in ("sentence", "paragraph"):
        return value
    if isinstance(value, str):
        m = _SENTENCES_RE.match(value)
        if m:
            return ("sentences", int(m.group(1)))
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        check.add(path, f"expected sentence, paragraph, a number of words (1 or more) or \"N sentences\", got {value!r}")
        return default
    return value


def check_near(check, value, path: str) -> Near | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = {"terms": value}
    value = check.mapping(value, path, allowed=NEAR_KEYS, required=("terms",))
    terms = check_terms(check, value.get("terms"), f"{path}.terms")
    return Near(check_within(check, value.get("within"), f"{path}.within", 10), terms) if terms else None


def check_concept(check, name: str, value, path: str, *, extra_keys: Iterable[str] = ()) -> list[Concept]:
    """The concepts of one YAML entry: its plain names, plus one concept per `ambiguous` item
    (names that are also ordinary words, each with what tells it apart), all under one name.
    `extra_keys` are the caller's own keys (coordinates…)."""
    value = check.mapping(value, path, allowed=(*CONCEPT_KEYS, "ambiguous", *extra_keys))
    out = []
    main = _one_concept(check, name, value, path)
    if main:
        out.append(main)
    raw_variants = value.get("ambiguous") or []
    if not isinstance(raw_variants, list):
        check.add(f"{path}.ambiguous", "expected a list of {ar/en/fr: [...], only_near/unless_near/not: ...}")
        raw_variants = []
    for i, raw in enumerate(raw_variants):
        where = f"{path}.ambiguous[{i}]"
        raw = check.mapping(raw, where, allowed=CONCEPT_KEYS)
        if not any(raw.get(k) for k in ("not", "unless_near", "only_near")):
            check.add(where, "an ambiguous name needs not, unless_near or only_near to tell it apart")
        variant = _one_concept(check, name, raw, where)
        if variant:
            out.append(variant)
        elif not any(raw.get(lang) for lang in LANGUAGES):
            check.add(where, f"has no terms: give at least one under {', '.join(LANGUAGES)}")
    if not out and not any(value.get(lang) for lang in LANGUAGES):
        check.add(path, f"has no terms: give at least one under {', '.join(LANGUAGES)}")
    return out


def _one_concept(check, name: str, value: dict, path: str) -> Concept | None:
    terms: list[Term] = []
    for lang in LANGUAGES:
        terms.extend(check_terms(check, value.get(lang), f"{path}.{lang}"))
    not_terms = check_terms(check, value.get("not"), f"{path}.not")
    unless_near = check_near(check, value.get("unless_near"), f"{path}.unless_near")
    only_near = check_near(check, value.get("only_near"), f"{path}.only_near")
    if not terms:
        return None
    return Concept(name=name, terms=tuple(terms), not_terms=not_terms, unless_near=unless_near, only_near=only_near)


def near(text: Text, hit: Hit, other: Hit, within: Within) -> bool:
    """Whether two hits are within `within` of each other: the same sentence or paragraph, N
    words between them (never across the title and the text), or ("sentences", N)."""
    a, b = text.tokens[hit.first], text.tokens[other.first]
    if isinstance(within, str):
        return a.sentence == b.sentence if within == "sentence" else a.paragraph == b.paragraph
    if isinstance(within, tuple):
        return abs(a.sentence - b.sentence) <= within[1] and (a.zone == "title") == (b.zone == "title")
    if (a.zone == "title") != (b.zone == "title"):
        return False
    gap = max(other.first - hit.last, hit.first - other.last)
    return gap <= within


class Nearby:
    """Hits indexed by position, sentence and paragraph, so that "which of them are within W
    of this hit?" costs a look-up rather than a scan: long articles stay linear."""

    def __init__(self, text: Text, hits: Iterable[Hit]):
        self.text = text
        self.hits = sorted(hits, key=lambda h: h.first)
        self._firsts = [h.first for h in self.hits]
        self._longest = max((h.last - h.first for h in self.hits), default=0)
        self._by_sentence: dict[int, list[Hit]] = {}
        self._by_paragraph: dict[int, list[Hit]] = {}
        for h in self.hits:
            token = text.tokens[h.first]
            self._by_sentence.setdefault(token.sentence, []).append(h)
            self._by_paragraph.setdefault(token.paragraph, []).append(h)

    def __bool__(self) -> bool:
        return bool(self.hits)

    def around(self, hit: Hit, within: Within) -> list[Hit]:
        token = self.text.tokens[hit.first]
        if isinstance(within, str):
            by_unit = self._by_sentence if within == "sentence" else self._by_paragraph
            return by_unit.get(token.sentence if within == "sentence" else token.paragraph, [])
        if isinstance(within, tuple):
            out: list[Hit] = []
            for s in range(token.sentence - within[1], token.sentence + within[1] + 1):
                out.extend(h for h in self._by_sentence.get(s, ()) if near(self.text, hit, h, within))
            return out
        lo = bisect_left(self._firsts, hit.first - within - self._longest)
        hi = bisect_right(self._firsts, hit.last + within)
        return [h for h in self.hits[lo:hi] if near(self.text, hit, h, within)]

    def any_near(self, hit: Hit, within: Within) -> bool:
        return bool(self.hits) and bool(self.around(hit, within))


class Lexicon:
    """Concepts compiled into one `TermSet`: one pass over a text finds them all. Several
    concepts may share a name (an entity's plain and ambiguous names): their hits merge."""

    def __init__(self, concepts: Iterable[Concept]) -> None:
        self.concepts: list[Concept] = list(concepts)
        self.names = sorted({c.name for c in self.concepts})
        self._terms = TermSet()
        for i, concept in enumerate(self.concepts):
            for term in concept.terms:
                self._terms.add(term, ("is", i))
            for term in concept.not_terms:
                self._terms.add(term, ("not", i))
            if concept.unless_near:
                for term in concept.unless_near.terms:
                    self._terms.add(term, ("unless", i))
            if concept.only_near:
                for term in concept.only_near.terms:
                    self._terms.add(term, ("only", i))

    def find(self, text: Text) -> dict[str, list[Hit]]:
        """The valid hits of each concept name found, in text order; of overlapping hits of one
        name, the longest."""
        raw: dict[tuple[str, int], list[Hit]] = {}
        for hit in self._terms.find(text):
            raw.setdefault(cast(tuple[str, int], hit.key), []).append(hit)   # as __init__ registered them
        merged: dict[str, list[Hit]] = {}
        for (kind, i), hits in raw.items():
            if kind != "is":
                continue
            concept = self.concepts[i]
            blockers = {(b.first, b.last) for b in raw.get(("not", i), ())}
            unless_near, only_near = concept.unless_near, concept.only_near
            unless = Nearby(text, raw.get(("unless", i), ())) if unless_near else None
            only = Nearby(text, raw.get(("only", i), ())) if only_near else None
            for hit in hits:
                if blockers and _inside_longer(hit, blockers):
                    continue
                if unless and unless_near and unless.any_near(hit, unless_near.within):
                    continue
                if only is not None and only_near and not only.any_near(hit, only_near.within):
                    continue
                merged.setdefault(concept.name, []).append(hit)
        return {name: _longest(hits) for name, hits in merged.items()}


def _inside_longer(hit: Hit, spans: set[tuple[int, int]]) -> bool:
    """Whether a longer span starts at or before the hit and ends at or after it (a `not`
    term is a handful of words, so only the few start positions before the hit are tried)."""
    return any((first, last) in spans
               for first in range(max(0, hit.first - MAX_TERM_WORDS), hit.first + 1)
               for last in range(hit.last, hit.last + MAX_TERM_WORDS + 1)
               if (last - first) > (hit.last - hit.first))


def _longest(hits: list[Hit]) -> list[Hit]:
    """Of hits that overlap, the longest («الولايات المتحدة الامريكية» over «الولايات المتحدة»)."""
    hits = sorted(hits, key=lambda h: (h.first, -(h.last - h.first)))
    out: list[Hit] = []
    for hit in hits:
        if out and hit.first <= out[-1].last:
            continue
        out.append(hit)
    return out
