"""`resolve_date`: dateparser's readings of `date_text`, placed against the publication date."""

from __future__ import annotations

import datetime as dt

import pytest

from summarizer.core.segment import split_sentences
from summarizer.grounding.dates import DateMention, find_dates, resolve_date

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
        # our own rules, where dateparser reads nothing or the wrong thing
        ("in March last year", D(2022, 3, 1), D(2022, 3, 31), "month", REL),
        ("June last year", D(2022, 6, 1), D(2022, 6, 30), "month", REL),
        ("May 3 next year", D(2024, 5, 3), D(2024, 5, 3), "day", REL),  # scheduled: checked below too
        ("last May", D(2023, 5, 1), D(2023, 5, 31), "month", REL),
        ("last July", D(2022, 7, 1), D(2022, 7, 31), "month", REL),  # in July: the July before
        ("mid-1996", D(1996, 1, 1), D(1996, 12, 31), "year", "absolute"),
        ("late November 2020", D(2020, 11, 1), D(2020, 11, 30), "month", "absolute"),
        ("the 1990s", D(1990, 1, 1), D(1999, 12, 31), "range", "absolute"),  # dateparser: 1990 seconds
        ("Friday's", D(2023, 7, 28), D(2023, 7, 28), "day", REL),
        ("the week of July 12", D(2023, 7, 10), D(2023, 7, 16), "week", REL),
        ("Christmas 2022", D(2022, 12, 25), D(2022, 12, 25), "day", "absolute"),
        ("Thanksgiving", D(2022, 11, 24), D(2022, 11, 24), "day", REL),  # fourth Thursday, the last one
        ("last Easter", D(2023, 4, 9), D(2023, 4, 9), "day", REL),
    ],
)
def test_resolved_against_publication(text, start, end, precision, method):
    scheduled = start > PUBLISHED
    assert _tuple(text) == (start, end, precision, method, False, scheduled)


@pytest.mark.parametrize(
    ("text", "start", "end", "precision"),
    [
        ("next week", D(2023, 7, 31), D(2023, 8, 6), "week"),
        ("next month", D(2023, 8, 1), D(2023, 8, 31), "month"),
        ("next Tuesday", D(2023, 8, 1), D(2023, 8, 1), "day"),
        ("on August 3", D(2023, 8, 3), D(2023, 8, 3), "day"),
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


# --- a missing year: the recent past, unless the date is near ahead or the sentence marks the future ------


@pytest.mark.parametrize(
    ("text", "published", "sentence", "expected"),
    [
        # newswire mostly reports the recent past: eight months back, not four ahead
        ("Aug. 6", D(2024, 2, 10), None, D(2023, 8, 6)),
        ("Aug. 6", D(2024, 2, 10), "The talks will resume on Aug. 6 in Geneva.", D(2024, 8, 6)),
        ("Aug. 6", D(2024, 2, 10), "The rebels said Aug. 6 that they will fight on.", D(2023, 8, 6)),
        # five months ahead, no marker: last year's (the rule that was nearest-within-six-months)
        ("December 20", D(2023, 7, 28), None, D(2022, 12, 20)),
        ("December 20", D(2023, 7, 28), "The vote is scheduled for December 20.", D(2023, 12, 20)),
        # up to two months ahead: the coming one, marked or not
        ("September 15", D(2023, 7, 28), "Parliament returns on September 15.", D(2023, 9, 15)),
        # "last <month>": the latest before the publication's month
        ("last May", D(2024, 2, 10), None, D(2023, 5, 1)),
        ("next March", D(2024, 2, 10), None, D(2024, 3, 1)),
        ("February", D(1998, 12, 3), "The process began in February this year.", D(1998, 2, 1)),
    ],
)
def test_missing_year_prefers_the_recent_past(text, published, sentence, expected):
    r = resolve_date(text, published, sentence=sentence)
    assert r is not None
    assert (r.start, r.scheduled) == (expected, expected > published)


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("The minister will visit Kabul on Tuesday.", D(2023, 8, 1)),
        ("Talks are expected to resume Tuesday.", D(2023, 8, 1)),
        ("Police said Tuesday the suspect will be charged.", D(2023, 7, 25)),  # when it was said
        ("Rebels attacked the town on Tuesday; more attacks will follow.", D(2023, 7, 25)),  # marker after
        ("They would look for ways around Tuesday's ruling.", D(2023, 7, 25)),  # a possessive: past
        # a date that opens its sentence takes a present or future marker after it ...
        ("On Tuesday, the league plans to hold a news conference.", D(2023, 8, 1)),
        ("Tuesday, the council will vote on the budget.", D(2023, 8, 1)),
        # ... not after a reporting verb, nor in the past tense
        ("On Tuesday, officials said talks will resume.", D(2023, 7, 25)),
        ("On Tuesday, the government planned to pay the first claims.", D(2023, 7, 25)),
        # a past verb right after the date: it happened, whatever marker came before
        ("A memorial service planned for Tuesday was canceled.", D(2023, 7, 25)),
        ("A memorial service is planned for Tuesday.", D(2023, 8, 1)),
    ],
)
def test_weekday_looks_ahead_only_after_a_future_marker(sentence, expected):
    text = "Tuesday's" if "Tuesday's" in sentence else "Tuesday"
    r = resolve_date(text, PUBLISHED, sentence=sentence)
    assert r is not None and r.start == expected


