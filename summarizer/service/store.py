"""The batch jobs' table (SQLite) and their files, and the running count of a job's results.

One server per database: a second `serve` on the same file is refused at start (a lock beside it), so a
job is never run, requeued or failed by two processes. Claiming a job is one conditional UPDATE all the
same. The connection is shared by the server's loop (through `asyncio.to_thread`) and the engine thread
(progress), so every statement runs under a lock.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import platformdirs

from ..batch.inputs import collect_inputs
from ..core.errors import ConfigError, InputError
from ..core.files import OutputLock, write_atomic
from .problems import Problem

ACTIVE = ("queued", "running")
STATES = ("queued", "running", "done", "cancelled", "failed")
MAX_ATTEMPTS = 2  # a job the server died running this many times is failed, not run again
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, state TEXT NOT NULL, tasks TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL, total INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL, error TEXT
)
"""
# Added after the first release: an older database gets them on open.
_ADDED = {"partial": "INTEGER NOT NULL DEFAULT 0", "attempts": "INTEGER NOT NULL DEFAULT 0"}
_COLUMNS = ("id", "state", "tasks", "created", "updated", "total", "done", "partial", "failed")


def default_jobs_db() -> Path:
    return Path(platformdirs.user_data_dir("summarizer")) / "jobs.sqlite"


