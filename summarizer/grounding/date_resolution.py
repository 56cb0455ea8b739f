"""Resolve one date expression ("July 26", "this week") to a span of days (`resolve_date`).

dateparser does the reading; this module decides which reading to trust. A phrase is first read with
the relative-time parser off against two probe bases (1904-02-10, 1936-10-20: both leap years, so
"February 29" survives). What the two readings share is what the text itself fixes:
same span -> absolute ("July 2023"); same month and day in each base's year -> the year is missing
("July 26", "in July"); otherwise, or no reading -> relative ("yesterday", "this week", "Tuesday").
dateparser fills a missing year and resolves relative words from RELATIVE_BASE, which defaults to
*now*; no parse here uses that default, so the current date never leaks into a result.

Rules (each measured on TimeML with bench/bench_dates.py; figures in bench/README.md):
- A missing year: the next occurrence if it starts at most 61 days after publication (183 when the
  sentence marks the future: "will", "would", "scheduled", "expected", "planned", "set for", "postponed"
  before the date, not right after a reporting verb such as "said"), else the latest one not after
  publication. Newswire mostly reports the recent past: "Aug. 6" in a February article is last August.
  "last May" is the latest May before the publication's month, "next May" the first after it, "June
  last/this/next year" that year's. Without a publication date it is the article's most frequent
  4-digit year, if one is (`year_inferred`), else None; relative phrases without one are None.
- Relative phrases take dateparser's current-period reading unless it is after publication, then its
  past one: "Friday" in a Friday article is that day, "Saturday" the one before; "next ..." stays ahead.
  A bare weekday after a future marker (as above) is the coming one, unless possessive ("Tuesday's
  ruling" happened) or a past verb follows ("planned for Saturday was canceled"). A date that opens its
  sentence ("On Tuesday, the league plans to ...") also takes a present or future marker after it, unless
  a reporting verb comes first ("On Tuesday, officials said talks will resume"). The sentence reading is
  date_patterns.in_sentence.
- Our own English forms (date_patterns.py): "mid-1996", "late November" (the hedge dropped, the precision
  kept); "the 1990s" (a range of ten years); "the week of March 6"; US and Christian holidays
  ("Thanksgiving", "last Christmas", "Election Day 1998"), placed like a month and day without a year;
  "(the) day before/after X" (X one day either way, when X is a day); a bare day after a month and day
  takes that month ("25" of "April 24 and 25", found as a mention of its own).
- Offsets under a day ("2 hours ago") are None: the publication time is unknown.
- dateparser's period is the precision (clock times count as days); a week is Monday to Sunday.
  Whatever starts after publication is `scheduled`.
- A phrase not read whole goes to `search_dates`: each date found is resolved as above, and several
  make a "range" if in calendar order ("in 2022 and 2023"). Failing that, one dash splits it
  ("2022-2023", "June 28 - July 2") into two ends of one precision. A part that cannot be placed spoils
  all, and "July 3-5" stays None: dateparser reads "3-5" as March 5 and a lone "5" as May (find_dates
  gives "July 3" and "5", each a day of July).
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

from ..core.schemas import DatePrecision, ResolvedDate
from . import date_patterns as P

Prefer = Literal["past", "current_period", "future"]

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
# A missing year: the next occurrence if it is at most this many days ahead, else the latest past one.
# Newswire reports the recent past; measured on TimeML (bench/bench_dates.py), see the module docstring.
_AHEAD = 61
_AHEAD_MARKED = 183  # when the sentence marks the future
_MAX_DATE_TEXT = 200


class _Unparsed(Exception):
    """dateparser found no date in the whole phrase (as opposed to one we cannot place)."""


@dataclass(frozen=True)
class _Context:
    """What a resolution depends on besides the date text: small, so that a cache keyed on it holds no
    article (keyed on whole texts, 4,096 entries could hold gigabytes)."""

    published: dt.date | None
    article_year: int | None  # the article's most frequent year (_article_year), for a date without one
    langs: tuple[str, ...]
    future: bool = False  # the sentence marks the future ("will", "scheduled"): see _marks_future


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
    return _read_with(text, ctx.langs, base, prefer, relative)


@lru_cache(maxsize=4096)
def _read_with(
    text: str, langs: tuple[str, ...], base: dt.datetime, prefer: Prefer, relative: bool
) -> _Reading | None:
    """dateparser's reading, cached across articles: a parse takes milliseconds, and newswire repeats its
    date texts ("Tuesday", "last week"); the reading depends on nothing else (the base is the argument)."""
    data = _parser(langs, base, prefer, relative=relative).get_date_data(text)
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


def _article_year(article_text: str | None) -> int | None:
    """The most frequent 4-digit year in the article, if exactly one year is the most frequent."""
    ranked = Counter(_YEAR.findall(article_text or "")).most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return None
    return int(ranked[0][0])


def _resolve_phrase(text: str, ctx: _Context) -> ResolvedDate | None:
    """Resolve one phrase; raises _Unparsed when dateparser finds no date in it at all."""
    found, result = _own_forms(text, ctx)
    if found:
        return result
    first, second = (_read(text, ctx, base, "current_period", relative=False) for base in _PROBES)
    if first is not None and second is not None and first.precision == second.precision:
        if first.start == second.start:
            return _result(
                _span(first.start, first.precision), first.precision, ctx, "absolute", inferred=False
            )
        if _no_year(first, second):
            return _without_year(first, ctx)
        if first.start.year == second.start.year not in (_PROBES[0].year, _PROBES[1].year):
            raise _Unparsed  # a year from the text, the rest from the base: "2022-23" read as 23 <month> 2022
    if ctx.published is not None:
        return _relative(text, ctx, ctx.published)
    if first is None and second is None and _read(text, ctx, _PROBES[0], "past", relative=True) is None:
        raise _Unparsed
    return None  # relative to a publication date we do not have


def _own_forms(text: str, ctx: _Context) -> tuple[bool, ResolvedDate | None]:
    """Forms dateparser misreads or cannot read (English): decades, "the week of ...", holidays, "last May",
    "June last year". (False, None) when the text is none of them."""
    decade = P.DECADE.fullmatch(text)
    if decade is not None:  # "the 1990s": dateparser reads 1990 seconds
        first = int(decade["decade"])
        span = (dt.date(first, 1, 1), dt.date(first + 9, 12, 31))
        return True, _result(span, "range", ctx, "absolute", inferred=False)
    week_of = P.WEEK_OF.fullmatch(text)
    if week_of is not None:  # "the week of March 6": the week (Monday to Sunday) with that day
        day = _resolve_phrase(week_of["day"], ctx)
        if day is not None and day.precision == "day":
            span = _span(day.start, "week")
            return True, _result(span, "week", ctx, day.method, inferred=day.year_inferred)
    shift = P.DAY_SHIFT.fullmatch(text)
    if shift is not None:  # "the day before last Tuesday": that day, one day earlier
        try:
            day = _resolve_phrase(shift["day"], ctx)
        except _Unparsed:  # "the day after the election": as dateparser reads it
            day = None
        if day is not None and day.precision == "day":
            start = day.start + (_DAY if shift["way"].lower() == "after" else -_DAY)
            return True, _result((start, start), "day", ctx, day.method, inferred=day.year_inferred)
    holiday = P.HOLIDAY.fullmatch(text)
    if holiday is not None:
        return True, _holiday(holiday, ctx)
    qualified = P.QUALIFIED.fullmatch(text)
    if qualified is not None:  # "last May", "June last year": dateparser reads neither
        readings = [
            _read(qualified["inner"] or qualified["inner2"], ctx, base, "current_period", relative=False)
            for base in _PROBES
        ]
        if readings[0] is not None and readings[1] is not None and _no_year(readings[0], readings[1]):
            qualifier = (qualified["pre"] or f"{qualified['post']} year").lower()
            return True, _without_year(readings[0], ctx, qualifier)
    return False, None


def _no_year(first: _Reading, second: _Reading) -> bool:
    """Two probe readings that differ only by the probe's year: the text gives a month (and day), no year."""
    return (
        first.precision == second.precision
        and first.precision in ("day", "month")
        and (first.start.year, second.start.year) == (_PROBES[0].year, _PROBES[1].year)
        and first.start.replace(year=_PROBES[1].year) == second.start
    )


