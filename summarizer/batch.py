"""Many articles: collect inputs, run them concurrently, append results as they finish, resume.

Results go to a JSONL file, one line per article (`{"id", "analysis"}`), appended and flushed as each
article finishes, so a kill -9 loses at most the articles in flight; failures go to a second JSONL
(`{"id", "source", "error", "exit_code"}`). A re-run skips the ids already in the results file, so the
same command resumes an interrupted batch and retries only what failed or never ran.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import glob
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .article import Article, article_from_text, read_article
from .errors import InputError, SummarizerError
from .jsonl import iter_jsonl
from .pipeline import Summarizer
from .pricing import Price, cost, price_for
from .schemas import Metadata

ARTICLE_SUFFIXES = {".txt", ".md", ".html", ".htm", ".xhtml"}


@dataclass(frozen=True)
class BatchInput:
    """One article to run: a stable id, where it came from, and how to read it (lazily, so a folder of
    thousands is not held in memory)."""

    id: str
    source: str
    load: Callable[[], Article]


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
    paths = (
        [Path(p) for p in sorted(glob.glob(spec, recursive=True))] if glob.has_magic(spec) else [Path(spec)]
    )
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
    return BatchInput(id=content_id(data), source=str(path), load=lambda: read_article(path))


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
        yield BatchInput(id=item_id, source=source, load=load)


def _jsonl_article(text: str, source: str, published: dt.date | None, title: str | None) -> Article:
    return dataclasses.replace(article_from_text(text, source=source, published=published), title=title)


# --- the results files ---------------------------------------------------------------------------------


class JsonlAppender:
    """Appends one JSON object per line, each in a single write to an O_APPEND file, flushed at once."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, record: dict[str, Any]) -> None:
        os.write(self._fd, (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))

    def close(self) -> None:
        os.close(self._fd)


def _drop_torn_tail(path: Path) -> None:
    """A line cut short by a kill mid-write would glue onto the next record: cut it off."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with path.open("r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def done_ids(path: Path) -> set[str]:
    """Ids already in a results file (complete lines only)."""
    if not path.exists():
        return set()
    ids = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(str(json.loads(line)["id"]))
        except (ValueError, KeyError, TypeError):
            continue  # a torn line: that article runs again
    return ids


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


ProgressHook = Callable[[BatchReport], None]


async def run_batch(
    inputs: list[BatchInput],
    summarizer: Summarizer,
    *,
    results: Path,
    failures: Path,
    concurrency: int = 8,
    tasks: Iterable[str] | str | None = None,
    prices: dict[str, Price] | None = None,
    max_cost: float | None = None,
    on_progress: ProgressHook | None = None,
) -> BatchReport:
    """Run every input not already in `results`, at most `concurrency` at a time. With `max_cost`, no new
    article starts once the cost so far reaches it (articles in flight finish)."""
    started = time.perf_counter()
    already = done_ids(results)
    todo = [item for item in inputs if item.id not in already]
    report = BatchReport(total=len(inputs), skipped=len(inputs) - len(todo))
    model = summarizer.settings.model
    if prices is None or price_for(model, prices) is None:
        report.cost = None  # unknown price: tokens only
    out, bad = JsonlAppender(results), JsonlAppender(failures)
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
            try:
                analysis = await summarizer.asummarize(item.load(), tasks=tasks)
            except SummarizerError as exc:
                report.failed += 1
                report.failures.append(item.id)
                bad.write(
                    {"id": item.id, "source": item.source, "error": str(exc), "exit_code": exc.exit_code}
                )
            else:
                out.write({"id": item.id, "analysis": analysis.model_dump(mode="json")})
                _account(report, analysis.metadata, model, prices)
            progress()

    try:
        progress()
        await asyncio.gather(*(one(item) for item in todo))
    finally:
        out.close()
        bad.close()
        report.seconds = time.perf_counter() - started
    return report


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
