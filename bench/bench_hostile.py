"""Hostile text against every text entry point: how time grows with the input's size.

Each entry point is what the pipeline runs over an article's text (segment, dates, names, numbers, support,
HTML sniffing, render); each input is a pattern that once made one of them quadratic or worse (issue 18's
table). `python bench/bench_hostile.py` prints, for every row of that table, the time at the issue's size
and at 10x it, then the pre-request work of `summarize` (`Summarizer.plan`: reading, segmenting, names,
dates, prompts, request schemas) on each input at 200 KB. tests/test_hostile.py asserts the same growth.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from summarizer import render
from summarizer.core.article import parse_article
from summarizer.core.segment import segment, split_sentences
from summarizer.grounding.dates import DateFinder
from summarizer.grounding.names import NameIndex
from summarizer.grounding.numbers import find_numbers
from summarizer.grounding.support import SupportIndex

PUBLISHED = dt.date(2023, 7, 28)


def _segment(text: str) -> Any:
    return segment(text, 2000, lambda s: len(s) // 3 + 1)


def _dates(text: str) -> Any:
    finder = DateFinder(text, PUBLISHED)
    return [finder.resolve(*span) for span in finder.spans[:3]]  # dateparser's cost is per date resolved


def _names(text: str) -> Any:
    index = NameIndex(text)
    return index.entities(text), index.unsupported("Kim Jong Un met Bruce Bennett on 3 May.")


def _numbers(text: str) -> Any:
    return list(find_numbers(text, english=True))


def _support(text: str) -> Any:
    index = SupportIndex(text, language="en")
    return index.score(text[:500]), index.score("Kim Jong Un met Sergei Shoigu.")


def _sniff(text: str) -> Any:
    return parse_article(text.encode("utf-8", "surrogatepass"), source="article.txt")


def _render(text: str) -> Any:
    return render._md_block(text), render._md(text), render.clean_text(text)


ENTRY_POINTS: dict[str, Callable[[str], Any]] = {
    "segment": _segment,
    "dates": _dates,
    "names": _names,
    "names.split_sentences": split_sentences,
    "numbers": _numbers,
    "support": _support,
    "html sniffing": _sniff,
    "render": _render,
}

# The table: (where, input of about n characters, the entry point, the size measured there).
TABLE: list[tuple[str, Callable[[int], str], str, int]] = [
    ("date_patterns TAIL via dates.trim", lambda n: "January" + " " * n + "5", "dates", 40_000),
    ("names _DOTTED_ACRONYM", lambda n: "a." * (n // 2) + "ab", "names", 32_000),
    ("article _HTML_START (k comments)", lambda n: "<!---->" * (n // 7) + "x", "html sniffing", 300),
    ("names words x numbers", lambda n: "Kim 1 " * (n // 6), "names", 48_000),
    ("render _LINE_BREAKS", lambda n: "a" + " " * n + "b", "render", 40_000),
    ("names.split_sentences", lambda n: "a. " * (n // 3), "names.split_sentences", 120_000),
]


def timed(fn: Callable[[str], Any], text: str, repeat: int = 1) -> float:
    """The best of `repeat` runs, in seconds of this process's CPU time (other work on the machine does
    not count)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn(text)
        best = min(best, time.process_time() - start)
    return best


def plan_seconds(text: str) -> float:
    """`summarize`'s own work before its first request, on `text` read as a file would be (CPU seconds)."""
    from summarizer import Summarizer
    from summarizer.model.settings import resolve_settings

    settings = resolve_settings(base_url="http://127.0.0.1:9/v1", model="x", env={})
    with Summarizer(settings) as s:
        s.plan(_sniff("Kim Jong Un met Sergei Shoigu on July 26."))  # imports and caches, once
        start = time.process_time()
        s.plan(_sniff(text))
        return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the table's sizes")
    args = parser.parse_args()
    print("| where | input | entry point | size | time | 10x size | time |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for where, make, entry, size in TABLE:
        n = int(size * args.scale)
        one, ten = make(n), make(10 * n)
        ENTRY_POINTS[entry](make(1_000))  # imports and caches, once
        t1, t10 = timed(ENTRY_POINTS[entry], one), timed(ENTRY_POINTS[entry], ten)
        cells = [where, f"{make(14)[:14]!r}...", entry, f"{len(one):,}", f"{t1:.3f} s", f"{len(ten):,}"]
        print("| " + " | ".join([*cells, f"{t10:.3f} s"]) + " |")
    print("\n| input at 200 KB | Summarizer.plan |")
    print("| --- | --- |")
    for where, make, _, _ in TABLE:
        text = make(200_000)
        print(f"| {where} ({len(text):,} chars) | {plan_seconds(text):.2f} s |")


if __name__ == "__main__":
    main()
