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
import contextlib
import dataclasses
import datetime as dt
import functools
import glob
import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .article import Article, article_from_text, read_article
from .batch_output import BatchOutput, batch_settings, done_ids, prune_failures
from .client import describe_error
from .errors import InputError, PartialResultError, SummarizerError
from .files import Appender
from .jsonl import iter_jsonl
from .pipeline import Summarizer
from .pricing import Price, cost, price_for
from .schemas import Metadata

# BatchOutput, batch_settings and done_ids live in batch_output.py; they are part of this module's interface.
__all__ = [
    "BatchInput", "BatchOutput", "BatchReport", "Outcome", "ResultWriter", "batch_settings", "collect_inputs",
    "done_ids", "failure_record", "run_batch", "run_to_end", "summarize_item",
]  # fmt: skip
T = TypeVar("T")
ARTICLE_SUFFIXES = {".txt", ".md", ".html", ".htm", ".xhtml"}


@dataclass(frozen=True)
class BatchInput:
    """One article to run: a stable id, where it came from, and how to read it (lazily, so a folder of
    thousands is not held in memory)."""

    id: str
    source: str
    load: Callable[[], Article]
    path: str | None = None  # the file it is read from: no output of the batch may overwrite it


def content_id(data: bytes | str) -> str:
    """A stable id from the content: the same article gets the same id on every run."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:16]


def collect_inputs(specs: Iterable[str]) -> list[BatchInput]:
    """Files, folders (recursively: .txt, .md, .html, .htm), glob patterns and JSONL files.

    JSONL lines hold `text` (or `article`) and optionally `id`, `title`, `url`, `published` (YYYY-MM-DD).
    Ids are given or a hash of the content. A repeated id keeps its first input.
    """
    inputs: dict[str, BatchInput] = {}
    for spec in specs:
        for item in _expand(spec):
            inputs.setdefault(item.id, item)
    return list(inputs.values())


def _expand(spec: str) -> Iterator[BatchInput]:
    # A path that exists is that path, even when it holds glob characters ("news/[2023] story.txt").
    literal = not glob.has_magic(spec) or os.path.lexists(spec)
    paths = [Path(spec)] if literal else [Path(p) for p in sorted(glob.glob(spec, recursive=True))]
    if not paths:
        raise InputError(f"{spec}: no file matches this pattern")
    for path in paths:
        if path.is_dir():
            for file in sorted(
                p for p in path.rglob("*") if p.suffix.lower() in ARTICLE_SUFFIXES and p.is_file()
            ):
                yield _file_input(file)
        elif path.suffix.lower() == ".jsonl":
            yield from _jsonl_inputs(path)
        elif path.exists():
            yield _file_input(path)
        else:
            raise InputError(f"{path}: no such file or directory")


def _file_input(path: Path) -> BatchInput:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return BatchInput(id=content_id(data), source=str(path), load=lambda: read_article(path), path=str(path))


def _jsonl_inputs(path: Path) -> Iterator[BatchInput]:
    for _, where, record in iter_jsonl(path):
        text = record.get("text") or record.get("article")
        try:
            published = (
                dt.date.fromisoformat(str(record["published"])[:10]) if record.get("published") else None
            )
        except ValueError as exc:
            raise InputError(f"{where}: 'published' is not a YYYY-MM-DD date: {exc}") from exc
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where}: no 'text' (or 'article') field with the article")
        item_id = str(record.get("id") or content_id(text))
        source = str(record.get("url") or where)
        title = record.get("title")
        load = functools.partial(_jsonl_article, text, source, published, str(title) if title else None)
        yield BatchInput(id=item_id, source=source, load=load, path=str(path))


def _jsonl_article(text: str, source: str, published: dt.date | None, title: str | None) -> Article:
    return dataclasses.replace(article_from_text(text, source=source, published=published), title=title)


# --- the run -------------------------------------------------------------------------------------------


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
    already = done_ids(output.results)
    todo = [item for item in inputs if item.id not in already]
    report = BatchReport(total=len(inputs), skipped=len(inputs) - len(todo))
    model = summarizer.settings.model
    if prices is None or price_for(model, prices) is None:
        report.cost = None  # unknown price: tokens only
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


def run_to_end(summarizer: Summarizer, work: Coroutine[Any, Any, T]) -> T:
    """`summarizer.run_sync(work)`, except that an interrupt (Ctrl-C, SIGTERM) cancels the work and lets it
    end before the interrupt goes on: every article stops, the files close, and nothing is left suspended
    on the loop to be torn down later by the garbage collector (with tracebacks, or worse, a late write).

    While it runs, the first SIGINT cancels the work instead of raising KeyboardInterrupt wherever the
    main thread happens to be (as `asyncio.Runner` does): raised inside a `__del__` (the `regex` module
    has some, met while dateparser compiles), a KeyboardInterrupt is printed as "Exception ignored" and
    lost, and the batch ran on to the end. A second SIGINT raises as usual."""
    running: list[asyncio.Task[T]] = []
    loops: list[asyncio.AbstractEventLoop] = []
    signals = 0

    async def main() -> T:
        loops.append(asyncio.get_running_loop())
        task = asyncio.ensure_future(work)
        running.append(task)
        return await task

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal signals
        signals += 1
        if signals == 1 and running and not running[0].done():
            running[0].cancel()
            loops[0].call_soon_threadsafe(lambda: None)  # wake the loop if it is waiting on I/O
            return
        raise KeyboardInterrupt

    ours = threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    previous = signal.signal(signal.SIGINT, on_sigint) if ours else None
    try:
        return summarizer.run_sync(main())
    except asyncio.CancelledError:
        if signals:
            raise KeyboardInterrupt from None
        raise
    except KeyboardInterrupt:
        if running and not running[0].done():
            running[0].cancel()
            with contextlib.suppress(BaseException):  # a second Ctrl-C: stop waiting
                summarizer.run_sync(asyncio.wait(running))
        raise
    finally:
        if ours:
            signal.signal(signal.SIGINT, previous)


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
