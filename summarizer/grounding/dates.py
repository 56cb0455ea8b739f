"""Find the dates of an article (`find_dates`, `DateFinder`): our English patterns (date_patterns.py), or
dateparser's search_dates for other languages; each mention resolved with its sentence by
date_resolution.py, whose docstring holds the rules."""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from dateparser.search import search_dates

from ..core.schemas import ResolvedDate
from ..core.segment import Sentence, covering_spans, split_sentences
from . import date_patterns as P
from .date_resolution import _PROBES, _article_year, _languages, _resolve, resolve_date

__all__ = ["DateFinder", "DateMention", "find_dates", "resolve_date"]


@dataclass(frozen=True)
class DateMention:
    """A date expression as written in the article: `text == article[start:end]`, resolved if it can be."""

    text: str
    start: int
    end: int
    resolved: ResolvedDate | None


def find_dates(text: str, published: dt.date | None, *, language: str | None = None) -> list[DateMention]:
    """The date expressions of an article, in order, each resolved against the publication date.

    English: our patterns (date_patterns.FINDER) alone. dateparser's search_dates, once its false
    positives are filtered (bare numbers, "may", "now", "1990s" read as seconds), added nothing to them on
    TimeML and took 3/4 of the time (bench/bench_dates.py); its extents are loose ("Friday in").
    Other languages: search_dates, filtered (_plausible). Overlaps keep the longest candidate. Each
    mention is resolved with its sentence, so "will ... Tuesday" looks ahead. Deterministic; the
    current date is never used."""
    finder = DateFinder(text, published, language=language)
    return [finder.resolve(start, end) for start, end in finder.spans]


class DateFinder:
    """`find_dates` in two steps, for a caller that needs every expression but resolves only some:
    `spans` (our patterns, or search_dates: cheap) and `resolve(start, end)` (dateparser: the cost)."""

    def __init__(
        self,
        text: str,
        published: dt.date | None,
        *,
        language: str | None = None,
        sentences: Sequence[Sentence] | None = None,
    ) -> None:
        self.text, self.published, self.language = text, published, language
        self._english = _is_english(language)
        if self._english:  # and the "25" of "April 24 and 25", which resolve() gives April
            found = [(m.start(), m.end()) for m in P.FINDER.finditer(text)]
            found += [m.span("day") for m in P.SECOND_DAY.finditer(text)]
        else:
            found = _searched(text, language)
        kept: list[tuple[int, int]] = []
        taken = bytearray(len(text))
        for start, end in sorted(found, key=lambda se: (se[0] - se[1], se[0])):
            start, end = P.trim(text, start, end)
            if start < end and not any(taken[start:end]):
                kept.append((start, end))
                taken[start:end] = b"\x01" * (end - start)
        self.spans: list[tuple[int, int]] = sorted(kept)
        # The sentence around a date is one the model cites (segment's), from its start to the next one's,
        # so that every offset is in one.
        if sentences is None:
            sentences = split_sentences(text, language)
        self._sentences = covering_spans(sentences, len(text))
        self._sentence_starts = [a for a, _ in self._sentences]
        self._year = _article_year(text)

    def resolve(self, start: int, end: int) -> DateMention:
        """The expression at `spans`' [start, end), resolved with its sentence (so "will ... Tuesday" looks
        ahead); for other languages, narrowed to the longest inner span that resolves."""
        text = self.text
        s_start, s_end = self._sentences[bisect_right(self._sentence_starts, start) - 1]
        sentence = text[s_start:s_end]
        tries = [(start, end)] if self._english else P.inner_spans(text, start, end)
        # search_dates takes in neighbouring words ("em 26 de julho de 2023 em"): the longest that resolves
        resolved = None
        for a, b in tries:
            resolved = _resolve(text[a:b], self.published, self._year, self.language, sentence, a - s_start)
            if resolved is not None:
                start, end = a, b
                break
        return DateMention(text[start:end], start, end, resolved)


def _is_english(language: str | None) -> bool:
    return _languages(language)[0] == "en"


def _searched(text: str, language: str | None) -> list[tuple[int, int]]:
    """search_dates' finds, located in the text left to right, without its usual misreadings."""
    settings = {"RELATIVE_BASE": _PROBES[0], "RETURN_AS_TIMEZONE_AWARE": False}
    found = search_dates(text, languages=list(_languages(language)), settings=settings) or []
    spans, pos = [], 0
    for substring, _ in found:
        start = text.find(substring, pos)
        if start < 0:
            continue
        pos = start + len(substring)
        if _plausible(substring):
            spans.append((start, pos))
    return spans


def _plausible(found: str) -> bool:
    """search_dates reads "now", bare numbers ("25", "2.5") and "1990s" (as seconds) as dates."""
    return bool(re.search(r"\d{4}|[^\W\d_]{3,}", found)) and found.strip().lower() not in P.NOT_DATES