@pytest.mark.parametrize(
    ("text", "sentence", "expected"),
    [
        ("day before last Tuesday", "The day before last Tuesday's hearing, he went home.", D(2023, 7, 24)),
        ("the day after Tuesday", None, D(2023, 7, 26)),
        ("the day after Christmas", None, D(2022, 12, 26)),
        ("the day before yesterday", None, D(2023, 7, 26)),
        ("the day before July 4", None, D(2023, 7, 3)),
    ],
)
def test_the_day_before_or_after_a_day(text, sentence, expected):
    r = resolve_date(text, PUBLISHED, sentence=sentence)
    assert r is not None and (r.start, r.end, r.precision) == (expected, expected, "day")


def test_find_dates_takes_the_day_before_whole():
    (mention,) = find_dates("The day before last Tuesday's hearing, he went home.", PUBLISHED)
    assert mention.text == "The day before last Tuesday"
    assert mention.resolved is not None and mention.resolved.start == D(2023, 7, 24)


def test_the_day_before_or_after_what_is_no_date_is_none():
    assert resolve_date("the day after the election", PUBLISHED) is None


def test_a_bare_day_after_a_month_and_day_takes_that_month():
    sentence = "A ceremony would still be held at the summit on April 24 and 25."
    r = resolve_date("25", D(1999, 2, 10), sentence=sentence)
    assert r is not None and (r.start, r.precision) == (D(1999, 4, 25), "day")
    text = "Talks ran Aug. 1 through 3 in Geneva; the vote was 25 to 3."
    found = {m.text: m.resolved.start if m.resolved else None for m in find_dates(text, PUBLISHED)}
    assert found == {"Aug. 1": D(2023, 8, 1), "3": D(2023, 8, 3)}  # not the vote's "25 to 3"


def test_a_bare_day_without_a_month_and_day_before_it_takes_no_month():
    r = resolve_date("25", D(1999, 2, 10), sentence="He turned 25 on April 24.")
    assert r is None or r.start.month != 4


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
def test_missing_year_far_either_way(text, published, expected):
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
        "2 hours ago",  # below a day: the publication time is unknown
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


# --- find_dates --------------------------------------------------------------------------------------

ARTICLE_EN = (
    "KABUL, Afghanistan (AP) _ Rebels attacked a convoy on Tuesday, officials said. "
    "The attack came after talks collapsed on Aug. 6, and the envoy will return Friday. "
    "Fighting has flared since mid-1996 and was worst in June last year, as in the 1990s. "
    "The rebels may march on the capital now, said Mayor Ali, 25, who has 2,000 men. "
    "A bill may pass next week; the March for Life drew 40,000 people yesterday."
)


def test_find_dates_offsets_and_resolution():
    mentions = find_dates(ARTICLE_EN, D(2024, 2, 7), language="en")  # a Wednesday
    for m in mentions:
        assert ARTICLE_EN[m.start : m.end] == m.text
    found = {m.text: (m.resolved.start, m.resolved.precision) if m.resolved else None for m in mentions}
    assert found == {
        "Tuesday": (D(2024, 2, 6), "day"),
        "Aug. 6": (D(2023, 8, 6), "day"),  # the recent past, not six months ahead
        "Friday": (D(2024, 2, 9), "day"),  # "will return Friday": the coming one
        "mid-1996": (D(1996, 1, 1), "year"),
        "June last year": (D(2023, 6, 1), "month"),
        "the 1990s": (D(1990, 1, 1), "range"),
        "next week": (D(2024, 2, 12), "week"),
        "yesterday": (D(2024, 2, 6), "day"),
    }


