"""Batch jobs: a JSONL body in `summarizer batch`'s format, run by the batch code (`batch.run_batch`), one
job at a time, its articles concurrently.

The job table lives in SQLite (`jobs.sqlite` under the user's data directory, or `--jobs-db`); each job's
input and its results are the batch code's own files beside it (`jobs/<id>/input.jsonl`, `results.jsonl`,
`failures.jsonl`), appended as each article finishes. So the batch code's guarantees are the service's:
after a restart, even after kill -9, a job that was running is queued again and resumes, skipping the
articles already in its results (none lost, none done twice), and only the articles in flight at the kill
run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import platformdirs
from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ..batch import BatchReport, collect_inputs, run_batch
from ..errors import InputError, SummarizerError
from ..files import drop_torn_tail, write_atomic
from ..pipeline import Summarizer, parse_tasks
from .guard import Caller
from .problems import Problem, documented

ACTIVE = ("queued", "running")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, state TEXT NOT NULL, tasks TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL, total INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL, error TEXT
)
"""
_COLUMNS = ("id", "state", "tasks", "created", "updated", "total", "done", "failed")


def default_jobs_db() -> Path:
    return Path(platformdirs.user_data_dir("summarizer")) / "jobs.sqlite"


class JobStore:
    """The job table. One connection, used from the event loop's thread only (each call is milliseconds)."""

    def __init__(self, path: Path):
        self.path = path
        self.dir = path.parent / "jobs"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def files(self, job_id: str) -> tuple[Path, Path, Path]:
        """input.jsonl, results.jsonl, failures.jsonl of a job."""
        d = self.dir / job_id
        return d / "input.jsonl", d / "results.jsonl", d / "failures.jsonl"

    def create(self, owner: str, body: bytes, tasks: list[str]) -> dict[str, Any]:
        job_id = secrets.token_hex(8)
        source, _, _ = self.files(job_id)
        source.parent.mkdir(parents=True)
        write_atomic(source, body.decode("utf-8"), what="the job's input")
        try:
            total = len(collect_inputs([str(source)]))
        except InputError as exc:
            _remove(source.parent)
            # The batch reader names the temporary file; the caller knows it as the request body.
            raise Problem(400, str(exc).replace(str(source), "body"), kind="bad-input") from None
        now = time.time()
        self._db.execute(
            "INSERT INTO jobs (id, owner, state, tasks, created, updated, total)"
            " VALUES (?, ?, 'queued', ?, ?, ?, ?)",
            (job_id, owner, json.dumps(tasks), now, now, total),
        )
        return self.get(job_id, owner)

    def get(self, job_id: str, owner: str) -> dict[str, Any]:
        """A job of this caller's key (another key's job is as unknown as a missing one)."""
        row = self._db.execute("SELECT * FROM jobs WHERE id = ? AND owner = ?", (job_id, owner)).fetchone()
        if row is None:
            raise Problem(404, f"no batch job {job_id!r}", kind="not-found")
        return _public(row)

    def next_queued(self) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM jobs WHERE state = 'queued' ORDER BY created LIMIT 1"
        ).fetchone()
        return row

    def set_state(self, job_id: str, state: str, error: str | None = None) -> None:
        self._db.execute(
            "UPDATE jobs SET state = ?, error = ?, updated = ? WHERE id = ?",
            (state, error, time.time(), job_id),
        )

    def record(
        self, job_id: str, done: int, failed: int, prompt: int, completion: int, cost: float | None
    ) -> None:
        self._db.execute(
            "UPDATE jobs SET done = ?, failed = ?, prompt_tokens = ?, completion_tokens = ?, cost = ?,"
            " updated = ? WHERE id = ?",
            (done, failed, prompt, completion, cost, time.time(), job_id),
        )

    def requeue_running(self) -> int:
        """After a restart: what was running when the process ended goes on."""
        cursor = self._db.execute("UPDATE jobs SET state = 'queued' WHERE state = 'running'")
        return cursor.rowcount

    def pending_articles(self) -> int:
        row = self._db.execute(
            "SELECT COALESCE(SUM(total - done - failed), 0) FROM jobs WHERE state IN ('queued', 'running')"
        ).fetchone()
        return int(row[0])


