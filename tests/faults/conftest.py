"""The fault suite's tools: running the CLI (in a process of its own where a signal must reach it), checking
a batch's files, and a table of what each fault did, printed at the end of the run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.bench_interrupt import as_foreground
from tests.faults import kit

ROWS: list[tuple[str, str, int, int]] = []  # fault, what the user saw, articles lost, articles done twice


@dataclass
class Outcome:
    """A batch's files after a fault, checked: `lost` articles that had finished before and are gone,
    `twice` ids with more than one result line, `unnamed` articles neither done nor in the failures file."""

    done: set[str]
    failed: set[str]
    lost: int
    twice: int


def check_batch(out: Path, tag_of: dict[str, str], *, finished_before: set[str] | None = None) -> Outcome:
    """Every result line whole and its own article's (by the fixture's answer tags), no id twice, every
    article that finished before still there, and every article that ended either done or named in the
    failures file."""
    counts = kit.id_counts(out)
    for article_id, tags in kit.tags_of_results(out).items():
        assert tags == {tag_of[article_id]}, f"{article_id} holds another article's answers: {tags}"
    failed = {str(f["id"]) for f in kit.lines(out.with_suffix(".failures.jsonl"))}
    done = set(counts)
    lost = len((finished_before or set()) - done)
    return Outcome(done, failed, lost, sum(1 for n in counts.values() if n > 1))


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`summarizer ARGS` in a process of its own, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "summarizer", *args], capture_output=True, text=True, timeout=timeout,
        env=os.environ | {"COLUMNS": "200"}, cwd=kit.ROOT,
    )  # fmt: skip


def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "summarizer", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=os.environ | {"COLUMNS": "200"}, cwd=kit.ROOT, preexec_fn=as_foreground,
    )  # fmt: skip


def last_line(stderr: str) -> str:
    """What the user read last: the summary line or the error."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("results:")]
    return lines[-1] if lines else "(nothing)"


@pytest.fixture
def record() -> Iterator[list[tuple[str, str, int, int]]]:
    rows: list[tuple[str, str, int, int]] = []
    yield rows
    ROWS.extend(rows)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    terminalreporter.section("fault suite")
    terminalreporter.write_line("| fault | what the user saw | articles lost | articles done twice |")
    terminalreporter.write_line("| --- | --- | --- | --- |")
    for fault, saw, lost, twice in ROWS:
        terminalreporter.write_line(f"| {fault} | {saw} | {lost} | {twice} |")
