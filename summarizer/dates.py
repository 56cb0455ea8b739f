"""Resolve an event's `date_text` ("July 26", "this week", "in 2022 and 2023") to a span of days.

dateparser does the reading; this module decides which reading to trust. A phrase is first read with
the relative-time parser off against two probe bases (1904-02-10, 1936-10-20: both leap years, so
"February 29" survives). What the two readings share is what the text itself fixes:
same span -> absolute ("July 2023"); same month and day in each base's year -> the year is missing
("July 26", "in July"); otherwise, or no reading -> relative ("yesterday", "this week", "Tuesday").
dateparser fills a missing year and resolves relative words from RELATIVE_BASE, which defaults to
*now*; no parse here uses that default, so the current date never leaks into a result.

Rules:
- A missing year is the publication year, moved a year back (forward) if that lands more than six
  calendar months after (before) publication: the occurrence nearest publication. Without a
  publication date it is the article's most frequent 4-digit year, if one is (`year_inferred`), else
  None; relative phrases without a publication date are None.
- Relative phrases take dateparser's current-period reading unless it is after publication, then its
  past one: "Friday" in a Friday article is that day, "Saturday" the one before; "next ..." stays ahead.
- Offsets under a day ("2 hours ago") are None: the publication time is unknown, and it is how
  dateparser misreads decades ("the 1990s" = 1990 seconds).
- dateparser's period is the precision (clock times count as days); a week is Monday to Sunday.
  Whatever starts after publication is `scheduled`.
- A phrase not read whole goes to `search_dates`: each date found is resolved as above, and several
  make a "range" if in calendar order ("in 2022 and 2023"). Failing that, one dash splits it
  ("2022-2023", "June 28 - July 2") into two ends of one precision. A part that cannot be placed spoils
  all, and "July 3-5" stays None: dateparser reads "3-5" as March 5 and a lone "5" as May.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Literal

from dateparser.data.languages_info import language_order
from dateparser.date import DateDataParser
from dateparser.search import search_dates

from .schemas import DatePrecision, ResolvedDate

Prefer = Literal["past", "current_period"]

_PROBES = (dt.datetime(1904, 2, 10), dt.datetime(1936, 10, 20))
_ABSOLUTE_PARSERS = ["timestamp", "custom-formats", "absolute-time"]
_ALL_PARSERS = ["timestamp", "relative-time", "custom-formats", "absolute-time"]
# dateparser's period -> our precision; clock times and parts of day still name a day ("quarter": none).
_PRECISION: dict[str, DatePrecision] = {"day": "day", "week": "week", "month": "month", "year": "year"}
_PRECISION |= {"time": "day", "part_of_day": "day"}
_DAY = dt.timedelta(days=1)
# The only patterns of our own: a 4-digit year token, to find the article's year; and a dash, because
# dateparser reads no "2022-2023" or "June 28 - July 2" (search_dates finds nothing or one end).
_YEAR = re.compile(r"(?<!\d)(19\d\d|20\d\d|2100)(?!\d)")
_RANGE_DASH = re.compile(r"\s*[-\u2013\u2014]\s*")


class _Unparsed(Exception):
    """dateparser found no date in the whole phrase (as opposed to one we cannot place)."""


@dataclass(frozen=True)
class _Context:
    published: dt.date | None
    article_text: str | None
    langs: tuple[str, ...]


@dataclass(frozen=True)
class _Reading:
    moment: dt.datetime
    precision: DatePrecision
    period: str

    @property
    def start(self) -> dt.date:
        return _span(self.moment.date(), self.precision)[0]


@lru_cache(maxsize=256)
def _parser(langs: tuple[str, ...], base: dt.datetime, prefer: Prefer, *, relative: bool) -> DateDataParser:
    """Parsers are cheap to build but keep their own caches, so one per (languages, base, preference)."""
    settings = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": prefer,
        "PREFER_DAY_OF_MONTH": "first",
        "RETURN_AS_TIMEZONE_AWARE": False,  # keep the wall-clock date as written; never convert
        "RETURN_TIME_AS_PERIOD": True,  # tells clock times ("time") apart from days
        "PARSERS": _ALL_PARSERS if relative else _ABSOLUTE_PARSERS,
    }
    return DateDataParser(languages=list(langs), use_given_order=True, settings=settings)


def _read(text: str, ctx: _Context, base: dt.datetime, prefer: Prefer, *, relative: bool) -> _Reading | None:
    data = _parser(ctx.langs, base, prefer, relative=relative).get_date_data(text)
    precision = _PRECISION.get(data.period or "")
    if data.date_obj is None or precision is None:
        return None
    return _Reading(data.date_obj, precision, data.period or "")


def _span(day: dt.date, precision: DatePrecision) -> tuple[dt.date, dt.date]:
    if precision == "week":
        monday = day - dt.timedelta(days=day.weekday())
        return monday, monday + 6 * _DAY
    if precision == "month":
        first = day.replace(day=1)
        return first, (first + 32 * _DAY).replace(day=1) - _DAY
    if precision == "year":
        return dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)
    return day, day


def _result(
    span: tuple[dt.date, dt.date], precision: DatePrecision, ctx: _Context, method: str, *, inferred: bool
) -> ResolvedDate:
    start, end = span
    scheduled = ctx.published is not None and start > ctx.published
    return ResolvedDate(
        start=start, end=end, precision=precision, method=method, year_inferred=inferred, scheduled=scheduled
    )


@lru_cache(maxsize=16)
def _article_year(article_text: str | None) -> int | None:
    """The most frequent 4-digit year in the article, if exactly one year is the most frequent."""
    ranked = Counter(_YEAR.findall(article_text or "")).most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return None
    return int(ranked[0][0])


def _resolve_phrase(text: str, ctx: _Context) -> ResolvedDate | None:
    """Resolve one phrase; raises _Unparsed when dateparser finds no date in it at all."""
    first, second = (_read(text, ctx, base, "current_period", relative=False) for base in _PROBES)
    if first is not None and second is not None and first.precision == second.precision:
        if first.start == second.start:
            return _result(
                _span(first.start, first.precision), first.precision, ctx, "absolute", inferred=False
            )
        no_year = (
            first.precision in ("day", "month")
            and (first.start.year, second.start.year) == (_PROBES[0].year, _PROBES[1].year)
            and first.start.replace(year=_PROBES[1].year) == second.start
        )
        if no_year:
            return _without_year(first, ctx)
        if first.start.year == second.start.year not in (_PROBES[0].year, _PROBES[1].year):
            raise _Unparsed  # a year from the text, the rest from the base: "2022-23" read as 23 <month> 2022
    if ctx.published is not None:
        return _relative(text, ctx, ctx.published)
    if first is None and second is None and _read(text, ctx, _PROBES[0], "past", relative=True) is None:
        raise _Unparsed
    return None  # relative to a publication date we do not have


def _without_year(reading: _Reading, ctx: _Context) -> ResolvedDate | None:
    month, day = reading.start.month, reading.start.day
    if ctx.published is not None:
        offset = month - ctx.published.month  # calendar months after publication, in its year
        year = ctx.published.year + (-1 if offset > 6 else 1 if offset < -6 else 0)
        method, inferred = "relative to publication", False
    else:
        found = _article_year(ctx.article_text)
        if found is None:
            return None  # never fall back to the current year
        year, method, inferred = found, "year inferred from article", True
    try:
        start = dt.date(year, month, day)
    except ValueError:  # February 29 in a common year
        return None
    return _result(_span(start, reading.precision), reading.precision, ctx, method, inferred=inferred)


def _relative(text: str, ctx: _Context, published: dt.date) -> ResolvedDate | None:
    base = dt.datetime.combine(published, dt.time(12))  # noon: "tonight", "this morning" stay on the day
    prefer: Prefer = "current_period"
    reading = _read(text, ctx, base, prefer, relative=True)
    if reading is None:
        raise _Unparsed
    if reading.start > published:  # only weekdays and days of the month ("the 30th") change here
        prefer = "past"
        reading = _read(text, ctx, base, prefer, relative=True) or reading
    if reading.period == "time":
        # A clock time ("10:00 on Friday") ignores the base's hour; an offset ("2 hours ago") follows it.
        later = _read(text, ctx, base + dt.timedelta(hours=1), prefer, relative=True)
        if later is not None and later.moment - reading.moment == dt.timedelta(hours=1):
            return None
    span = _span(reading.moment.date(), reading.precision)
    return _result(span, reading.precision, ctx, "relative to publication", inferred=False)


def _resolve_embedded(text: str, ctx: _Context) -> ResolvedDate | None:
    """Dates inside other words ("on July 26 in Pyongyang", "in 2022 and 2023")."""
    # search_dates only finds the substrings; its own dates (from its own base) are not used.
    settings = {"RELATIVE_BASE": _PROBES[0], "RETURN_AS_TIMEZONE_AWARE": False}
    found = search_dates(text, languages=list(ctx.langs), settings=settings) or []
    result = _combine([substring for substring, _ in found], ctx)
    pieces = _RANGE_DASH.split(text)
    if result is None and len(pieces) == 2:
        result = _combine(pieces, ctx, same_precision=True)
    return result


def _combine(texts: list[str], ctx: _Context, *, same_precision: bool = False) -> ResolvedDate | None:
    """One date as itself; several as a range, if each can be placed and they are in calendar order."""
    parts: list[ResolvedDate] = []
    for text in texts:
        try:
            part = _resolve_phrase(text, ctx)
        except _Unparsed:
            part = None
        if part is None:
            return None  # one part we cannot place spoils the whole
        parts.append(part)
    if len(parts) <= 1:
        return parts[0] if parts else None
    if any(a.start > b.start for a, b in pairwise(parts)):
        return None  # out of calendar order: a misreading, not a range
    if same_precision and len({p.precision for p in parts}) > 1:
        return None  # "2022-23" is two years, not 2022 to the 23rd
    method = " + ".join(dict.fromkeys(p.method for p in parts))
    inferred = any(p.year_inferred for p in parts)
    return _result((parts[0].start, max(p.end for p in parts)), "range", ctx, method, inferred=inferred)


def _languages(language: str | None) -> tuple[str, ...]:
    """The article's language first, then English (the model may write dates in English); unknown
    codes are dropped rather than letting dateparser try all 200 languages."""
    code = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return (code, "en") if code and code != "en" and code in language_order else ("en",)


def resolve_date(
    date_text: str | None,
    published: dt.date | None,
    *,
    article_text: str | None = None,
    language: str | None = None,
) -> ResolvedDate | None:
    """Resolve `date_text` against the publication date; None when it cannot be placed on the calendar."""
    text = " ".join((date_text or "").split())
    if not text:
        return None
    ctx = _Context(published, article_text, _languages(language))
    try:
        return _resolve_phrase(text, ctx)
    except _Unparsed:
        return _resolve_embedded(text, ctx)
