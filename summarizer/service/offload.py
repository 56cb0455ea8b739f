"""Large request bodies are checked in worker processes, not in the server's.

Measured with py-spy and gc callbacks on `bench/load_service.py` (bench/README.md): what kept `/healthz`
waiting was not the event loop's own work but the whole process stopping. Checking a 2 MB batch body (50,000
articles, each parsed, hashed and kept until counted) held the GIL for 0.6 s in a thread, and its
allocations set off the cyclic garbage collector's full collections: 100-400 ms each, every thread stopped,
the loop included (103 pauses over 5 ms, 11.8 s of a 60 s run). A thread does not help there; a process
does: its CPU, its heap and its collections are its own.

Bodies over `LARGE` bytes go to the pool; smaller ones cost a few milliseconds and stay in a thread (a
polite 3 kB analysis should not queue behind someone's 2 MB body). The workers are spawned, not forked
(the server has threads: the engine, the embedded model's), and ignore Ctrl-C: the server stops them.

`mode="thread"` keeps everything in the server's threads, as before (`SUMMARIZER_SERVE_OFFLOAD=thread`):
for the load bench's before/after in one run.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from .problems import Problem

T = TypeVar("T")
log = logging.getLogger("summarizer.service")
LARGE = 64_000  # bytes: below, the work takes a few milliseconds
THRESHOLDS = (10_000, 50, 10)  # the collector's, while the server runs (measured in bench/README.md)


def default_mode() -> str:
    return os.environ.get("SUMMARIZER_SERVE_OFFLOAD", "process")


def _worker_start() -> None:
    # Ctrl-C reaches the whole process group; the server shuts its pool down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Offload:
    def __init__(self, mode: str = "process", workers: int = 2):
        if mode not in ("process", "thread"):
            raise ValueError(f"offload mode {mode!r}: process or thread")
        self.mode, self.workers = mode, workers
        self._pool: ProcessPoolExecutor | None = None
        self._thresholds: tuple[int, ...] | None = None  # Python's, while ours are set

    def start(self) -> None:
        if self.mode == "process":
            # What start-up built lives as long as the server: out of every later full collection.
            gc.collect()
            gc.freeze()
            # An analysis in flight lives for hundreds of milliseconds: at Python's thresholds (700, 10,
            # 10) its objects reach the oldest generation and set off a full collection every few
            # seconds. Collected younger and less often, most die before that.
            self._thresholds = gc.get_threshold()
            gc.set_threshold(*THRESHOLDS)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start
        )

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._thresholds is not None:
            gc.unfreeze()  # an app stopped inside a longer-lived process (tests) is collected again
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    async def run(self, size: int, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` off the server's loop: in a worker process when the input is `size` >= LARGE
        bytes (and the mode is process), else in a thread. `fn` and its arguments must pickle."""
        if self.mode == "thread" or size < LARGE:
            return await asyncio.to_thread(fn, *args)
        if self._pool is None:
            # On the first large body, not at start: a server (or a test) that never gets one spawns
            # nothing. Spawning costs the caller; the workers' imports (a second or so) are their own.
            self._pool = self._new_pool()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): this request fails, the next gets a new pool.
            log.error("a worker process stopped while checking a request body; starting new ones")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            raise Problem(
                503, "the server's worker stopped while reading this body", kind="unavailable"
            ) from None
