"""Write a `Corpus` out: PLOVER-style JSONL for event-data tools, flat CSV for spreadsheets.

CSV files are written with the csv module (RFC 4180 quoting, UTF-8, "\\r\\n" row ends): quotes with
commas, double quotes or newlines read back unchanged through `csv.reader`. In the events CSV, several
values share one cell: actors, recipients and article ids joined with ";", quotes with " | ".

Cells come from articles and model output, so a cell that a spreadsheet would read as a formula (one
beginning with =, +, -, @, a tab or a carriage return) is written with a leading single quote (OWASP's advice
on CSV injection): the spreadsheet shows it as text, and `csv.reader` gives it back with that quote.
"""

from __future__ import annotations

import csv
import json
import os
from typing import Any

from ..core.files import atomic_file
from .build import Corpus, CorpusEvent

PLOVER_KEYS = (
    "id",
    "date",
    "actor",
    "recipient",
    "event",
    "mode",
    "context",
    "event_text",
    "source",
    "sources",
    "date_precision",
)
EVENT_COLUMNS = (
    "id",
    "date_start",
    "date_end",
    "date_precision",
    "event_type",
    "actors",
    "recipients",
    "location",
    "description",
    "sources",
    "quotes",
)
STANCE_COLUMNS = ("actor", "article_id", "date", "target", "polarity", "position", "quote")


def _article_ids(event: CorpusEvent) -> list[str]:
    """The reporting articles, each once, in order (an article with several quotes is one source)."""
    return list(dict.fromkeys(m.article_id for m in event.sources))


def plover_records(corpus: Corpus) -> list[dict[str, Any]]:
    """One PLOVER-style record per event, with exactly the keys in PLOVER_KEYS: `date` is the ISO start
    date ("" when unresolved), `actor` the first canonical actor, `recipient` the first recipient (or ""),
    `event` the PLOVER category, `mode` and `context` "" (not inferred), `event_text` the description,
    `source` the first reporting article, `sources` every reporting article, `date_precision` the
    resolved date's precision ("" when unresolved)."""
    records = []
    for event in corpus.events:
        date = event.resolved_date
        records.append(
            {
                "id": event.id,
                "date": date.start.isoformat() if date else "",
                "actor": event.actors[0] if event.actors else "",
                "recipient": event.recipients[0] if event.recipients else "",
                "event": str(event.event_type),
                "mode": "",
                "context": "",
                "event_text": event.description,
                "source": event.sources[0].article_id if event.sources else "",
                "sources": _article_ids(event),
                "date_precision": date.precision if date else "",
            }
        )
    return records


def write_plover_jsonl(corpus: Corpus, path: str | os.PathLike[str]) -> int:
    """Write `plover_records` as JSONL (UTF-8, not ASCII-escaped); returns the number of lines."""
    records = plover_records(corpus)
    with atomic_file(path) as f:  # whole or not at all: a reader never sees half an export
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(records)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: str) -> str:
    """`value`, or `'value` when a spreadsheet would take it for a formula (CSV injection)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _write_csv(path: str | os.PathLike[str], header: tuple[str, ...], rows: list[list[str]]) -> int:
    with atomic_file(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([neutralise_cell(cell) for cell in row] for row in rows)
    return len(rows)


def write_events_csv(corpus: Corpus, path: str | os.PathLike[str]) -> int:
    """One row per event (columns EVENT_COLUMNS, after a header row); returns the number of event rows.
    Undated events have empty date cells; `quotes` has every cited sentence of every source."""
    rows = []
    for e in corpus.events:
        date = e.resolved_date
        rows.append(
            [
                e.id,
                date.start.isoformat() if date else "",
                date.end.isoformat() if date else "",
                date.precision if date else "",
                str(e.event_type),
                ";".join(e.actors),
                ";".join(e.recipients),
                e.location or "",
                e.description,
                ";".join(_article_ids(e)),
                " | ".join(m.quote for m in e.sources),
            ]
        )
    return _write_csv(path, EVENT_COLUMNS, rows)


def write_stances_csv(corpus: Corpus, path: str | os.PathLike[str]) -> int:
    """One row per stance (columns STANCE_COLUMNS, after a header row), grouped by canonical actor in the
    corpus's order, each actor's stances by publication date; returns the number of stance rows."""
    rows = [
        [actor, p.article_id, p.date.isoformat() if p.date else "", p.target, p.polarity, p.position, p.quote]
        for actor, points in corpus.stances.items()
        for p in points
    ]
    return _write_csv(path, STANCE_COLUMNS, rows)
