"""Spend bounds: tokens per request (estimated before any call) and per key per UTC day (counted from the
answers), and pruning of old jobs and cache entries.

The per-key count is kept in memory: a restart starts the day's count again. It bounds what one key can
spend by accident or on purpose in a day of running; a hard monthly cap belongs to the model provider's
own account limits.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import SummarizerError
from ..model.budget import estimate_tokens
from .problems import Problem

log = logging.getLogger("summarizer.service")
# What one call adds to the article: the instructions, the schema, the answer (the embedded model's
# prompts measure 800-2,000 tokens; an answer is bounded by max_tokens).
PER_CALL = 2_000


class KeyBudgetSpent(SummarizerError):
    """A batch job stops when its key's tokens for the day are spent (its finished articles stay)."""


@dataclass
class Budget:
    request_tokens: int = 200_000  # 0: no bound
    key_tokens_per_day: int = 5_000_000  # 0: no bound
    keep_days: float = 30.0  # finished jobs and cache entries older than this are removed; 0: kept


def estimate(text: str, tasks: int) -> int:
    """What an analysis will send and receive, at least: the article once per task, plus each call's own
    share (a long article is cut into chunks, each sent once per task, and merged by one more call)."""
    return (estimate_tokens(text) + PER_CALL) * max(tasks, 1)


class Spend:
    """Tokens spent per key today (UTC), from every analysis and batch article. Thread-safe: batch jobs
    count from the engine thread."""

    def __init__(self, budget: Budget):
        self.budget = budget
        self._lock = threading.Lock()
        self._day = dt.datetime.now(dt.UTC).date()
        self._spent: dict[str, int] = {}

    def _today(self) -> None:
        today = dt.datetime.now(dt.UTC).date()
        if today != self._day:
            self._day, self._spent = today, {}

    def check_request(self, text: str, tasks: int) -> None:
        limit = self.budget.request_tokens
        if limit and (needed := estimate(text, tasks)) > limit:
            raise Problem(
                413,
                f"this analysis would use about {needed:,} tokens; one request may use {limit:,}: send a"
                " shorter article or fewer tasks, or a batch job",
                kind="over-request-budget",
            )

    def check_key(self, owner: str) -> None:
        limit = self.budget.key_tokens_per_day
        with self._lock:
            self._today()
            spent = self._spent.get(owner, 0)
        if limit and spent >= limit:
            now = dt.datetime.now(dt.UTC)
            midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
            wait = max(int((midnight - now).total_seconds()), 1)
            raise Problem(
                429,
                f"this key has used its {limit:,} tokens for today (UTC); retry in {wait} s",
                kind="over-key-budget",
                headers={"Retry-After": str(wait)},
            )

    def spend(self, owner: str, tokens: int) -> None:
        with self._lock:
            self._today()
            self._spent[owner] = self._spent.get(owner, 0) + tokens

    def over(self, owner: str) -> bool:
        limit = self.budget.key_tokens_per_day
        with self._lock:
            self._today()
            return bool(limit) and self._spent.get(owner, 0) >= limit


def prune_cache(path: Path, keep_days: float) -> int:
    """Remove response-cache entries older than `keep_days`; how many."""
    if not keep_days or not path.exists():
        return 0
    cutoff = time.time() - keep_days * 86400
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("DELETE FROM responses WHERE created < ?", (cutoff,)).rowcount
    except sqlite3.Error as exc:  # another process holds it, or it is not a cache: try next time
        log.warning("cannot prune the response cache %s: %s", path, exc)
        return 0


def remove_tree(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