class JobStore:
    def __init__(self, path: Path):
        self.path = path
        self.dir = path.parent / "jobs"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._server_lock = OutputLock(path)
        try:
            self._server_lock.acquire()
        except ConfigError:
            raise ConfigError(
                f"another summarizer serve is using the jobs database {path}: stop it, or give this one"
                " another --jobs-db"
            ) from None
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute(_SCHEMA)
        have = {row["name"] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, kind in _ADDED.items():
            if name not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._server_lock.release()

    def _run(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, tuple(args))

    def files(self, job_id: str) -> tuple[Path, Path, Path]:
        """input.jsonl, results.jsonl, failures.jsonl of a job."""
        d = self.dir / job_id
        return d / "input.jsonl", d / "results.jsonl", d / "failures.jsonl"

    # --- the caller's side -------------------------------------------------------------------------

    def new_input(self) -> tuple[str, Path]:
        """A new job's id and where its input goes (`write_input` writes it)."""
        job_id = secrets.token_hex(8)
        return job_id, self.files(job_id)[0]

    def create(self, owner: str, body: bytes, tasks: list[str], caps: tuple[int, int]) -> dict[str, Any]:
        """`write_input` and `queue` in this process. CPU-bound: call off the loop."""
        job_id, source = self.new_input()
        return self.queue(job_id, owner, tasks, write_input(source, body), caps)

    def queue(
        self, job_id: str, owner: str, tasks: list[str], total: int, caps: tuple[int, int]
    ) -> dict[str, Any]:
        """Queue a job whose input `write_input` wrote, within the key's caps (its files go if not)."""
        max_jobs, max_articles = caps
        row = self._run(
            "SELECT COUNT(*), COALESCE(SUM(total - done - partial - failed), 0) FROM jobs"
            " WHERE owner = ? AND state IN ('queued', 'running')",
            (owner,),
        ).fetchone()
        if row[0] >= max_jobs or row[1] + total > max_articles:
            _remove(self.dir / job_id)
            raise Problem(
                429,
                f"this key has {row[0]} jobs and {row[1]:,} articles waiting; at most {max_jobs} jobs and"
                f" {max_articles:,} articles may wait at once: retry when some have finished",
                kind="queue-full",
                headers={"Retry-After": "60"},
            )
        now = time.time()
        self._run(
            "INSERT INTO jobs (id, owner, state, tasks, created, updated, total)"
            " VALUES (?, ?, 'queued', ?, ?, ?, ?)",
            (job_id, owner, json.dumps(tasks), now, now, total),
        )
        return self.get(job_id, owner)

    def get(self, job_id: str, owner: str) -> dict[str, Any]:
        """A job of this caller's key (another key's job is as unknown as a missing one)."""
        row = self._run("SELECT * FROM jobs WHERE id = ? AND owner = ?", (job_id, owner)).fetchone()
        if row is None:
            raise Problem(404, f"no batch job {job_id!r}", kind="not-found")
        return _public(row)

    def cancel(self, job_id: str) -> bool:
        """Queued or running -> cancelled; False when it had already ended."""
        cursor = self._run(
            "UPDATE jobs SET state = 'cancelled', updated = ?"
            " WHERE id = ? AND state IN ('queued', 'running')",
            (time.time(), job_id),
        )
        return cursor.rowcount == 1

    # --- the runner's side -------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """At start: what was running when the server last stopped without finishing it goes on, unless
        the server died running it `MAX_ATTEMPTS` times; those are failed. Their ids."""
        failed = [
            row["id"]
            for row in self._run(
                "SELECT id FROM jobs WHERE state = 'running' AND attempts >= ?", (MAX_ATTEMPTS,)
            ).fetchall()
        ]
        self._run(
            "UPDATE jobs SET state = 'failed', updated = ?, error = ?"
            " WHERE state = 'running' AND attempts >= ?",
            (time.time(), f"the server stopped {MAX_ATTEMPTS} times while running this job", MAX_ATTEMPTS),
        )
        self._run("UPDATE jobs SET state = 'queued' WHERE state = 'running'")
        return failed

    def queued(self) -> list[sqlite3.Row]:
        return self._run("SELECT id, owner FROM jobs WHERE state = 'queued' ORDER BY created, id").fetchall()

    def claim(self, job_id: str) -> sqlite3.Row | None:
        """queued -> running, in one conditional UPDATE: None when someone else changed it first."""
        cursor = self._run(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated = ?"
            " WHERE id = ? AND state = 'queued'",
            (time.time(), job_id),
        )
        if cursor.rowcount != 1:
            return None
        row: sqlite3.Row | None = self._run("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row

    def release(self, job_id: str) -> None:
        """Shutdown interrupted the job: it resumes on the next start, and this run does not count as a
        failed attempt."""
        self._run(
            "UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0)"
            " WHERE id = ? AND state = 'running'",
            (job_id,),
        )

    def finish(self, job_id: str, state: str, error: str | None = None) -> None:
        """running -> done or failed (a cancelled job stays cancelled)."""
        self._run(
            "UPDATE jobs SET state = ?, error = ?, updated = ? WHERE id = ? AND state = 'running'",
            (state, error, time.time(), job_id),
        )

    def record(
        self, job_id: str, counts: tuple[int, int, int], tokens: tuple[int, int], cost: float | None
    ) -> None:
        self._run(
            "UPDATE jobs SET done = ?, partial = ?, failed = ?, prompt_tokens = ?, completion_tokens = ?,"
            " cost = ?, updated = ? WHERE id = ?",
            (*counts, *tokens, cost, time.time(), job_id),
        )

    def prune(self, keep_days: float) -> int:
        """Remove the finished jobs not updated for `keep_days`, with their files; how many."""
        if not keep_days:
            return 0
        cutoff = time.time() - keep_days * 86400
        old = self._run(
            "SELECT id FROM jobs WHERE state NOT IN ('queued', 'running') AND updated < ?", (cutoff,)
        ).fetchall()
        for row in old:
            shutil.rmtree(self.dir / row["id"], ignore_errors=True)
            self._run("DELETE FROM jobs WHERE id = ?", (row["id"],))
        return len(old)

    def pending_articles(self) -> int:
        row = self._run(
            "SELECT COALESCE(SUM(total - done - partial - failed), 0) FROM jobs"
            " WHERE state IN ('queued', 'running')"
        ).fetchone()
        return int(row[0])


def write_input(source: Path, body: bytes, array: bool = False) -> int:
    """Check a batch body (NDJSON, or one JSON array when `array`), write it as the job's input at
    `source`, and count its articles. CPU-bound and allocation-heavy (a 2 MB body is 50,000 articles, each
    parsed): the service runs it in its worker process (offload.py) when the body is large. Nothing of a
    refused body stays on disk. Touches no database: it may run in another process."""
    text = _checked_body(as_lines(body) if array else body)
    source.parent.mkdir(parents=True)
    try:
        write_atomic(source, text, what="the job's input")
        return len(collect_inputs([str(source)]))
    except BaseException as exc:
        _remove(source.parent)
        if isinstance(exc, InputError):
            # The batch reader names the job's file; the caller knows it as the request body.
            raise Problem(400, str(exc).replace(str(source), "body"), kind="bad-input") from None
        if isinstance(exc, RecursionError):
            raise Problem(400, "body: a line is nested too deeply", kind="bad-input") from None
        raise


def as_lines(body: bytes) -> bytes:
    """A JSON array of articles as NDJSON, each item on a line of its own. A JSON body that is not an array
    is read as lines, as before: one object is one line."""
    if not body.lstrip().startswith(b"["):
        return body
    try:
        items = json.loads(body)
    except RecursionError:
        raise Problem(400, "body: nested too deeply", kind="bad-input") from None
    except ValueError as exc:
        raise Problem(400, f"the body is not valid JSON: {exc}", kind="bad-input") from None
    # ASCII escapes: a lone surrogate stays an escape in the line, as in an NDJSON body.
    return "".join(json.dumps(item) + "\n" for item in items).encode()


def _checked_body(body: bytes) -> str:
    """The body as text, each line a JSON value a reader can hold (400 naming the line otherwise)."""
    if not body.strip():
        raise Problem(400, "the body is empty: send one JSON object per line", kind="bad-input")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(400, f"the body is not UTF-8 (byte {exc.start})", kind="bad-input") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except RecursionError:
            raise Problem(400, f"body, line {number}: nested too deeply", kind="bad-input") from None
        except ValueError:
            pass  # the batch reader names it, as the CLI does
    return text


def _public(row: sqlite3.Row) -> dict[str, Any]:
    job = {k: row[k] for k in _COLUMNS}
    for stamp in ("created", "updated"):
        job[stamp] = dt.datetime.fromtimestamp(row[stamp], dt.UTC).isoformat(timespec="seconds")
    job["tasks"] = json.loads(job["tasks"])
    job["pending"] = max(row["total"] - row["done"] - row["partial"] - row["failed"], 0)
    job["tokens"] = {"prompt": row["prompt_tokens"], "completion": row["completion_tokens"]}
    job["cost_usd"] = row["cost"]
    job["error"] = row["error"]
    return job


def _remove(directory: Path) -> None:
    if not directory.exists():
        return
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()


class Tally:
    """A job's outcome per article, from its results and failures files, read incrementally: each call
    reads only the lines appended since the last (a file rewritten shorter is read again from the start).

    An article counts once: `done` with a complete analysis, `partial` with an incomplete one (in the
    results, and owed), `failed` when it is only in the failures."""

    def __init__(self, results: Path, failures: Path):
        self.paths = (results, failures)
        self._offsets = [0, 0]
        self.complete: dict[str, bool] = {}  # results: id -> complete
        self.failed_ids: set[str] = set()

    def update(self) -> tuple[int, int, int]:
        for index, path in enumerate(self.paths):
            for record in self._new_lines(index, path):
                if index == 0:
                    complete = record.get("analysis", {}).get("complete", True) is not False
                    self.complete[str(record["id"])] = complete or self.complete.get(str(record["id"]), False)
                else:
                    self.failed_ids.add(str(record["id"]))
        done = sum(self.complete.values())
        partial = len(self.complete) - done
        return done, partial, len(self.failed_ids - self.complete.keys())

    def seen(self) -> set[str]:
        """Articles that ran to an outcome: a job runs each of its articles once."""
        return set(self.complete) | self.failed_ids

    def _new_lines(self, index: int, path: Path) -> list[dict[str, Any]]:
        if not path.exists():
            return []
        size = path.stat().st_size
        if size < self._offsets[index]:  # rewritten (failures are pruned at the end of a run)
            self._offsets[index] = 0
            if index == 1:
                self.failed_ids.clear()
        with path.open("rb") as f:
            f.seek(self._offsets[index])
            data = f.read(size - self._offsets[index])
        end = data.rfind(b"\n") + 1  # a line being written is read next time
        self._offsets[index] += end
        out = []
        for line in data[:end].splitlines():
            try:
                record = json.loads(line)
                if isinstance(record, dict) and "id" in record:
                    out.append(record)
            except ValueError:
                continue
        return out
