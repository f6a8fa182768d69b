"""Publication dates as Arabic news pages print them, turned into tz-aware UTC.

Three conventions cover the outlets raqib follows (see the outlet notes):

- ISO 8601 in metadata (`2024-04-30T00:58:00+03:00`);
- Egyptian / MSA month names, transliterated from the Latin calendar (يناير … ديسمبر, with
  spelling variants such as إبريل, يونيه, يوليه), often with a weekday, a 12-hour time with
  ص/م and no zone: «الأحد 04/أبريل/2021 - 10:20 ص»; or a trailing م (= AD) after the year:
  «15 ديسمبر 2017 م»;
- Levantine month names (كانون الثاني، شباط، آذار …): «الخميس 22 نيسان , 2021 01:42», and
  the combined form «6 نيسان / أبريل 2021» that names the month both ways.

Maghrebi names (جانفي، أفريل، جوان …) and English month names are understood too, because a
sixth outlet may use them. Every name is accepted whatever the outlet's configured convention;
the convention only decides how an all-numeric date such as 04/05/2021 is read.

A date printed without a zone is in the outlet's local time (`Outlet.timezone`). A date that
lies in the future or before 1990 is not a publication date (a wrong parse, an event date, a
template default) and is rejected with a reason rather than stored.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Nothing raqib follows was published before the web; older dates are parse errors or defaults.
OLDEST = datetime(1990, 1, 1, tzinfo=UTC)
# Clocks and caches disagree by minutes; a date that was given with its zone may be that early.
MAX_SKEW = timedelta(minutes=90)
# A date printed without a zone was read in the outlet's configured zone; if that guess is wrong
# the instant is off by up to the widest gap between two zones' offsets from UTC.
ASSUMED_ZONE_SKEW = timedelta(hours=14)


class ParsedDate(NamedTuple):
    value: datetime       # tz-aware, in UTC
    convention: str       # "iso", "rfc2822", "egyptian", "levantine", "maghrebi", "english", "numeric"
    zone_given: bool      # False when the outlet's zone was assumed
    has_time: bool        # False for a bare day (midnight local time is stored)

    def iso(self) -> str:
        return to_iso(self.value)


class ImplausibleDate(ValueError):
    """A date that parsed but cannot be a publication date."""


# --- normalisation ------------------------------------------------------------------------

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "،": ",",
                       "\u00a0": " ", "\u202f": " ", "\u200f": None, "\u200e": None, "ـ": None})
_DIACRITICS = re.compile(r"[\u064B-\u065F\u0670]")


def fold(text: str) -> str:
    """The form dates are matched in: ASCII digits, one alef, no tatweel or diacritics."""
    return _DIACRITICS.sub("", text.translate(_DIGITS).translate(_FOLD))


# --- month and weekday names (folded forms) ------------------------------------------------

_MONTHS: dict[str, tuple[int, str]] = {}


def _add(convention: str, names: str) -> None:
    for number, group in enumerate(names.split(";"), start=1):
        for name in group.split(","):
            if name.strip():
                _MONTHS[fold(name.strip())] = (number, convention)


_add("egyptian", "يناير;فبراير;مارس;أبريل,ابريل,إبريل;مايو;يونيو,يونيه;يوليو,يوليه;أغسطس,اغسطس,أغسطوس;"
                 "سبتمبر;أكتوبر,اكتوبر;نوفمبر;ديسمبر")
_add("levantine", "كانون الثاني,كانون ثاني;شباط;آذار,اذار;نيسان;أيار,ايار;حزيران;تموز;آب;أيلول;"
                  "تشرين الأول,تشرين أول;تشرين الثاني,تشرين ثاني;كانون الأول,كانون أول")
_add("maghrebi", "جانفي;فيفري;;أفريل;ماي;جوان;جويلية,جويليه,يوليوز;أوت,غشت;شتنبر;;نونبر;دجنبر")
_add("english", "january,jan;february,feb;march,mar;april,apr;may;june,jun;july,jul;august,aug;"
                "september,sept,sep;october,oct;november,nov;december,dec")

_WEEKDAYS = [fold(w) for w in (
    "السبت", "الأحد", "الاحد", "الإثنين", "الاثنين", "الثلاثاء", "الأربعاء", "الاربعاء", "الخميس", "الجمعة",
    "سبت", "أحد", "اثنين", "ثلاثاء", "أربعاء", "خميس", "جمعة",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "mon", "tue", "wed", "thu", "fri", "sat", "sun",
)]


def _alternation(names: Iterable[str]) -> str:
    # Longest first so that «كانون الثاني» is not read as a shorter name.
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


_MONTH = _alternation(_MONTHS)
_WEEKDAY = _alternation(_WEEKDAYS)
_B = r"(?<![\w])"          # word boundaries that also hold next to Arabic letters
_E = r"(?![\w])"

# «- 14:05», «الساعة 14:05», Maghrebi «على الساعة 14:05», «عند الساعة 14:05» (folded: «علي الساعه»)
_TIME = (r"(?:\s*(?:[-–—,|@]|(?:(?:علي|على|عند)\s+)?(?:الساعه|الساعة)|at|في)?\s*"
         r"(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?::(?P<second>\d{2}))?"
         r"(?:\s*(?P<ampm>صباحا|صباحاً|مساء|مساءً|ص|م|[ap]\.?m\.?)" + _E + ")?"
         r"(?:\s*(?P<zone>(?:gmt|utc|z)\s*(?:[+-]\s*\d{1,2}(?::?\d{2})?)?|[+-]\d{2}:?\d{2})" + _E + ")?"
         r")?")
_ERA = r"(?:\s*(?P<era>م|ميلادي|ميلاديه)" + _E + ")?"

# «الأحد 04/أبريل/2021 - 10:20 ص», «22 نيسان , 2021 01:42», «6 نيسان / أبريل 2021», «15 ديسمبر 2017 م»
_DAY_MONTH_YEAR = re.compile(
    _B + r"(?:(?:" + _WEEKDAY + r")\s*[,:-]?\s*)?"
    r"(?P<day>\d{1,2})\s*[/\-.]?\s*"
    r"(?P<month>" + _MONTH + r")" + _E +
    r"(?:\s*[/\-(]\s*(?P<month2>" + _MONTH + r")" + _E + r"\s*\)?)?"
    r"\s*[/\-.,]?\s*(?P<year>\d{4})" + _E + _ERA + _TIME,
    re.I,
)
# «November 18, 2019 1:23 pm», «أبريل 4, 2021»
_MONTH_DAY_YEAR = re.compile(
    _B + r"(?:(?:" + _WEEKDAY + r")\s*[,]?\s*)?"
    r"(?P<month>" + _MONTH + r")\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?\s*,?\s*(?P<year>\d{4})" + _E + _ERA + _TIME,
    re.I,
)
# «2021-04-04 10:20», «2021/04/04»
_YEAR_FIRST = re.compile(
    _B + r"(?P<year>\d{4})[/\-.](?P<mnum>\d{1,2})[/\-.](?P<day>\d{1,2})" + _E + _TIME, re.I)
# «04/04/2021 - 10:20 ص»: day first in Arabic conventions, month first in English ones
_NUMERIC = re.compile(
    _B + r"(?:(?:" + _WEEKDAY + r")\s*[,:-]?\s*)?"
    r"(?P<a>\d{1,2})[/\-.](?P<b>\d{1,2})[/\-.](?P<year>\d{4})" + _E + _ERA + _TIME, re.I)

_ZONE_OFFSET = re.compile(r"(?:gmt|utc|z)?\s*(?:(?P<sign>[+-])\s*(?P<h>\d{1,2}):?(?P<m>\d{2})?)?$", re.I)


# --- parsing -------------------------------------------------------------------------------

def zone(tz: tzinfo | str | None) -> tzinfo:
    if tz is None:
        return UTC
    if isinstance(tz, str):
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            return UTC
    return tz


def parse_date(value: str | None, *, tz: tzinfo | str | None = None, convention: str = "auto") -> ParsedDate | None:
    """Parse a string that holds a date (a metadata value, a date line); None if it holds none.

    `tz` is the zone a date without one is read in (the outlet's); the result is in UTC.
    """
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    iso = _parse_iso(text, zone(tz))
    if iso is not None:
        return iso
    if re.match(r"^[A-Za-z]{3},\s+\d{1,2}\s+[A-Za-z]{3}\s+\d{4}", text):   # RFC 2822, as in RSS
        try:
            dt = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            dt = None
        if dt is not None:
            given = dt.tzinfo is not None
            utc = _to_utc(dt if given else dt.replace(tzinfo=zone(tz)))
            if utc:
                return ParsedDate(utc, "rfc2822", given, True)
    if re.fullmatch(r"\d{9,10}(\.\d+)?|\d{12,13}", text):   # Unix time, seconds or milliseconds
        seconds = float(text) / (1000 if len(text) >= 12 and "." not in text else 1)
        try:
            return ParsedDate(datetime.fromtimestamp(seconds, UTC), "unix", True, True)
        except (OverflowError, OSError, ValueError):
            return None
    return find_date(text, tz=tz, convention=convention)


def find_date(text: str | None, *, tz: tzinfo | str | None = None, convention: str = "auto") -> ParsedDate | None:
    """The first date written out in `text` (a date line, a page header), or None."""
    found = find_dates(text, tz=tz, convention=convention, limit=1)
    return found[0][1] if found else None


def find_dates(text: str | None, *, tz: tzinfo | str | None = None, convention: str = "auto",
               limit: int | None = None) -> list[tuple[tuple[int, int], ParsedDate]]:
    """Every date written out in `text`, in order, with its (start, end) in the text.

    Positions index `fold(text)`, which has the same length as `text` except where tatweel,
    diacritics or direction marks were removed."""
    if not text:
        return []
    folded = fold(text)
    local = zone(tz)
    candidates: list[tuple[int, int, ParsedDate]] = []
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR, _YEAR_FIRST, _NUMERIC):
        if pattern is _NUMERIC and convention == "iso":
            continue
        for match in pattern.finditer(folded):
            parsed = _from_match(match, local, convention)
            if parsed is not None:
                candidates.append((match.start(), match.end(), parsed))
    candidates.sort(key=lambda c: (c[0], -c[1]))
    out: list[tuple[tuple[int, int], ParsedDate]] = []
    last_end = -1
    for start, end, parsed in candidates:
        if start < last_end:      # the same date matched by a weaker pattern
            continue
        out.append(((start, end), parsed))
        last_end = end
        if limit and len(out) >= limit:
            break
    return out


def _parse_iso(text: str, local: tzinfo) -> ParsedDate | None:
    if not re.match(r"^\d{4}-?\d{2}-?\d{2}(?:$|[T ]\d)", text):
        return None
    candidate = text.replace(" ", "T", 1) if re.match(r"^\d{4}-\d{2}-\d{2} \d", text) else text
    candidate = re.sub(r"(\.\d{6})\d+", r"\1", candidate)     # nanoseconds: keep microseconds
    candidate = re.sub(r"\s*(UTC|GMT)$", "Z", candidate)
    try:
        dt = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    has_time = bool(re.match(r"^\d{4}-?\d{2}-?\d{2}[T ]", text))
    given = dt.tzinfo is not None
    if not given:
        dt = dt.replace(tzinfo=local)
    utc = _to_utc(dt)
    return ParsedDate(utc, "iso", given, has_time) if utc else None


def _from_match(match: re.Match[str], local: tzinfo, convention: str) -> ParsedDate | None:
    groups = match.groupdict()
    year = int(groups["year"])
    if groups.get("month"):
        month, family = _MONTHS[groups["month"].lower()]
        if groups.get("month2"):
            month2, family2 = _MONTHS[groups["month2"].lower()]
            if month2 != month:
                return None      # «نيسان / مايو» names two months: not a date we can trust
            if family == "egyptian" and family2 == "levantine":
                family = "levantine"
        day = int(groups["day"])
    elif groups.get("mnum"):
        month, day, family = int(groups["mnum"]), int(groups["day"]), "numeric"
    else:
        a, b = int(groups["a"]), int(groups["b"])
        month_first = convention == "english" or (a <= 12 < b and convention == "auto")
        month, day = (a, b) if month_first else (b, a)
        family = "numeric"
    hour = minute = second = 0
    has_time = groups.get("hour") is not None
    if has_time:
        hour, minute = int(groups["hour"]), int(groups["minute"])
        second = int(groups["second"] or 0)
        ampm = (groups.get("ampm") or "").lower().replace(".", "")
        if ampm in ("ص", "صباحا", "صباحاً", "am"):
            hour = 0 if hour == 12 else hour
        elif ampm in ("م", "مساء", "مساءً", "pm"):
            hour = hour if hour == 12 else hour + 12
    tz, given = local, False
    if groups.get("zone"):
        parsed_zone = _zone_offset(groups["zone"])
        if parsed_zone is not None:
            tz, given = parsed_zone, True
    try:
        dt = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        return None
    utc = _to_utc(dt)
    return ParsedDate(utc, family, given, has_time) if utc else None


def _to_utc(dt: datetime) -> datetime | None:
    """In UTC; None at the ends of the calendar, where the shift would leave it (year 1, 9999)."""
    try:
        return dt.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _zone_offset(text: str) -> tzinfo | None:
    match = _ZONE_OFFSET.match(text.strip())
    if not match:
        return None
    if not match.group("sign"):
        return UTC
    minutes = int(match.group("h")) * 60 + int(match.group("m") or 0)
    if minutes > 14 * 60:
        return None
    return timezone(timedelta(minutes=minutes if match.group("sign") == "+" else -minutes))


# --- plausibility --------------------------------------------------------------------------

def check_plausible(parsed: ParsedDate, *, now: datetime | None = None) -> None:
    """Raise ImplausibleDate when `parsed` cannot be a publication date."""
    now = now or datetime.now(UTC)
    skew = MAX_SKEW if parsed.zone_given else ASSUMED_ZONE_SKEW + MAX_SKEW
    if parsed.value > now + skew:
        raise ImplausibleDate(f"{to_iso(parsed.value)} is in the future")
    if parsed.value < OLDEST:
        raise ImplausibleDate(f"{to_iso(parsed.value)} is before {OLDEST.year}")


def plausible(parsed: ParsedDate | None, *, now: datetime | None = None) -> bool:
    if parsed is None:
        return False
    try:
        check_plausible(parsed, now=now)
    except ImplausibleDate:
        return False
    return True


def to_iso(dt: datetime) -> str:
    """The stored form: ISO 8601 in UTC, to the second."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: a stored date must carry its zone")
    return dt.astimezone(UTC).isoformat(timespec="seconds")
