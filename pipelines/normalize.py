"""Arabic-aware text normalisation: the one function family that tagging, indexing and
search all use, so that what the tagger matched, what the index holds and what a user
types agree on every kind of Elasticsearch cluster.

Three levels, each built on the one before:

* `normalize_text` folds characters: Unicode compatibility forms, case, the alef forms
  (أ إ آ ٱ → ا), taa marbuta (ة → ه), alef maqsura (ى → ي), Persian letters, diacritics
  and tatweel, Arabic-Indic digits, quote and bracket variants. It never changes the
  number of words, so positions stay comparable.
* `stem` strips clitic prefixes (و ف ب ك ل ال وال بال فال كال لل …) and a few inflectional
  suffixes, in the manner of Larkey's light10 stemmer: light enough that different words
  rarely collapse, strong enough that «والأمريكية» and «أمريكي» meet. Spelling variants
  that the letters alone cannot fold (أميركا / أمريكا) are unified here too.
* `index_form` is the space-joined stems of a text: what the `*_norm` index fields hold and
  what a search query is turned into before it reaches Elasticsearch.

`iter_tokens` keeps each token's offsets in the original text so that a match found on the
normalised form can be highlighted in the text the analyst reads.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import NamedTuple

# Harakat, Quranic marks, superscript alef and tatweel: all dropped.
_MARKS = "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640"
_MARKS_RE = re.compile(f"[{_MARKS}]")

_CHAR_MAP = str.maketrans(
    {
        # alef with hamza above/below, madda, wasla
        "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا",
        "ة": "ه",
        "ى": "ي",
        # Persian and Urdu letters that Arabic pages mix in
        "ی": "ي", "ي": "ي", "ک": "ك", "ۀ": "ه", "ہ": "ه",
        # Arabic-Indic and Extended (Persian) digits
        **{chr(0x0660 + i): str(i) for i in range(10)},
        **{chr(0x06F0 + i): str(i) for i in range(10)},
        # quotes: guillemets and typographic quotes become the ASCII double quote, which is
        # also the phrase operator of the search syntax
        "«": '"', "»": '"', "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"',
        "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'",
        "{": "(", "}": ")", "[": "(", "]": ")", "﴾": "(", "﴿": ")",
        # Arabic punctuation to its Latin twin
        "،": ",", "؛": ";", "؟": "?", "٪": "%",
        "\u200c": " ", "\u200d": "", "\u200e": "", "\u200f": "", "\ufeff": "",
    }
)

# A word: letters and digits, with the marks that may sit inside an Arabic word.
_WORD_RE = re.compile(f"(?:[^\\W_]|[{_MARKS}])+")
_ARABIC_LETTER_RE = re.compile("[\u0621-\u064a]")

# Longest first. A prefix is removed only if enough of the word remains.
_ARTICLE_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال")
_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي")

# Common words whose first letter is a radical و, not the conjunction: stripping it would
# part «وزارة» from «الوزارة». Prefixes of normalised words.
_WAW_INITIAL = (
    "وزير", "وزار", "وكال", "وكيل", "ولاي", "وحد", "وثيق", "وثائق", "وطن", "وضع", "وقف",
    "وقت", "وقائع", "وجود", "وجه", "وصل", "وصف", "وقع", "وسط", "وسائل", "وسيل", "وفد",
    "وفق", "وفا", "وعد", "ولد", "ورق", "ورد", "وزن", "واشنطن", "واقع", "والد", "واجب",
    "واجه", "واحد", "وادي", "وارد", "واضح", "واسع", "وكر",
)

# Names that Arabic writes with a one-letter proclitic glued on («بسوريا», «لداعش», «فواشنطن»).
# The stemmer cannot strip ب ل ك ف from any word («بريطانيا», «لبنان», «فرنسا» begin with them),
# but it can when what remains is one of these names. Normalised, without the article.
_NAMES = frozenset("""
    سوريا سوريه داعش امريكا اميركا واشنطن روسيا موسكو ايران طهران تركيا انقره اسرائيل دمشق حلب
    حمص حماه ادلب درعا منبج كوباني تدمر بغداد اربيل مصر ليبيا لبنان قطر عمان بيروت اوباما ترامب
    بوتين اردوغان قسد
""".split())
_NAME_PROCLITICS = ("وب", "ول", "وك", "فب", "فل", "فك", "ب", "ل", "ك", "ف", "و")

# Words whose forms the suffix rules would part or confuse, given one stem: the country in both
# spellings (سوريا, سورية) and its adjective all meet, while «سورة» (a surah) and «سور» (a
# wall) keep the stem the suffix rules give them.
_SAME_WORD = {
    **dict.fromkeys(("سوريا", "سوريه", "سوري", "سوريين", "سوريون", "سوريان", "سوريات"), "سوريا"),
}

# Spelling variants that survive letter folding, unified at the stem level.
# Key: a stem prefix as written; value: the canonical spelling.
_VARIANT_PREFIXES = (
    ("اميرك", "امريك"),
    ("امركي", "امريكي"),
)


def normalize_text(text: str) -> str:
    """Fold characters (see the module docstring). Whitespace runs become one space."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_CHAR_MAP)
    text = _MARKS_RE.sub("", text)
    return " ".join(text.split())