def _without_year(reading: _Reading, ctx: _Context, qualifier: str | None = None) -> ResolvedDate | None:
    month, day = reading.start.month, reading.start.day
    if ctx.published is not None:
        year = _year_for(month, day, reading.precision, ctx.published, qualifier, future=ctx.future)
        method, inferred = "relative to publication", False
    else:
        found = ctx.article_year
        if found is None or qualifier is not None:
            return None  # never fall back to the current year
        year, method, inferred = found, "year inferred from article", True
    if year is None:
        return None
    start = dt.date(year, month, day)
    return _result(_span(start, reading.precision), reading.precision, ctx, method, inferred=inferred)


def _year_for(
    month: int, day: int, precision: DatePrecision, published: dt.date, qualifier: str | None, *, future: bool
) -> int | None:
    """The year of a month (and day) written without one; None for February 29 in no leap year near."""
    if qualifier in ("last year", "next year", "this year"):
        year = published.year + {"last year": -1, "next year": 1}.get(qualifier, 0)
        return year if _valid(year, month, day) else None
    years = (published.year - 1, published.year, published.year + 1)
    starts = {y: _span(dt.date(y, month, day), precision)[0] for y in years if _valid(y, month, day)}
    return _pick(starts, published, qualifier, future=future)


def _pick(
    starts: dict[int, dt.date], published: dt.date, qualifier: str | None, *, future: bool
) -> int | None:
    """Which year's occurrence a text without a year means.

    "this": the publication's year. "last": the latest before the publication's month ("last May" written
    in May is a year ago); "next"/"coming": the first after publication. Otherwise the next occurrence if
    it is at most _AHEAD days ahead (_AHEAD_MARKED when the sentence marks the future), else the latest
    one not after publication: newswire mostly reports the recent past.
    """
    if qualifier == "this":
        return published.year if published.year in starts else None
    pub_month = published.replace(day=1)
    if qualifier == "last":
        return max((y for y, d in starts.items() if d < pub_month), default=None)
    past = max((y for y, d in starts.items() if d <= published), default=None)
    ahead = min((y for y, d in starts.items() if d > published), default=None)
    if qualifier in ("next", "coming"):
        return ahead
    if ahead is not None and (starts[ahead] - published).days <= (_AHEAD_MARKED if future else _AHEAD):
        return ahead
    # no occurrence within a year back (February 29): None, not another leap year's
    return None if past is None or (published - starts[past]).days > 366 else past


