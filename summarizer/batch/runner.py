"""Many articles: collect inputs, run them concurrently, append results as they finish, resume.

Results go to a JSONL file, one line per article (`{"id", "analysis"}`), appended and flushed as each
article finishes, so a kill -9 loses at most the articles in flight; failures go to a second JSONL
(`{"id", "source", "error", "exit_code"}`). A re-run skips the ids already in the results file, so the
same command resumes an interrupted batch and retries only what failed or never ran. `BatchOutput` makes
that safe: one process per output (a lock), never an input as output, and a resume only with the settings
the output was begun with (recorded beside it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar

from ..core.errors import PartialResultError, SummarizerError
from ..core.files import Appender
from ..core.schemas import Metadata
from ..model.client import describe_error
from ..model.pricing import Price, cost, price_for
from ..pipeline.summarizer import Summarizer
from .inputs import BatchInput, collect_inputs
from .output import BatchOutput, batch_settings, done_ids, prune_failures
from .signals import run_to_end

# The inputs (inputs.py), the output files (output.py) and run_to_end (signals.py) are part of this module's
# interface: a batch is run with all of them.
__all__ = [
    "BatchInput", "BatchOutput", "BatchReport", "Outcome", "ResultWriter", "batch_settings", "collect_inputs",
    "done_ids", "failure_record", "run_batch", "run_to_end", "summarize_item",
]  # fmt: skip
T = TypeVar("T")


@dataclass
class BatchReport:
    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    not_started: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_calls: int = 0
    model_calls: int = 0
    cost: float | None = 0.0
    seconds: float = 0.0
    budget_spent: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def start(
        cls, inputs: list[BatchInput], done: set[str], model: str, prices: dict[str, Price] | None
    ) -> tuple[Self, list[BatchInput]]:
        """A run's report and the articles it still has to do: those with an id in `done` (a result from
        an earlier run) count as skipped; the cost is unknown (None) when `model` has no price."""
        todo = [item for item in inputs if item.id not in done]
        report = cls(total=len(inputs), skipped=len(inputs) - len(todo))
        if prices is None or price_for(model, prices) is None:
            report.cost = None  # unknown price: tokens only
        return report, todo

    def add_prefill(self, prompt_tokens: int, completion_tokens: int, spent: float | None) -> None:
        """Count the tokens and cost of an OpenAI batch that ran before (`--openai-batch`) in the totals."""
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        if self.cost is not None:
            self.cost = None if spent is None else self.cost + spent


ProgressHook = Callable[[BatchReport], None]


async def run_batch(
    inputs: list[BatchInput],
    summarizer: Summarizer,
    *,
    results: Path | None = None,
    failures: Path | None = None,
    output: BatchOutput | None = None,
    force_new: bool = False,
    concurrency: int = 8,
    tasks: Iterable[str] | str | None = None,
    prices: dict[str, Price] | None = None,
    max_cost: float | None = None,
    on_progress: ProgressHook | None = None,
) -> BatchReport:
    """Run every input not already in the results, at most `concurrency` at a time. With `max_cost`, no
    new article starts once the cost so far reaches it (articles in flight finish).

    Give `results` (and optionally `failures`): they are opened as a `BatchOutput` for this run. Or give an
    `output` the caller has already opened (the CLI opens it before `--openai-batch`)."""
    if output is not None:
        return await _run(inputs, summarizer, output, concurrency, tasks, prices, max_cost, on_progress)
    if results is None:
        raise TypeError("run_batch needs results= or output=")
    settings = batch_settings(summarizer, tasks)
    paths = {item.path for item in inputs}
    with BatchOutput(results, failures).open(settings, inputs=paths, force_new=force_new) as opened:
        return await _run(inputs, summarizer, opened, concurrency, tasks, prices, max_cost, on_progress)


async def _run(
    inputs: list[BatchInput],
    summarizer: Summarizer,
    output: BatchOutput,
    concurrency: int,
    tasks: Iterable[str] | str | None,
    prices: dict[str, Price] | None,
    max_cost: float | None,
    on_progress: ProgressHook | None,
) -> BatchReport:
    started = time.perf_counter()
    model = summarizer.settings.model
    report, todo = BatchReport.start(inputs, done_ids(output.results), model, prices)
    gate = asyncio.Semaphore(concurrency)

    def progress() -> None:
        report.seconds = time.perf_counter() - started
        if on_progress is not None:
            on_progress(report)

    async def one(item: BatchInput) -> None:
        async with gate:
            if max_cost is not None and report.cost is not None and report.cost >= max_cost:
                report.budget_spent = True
                report.not_started += 1
                return
            writer.write(await summarize_item(summarizer, item, tasks))
            progress()

    writer = ResultWriter(output, report, model, prices)
    running = [asyncio.ensure_future(one(item)) for item in todo]
    try:
        progress()
        await asyncio.gather(*running)
    except BaseException:
        # An interrupt, or a write that failed: stop the other articles, and let every one of them end
        # before the files close, so that none writes to a closed (or reused) descriptor.
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        raise
    finally:
        writer.close()
        report.seconds = time.perf_counter() - started
    return report


@dataclass
class Outcome:
    """What one article came to: its result line, its failure record, or both (a partial result: kept,
    and owed, so a re-run retries it with the cache serving the pieces that succeeded). `metadata` is the
    line's, for the totals."""

    id: str
    line: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None
    metadata: Metadata | None = None


