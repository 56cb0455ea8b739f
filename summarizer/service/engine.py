"""The engine loop: the summarizer's work runs on an event loop of its own, in a thread of its own.

Segmenting, grounding, HTML extraction, the response cache's SQLite and the batch code's file writes are
CPU-bound or blocking, and they run inside `Summarizer.asummarize` and `run_batch`, between awaits. On the
server's loop, one large article would stall every other request, `/healthz` included. Here the server's
loop only parses requests and awaits the engine's futures; Python's thread switching (every 5 ms by
default) keeps it answering while the engine thread computes. A thread does not help against what stops
the whole process (a long parse's allocations and the collections they set off): offload.py.

Everything the summarizer owns (its HTTP client, its semaphore, the embedded server) is created, used and
closed on the engine loop only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Engine:
    def __init__(self, name: str = "summarizer-engine"):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._started = False

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        # Stopped: let what was cancelled unwind, then close.
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        if pending:
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def start(self) -> None:
        if not self._started:
            self._thread.start()
            self._started = True

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, work: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start `work` on the engine loop; the future is the thread-safe handle to it."""
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Await `work` run on the engine loop. Cancelling the caller cancels the work there too."""
        future = self.submit(work)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()  # cancels the engine's task; it unwinds there
            raise

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """A plain function, on the engine thread (for code that must run where the summarizer lives)."""

        async def wrapper() -> T:
            return fn(*args)

        return await self.run(wrapper())

    def stop(self, timeout: float = 10.0) -> None:
        if self._started and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
