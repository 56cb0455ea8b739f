"""The English words of our own date rules: what find_dates looks for and what moves a date ahead.

dateparser reads dates in 200 languages; these patterns are only for what it misses or misreads in
English newswire ("Aug. 6", "mid-1996", "June last year", "may" the verb, holidays). Other languages get
dateparser alone.
"""

from __future__ import annotations

import datetime as dt
import re

# English only, as the rest of our own rules. A qualified month: "last May", "next March 3", "June last year".
QUALIFIED = re.compile(
    r"(?:(?P<pre>last|next|this|coming)\s+(?P<inner>.+))|(?:(?P<inner2>.+?),?\s+(?P<post>last|next|this)\s+year)",
    re.IGNORECASE,
)
WEEKDAY_ALONE = re.compile(r"^(?:on\s+)?(?:mon|tues|wednes|thurs|fri|satur|sun)day\b(?!\s+\w+\s+ago)", re.I)
# Future markers in the sentence around a date (English).
FUTURE = re.compile(
    r"\b(?:will|would|won't|'ll|shall|scheduled|expected|planned|plans?|planning|set\s+(?:to|for)|due\s+to|"
    r"upcoming|deadline|as\s+(?:soon|early)\s+as|(?:is|are)\s+to|going\s+to|postponed|tomorrow)\b",
    re.IGNORECASE,
)
# A date right after a reporting verb is when it was said, whatever the rest says: "said Tuesday he will".
_REPORTING = (
    r"\b(?:said|says|announced|told|reported|added|stated|declared|predicted|warned|insisted|claimed|"
    r"confirmed|denied|urged|noted|argued|revealed|disclosed|admitted)"
)
REPORTED = re.compile(_REPORTING + r"\s+(?:on\s+)?$", re.IGNORECASE)
# A date that opens its sentence ("On Tuesday, the league plans to ..."): a marker after it counts, unless
# a reporting verb comes first ("On Tuesday, officials said talks will resume" is when it was said). Only
# present and future tenses: "On Friday, the government planned to pay" and "vacation plans" are past.
OPENING = re.compile(r"[\s\"'`\u201c(]*(?:(?:on|by)\s+)?", re.IGNORECASE)
FUTURE_AFTER = re.compile(
    r"\b(?:will|won't|'ll|shall|plans?\s+to|(?:is|are)\s+(?:to|going\s+to|planning|scheduled|expected|set|due)|"
    r"tomorrow)\b",
    re.IGNORECASE,
)
REPORTING = re.compile(_REPORTING + r"\b", re.IGNORECASE)
# Words that qualify a date without changing it at our precision: "mid-1996", "late November".
HEDGE = re.compile(
    r"^(?:(?:early|mid|late)(?:\s*-\s*|\s+)|the\s+(?:end|beginning|start|middle)\s+of\s+)", re.I
)
POSSESSIVE = re.compile(r"['\u2019]s$")
# A past verb right after a date: "a memorial service planned for Saturday was canceled" happened.
PAST_AFTER = re.compile(r"\s+(?:was|were|had)\b", re.IGNORECASE)
MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.)(?![a-z])"
)
WEEKDAY = r"(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day)"
DAYNUM = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
YEARNUM = r"(?:1[6-9]\d\d|20\d\d)"
NUMBER = r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a\s+few|several)"
HEDGED = r"(?:(?:[Ee]arly|[Mm]id|[Ll]ate)(?:-|\s+)|the\s+(?:end|beginning|start|middle)\s+of\s+)?"
LEAD = re.compile(r"(?i:(?:on|in|at|by|since|from|until|till|to|of|for|during|and|or|before|after)\s++)+")
# Searched, so it must not start inside a run of spaces or punctuation (n starts, each scanning the run to
# the end, is quadratic: "January" + 40 KB of spaces + "5" took 9.5 s): it starts at a possessive or right
# after the last other character, and the run is taken possessively.
TAIL = re.compile(r"(?:['\u2019]s|(?<![\s,.;:]))[\s,.;:]*+$")
NOT_DATES = {"now", "second", "may", "march"}