def _public(row: sqlite3.Row) -> dict[str, Any]:
    job = {k: row[k] for k in _COLUMNS}
    for stamp in ("created", "updated"):
        job[stamp] = dt.datetime.fromtimestamp(row[stamp], dt.UTC).isoformat(timespec="seconds")
    job["tasks"] = json.loads(job["tasks"])
    job["pending"] = max(row["total"] - row["done"] - row["failed"], 0)
    job["tokens"] = {"prompt": row["prompt_tokens"], "completion": row["completion_tokens"]}
    job["cost_usd"] = row["cost"]
    job["error"] = row["error"]
    return job


def _remove(directory: Path) -> None:
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()


def _lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as f:
        return sum(1 for line in f if line.endswith(b"\n"))


class JobRunner:
    """Runs queued jobs one after another on the service's summarizer; cancellable per job."""

    def __init__(self, db: Path, concurrency: int, prices: dict[str, Any], metrics: Any):
        self.db, self.concurrency, self.prices, self.metrics = db, concurrency, prices, metrics
        self._store: JobStore | None = None
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._current: tuple[str, asyncio.Task[BatchReport]] | None = None
        self._summarizer: Summarizer | None = None

    @property
    def store(self) -> JobStore:
        if self._store is None:
            raise Problem(503, "the service is starting or stopping", kind="unavailable")
        return self._store

    async def start(self, summarizer: Summarizer) -> None:
        self._summarizer = summarizer
        self._store = JobStore(self.db)
        self.store.requeue_running()
        self._update_gauge()
        self._worker = asyncio.create_task(self._work(), name="batch-jobs")

    async def stop(self) -> None:
        """On shutdown the running job is interrupted, stays `running` in the table, and resumes on the
        next start (its finished articles are in its results file already)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._store is not None:
            self._store.close()
            self._store = None

    def submitted(self) -> None:
        self._update_gauge()
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        self.store.set_state(job_id, "cancelled")
        if self._current is not None and self._current[0] == job_id:
            self._current[1].cancel()
        self._update_gauge()

    def _count(self, report: BatchReport, seen: BatchReport) -> None:
        """The batch's model calls, cache hits, tokens and cost since the last progress, into the metrics."""
        m = self.metrics
        m.model_calls.inc(report.model_calls - seen.model_calls)
        m.cache_hits.inc(report.cached_calls - seen.cached_calls)
        m.tokens.labels("prompt").inc(report.prompt_tokens - seen.prompt_tokens)
        m.tokens.labels("completion").inc(report.completion_tokens - seen.completion_tokens)
        m.cost.inc((report.cost or 0.0) - (seen.cost or 0.0))
        m.articles.labels("ok").inc(report.done - seen.done)
        m.articles.labels("failed").inc(report.failed - seen.failed)
        for name in (
            "model_calls",
            "cached_calls",
            "prompt_tokens",
            "completion_tokens",
            "cost",
            "done",
            "failed",
        ):
            setattr(seen, name, getattr(report, name))

    def _update_gauge(self) -> None:
        self.metrics.queue.set(self.store.pending_articles())

    async def _work(self) -> None:
        while True:
            row = self.store.next_queued()
            if row is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._run(row)

    async def _run(self, row: Any) -> None:
        assert self._summarizer is not None
        job_id = row["id"]
        source, results, failures = self.store.files(job_id)
        self.store.set_state(job_id, "running")
        for path in (results, failures):  # a kill -9 mid-write leaves a torn last line: it runs again
            if path.exists():
                drop_torn_tail(path)

        # Tokens and cost of earlier runs of this job (before a restart), plus this run's so far.
        base_prompt, base_completion, base_cost = row["prompt_tokens"], row["completion_tokens"], row["cost"]

        seen = BatchReport()  # what the metrics have counted of this run so far

        def progress(report: BatchReport) -> None:
            self._count(report, seen)
            spent = None if report.cost is None else (base_cost or 0.0) + report.cost
            self.store.record(
                job_id,
                _lines(results),
                _lines(failures),
                base_prompt + report.prompt_tokens,
                base_completion + report.completion_tokens,
                spent,
            )
            self._update_gauge()

        work = run_batch(
            collect_inputs([str(source)]),
            self._summarizer,
            results=results,
            failures=failures,
            concurrency=self.concurrency,
            tasks=json.loads(row["tasks"]) or None,
            prices=self.prices,
            on_progress=progress,
        )
        task = asyncio.ensure_future(work)
        self._current = (job_id, task)
        try:
            report = await task
        except asyncio.CancelledError:
            if self._worker is not None and self._worker.cancelling():
                raise  # shutdown: the job stays `running` and resumes on the next start
            return  # DELETE: already marked cancelled
        except (SummarizerError, OSError) as exc:
            self.store.set_state(job_id, "failed", str(exc))
            return
        finally:
            self._current = None
            self._update_gauge()
        progress(report)
        self.store.set_state(job_id, "done")
        self._update_gauge()


