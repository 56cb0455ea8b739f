"""`resolve_date`: dateparser's readings of `date_text`, placed against the publication date."""

from __future__ import annotations

import datetime as dt

import pytest

from summarizer.dates import resolve_date

D = dt.date
PUBLISHED = D(2023, 7, 28)  # a Friday
REL = "relative to publication"


def _tuple(date_text: str, published: dt.date | None = PUBLISHED, **kwargs: str | None) -> tuple | None:
    r = resolve_date(date_text, published, **kwargs)
    return None if r is None else (r.start, r.end, r.precision, r.method, r.year_inferred, r.scheduled)


@pytest.mark.parametrize(
    ("text", "start", "end", "precision", "method"),
    [
        # absolute: the text fixes the date whatever the publication date
        ("2023-07-26", D(2023, 7, 26), D(2023, 7, 26), "day", "absolute"),
        ("July 26, 2023", D(2023, 7, 26), D(2023, 7, 26), "day", "absolute"),
        ("July 2023", D(2023, 7, 1), D(2023, 7, 31), "month", "absolute"),
        ("2022", D(2022, 1, 1), D(2022, 12, 31), "year", "absolute"),
        ("February 2020", D(2020, 2, 1), D(2020, 2, 29), "month", "absolute"),
        # the year missing: taken from publication
        ("July 26", D(2023, 7, 26), D(2023, 7, 26), "day", REL),
        ("26 July", D(2023, 7, 26), D(2023, 7, 26), "day", REL),
        ("in July", D(2023, 7, 1), D(2023, 7, 31), "month", REL),
        ("January 30", D(2023, 1, 30), D(2023, 1, 30), "day", REL),
        # relative
        ("this week", D(2023, 7, 24), D(2023, 7, 30), "week", REL),
        ("last week", D(2023, 7, 17), D(2023, 7, 23), "week", REL),
        ("this month", D(2023, 7, 1), D(2023, 7, 31), "month", REL),
        ("last month", D(2023, 6, 1), D(2023, 6, 30), "month", REL),
        ("this year", D(2023, 1, 1), D(2023, 12, 31), "year", REL),
        ("last year", D(2022, 1, 1), D(2022, 12, 31), "year", REL),
        ("last Tuesday", D(2023, 7, 25), D(2023, 7, 25), "day", REL),
        ("on Tuesday", D(2023, 7, 25), D(2023, 7, 25), "day", REL),
        ("Friday", D(2023, 7, 28), D(2023, 7, 28), "day", REL),  # the publication day, not a week back
        ("Saturday", D(2023, 7, 22), D(2023, 7, 22), "day", REL),  # the last one, not tomorrow
        ("two days ago", D(2023, 7, 26), D(2023, 7, 26), "day", REL),
        ("yesterday", D(2023, 7, 27), D(2023, 7, 27), "day", REL),
        ("today", D(2023, 7, 28), D(2023, 7, 28), "day", REL),
        ("tonight", D(2023, 7, 28), D(2023, 7, 28), "day", REL),
        ("10:00 on Friday", D(2023, 7, 28), D(2023, 7, 28), "day", REL),
        ("the 26th", D(2023, 7, 26), D(2023, 7, 26), "day", REL),
        # inside other words
        ("on July 26 in Pyongyang", D(2023, 7, 26), D(2023, 7, 26), "day", REL),
        ("earlier this month", D(2023, 7, 1), D(2023, 7, 31), "month", REL),
        # ranges
        ("in 2022 and 2023", D(2022, 1, 1), D(2023, 12, 31), "range", "absolute"),
        ("from 2019 to 2021", D(2019, 1, 1), D(2021, 12, 31), "range", "absolute"),
        ("2022-2023", D(2022, 1, 1), D(2023, 12, 31), "range", "absolute"),
        ("2022 \u2013 2023", D(2022, 1, 1), D(2023, 12, 31), "range", "absolute"),
        ("between July 3 and July 5", D(2023, 7, 3), D(2023, 7, 5), "range", REL),
        ("June 28 - July 2", D(2023, 6, 28), D(2023, 7, 2), "range", REL),
        ("June 28\u2013July 2, 2023", D(2023, 6, 28), D(2023, 7, 2), "range", f"{REL} + absolute"),
        ("June 2022 to July 26", D(2022, 6, 1), D(2023, 7, 26), "range", f"absolute + {REL}"),
    ],
)
def test_resolved_against_publication(text, start, end, precision, method):
    assert _tuple(text) == (start, end, precision, method, False, False)


@pytest.mark.parametrize(
    ("text", "start", "end", "precision"),
    [
        ("next week", D(2023, 7, 31), D(2023, 8, 6), "week"),
        ("next month", D(2023, 8, 1), D(2023, 8, 31), "month"),
        ("next Tuesday", D(2023, 8, 1), D(2023, 8, 1), "day"),
        ("on August 3", D(2023, 8, 3), D(2023, 8, 3), "day"),
        ("December 20", D(2023, 12, 20), D(2023, 12, 20), "day"),  # five months ahead: still this year
        ("August 3, 2023", D(2023, 8, 3), D(2023, 8, 3), "day"),
        ("February 2024", D(2024, 2, 1), D(2024, 2, 29), "month"),
    ],
)
def test_after_publication_is_scheduled(text, start, end, precision):
    r = resolve_date(text, PUBLISHED)
    assert r is not None
    assert (r.start, r.end, r.precision, r.scheduled) == (start, end, precision, True)


def test_span_containing_publication_is_not_scheduled():
    r = resolve_date("this week", PUBLISHED)
    assert r is not None and r.end > PUBLISHED and not r.scheduled