def _holiday(found: re.Match[str], ctx: _Context) -> ResolvedDate | None:
    """ "Thanksgiving", "last Christmas", "Election Day 1998": placed as a month and day without a year is."""
    name = found["name"]
    if found["year"]:
        year: int | None = int(found["year"])
        method = "absolute"
    elif ctx.published is not None:
        years = (ctx.published.year - 1, ctx.published.year, ctx.published.year + 1)
        starts = {y: P.holiday(name, y)[0] for y in years}
        qualifier = found["qualifier"].lower() if found["qualifier"] else None
        year, method = _pick(starts, ctx.published, qualifier, future=ctx.future), "relative to publication"
    else:
        return None  # a holiday's year from the article would be a guess on a guess
    if year is None:
        return None
    day, precision = P.holiday(name, year)
    return _result(_span(day, precision), precision, ctx, method, inferred=False)  # type: ignore[arg-type]


def _valid(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:  # February 29 in a common year
        return False
    return True


def _relative(text: str, ctx: _Context, published: dt.date) -> ResolvedDate | None:
    base = dt.datetime.combine(published, dt.time(12))  # noon: "tonight", "this morning" stay on the day
    prefer: Prefer = "current_period"
    reading = _read(text, ctx, base, prefer, relative=True)
    if reading is None:
        raise _Unparsed
    if reading.start > published:  # only weekdays and days of the month ("the 30th") change here
        prefer = "past"
        reading = _read(text, ctx, base, prefer, relative=True) or reading
    elif reading.start < published and ctx.future and P.WEEKDAY_ALONE.search(text):
        prefer = "future"  # "will meet Tuesday": the coming one
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
    sentence: str | None = None,
) -> ResolvedDate | None:
    """Resolve `date_text` against the publication date; None when it cannot be placed on the calendar.

    `sentence`, the sentence the text was written in, lets a future marker in it ("will", "scheduled")
    move a weekday or a month without a year ahead of publication."""
    text = " ".join((date_text or "").split())
    context = " ".join((sentence or "").split())
    at = context.find(text)
    return _resolve(text, published, _article_year(article_text), language, context, max(at, 0))


def _resolve(
    text: str,
    published: dt.date | None,
    article_year: int | None,
    language: str | None,
    sentence: str,
    at: int,
) -> ResolvedDate | None:
    text, future = P.in_sentence(text, sentence, at)
    # White space as one space, as resolve_date's callers write it: a found expression can hold any run of
    # it ("January" + 40 KB of spaces + "5"), which the phrase patterns and dateparser would each rescan.
    text = " ".join(text.split())
    # No date is written in more than _MAX_DATE_TEXT characters: longer text is not parsed (dateparser's
    # time grows with it), and so the caches keyed on date texts stay small in bytes, not only entries.
    if not text or len(text) > _MAX_DATE_TEXT:
        return None
    resolved = _resolve_in(text, _Context(published, article_year, _languages(language), future))
    return None if resolved is None else resolved.model_copy()  # the cached one stays as it was


@lru_cache(maxsize=4096)
def _resolve_in(text: str, ctx: _Context) -> ResolvedDate | None:
    """Cached: an article repeats its dates ("Tuesday", "last year")."""
    try:
        return _resolve_phrase(text, ctx)
    except _Unparsed:
        return _resolve_embedded(text, ctx)
