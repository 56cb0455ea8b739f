"""What `batch` and `eval` share: running a batch under a progress bar, and its one-line summary."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..batch.runner import BatchInput, BatchOutput, BatchReport, run_batch, run_to_end
from ..model.pricing import Price, format_cost
from ..pipeline.summarizer import Summarizer
from .common import err

if TYPE_CHECKING:
    from ..batch.ray import RayOptions


def run_with_progress(
    summarizer: Summarizer,
    items: list[BatchInput],
    output: BatchOutput,
    concurrency: int,
    tasks: Sequence[str],
    prices: dict[str, Price],
    max_cost: float | None,
    ray: RayOptions | None = None,
    parquet: bool = False,
) -> BatchReport:
    """The batch on the summarizer's loop (or on Ray, the driver feeding the bar), with a rich progress
    bar on a terminal (quiet otherwise)."""
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=err, disable=not err.is_terminal,
    )  # fmt: skip
    with progress:
        bar = progress.add_task("articles", total=len(items), info="")

        def update(report: BatchReport) -> None:
            info = f"{report.failed} failed · {report.tokens:,} tokens · {format_cost(report.cost)}"
            progress.update(bar, completed=report.skipped + report.done + report.failed, info=info)

        if ray is not None:  # the driver's loop feeds the bar (Parquet: once, at the end)
            from ..batch.parquet import run_batch_parquet
            from ..batch.ray import run_batch_ray

            run = run_batch_parquet if parquet else functools.partial(run_batch_ray, max_cost=max_cost)
            return run(items, summarizer, output=output, concurrency=concurrency, tasks=tasks, prices=prices,
                       on_progress=update, options=ray)  # fmt: skip
        return run_to_end(
            summarizer,
            run_batch(items, summarizer, output=output, concurrency=concurrency,
                      tasks=tasks, prices=prices, max_cost=max_cost, on_progress=update)
        )  # fmt: skip


def batch_summary(report: BatchReport, output: Path, failures: Path) -> None:
    err.print(
        f"{report.done} done, {report.skipped} already done, {report.failed} failed"
        + (f", {report.not_started} not started: --max-cost reached" if report.budget_spent else "")
        + f" · {report.model_calls} model calls, {report.cached_calls} from the cache"
        + f" · {report.prompt_tokens:,} prompt + {report.completion_tokens:,} completion tokens"
        + f" · {format_cost(report.cost)} · {report.seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    err.print(f"results: {output}" + (f" · failures: {failures}" if report.failed else ""), soft_wrap=True)