async def summarize_item(
    summarizer: Summarizer, item: BatchInput, tasks: Iterable[str] | str | None
) -> Outcome:
    """One article through the summarizer; its errors become its failure record, never the batch's."""
    try:
        analysis = await summarizer.asummarize(item.load(), tasks=tasks)
        line = {"id": item.id, "analysis": analysis.model_dump(mode="json")}
    except SummarizerError as exc:
        return Outcome(item.id, failure=failure_record(item, str(exc), exc.exit_code))
    except Exception as exc:  # a bug or a library's surprise: this article fails, the batch goes on
        reason = f"unexpected error: {type(exc).__name__}: {describe_error(exc)}"
        return Outcome(item.id, failure=failure_record(item, reason, 1))
    outcome = Outcome(item.id, line=line, metadata=analysis.metadata)
    if not analysis.complete:
        missing = "; ".join(f"{m.task} for {m.sentences}: {m.error}" for m in analysis.missing)
        outcome.failure = failure_record(item, f"partial result: {missing}", PartialResultError.exit_code)
    return outcome


def failure_record(item: BatchInput, reason: str, exit_code: int) -> dict[str, Any]:
    """A failures-file line: the id, where the article came from, a one-line reason, the exit code."""
    return {"id": item.id, "source": item.source, "error": reason, "exit_code": exit_code}


class ResultWriter:
    """The one writer of a batch's output (the local run's, and the Ray driver's): each outcome appended
    as whole lines, counted in the report; an id already written in this run is not written again (a
    retried worker may deliver it twice). `close` drops the failures of articles done since."""

    def __init__(self, output: BatchOutput, report: BatchReport, model: str, prices: dict[str, Price] | None):
        self.output, self.report, self.model, self.prices = output, report, model, prices
        self.written: set[str] = set()
        self._out = Appender(output.results)
        try:
            self._bad = Appender(output.failures)
        except BaseException:
            self._out.close()
            raise

    def write(self, outcome: Outcome) -> None:
        if outcome.id in self.written:
            return
        self.written.add(outcome.id)
        if outcome.line is not None:
            self._out.write(outcome.line)
            if outcome.metadata is not None:
                _account(self.report, outcome.metadata, self.model, self.prices)
        if outcome.failure is not None:
            self.report.failed += 1
            self.report.failures.append(outcome.id)
            self._bad.write(outcome.failure)

    def close(self) -> None:
        self._out.close()
        self._bad.close()
        prune_failures(self.output.failures, done_ids(self.output.results))


def _account(report: BatchReport, metadata: Metadata, model: str, prices: dict[str, Price] | None) -> None:
    report.done += 1
    report.prompt_tokens += metadata.usage.prompt_tokens
    report.completion_tokens += metadata.usage.completion_tokens
    for run in metadata.tasks.values():
        if run.cached:
            report.cached_calls += 1
        else:
            report.model_calls += run.attempts
    if prices is not None and report.cost is not None:
        report.cost += (
            cost(model, metadata.usage.prompt_tokens, metadata.usage.completion_tokens, prices) or 0.0
        )
