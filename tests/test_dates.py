"""Dates as the outlets print them (formats from the outlet notes and the seed documents)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines import dates

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def iso(text, tz=None, convention="auto"):
    parsed = dates.parse_date(text, tz=tz, convention=convention)
    return parsed.iso() if parsed else None


@pytest.mark.parametrize("text, tz, expected, convention", [
    # Al-Marjie: weekday, Egyptian month, 12-hour clock with ص/م, no zone: Cairo time (UTC+2 in 2021)
    ("الأحد 04/أبريل/2021 - 10:20 ص", "Africa/Cairo", "2021-04-04T08:20:00+00:00", "egyptian"),
    ("الأحد 04/إبريل/2021 - 10:20 م", "Africa/Cairo", "2021-04-04T20:20:00+00:00", "egyptian"),
    ("الأحد 04/ابريل/2021 - 12:05 ص", "Africa/Cairo", "2021-04-03T22:05:00+00:00", "egyptian"),
    ("الأحد 04/ابريل/2021 - 12:05 م", "Africa/Cairo", "2021-04-04T10:05:00+00:00", "egyptian"),
    # Arabic-Indic digits
    ("الأحد ٠٤/أبريل/٢٠٢١ - ١٠:٢٠ ص", "Africa/Cairo", "2021-04-04T08:20:00+00:00", "egyptian"),
    # Al-Khanadeq: Levantine month, space before the comma, 24 h, Beirut (UTC+3 in April)
    ("الخميس 22 نيسان , 2021 01:42", "Asia/Beirut", "2021-04-21T22:42:00+00:00", "levantine"),
    ("الاثنين 3 كانون الثاني 2022 18:05", "Asia/Beirut", "2022-01-03T16:05:00+00:00", "levantine"),
    ("12 تشرين الأول 2020", "Asia/Beirut", "2020-10-11T21:00:00+00:00", "levantine"),
    ("1 آب 2019", "Asia/Damascus", "2019-07-31T21:00:00+00:00", "levantine"),
    # the seed's combined form: both names of the month
    ("تاريخ الإصدار: 6 نيسان / أبريل 2021", "Asia/Beirut", "2021-04-05T21:00:00+00:00", "levantine"),
    ("6 أبريل/نيسان 2021", "Asia/Beirut", "2021-04-05T21:00:00+00:00", "levantine"),
    # islamsyria: trailing م (AD) after the year, Damascus (UTC+2 in December 2017)
    ("15 ديسمبر 2017 م", "Asia/Damascus", "2017-12-14T22:00:00+00:00", "egyptian"),
    # spelling variants
    ("5 يونيه 2019", None, "2019-06-05T00:00:00+00:00", "egyptian"),
    ("5 يوليه 2019", None, "2019-07-05T00:00:00+00:00", "egyptian"),
    ("20 اغسطس 2019", None, "2019-08-20T00:00:00+00:00", "egyptian"),
    ("20 أغسطس، 2019", None, "2019-08-20T00:00:00+00:00", "egyptian"),
    ("2 جوان 2019", "Africa/Tunis", "2019-06-01T23:00:00+00:00", "maghrebi"),
    # Maghrebi «على الساعة» (Algeria, Tunisia) and Moroccan month names, the time kept
    ("2 جوان 2019 على الساعة 14:05", "Africa/Tunis", "2019-06-02T13:05:00+00:00", "maghrebi"),
    ("12 يوليوز 2020 عند الساعة 09:30", "Africa/Casablanca", "2020-07-12T08:30:00+00:00", "maghrebi"),
    ("السبت ٢٢ شباط ٢٠٢٠ الساعة ٠٩:٣٠", None, "2020-02-22T09:30:00+00:00", "levantine"),
    # tatweel and diacritics do not hide a month
    ("7 ديســـمبر 2018", None, "2018-12-07T00:00:00+00:00", "egyptian"),
    # an explicit zone wins over the outlet's
    ("الأحد 04/أبريل/2021 - 10:20 ص GMT+3", "Africa/Cairo", "2021-04-04T07:20:00+00:00", "egyptian"),
    ("November 18, 2019 1:23 pm", "America/New_York", "2019-11-18T18:23:00+00:00", "english"),
])
def test_page_formats(text, tz, expected, convention):
    parsed = dates.parse_date(text, tz=tz)
    assert parsed is not None, text
    assert parsed.iso() == expected
    assert parsed.convention == convention
    assert parsed.value.tzinfo is not None and parsed.value.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("text, expected", [
    ("2024-04-30T00:58:00+03:00", "2024-04-29T21:58:00+00:00"),        # Al Mayadeen metadata
    ("2024-04-30T00:58:00.000+0300", "2024-04-29T21:58:00+00:00"),
    ("2019-11-18T16:18:00Z", "2019-11-18T16:18:00+00:00"),
    ("2019-11-18T16:18:00.123456789Z", "2019-11-18T16:18:00+00:00"),
    ("Tue, 30 Apr 2024 00:58:00 +0300", "2024-04-29T21:58:00+00:00"),  # RSS pubDate
    ("2024-04-30 00:58:00 UTC", "2024-04-30T00:58:00+00:00"),
])
def test_metadata_formats(text, expected):
    assert iso(text, tz="Asia/Beirut") == expected


def test_zone_missing_from_iso_is_the_outlets():
    parsed = dates.parse_date("2024-04-30T00:58:00", tz="Asia/Beirut")
    assert parsed.iso() == "2024-04-29T21:58:00+00:00"
    assert parsed.zone_given is False
    assert dates.parse_date("2024-04-30T00:58:00+03:00").zone_given is True


def test_bare_day_is_local_midnight():
    parsed = dates.parse_date("2021-04-06", tz="Asia/Beirut")
    assert parsed.has_time is False
    assert parsed.iso() == "2021-04-05T21:00:00+00:00"


def test_numeric_dates_follow_the_convention():
    assert iso("04/05/2021") == "2021-05-04T00:00:00+00:00"           # day first in Arabic usage
    assert iso("11/18/2019") == "2019-11-18T00:00:00+00:00"           # only month-first can be valid
    assert iso("04/05/2021", convention="iso") is None                 # an ISO outlet prints none
    assert iso("2021/04/04 10:20", tz="Asia/Beirut") == "2021-04-04T07:20:00+00:00"


@pytest.mark.parametrize("text", [
    "", "   ", None, "لا تاريخ هنا", "31 فبراير 2021", "6 نيسان / مايو 2021",   # two different months named
    "الساعة 10:20", "2021", "مارست الحكومة ضغوطاً في 2019",
])
def test_not_dates(text):
    assert dates.parse_date(text) is None


def test_find_dates_in_a_header_line():
    line = "الكاتب : المرصد الاستراتيجي التاريخ : 15 ديسمبر 2017 م المشاهدات : 4130"
    found = dates.find_dates(line, tz="Asia/Damascus")
    assert len(found) == 1
    assert found[0][1].iso() == "2017-12-14T22:00:00+00:00"


def test_trailing_meem_is_not_pm():
    # «2017 م» is the era; «10:20 م» is the afternoon
    assert iso("15 ديسمبر 2017 م 10:20") == "2017-12-15T10:20:00+00:00"
    assert iso("15 ديسمبر 2017 - 10:20 م") == "2017-12-15T22:20:00+00:00"


def test_future_and_ancient_dates_are_rejected():
    future = dates.parse_date("2025-06-01T14:00:00+00:00")
    with pytest.raises(dates.ImplausibleDate, match="in the future"):
        dates.check_plausible(future, now=NOW)
    old = dates.parse_date("12 يناير 1970")
    with pytest.raises(dates.ImplausibleDate, match="before 1990"):
        dates.check_plausible(old, now=NOW)
    assert dates.plausible(dates.parse_date("2025-06-01T12:30:00+00:00"), now=NOW)   # clock skew


def test_assumed_zone_gets_more_slack_than_a_given_one():
    # Printed without a zone, «now + 5 h» may be a zone mistake rather than a wrong date.
    assumed = dates.parse_date("2025-06-01 17:00", tz="UTC")
    given = dates.parse_date("2025-06-01T17:00:00+00:00")
    assert dates.plausible(assumed, now=NOW)
    assert not dates.plausible(given, now=NOW)
    assert not dates.plausible(dates.parse_date("2025-06-03 17:00", tz="UTC"), now=NOW)


def test_to_iso_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        dates.to_iso(datetime(2021, 1, 1))


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+03:00", "9999-12-31T23:59:59-05:00", "1 يناير 0001"])
def test_ends_of_the_calendar_do_not_crash(text):
    assert dates.parse_date(text, tz="Asia/Beirut") is None
