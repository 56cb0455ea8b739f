"""A response cache: the validated output of a model call, keyed on everything that changes the answer.

SQLite in the user's cache directory (`SUMMARIZER_CACHE_DIR` overrides it). A cache must never be the
reason a run fails, so a call that meets an unreadable, corrupt or too-new file, or any SQLite error, is a
miss (`get`) or a no-op (`put`). The first such failure is reported once on stderr (a log warning); every
later call tries again with a fresh connection, so a cache that was locked for a while, or whose corrupt
file the user deleted, works again within the same long run (and says so) instead of staying off.

Concurrency: several processes may share the file (parallel batch runs) and several threads or asyncio
tasks may share one `ResponseCache`.
- Between processes, SQLite's own file locks do the work: WAL journal mode lets readers go on while one
  writer writes, the 30 s busy timeout makes a writer wait for the lock instead of failing, and each
  `put` is one autocommitted `INSERT OR REPLACE`, so locks are held for microseconds.
- Within a process, one connection guarded by a lock. Every operation takes milliseconds, so serialising
  them costs nothing, and unlike a connection per thread (`threading.local`) `close()` can close it
  whichever thread calls it. A child that inherited the object through `fork` opens its own connection:
  SQLite connections must not cross a fork.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

SCHEMA_VERSION = 1
# Part of every key: bump it when the key's inputs or their meaning change, so old entries stop matching.
KEY_VERSION = 1
BUSY_TIMEOUT_S = 30.0
FILE_NAME = "responses.sqlite3"
# A log record, not warnings.warn: nothing in the calling code could avoid it, and with logging left
# unconfigured (as the CLI leaves it) Python prints the bare message on stderr.
log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """`SUMMARIZER_CACHE_DIR` if set, else the platform's user cache directory (read at each call)."""
    override = os.environ.get("SUMMARIZER_CACHE_DIR")
    return Path(override).expanduser() if override else Path(platformdirs.user_cache_dir("summarizer"))


def cache_key(
    *,
    endpoint: str,
    base_url: str | None,
    model: str,
    messages: list[dict[str, str]],
    schema: dict,
    mode: str,
    temperature: float,
    max_tokens: int,
    max_retries: int,
) -> str:
    """sha256 of a canonical JSON of all of these (sort_keys, no whitespace variance). The API key is NOT
    part of it: the same request gets the same answer whoever pays for it, and a rotated key must not
    empty the cache."""
    payload = {
        "v": KEY_VERSION,
        "endpoint": endpoint,
        "base_url": base_url,
        "model": model,
        "messages": messages,
        "schema": schema,
        "mode": mode,
        # float(): so that temperature=0 and temperature=0.0 serialise alike ("0" vs "0.0").
        "temperature": float(temperature),
        "max_tokens": int(max_tokens),
        "max_retries": int(max_retries),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    output_json: str  # the validated output model, as JSON (model_dump_json)
    attempts: int  # what producing it originally cost
    prompt_tokens: int
    completion_tokens: int
    created: float  # unix time


@dataclass(frozen=True)
class CacheStats:
    path: Path
    entries: int
    bytes: int  # the database file plus its write-ahead log
    hits: int  # this process's counters
    misses: int


_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, output_json TEXT NOT NULL, attempts INT NOT NULL,
    prompt_tokens INT NOT NULL, completion_tokens INT NOT NULL, created REAL NOT NULL
)
"""


class ResponseCache:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else cache_dir() / FILE_NAME
        self.hits = self.misses = 0
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._failing = False  # the last call failed (and said so): the next success says it works again
        self.errors = 0  # failed calls in this process

    # --- the interface ------------------------------------------------------------------------------

    def get(self, key: str) -> CachedResponse | None:
        with self._lock:
            rows = self._execute(
                "SELECT output_json, attempts, prompt_tokens, completion_tokens, created"
                " FROM responses WHERE key = ?",
                (key,),
            )
            if not rows:
                self.misses += 1
                return None
            self.hits += 1
            return CachedResponse(*rows[0])

    def put(self, key: str, value: CachedResponse) -> None:
        v = value
        with self._lock:
            self._execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
                (key, v.output_json, v.attempts, v.prompt_tokens, v.completion_tokens, v.created),
            )

    def clear(self) -> int:
        """Remove every entry; the number removed (0 when the cache cannot be used)."""
        with self._lock:
            before = self._execute("SELECT COUNT(*) FROM responses")
            if before is None or self._execute("DELETE FROM responses") is None:
                return 0
            # Give the space back, since clearing is how users shrink the cache. Best effort: another
            # process reading at this moment makes these fail (after the busy timeout), which is no reason
            # to disable the cache.
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("VACUUM")
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return int(before[0][0])

    def stats(self) -> CacheStats:
        with self._lock:
            rows = self._execute("SELECT COUNT(*) FROM responses")
            entries = int(rows[0][0]) if rows else 0
            size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.is_file())
            return CacheStats(self.path, entries, size, self.hits, self.misses)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals (called with the lock held) ------------------------------------------------------

    def _execute(self, sql: str, params: tuple[object, ...] = ()) -> list[Any] | None:
        """The statement's rows; None when the cache cannot be used now (reported by `_failed`)."""
        if (conn := self._connection()) is None:
            return None
        try:
            rows = conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            self._failed(exc)
            return None
        if self._failing:
            self._failing = False
            log.warning("response cache: %s works again", self.path)
        return rows

    def _connection(self) -> sqlite3.Connection | None:
        """The open connection, opened on first use (and again after a failure); None if it cannot be."""
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        conn = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: autocommit, so a lone statement is its own short transaction and
            # nothing is left open between calls. check_same_thread=False: the lock serialises use.
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # safe in WAL; a crash may only lose recent puts
            self._migrate(conn)
        except (sqlite3.Error, OSError, ValueError) as exc:
            if conn is not None:
                conn.close()
            self._failed(exc)
            return None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Create the tables, or drop entries written under an older schema: it is only a cache. BEGIN
        IMMEDIATE takes the write lock first, so two processes starting at once cannot both migrate."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
            found = int(row[0]) if row else None
            if found is not None and found > SCHEMA_VERSION:
                # A newer summarizer wrote it: leave its entries alone rather than destroy them.
                raise sqlite3.DatabaseError(f"schema version {found} is newer than {SCHEMA_VERSION}")
            if found != SCHEMA_VERSION:
                conn.execute("DROP TABLE IF EXISTS responses")
                conn.execute(_SCHEMA)
                conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _failed(self, exc: BaseException) -> None:
        """Report the first failure of a run of failures; drop the connection so the next call reconnects
        (a connection that met a corrupt page or a schema change may stay broken)."""
        self.errors += 1
        if not self._failing:
            hint = " (delete the file to start afresh)" if isinstance(exc, sqlite3.Error) else ""
            log.warning(
                "response cache: cannot use %s: %s%s; running without it, retrying on each call",
                self.path, exc, hint,
            )  # fmt: skip
        self._failing = True
        if self._conn is not None and self._pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None