@pytest.mark.parametrize(
    ("text", "published", "expected"),
    [
        # more than six months after publication in its year: the previous year
        ("August 3", D(2024, 1, 10), D(2023, 8, 3)),
        ("December 20", D(2024, 1, 5), D(2023, 12, 20)),
        # more than six months before: the next year (an upcoming date)
        ("January 5", D(2023, 12, 28), D(2024, 1, 5)),
        # within six months either way: the publication year
        ("March 1", D(2023, 9, 15), D(2023, 3, 1)),
    ],
)
def test_missing_year_is_the_occurrence_nearest_publication(text, published, expected):
    r = resolve_date(text, published)
    assert r is not None
    assert (r.start, r.method, r.scheduled) == (expected, REL, expected > published)


def test_february_29_without_a_year():
    r = resolve_date("February 29", D(2024, 3, 10))
    assert r is not None and (r.start, r.precision) == (D(2024, 2, 29), "day")
    assert resolve_date("February 29", D(2023, 3, 10)) is None  # not a day in 2023


# --- no publication date -----------------------------------------------------------------------------

ARTICLE = "The 2019 summit failed. Talks resumed in 2019 after the 2018 crisis; a 2,000-strong crowd."


@pytest.mark.parametrize(
    ("text", "start", "end", "precision"),
    [
        ("2023-07-26", D(2023, 7, 26), D(2023, 7, 26), "day"),
        ("July 26, 2023", D(2023, 7, 26), D(2023, 7, 26), "day"),
        ("July 2023", D(2023, 7, 1), D(2023, 7, 31), "month"),
        ("2022", D(2022, 1, 1), D(2022, 12, 31), "year"),
        ("in 2022 and 2023", D(2022, 1, 1), D(2023, 12, 31), "range"),
    ],
)
@pytest.mark.parametrize("article_text", [None, ARTICLE])
def test_absolute_dates_need_no_publication_date(text, start, end, precision, article_text):
    assert _tuple(text, None, article_text=article_text) == (start, end, precision, "absolute", False, False)


@pytest.mark.parametrize(
    ("text", "start", "end", "precision"),
    [
        ("July 26", D(2019, 7, 26), D(2019, 7, 26), "day"),
        ("on July 26 in Pyongyang", D(2019, 7, 26), D(2019, 7, 26), "day"),
        ("in July", D(2019, 7, 1), D(2019, 7, 31), "month"),
        ("between July 3 and July 5", D(2019, 7, 3), D(2019, 7, 5), "range"),
    ],
)
def test_missing_year_taken_from_the_article(text, start, end, precision):
    inferred = "year inferred from article"
    assert _tuple(text, None, article_text=ARTICLE) == (start, end, precision, inferred, True, False)


@pytest.mark.parametrize(
    "article_text",
    [
        None,
        "",
        "No year is written here.",
        "It began in 2018 and ended in 2019.",  # two years, equally frequent: no single one
    ],
)
def test_missing_year_without_a_single_article_year_is_none(article_text):
    assert resolve_date("July 26", None, article_text=article_text) is None
    assert resolve_date("in July", None, article_text=article_text) is None


def test_current_date_never_leaks_in():
    # dateparser fills a missing year, and resolves relative words, from today by default.
    today = dt.date.today()
    for text in ("July 26", "today", "yesterday", "this year", "this week", "Tuesday", "the 26th"):
        assert resolve_date(text, None) is None, text
        assert resolve_date(text, None, article_text=ARTICLE) != today
    for text in ("July 26", "in July"):
        r = resolve_date(text, None, article_text=ARTICLE)
        assert r is not None and r.start.year == 2019


@pytest.mark.parametrize(
    "text", ["yesterday", "today", "this week", "last week", "two days ago", "last Tuesday", "next month"]
)
@pytest.mark.parametrize("article_text", [None, ARTICLE])
def test_relative_without_publication_date_is_none(text, article_text):
    assert resolve_date(text, None, article_text=article_text) is None


# --- nothing to resolve ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "asdfgh",
        "at some point",
        "recently",
        "the 1990s",  # dateparser reads "1990 seconds"
        "2 hours ago",  # below a day: the publication time is unknown
        "in March last year",  # found as March (this year) + last year: out of order
        "2022-23",  # dateparser: 23 <month of publication> 2022; split: a year and a day are no range
        "July 3-5",  # dateparser: "July" + March 5, or July 3 + May
    ],
)
def test_garbage_is_none(text):
    assert resolve_date(text, PUBLISHED) is None


# --- languages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end", "precision"),
    [
        ("26 de julho", D(2023, 7, 26), D(2023, 7, 26), "day"),
        ("julho de 2023", D(2023, 7, 1), D(2023, 7, 31), "month"),
        ("ontem", D(2023, 7, 27), D(2023, 7, 27), "day"),
        ("esta semana", D(2023, 7, 24), D(2023, 7, 30), "week"),
        ("2022 e 2023", D(2022, 1, 1), D(2023, 12, 31), "range"),
        ("July 26", D(2023, 7, 26), D(2023, 7, 26), "day"),  # English still read after Portuguese
    ],
)
@pytest.mark.parametrize("language", ["pt", "pt-BR", "PT_pt"])
def test_article_language(text, start, end, precision, language):
    r = resolve_date(text, PUBLISHED, language=language)
    assert r is not None
    assert (r.start, r.end, r.precision) == (start, end, precision)


def test_unknown_language_falls_back_to_english():
    r = resolve_date("July 26", PUBLISHED, language="xx")
    assert r is not None and r.start == D(2023, 7, 26)


def test_whitespace_is_normalised():
    assert _tuple("  July\n26 ") == _tuple("July 26")
