"""What stopped `/healthz` under load, and what keeps the server's loop answering now.

Measured on `bench/load_service.py` (bench/README.md) with py-spy and gc callbacks in the server: the loop
was not busy (it held the GIL in 7% of the samples); the whole process was stopped. Checking the hostile
client's batch body (1 MB, 50,000 articles, each parsed, hashed and kept until counted: 0.6 s of CPU) in
`asyncio.to_thread` took half of all GIL time, the engine thread's pipeline the other half; and their
allocations set off the cyclic garbage collector's full collections, which stop every thread: 103 pauses
over 5 ms, 11.8 s of a 60 s run, the longest 381 ms. A thread cannot help there. So:

- bodies of `LARGE` bytes or more are parsed in worker processes (their CPU, heap and collections are
  their own); smaller ones cost a few milliseconds and stay in a thread, so a 3 kB analysis does not queue
  behind someone's 1 MB body. Workers are spawned, not forked (the server has threads), on the first large
  body, and ignore Ctrl-C: the server stops them;
- once started, the server freezes what start-up built (200,000 objects: modules, the app, the client)
  out of every later collection, and collects the young generations less often, so that the objects of an
  analysis in flight mostly die before they reach the oldest generation;
- and it hands the GIL over every 1 ms instead of 5: the loop's thread, woken by a socket, waits for it
  while the engine thread computes (p99 45 and 42 ms against 73 and 49 ms in two paired runs).

`mode="thread"` is the code before, kept to compare (`SUMMARIZER_SERVE_OFFLOAD=thread`;
`bench/load_service.py --offload process,thread` runs both).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from .problems import Problem

T = TypeVar("T")
log = logging.getLogger("summarizer.service")
LARGE = 64_000  # bytes: below, the work takes a few milliseconds
THRESHOLDS = (10_000, 50, 10)  # the collector's, while the server runs (measured in bench/README.md)
SWITCH_INTERVAL = 0.001  # seconds a thread holds the GIL while another waits (Python's default: 0.005)


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
        self._switch = 0.005

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
            # The loop's thread needs the GIL back after every socket call while the engine thread
            # computes; it waits up to the switch interval each time (5 ms by default).
            self._switch = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL)

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
            sys.setswitchinterval(self._switch)
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