# US and Christian holidays newswire names without a date: (month, day), (month, weekday, nth; -1 = last),
# or Easter-relative days. Precision is a day except Easter week.
_FIXED = {
    "christmas": (12, 25),
    "christmas day": (12, 25),
    "christmas eve": (12, 24),
    "new year's day": (1, 1),
    "new year's eve": (12, 31),
    "independence day": (7, 4),
    "fourth of july": (7, 4),
    "july fourth": (7, 4),
    "halloween": (10, 31),
    "valentine's day": (2, 14),
    "veterans day": (11, 11),
}
_NTH_WEEKDAY = {
    "thanksgiving": (11, 3, 4),
    "thanksgiving day": (11, 3, 4),
    "labor day": (9, 0, 1),
    "memorial day": (5, 0, -1),
    "martin luther king day": (1, 0, 3),
    "presidents day": (2, 0, 3),
}
_EASTER = {"easter": 0, "easter sunday": 0, "good friday": -2, "easter monday": 1, "easter week": 0}


def _name_pattern(name: str) -> str:
    """ "new year's day" -> New\\s+[Yy]ear['’]s\\s+[Dd]ay"""
    first, *rest = name.replace("'", "['\u2019]").split()
    return r"\s+".join([first.capitalize(), *(f"[{w[0].upper()}{w[0]}]{w[1:]}" for w in rest)])


_NAMES = sorted([*_FIXED, *_NTH_WEEKDAY, *_EASTER, "election day"], key=len, reverse=True)
# Holidays are proper names: the first word capitalised ("Christmas", "Election day", "Easter week").
HOLIDAY = re.compile(
    r"(?:(?P<qualifier>[Ll]ast|[Nn]ext|[Tt]his)\s+)?(?:the\s+)?(?P<name>"
    + "|".join(map(_name_pattern, _NAMES))
    + r")(?:,?\s+(?P<year>1[6-9]\d\d|20\d\d))?(?![\w'])"
)


