"""Dates as each outlet prints them (see outlets.md): the crawler has to read all of these."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from zoneinfo import ZoneInfo

# Egyptian / MSA month names; April is also spelt إبريل on Egyptian sites.
EGYPTIAN_MONTHS = ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر",
                   "أكتوبر", "نوفمبر", "ديسمبر")
LEVANTINE_MONTHS = ("كانون الثاني", "شباط", "آذار", "نيسان", "أيار", "حزيران", "تموز", "آب", "أيلول",
                    "تشرين الأول", "تشرين الثاني", "كانون الأول")
# Monday first, as datetime.weekday() counts.
WEEKDAYS = ("الإثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد")
ENGLISH_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                  "October", "November", "December")

# Al Mayadeen prints a fixed +03:00 whatever the season (outlets.md), not Beirut's offset.
AL_MAYADEEN_TZ = timezone(timedelta(hours=3))


def local(dt: datetime, tz: str) -> datetime:
    return dt.astimezone(ZoneInfo(tz))


def egyptian_line(dt: datetime, variant_ibril: bool = False) -> str:
    """«الأحد 04/أبريل/2021 - 10:20 ص»: Cairo wall time, 12-hour clock with ص/م, no zone."""
    d = local(dt, "Africa/Cairo")
    month = EGYPTIAN_MONTHS[d.month - 1]
    if d.month == 4 and variant_ibril:
        month = "إبريل"
    hour = d.hour % 12 or 12
    half = "ص" if d.hour < 12 else "م"
    return f"{WEEKDAYS[d.weekday()]} {d.day:02d}/{month}/{d.year} - {hour:02d}:{d.minute:02d} {half}"


def levantine_line(dt: datetime) -> str:
    """«الخميس 22 نيسان , 2021 01:42»: Beirut wall time, 24-hour clock, a space before the comma."""
    d = local(dt, "Asia/Beirut")
    return f"{WEEKDAYS[d.weekday()]} {d.day} {LEVANTINE_MONTHS[d.month - 1]} , {d.year} {d.hour:02d}:{d.minute:02d}"


def portal_date(dt: datetime) -> str:
    """«15 ديسمبر 2017 م»: a Damascus calendar date with the trailing م, no time."""
    d = local(dt, "Asia/Damascus")
    return f"{d.day} {EGYPTIAN_MONTHS[d.month - 1]} {d.year} م"


def mayadeen_iso(dt: datetime) -> str:
    return dt.astimezone(AL_MAYADEEN_TZ).replace(microsecond=0).isoformat()


def iso_in(dt: datetime, tz: str) -> str:
    return local(dt, tz).replace(microsecond=0).isoformat()


def rfc822(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC), usegmt=True)


def w3c_utc(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def english_day(dt: datetime) -> str:
    return f"{dt.day} {ENGLISH_MONTHS[dt.month - 1]} {dt.year}"


def arabic_day(dt: datetime, tz: str) -> str:
    d = local(dt, tz)
    return f"{d.day} {EGYPTIAN_MONTHS[d.month - 1]} {d.year}"
