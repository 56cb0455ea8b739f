"""`summarizer batch --ray --format parquet`: results written as Parquet by Ray's workers themselves, for
outputs too large for one writer.

The output is a directory of Parquet files, one row per article run: `id`, `source`, `complete`,
`analysis` (the analysis as JSON text, the JSONL line's `analysis`; null when the article failed),
`error` and `exit_code` (null when it did not). The guards are the JSONL output's: the lock, the settings
file beside the directory (`<dir>.meta.json`), the failures file (`<dir's stem>.failures.jsonl`, written
by the command at the end) and resume by id: a re-run skips the ids with a complete analysis in the
directory. What differs: each write task writes its own file directly (Ray Data has no atomic rename),
so a file torn by a kill is moved aside at the next run (to a hidden `.torn-` name, which Parquet
readers skip) and its articles run again; an article that failed or was partial, and succeeds on a
re-run, has a row from each run (read the `complete` ones); there is no per-article progress, and the
totals are read back from the files when Ray is done.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..core.files import Appender
from ..core.schemas import Metadata
from ..model.pricing import Price
from ..pipeline.summarizer import Summarizer, parse_tasks
from .output import prune_failures
from .ray import (
    RayOptions,
    RayReport,
    article_dataset,
    article_rows,
    cluster_cpus,
    import_ray,
    ours,
    ray_session,
    worker_args,
)
from .runner import BatchInput, BatchOutput, Outcome, ProgressHook, _account


def parquet_columns(outcomes: list[Outcome], node: str, cpu: float) -> dict[str, list[Any]]:
    """A worker's outcomes as the Parquet rows described above."""
    failures = [o.failure or {} for o in outcomes]
    analyses: list[dict[str, Any]] = [o.line["analysis"] if o.line else {} for o in outcomes]
    return {
        "id": [o.id for o in outcomes],
        # Every outcome has a failure record (with the source) or an analysis (with its article's).
        "source": [
            f["source"] if f else a["article"]["source"] for f, a in zip(failures, analyses, strict=True)
        ],
        "complete": [o.line is not None and o.failure is None for o in outcomes],
        "analysis": [json.dumps(a, ensure_ascii=False) if a else None for a in analyses],
        "error": [f.get("error") for f in failures],
        "exit_code": [f.get("exit_code") for f in failures],
    }


def _schema() -> Any:
    """One schema for every file (a file whose rows all succeeded would have `error` typed null)."""
    import pyarrow as pa

    return pa.schema(
        [("id", pa.string()), ("source", pa.string()), ("complete", pa.bool_()), ("analysis", pa.string()),
         ("error", pa.string()), ("exit_code", pa.int64())]
    )  # fmt: skip


def _files(directory: Path) -> set[Path]:
    """The directory's Parquet files, but hidden ones (readers skip names starting with . or _)."""
    if not directory.is_dir():
        return set()
    return {p for p in directory.rglob("*.parquet") if not p.name.startswith((".", "_"))}


def _read(files: Iterable[Path], columns: list[str]) -> list[dict[str, Any]]:
    """Every row of the readable files; a file torn by a kill is moved aside so no reader meets it."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for path in sorted(files):
        try:
            rows += pq.read_table(path, columns=columns).to_pylist()
        except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
            os.replace(path, path.with_name(f".torn-{path.name}"))
    return rows


def parquet_done_ids(directory: Path) -> set[str]:
    """Ids with a complete analysis in the directory (any run's)."""
    return {str(r["id"]) for r in _read(_files(directory), ["id", "complete"]) if r["complete"]}


def run_batch_parquet(
    inputs: list[BatchInput],
    summarizer: Summarizer,
    *,
    output: BatchOutput,
    concurrency: int = 8,
    tasks: Iterable[str] | str | None = None,
    prices: dict[str, Price] | None = None,
    on_progress: ProgressHook | None = None,
    options: RayOptions | None = None,
) -> RayReport:
    """`run_batch_ray`, the results written by Ray's workers into the directory `output.results`."""
    ray = import_ray()
    options = options or RayOptions()
    chosen = parse_tasks(tasks)
    started = time.perf_counter()
    directory = output.results
    model = summarizer.settings.model
    report, todo = RayReport.start(inputs, parquet_done_ids(directory), model, prices)
    bad = Appender(output.failures)
    try:

        def failed(outcome: Outcome) -> None:
            assert outcome.failure is not None
            report.failed += 1
            report.failures.append(outcome.id)
            bad.write(outcome.failure)

        rows = article_rows(todo, failed)
        before = _files(directory)
        if rows:
            with ray_session(ray, options) as report.started_ray:
                report.workers = options.workers or cluster_cpus(ray)
                args = worker_args(summarizer, chosen, options) | {"columns": parquet_columns}
                dataset = article_dataset(ray, rows, args, report.workers, concurrency)
                try:
                    # No CPU asked for the writes: the workers hold the CPUs, and a write waiting for
                    # one would wait forever.
                    dataset.write_parquet(str(directory), ray_remote_args={"num_cpus": 0}, schema=_schema())
                except Exception as exc:
                    raise ours(exc) from None
        for row in _read(_files(directory) - before, ["id", "source", "analysis", "error", "exit_code"]):
            _count(report, row, failed, model, prices)
    finally:
        bad.close()
        prune_failures(output.failures, parquet_done_ids(directory))
        report.seconds = time.perf_counter() - started
        if on_progress is not None:
            on_progress(report)
    return report


def _count(
    report: RayReport,
    row: dict[str, Any],
    failed: Callable[[Outcome], None],
    model: str,
    prices: dict[str, Price] | None,
) -> None:
    """A row read back, counted as the local batch's writer counts an outcome."""
    if row["analysis"] is not None:
        _account(report, Metadata.model_validate(json.loads(row["analysis"])["metadata"]), model, prices)
    if row["error"] is not None:
        keys = ("id", "source", "error", "exit_code")
        failed(Outcome(str(row["id"]), failure={key: row[key] for key in keys}))
