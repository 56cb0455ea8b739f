"""Reading JSON Lines input with errors that name the file and the line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from .errors import InputError
from .text import lone_surrogate


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(line number, "file, line N", object) for every non-blank line. A line that is not a JSON object,
    or a file that cannot be read as UTF-8, raises InputError naming where."""
    name = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{name}, line {number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{where}: not valid JSON ({exc.msg})") from exc
                if not isinstance(record, dict):
                    raise InputError(f"{where}: not a JSON object")
                # Any string of the record (text, id, title) is written out again: it must be text.
                if (surrogate := lone_surrogate(json.dumps(record, ensure_ascii=False))) is not None:
                    raise InputError(f"{where}: not valid Unicode text: {surrogate.split(' at ')[0]}")
                yield number, where, record
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {name}: {exc}") from exc