def test_find_dates_leaves_out_what_only_looks_like_a_date():
    texts = {m.text for m in find_dates(ARTICLE_EN, D(2024, 2, 7), language="en")}
    # "may" and "march" the verbs, "now", an age, "Mayor", "2,000", "the March for Life"
    for word in ("may", "march", "now", "25", "Mayor", "2,000", "40,000", "March"):
        assert word not in texts
    assert not any("March" in t or "may" in t.lower() for t in texts)


def test_find_dates_year_tokens():
    text = "Sales rose 2.5% in 2019 and 1,998 units shipped in 2020. It cost $1999."
    assert [m.text for m in find_dates(text, D(2021, 1, 5))] == ["2019", "2020"]


def test_find_dates_keeps_a_full_date_whole():
    text = "The treaty was signed on Friday, Aug. 7, 1998, in Nairobi."
    (mention,) = find_dates(text, D(1998, 8, 10))
    assert mention.text == "Friday, Aug. 7, 1998"
    assert mention.resolved is not None and mention.resolved.start == D(1998, 8, 7)


def test_find_dates_without_publication_date_never_uses_today():
    mentions = find_dates("It happened yesterday, on July 26, in 2019.", None)
    resolved = {m.text: m.resolved for m in mentions}
    assert resolved["yesterday"] is None
    assert resolved["July 26"] is not None and resolved["July 26"].start == D(
        2019, 7, 26
    )  # the article's year
    assert resolved["2019"] is not None


def test_find_dates_is_deterministic_and_frozen():
    first = find_dates(ARTICLE_EN, D(2024, 2, 7))
    assert first == find_dates(ARTICLE_EN, D(2024, 2, 7))
    with pytest.raises(AttributeError):
        first[0].start = 0  # type: ignore[misc]
    assert isinstance(first[0], DateMention)


def test_find_dates_other_language_uses_dateparser_search():
    text = "O acordo foi assinado em 26 de julho de 2023 em Lisboa."
    (mention,) = find_dates(text, D(2023, 7, 28), language="pt")
    assert text[mention.start : mention.end] == mention.text
    assert "26 de julho de 2023" in mention.text
    assert mention.resolved is not None and mention.resolved.start == D(2023, 7, 26)


def test_find_dates_empty():
    assert find_dates("", D(2023, 7, 28)) == []
    assert find_dates("No dates here at all.", D(2023, 7, 28)) == []


def test_the_sentence_around_a_date_does_not_end_at_abbreviations():
    # segment's sentences, the ones the model cites, are the ones a date is read in.
    text = "Talks ended Aug. 6 in Geneva, the U.S. envoy said. Mr. Smith left.\nNext line"
    parts = [s.text for s in split_sentences(text)]
    assert parts == ["Talks ended Aug. 6 in Geneva, the U.S. envoy said.", "Mr. Smith left.", "Next line"]


def test_a_marker_in_the_previous_sentence_does_not_move_a_date():
    text = "The envoy will return. Rebels attacked on Tuesday."
    (mention,) = find_dates(text, PUBLISHED)
    assert mention.resolved is not None and mention.resolved.start == D(2023, 7, 25)


def test_the_resolution_cache_holds_no_article_text() -> None:
    # It was keyed on whole article texts: 4,096 entries of up to 5 MB each. Now on the date text and a
    # small context, so resolving dates in many large articles keeps (almost) none of their bytes.
    import gc
    import tracemalloc

    from summarizer.grounding.dates import DateFinder

    def resolve_in(i: int) -> None:
        text = f"Kim met Shoigu on Tuesday, day {i} of 2023. " + "x" * 400_000
        finder = DateFinder(text, dt.date(2023, 7, 28))
        assert finder.resolve(*finder.spans[0]).resolved is not None
        resolve_date("Tuesday", dt.date(2023, 7, 28), article_text=text)

    resolve_in(-1)  # parsers and patterns, built once
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(12):
        resolve_in(i)
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert kept < 1_000_000, f"{kept:,} bytes kept after 12 articles of 400 KB"
