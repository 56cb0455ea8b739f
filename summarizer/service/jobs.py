"""Batch jobs: a JSONL body in `summarizer batch`'s format, run by the batch code (`batch.run_batch`) on the
engine loop, its articles concurrently.

The job table lives in SQLite (store.py); each job's input and its results are the batch code's own files
beside it (`jobs/<id>/input.jsonl`, `results.jsonl`, `failures.jsonl`), appended as each article finishes.
After a restart, even after kill -9, a job that was running is queued again and resumes with the articles
that have no outcome yet: each article of a job runs to one outcome (done, partial or failed), and only the
articles in flight at the kill run again.

Scheduling: up to `running_jobs` jobs at once, never two of one key, the key served longest ago first; so
one key's 50,000-article job does not hold back another key's one-article job. Each key may have a bounded
number of jobs and articles waiting (429 above).

The runner survives whatever one job does: an exception fails that job, with a reason, and the next one
runs. A job the server dies running twice is failed, not run again. A worker that has stopped anyway makes
`/readyz` answer 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..batch.runner import BatchReport, collect_inputs, run_batch
from ..core.errors import SummarizerError
from ..core.files import drop_torn_tail
from .budget import KeyBudgetSpent, prune_cache
from .problems import public
from .store import JobStore, Tally

if TYPE_CHECKING:
    from ..pipeline.summarizer import Summarizer
    from .budget import Spend
    from .engine import Engine

log = logging.getLogger("summarizer.service")
PRUNE_EVERY = 3600.0


class Host(Protocol):
    """What the runner uses of the service that starts it (core.Service): the runner is below the service,
    and the service holds it (`Service.jobs`), never the other way round."""

    config: Any  # core.ServiceConfig: its budget's keep_days
    spend: Spend
    engine: Engine
    summarizer: Summarizer | None

    def pick(self, owner: str, strict: bool = False) -> Summarizer: ...


class JobRunner:
    def __init__(
        self, db: Path, concurrency: int, prices: dict[str, Any], metrics: Any, running_jobs: int = 2
    ):
        self.db, self.concurrency, self.prices, self.metrics = db, concurrency, prices, metrics
        self.slots = running_jobs
        self._store: JobStore | None = None
        self._service: Host = None  # type: ignore[assignment]  # set by start()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._running: dict[str, tuple[str, asyncio.Task[None]]] = {}  # job id -> (owner, its task)
        self._served: dict[str, float] = {}  # owner -> when a job of theirs last started
        self._dead: str | None = None
        self._stopping = False
        self._pruned = -PRUNE_EVERY  # at start, then every PRUNE_EVERY seconds

    @property
    def store(self) -> JobStore:
        if self._store is None:
            from .problems import Problem

            raise Problem(503, "the service is starting or stopping", kind="unavailable")
        return self._store

    async def start(self, service: Host) -> None:
        self._service = service
        self._store = await asyncio.to_thread(JobStore, self.db)
        for job_id in self.store.recover():
            log.error("batch job %s failed: the server stopped while running it, again", job_id)
        self._update_gauge()
        self._worker = asyncio.create_task(self._work(), name="batch-jobs")
        self._worker.add_done_callback(self._on_worker_end)

    def _on_worker_end(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and self._dead is None:
            self._dead = f"the batch worker stopped: {type(task.exception()).__name__}"

    def dead(self) -> str | None:
        """Why the batch worker is not running (None while it is)."""
        if self._dead is None and self._worker is not None and self._worker.done() and not self._stopping:
            self._dead = "the batch worker stopped"
        return self._dead

    async def stop(self) -> None:
        """On shutdown the running jobs are interrupted and queued again (their finished articles are in
        their results files already): they resume on the next start."""
        self._stopping = True
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for _, task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*(task for _, task in self._running.values()), return_exceptions=True)
        if self._store is not None:
            self._store.close()
            self._store = None

    def submitted(self) -> None:
        self._update_gauge()
        self._wake.set()

    def cancel(self, job_id: str) -> bool:
        if not self.store.cancel(job_id):
            return False
        if job_id in self._running:
            self._running[job_id][1].cancel()
        self._update_gauge()
        return True

    def _update_gauge(self) -> None:
        self.metrics.queue.set(self.store.pending_articles())

    # --- scheduling --------------------------------------------------------------------------------

    async def _prune(self) -> None:
        keep = self._service.config.budget.keep_days
        removed = await asyncio.to_thread(self.store.prune, keep)
        cache = getattr(self._service.summarizer, "cache", None)
        entries = await asyncio.to_thread(prune_cache, cache.path, keep) if cache is not None else 0
        if removed or entries:
            log.info("pruned %d jobs and %d cache entries older than %g days", removed, entries, keep)
        self._pruned = time.monotonic()

    async def _work(self) -> None:
        while True:
            self._wake.clear()
            if time.monotonic() - self._pruned > PRUNE_EVERY:
                try:
                    await self._prune()
                except Exception:
                    log.exception("batch worker: pruning failed; trying again later")
                    self._pruned = time.monotonic()
            try:
                while len(self._running) < self.slots and (row := await asyncio.to_thread(self._next)):
                    self._served[row["owner"]] = time.monotonic()
                    task = asyncio.create_task(self._run(row), name=f"batch-job-{row['id']}")
                    self._running[row["id"]] = (row["owner"], task)
                    task.add_done_callback(functools.partial(self._ended, row["id"]))
            except Exception:  # the database, busy or broken: try again shortly rather than stop for good
                log.exception("batch worker: cannot read the job table; retrying in 1 s")
                await asyncio.sleep(1)
                continue
            if self._dead is not None:
                return
            # asyncio.timeout, not wait_for: 3.11's wait_for can miss a cancel that meets a wake-up.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PRUNE_EVERY):
                    await self._wake.wait()

    def _ended(self, job_id: str, task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._wake.set()

    def _next(self) -> Any:
        """The first queued job of the key served longest ago that has no job running, claimed."""
        busy = {owner for owner, _ in self._running.values()}
        firsts: dict[str, str] = {}
        for row in self.store.queued():
            if row["owner"] not in busy:
                firsts.setdefault(row["owner"], row["id"])
        for owner in sorted(firsts, key=lambda o: self._served.get(o, 0.0)):
            if (claimed := self.store.claim(firsts[owner])) is not None:
                return claimed
        return None

    # --- one job -----------------------------------------------------------------------------------

    async def _run(self, row: Any) -> None:
        job_id = row["id"]
        try:
            await self._service.engine.run(self._batch(row))
        except asyncio.CancelledError:
            if self._stopping:
                self.store.release(job_id)  # shutdown: it resumes on the next start
            raise  # else DELETE: already marked cancelled
        except (SummarizerError, OSError) as exc:
            log.warning("batch job %s failed: %s", job_id, exc)
            self.store.finish(job_id, "failed", public(str(exc)))
        except Exception as exc:  # a bug, or a library's surprise: this job fails, the next one runs
            log.exception("batch job %s failed on an unexpected error", job_id)
            self.store.finish(
                job_id,
                "failed",
                f"unexpected error ({type(exc).__name__}); the server log has the details under job {job_id}",
            )
        except BaseException as exc:
            # What ends a process (SystemExit, KeyboardInterrupt, a crash's stand-in): the job stays
            # `running`, as after a kill, and the worker takes no more. The next start counts it.
            log.critical("batch worker stopped by job %s: %r", job_id, exc)
            self._dead = f"the batch worker stopped: {type(exc).__name__}"
            self._wake.set()
            raise
        else:
            self.store.finish(job_id, "done")
        finally:
            self._update_gauge()

    async def _batch(self, row: Any) -> None:
        """On the engine loop: run what is left of the job, recording progress as each article ends."""
        job_id = row["id"]
        source, results, failures = self.store.files(job_id)
        for path in (results, failures):  # a kill -9 mid-write leaves a torn last line: it runs again
            if path.exists():
                drop_torn_tail(path)
        tally = Tally(results, failures)
        tally.update()
        seen = tally.seen()
        inputs = [item for item in collect_inputs([str(source)]) if item.id not in seen]
        # Tokens and cost of earlier runs of this job (before a restart), plus this run's so far.
        base = (row["prompt_tokens"], row["completion_tokens"], row["cost"])
        counted = BatchReport()  # what the metrics have counted of this run so far
        owner = row["owner"]
        spend = self._service.spend

        def progress(report: BatchReport) -> None:
            spend.spend(owner, report.tokens - counted.prompt_tokens - counted.completion_tokens)
            self._count(report, counted)
            spent = None if report.cost is None else (base[2] or 0.0) + report.cost
            tokens = (base[0] + report.prompt_tokens, base[1] + report.completion_tokens)
            self.store.record(job_id, tally.update(), tokens, spent)
            self._update_gauge()
            if spend.over(owner) and report.done + report.failed < len(inputs):
                # Raised inside the batch code: its other articles stop, what finished stays.
                raise KeyBudgetSpent("this key's tokens for today (UTC) are spent: the job stopped")

        tasks = json.loads(row["tasks"]) or None
        report = await run_batch(
            inputs,
            self._service.pick(owner),
            results=results,
            failures=failures,
            concurrency=self.concurrency,
            tasks=tasks,
            prices=self.prices,
            on_progress=progress,
        )
        progress(report)

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