def holiday(name: str, year: int) -> tuple[dt.date, str]:
    """The day (or, for Easter week, a day in the week) of a holiday in `year`, and its precision."""
    key = " ".join(name.lower().replace("\u2019", "'").split()).removeprefix("the ")
    if key in _FIXED:
        return dt.date(year, *_FIXED[key]), "day"
    if key == "election day":  # the Tuesday after the first Monday of November
        first_monday = _nth_weekday(year, 11, 0, 1)
        return first_monday + dt.timedelta(days=1), "day"
    if key in _NTH_WEEKDAY:
        return _nth_weekday(year, *_NTH_WEEKDAY[key]), "day"
    easter = _easter(year) + dt.timedelta(days=_EASTER[key])
    return easter, "week" if key.endswith("week") else "day"


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> dt.date:
    if nth > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _easter(year: int) -> dt.date:
    """Western Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


MONTH_DAY = re.compile(rf"{MONTH}(?:\s+{DAYNUM})?")
YEAR_AFTER = re.compile(r",?\s+(?P<which>last|next|this)\s+year\b", re.IGNORECASE)
DECADE = re.compile(r"(?:the\s+)?(?P<decade>1[6-9]\d0|20\d0)['\u2019]?s", re.IGNORECASE)
WEEK_OF = re.compile(r"(?:the\s+)?week\s+of\s+(?P<day>.+)", re.IGNORECASE)
# "(the) day before last Tuesday", "the day after Christmas": a day on either side of a date.
DAY_SHIFT = re.compile(r"(?:the\s+)?day\s+(?P<way>before|after)\s+(?P<day>.+)", re.IGNORECASE)
# A bare day after a month and day takes that month: "25" of "April 24 and 25", "Aug. 3 to 5", "May 1-3".
_DAY_JOIN = r"\s*(?:and|or|to|through|-|\u2013)\s*"
SECOND_DAY = re.compile(rf"{MONTH}\s+{DAYNUM}{_DAY_JOIN}(?P<day>{DAYNUM})(?!\w|[,.]\d)")
BARE_DAY = re.compile(DAYNUM)
MONTH_BEFORE = re.compile(rf"(?P<month>{MONTH})\s+{DAYNUM}{_DAY_JOIN}$")
# Our own English candidates for the forms newswire writes and search_dates misses or misreads. Case
# matters: "May" the month, "may" the verb.
FINDER = re.compile(
    # Only at the start of a word: the alternatives are tried at every position otherwise (5x slower).
    r"(?<![\w'\u2019])(?=[\w$])(?:(?:[Tt]he\s+)?[Dd]ay\s+(?:before|after)\s+)?(?:"
    + "|".join(
        [
            rf"(?:the\s+)?week\s+of\s+{MONTH}\s+{DAYNUM}(?:,?\s+{YEARNUM})?(?!\d)",
            rf"(?:{WEEKDAY},?\s+)?{HEDGED}{MONTH}\s+{DAYNUM}(?:,?\s+{YEARNUM})?(?![\d,.]\d)",
            rf"(?:{WEEKDAY},?\s+)?{DAYNUM}\s+{MONTH}(?:,?\s+{YEARNUM})?(?!\d)",
            rf"{HEDGED}{MONTH},?\s+{YEARNUM}(?!\d)",
            rf"(?i:last|next|this|coming)\s+{MONTH}(?:\s+{DAYNUM}(?!\d))?",
            # not "March" the noun: "the March for Life", "the March of the Mothers"
            rf"{HEDGED}(?!March\s+(?:for|of\s+the|against)\s){MONTH}(?:\s+(?i:last|next|this)\s+year)?",
            rf"(?:(?i:last|next|this|coming|past)\s+)?{WEEKDAY}(?:\s+(?i:morning|afternoon|evening|night))?",
            r"(?i:(?:(?:earlier|later)\s+)?(?:this|last|next|the\s+(?:past|coming|last|next))\s+"
            r"(?:week(?:end)?|month|year))",
            r"(?i:yesterday|today|tonight|tomorrow)",
            rf"(?i:{NUMBER}\s+(?:days?|weeks?|months?|years?)\s+ago)",
            r"\d{4}-\d{2}-\d{2}",
            rf"(?<![\d$.,])(?:the\s+)?{HEDGED}{YEARNUM}(?:s\b|(?!\d|[,.]\d|%))",
            HOLIDAY.pattern,
        ]
    )
    + ")"
)


# --- text: where a mention ends, where a sentence ends --------------------------------------------------


def inner_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) and its sub-spans without up to two words at either edge, the longest first."""
    words = [(start + m.start(), start + m.end()) for m in re.finditer(r"\S+", text[start:end])]
    n = len(words)
    spans = {(words[i][0], words[n - 1 - j][1]) for i in range(3) for j in range(3) if i + j < n}
    return sorted(spans, key=lambda se: (se[0] - se[1], se[0]))


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Leading prepositions and conjunctions, trailing punctuation and a possessive are not the date."""
    piece = text[start:end]
    lead = LEAD.match(piece)
    start += lead.end() if lead else 0
    tail = TAIL.search(text[start:end])
    return start, (start + tail.start()) if tail else end


# --- the sentence around a date: what it adds to the date and whether it puts the date ahead ------------


def in_sentence(text: str, sentence: str, at: int) -> tuple[str, bool]:
    """`text` (at `at` in `sentence`) as the resolver reads it, and whether the sentence marks it future.

    The hedge and a possessive go ("late November", "Tuesday's"); "this/last/next year" right after a
    month joins it ("February this year"); a bare day after a month and day takes that month ("25" of
    "April 24 and 25"). A possessive date, or one a past verb follows, names something that happened:
    "get around Wednesday's ruling" even after "would", "a service planned for Saturday was canceled"."""
    end = at + len(text)
    after = YEAR_AFTER.match(sentence, end) if sentence else None
    past = (
        POSSESSIVE.search(text)
        or POSSESSIVE.match(sentence[end : end + 2])
        or PAST_AFTER.match(sentence, end)
    )
    text = HEDGE.sub("", POSSESSIVE.sub("", text))
    if after is not None and MONTH_DAY.fullmatch(text):
        text = f"{text} {after['which']} year"
    month = MONTH_BEFORE.search(sentence[max(0, at - 40) : at]) if BARE_DAY.fullmatch(text) else None
    if month is not None:
        text = f"{month['month']} {text}"
    return text, not past and _marks_future(sentence, at, end)


def _marks_future(sentence: str, at: int, end: int) -> bool:
    """A future marker before the date in its sentence ("will meet Tuesday", "planned to leave on Thursday"),
    unless the date directly follows a reporting verb; or, present or future tense, after a date that opens
    the sentence ("On Tuesday, the league plans to ..."), unless a reporting verb comes before it ("On
    Tuesday, officials said talks will resume"). Measured: a marker anywhere in the sentence also catches
    "said Friday that talks will resume", which is past. Only 300 characters either side of the date are
    read, so a text without full stops stays linear."""
    before = sentence[max(0, at - 300) : at]
    if FUTURE.search(before):
        return not REPORTED.search(before[-40:])
    if not OPENING.fullmatch(before):
        return False
    after = sentence[end : end + 300]
    marker = FUTURE_AFTER.search(after)
    return marker is not None and not REPORTING.search(after[: marker.start()])
