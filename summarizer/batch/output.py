"""A batch's output files, held by one run: refused when they are inputs, locked against a second process,
and tied to the settings they were made with, so that a resume never mixes two configurations."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import ConfigError
from ..core.files import OutputLock, drop_torn_tail, refuse_inputs, write_atomic
from ..pipeline.summarizer import parse_tasks

if TYPE_CHECKING:
    from ..pipeline.summarizer import Summarizer

# --- the output: results, failures, the settings they were made with ----------------------------------

SETTINGS_FORMAT = 1


def batch_settings(summarizer: Summarizer, tasks: Iterable[str] | str | None) -> dict[str, Any]:
    """What makes two runs' results comparable: a resumed run must match the one that began the output."""
    s = summarizer.settings
    chosen = parse_tasks(tasks)
    return {
        # The kind, not the URL: the embedded server's port changes every run, a local server's may too.
        "endpoint": s.endpoint,
        "model": s.model,
        "mode": s.mode,
        "tasks": list(chosen),
        "prompt_versions": summarizer.prompt_versions(chosen),
        "strict": summarizer.drop_unknown_names,  # the settings file's key since its first format
        "rails": s.rails_used,
    }


def differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between two `batch_settings`, one "key a -> b" each (the refusal to resume says it)."""
    out = []
    for key in dict.fromkeys([*before, *now]):
        a, b = before.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            # A task added or dropped is said once, under `tasks`: compare the versions of the others.
            common = a.keys() & b.keys() if key == "prompt_versions" else a.keys() | b.keys()
            a, b = ({k: v for k, v in d.items() if k in common} for d in (a, b))
            out += [f"{key}.{d}" for d in differences(a, b)]
        elif a != b:
            out.append(f"{key} {_show(key, a)} -> {_show(key, b)}")
    return out


def _show(key: str, value: Any) -> str:
    if value is None:
        return "(none)"
    return ",".join(map(str, value)) if key == "tasks" else repr(value)


def _nonempty(path: Path) -> bool:
    if path.is_dir():  # a Parquet output (`batch --ray --format parquet`) is a directory
        return any(path.iterdir())
    return path.is_file() and path.stat().st_size > 0


class BatchOutput:
    """The files of one batch output, held by one run: `results`, `failures`, `<results>.meta.json` (the
    settings the results were made with) and `<results>.openai-batch.json` (a submitted OpenAI batch).

    `open` refuses an output that is one of the inputs, takes the output's lock (a second process on the
    same output is refused), and checks the recorded settings: resuming with other settings is refused with
    what differs, unless `force_new`, which moves the earlier files aside (nothing is deleted)."""

    def __init__(self, results: Path, failures: Path | None = None):
        self.results = Path(results)
        self.failures = Path(failures) if failures else self.results.with_suffix(".failures.jsonl")
        self.meta = self.results.with_name(self.results.name + ".meta.json")
        self.openai_batch = self.results.with_name(self.results.name + ".openai-batch.json")
        self.moved: list[Path] = []  # where --force-new put the earlier files
        self._lock = OutputLock(self.results)

    def open(
        self,
        settings: dict[str, Any],
        *,
        inputs: Iterable[str | os.PathLike[str] | None] = (),
        force_new: bool = False,
    ) -> BatchOutput:
        mine = [("--output", self.results), ("--failures", self.failures), ("its settings file", self.meta)]
        refuse_inputs(mine, inputs)
        self._lock.acquire()
        try:
            self._check(settings, force_new)
        except BaseException:
            self._lock.release()
            raise
        return self

    def close(self) -> None:
        self._lock.release()

    def __enter__(self) -> BatchOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self, settings: dict[str, Any], force_new: bool) -> None:
        how = "write to another -o, or pass --force-new to move the earlier results aside and start afresh"
        if _nonempty(self.results) or _nonempty(self.failures):
            if force_new:
                self._move_aside()
            else:
                try:
                    recorded = json.loads(self.meta.read_text(encoding="utf-8"))["settings"]
                except (OSError, ValueError, KeyError, TypeError):
                    raise ConfigError(
                        f"{self.results} holds results but no readable record of the settings they were made"
                        f" with ({self.meta.name}): {how}"
                    ) from None
                if diffs := differences(recorded, settings):
                    raise ConfigError(
                        f"{self.results} was made with other settings ({'; '.join(diffs)}): resuming would"
                        f" mix them in one file; {how}"
                    )
                return
        record = {"format": SETTINGS_FORMAT, "settings": settings}
        write_atomic(self.meta, json.dumps(record, indent=2) + "\n", what="the settings file")

    def _move_aside(self) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        for path in (self.results, self.failures, self.meta, self.openai_batch):
            if _nonempty(path):  # an empty file holds nothing to keep: the new run reuses it
                aside = path.with_name(f"{path.name}.before-{stamp}")
                os.replace(path, aside)
                self.moved.append(aside)


def done_ids(path: Path) -> set[str]:
    """Ids already in a results file (whole lines only) with a complete analysis: a partial one (some
    pieces failed) is owed, and runs again; the response cache answers the pieces that had succeeded."""
    if not path.exists():
        return set()
    ids: set[str] = set()
    data = path.read_bytes()
    # Whole lines only, each decoded alone: a line torn by a kill can end inside a multi-byte character,
    # and decoding the whole file strictly failed on it before the Appender could cut it off.
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        try:
            record = json.loads(line)  # bytes: bad UTF-8 is a UnicodeDecodeError, a ValueError
            complete = record.get("analysis", {}).get("complete", True) is not False
            (ids.add if complete else ids.discard)(str(record["id"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a torn line: that article runs again
    return ids


def prune_failures(path: Path, done: set[str]) -> None:
    """Drop the failure lines of articles that have since succeeded: the file lists what is still owed."""
    if not path.exists():
        return
    drop_torn_tail(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = []
    for line in lines:
        try:
            if str(json.loads(line)["id"]) in done:
                continue
        except (ValueError, KeyError, TypeError):
            pass
        kept.append(line)
    if len(kept) != len(lines):
        write_atomic(path, "".join(kept), what="the failures file")