def add_batch_routes(app: FastAPI, service: Any) -> None:
    db = Path(service.config.jobs_db or default_jobs_db())
    runner = JobRunner(db, service.config.batch_concurrency, service.prices, service.metrics)
    service.jobs = runner

    @app.post("/v1/batches", status_code=202, tags=["batches"], responses=documented(400, 413, 422, 429))
    async def submit(request: Request, who: Caller, tasks: str | None = None) -> JSONResponse:
        """A JSONL body, one article a line (`text` or `article`, optional `id`, `title`, `url`,
        `published`), as `summarizer batch` reads. Answered at once with the job's id; it runs in the
        background and survives restarts."""
        chosen: list[str] = list(parse_tasks(tasks))
        body = await request.body()
        if not body.strip():
            raise Problem(400, "the body is empty: send one JSON object per line", kind="bad-input")
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Problem(400, f"the body is not UTF-8 (byte {exc.start})", kind="bad-input") from None
        service.guard.admit(who)
        try:
            job = runner.store.create(who, body, chosen)
        finally:
            service.guard.release(who)
        runner.submitted()
        return JSONResponse(job, status_code=202, headers={"Location": f"/v1/batches/{job['id']}"})

    @app.get("/v1/batches/{job_id}", tags=["batches"], responses=documented(404))
    async def status(job_id: str, who: Caller) -> dict[str, Any]:
        """State (queued, running, done, cancelled, failed), counts, tokens and cost so far."""
        return runner.store.get(job_id, who)

    @app.get("/v1/batches/{job_id}/results", tags=["batches"], responses=documented(404))
    async def results(job_id: str, who: Caller, after: int = Query(0, ge=0)) -> Response:
        """The finished articles as JSONL (`{"id", "analysis"}`), in the order they finished, streamed.
        `?after=N` skips the first N lines: pass the number of lines already read to continue."""
        runner.store.get(job_id, who)
        _, path, _ = runner.store.files(job_id)
        return StreamingResponse(_stream(path, after), media_type="application/x-ndjson")

    @app.delete("/v1/batches/{job_id}", tags=["batches"], responses=documented(404, 409))
    async def cancel(job_id: str, who: Caller) -> dict[str, Any]:
        """Cancel a queued or running job; its finished articles stay available."""
        job = runner.store.get(job_id, who)
        if job["state"] not in ACTIVE:
            raise Problem(409, f"batch job {job_id} is already {job['state']}", kind="conflict")
        runner.cancel(job_id)
        return runner.store.get(job_id, who)


async def _stream(path: Path, after: int) -> AsyncIterator[bytes]:
    """Complete lines only (one being appended right now is not finished), read in blocks."""
    if not path.exists():
        return
    size = os.path.getsize(path)
    seen = 0
    with path.open("rb") as f:
        pending = b""
        while f.tell() < size:
            block = pending + f.read(min(1 << 16, size - f.tell()))
            *lines, pending = block.split(b"\n")
            out = []
            for line in lines:
                seen += 1
                if seen > after:
                    out.append(line + b"\n")
            if out:
                yield b"".join(out)
            await asyncio.sleep(0)