@lru_cache(maxsize=200_000)
def normalize_token(token: str) -> str:
    """`normalize_text` for one word. Cached: it runs once per token of every article."""
    return _MARKS_RE.sub("", unicodedata.normalize("NFKC", token).casefold().translate(_CHAR_MAP))


def is_arabic(token: str) -> bool:
    return bool(_ARABIC_LETTER_RE.search(token))


@lru_cache(maxsize=200_000)
def stem(token: str) -> str:
    """Light stem of one already-normalised token; non-Arabic tokens pass unchanged.

    Cached: news vocabulary is small compared with the number of tokens seen, and stemming
    sits on the hot path of tagging and indexing.
    """
    if not is_arabic(token) or len(token) < 3:
        return token
    word = token
    for proclitic in ("", *_NAME_PROCLITICS):
        if word.startswith(proclitic) and word[len(proclitic):] in _NAMES:
            return _canonical(word[len(proclitic):])   # a name: no suffix to strip
    if (
        word.startswith("و")
        and not word.startswith("وال")
        and len(word) >= 4
        and not word.startswith(_WAW_INITIAL)
    ):
        word = word[1:]  # the conjunction و
    for prefix in _ARTICLE_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 2:
            word = word[len(prefix):]
            break
    if word in _SAME_WORD:
        return _SAME_WORD[word]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            word = word[: -len(suffix)]
    return _canonical(word)


def _canonical(word: str) -> str:
    if word in _SAME_WORD:
        return _SAME_WORD[word]
    for variant, canonical in _VARIANT_PREFIXES:
        if word.startswith(variant):
            return canonical + word[len(variant):]
    return word


class Split(NamedTuple):
    """One reading of a token as proclitics + word: `base` is the word, `article` whether
    the definite article was among the proclitics."""
    base: str
    article: bool


_CONJUNCTIONS = ("", "و", "ف")
_PREPOSITIONS = ("", "ب", "ك", "ل")


@lru_cache(maxsize=200_000)
def proclitic_splits(token: str) -> tuple[Split, ...]:
    """Every reading of a normalised token as optional و/ف, then ب/ك/ل, then ال, then a word
    of at least two letters; the token itself (no proclitic) is always the first reading.

    The stemmer must pick one reading and so leaves «بسوريا» alone (stripping ب would break
    «بريطانيا»); a matcher that knows its vocabulary can try them all and accept a reading only
    when its word is a known term, which is what the tagger does. «لل» is ل + ال with the
    article's alef dropped, as Arabic writes it.
    """
    if not is_arabic(token):
        return (Split(token, False),)
    out: list[Split] = [Split(token, False)]
    seen = {(token, False)}

    def add(base: str, article: bool) -> None:
        if len(base) >= 2 and (base, article) not in seen:
            seen.add((base, article))
            out.append(Split(base, article))

    for conj in _CONJUNCTIONS:
        if not token.startswith(conj):
            continue
        after_conj = token[len(conj):]
        for prep in _PREPOSITIONS:
            if not after_conj.startswith(prep):
                continue
            rest = after_conj[len(prep):]
            if conj or prep:
                add(rest, False)
            if rest.startswith("ال"):
                add(rest[2:], True)
            elif prep == "ل" and rest.startswith("ل"):
                add(rest[1:], True)
    return tuple(out)


def tokens(text: str) -> list[str]:
    """Normalised tokens (not stemmed) of a text, in order."""
    return [normalize_token(w) for w in _WORD_RE.findall(text or "")]


def stems(text: str) -> list[str]:
    return [_word_stem(w) for w in _WORD_RE.findall(text or "")]


@lru_cache(maxsize=200_000)
def _word_stem(word: str) -> str:
    """stem(normalize_token(word)) in one cached look-up: every article's every word passes here."""
    return stem(normalize_token(word))


def index_form(text: str) -> str:
    """What the `*_norm` fields hold and what queries are rewritten to."""
    return " ".join(stems(text))


class Token(NamedTuple):
    start: int
    end: int
    norm: str   # normalised surface form
    key: str    # its stem: what matching compares


def iter_tokens(text: str) -> Iterator[Token]:
    """Tokens of the original text with their offsets, for highlighting and proximity."""
    for m in _WORD_RE.finditer(text or ""):
        norm = normalize_token(m.group())
        if norm:
            yield Token(m.start(), m.end(), norm, stem(norm))
