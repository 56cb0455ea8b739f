"""Running a batch to its end under Ctrl-C: the first SIGINT cancels the work and lets it unwind. Shared by
the runner and the OpenAI Batch API path."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..pipeline.summarizer import Summarizer

T = TypeVar("T")


def run_to_end(summarizer: Summarizer, work: Coroutine[Any, Any, T]) -> T:
    """`summarizer.run_sync(work)`, except that an interrupt (Ctrl-C, SIGTERM) cancels the work and lets it
    end before the interrupt goes on: every article stops, the files close, and nothing is left suspended
    on the loop to be torn down later by the garbage collector (with tracebacks, or worse, a late write).

    While it runs, the first SIGINT cancels the work instead of raising KeyboardInterrupt wherever the
    main thread happens to be (as `asyncio.Runner` does): raised inside a `__del__` (the `regex` module
    has some, met while dateparser compiles), a KeyboardInterrupt is printed as "Exception ignored" and
    lost, and the batch ran on to the end. A second SIGINT raises as usual."""
    running: list[asyncio.Task[T]] = []
    loops: list[asyncio.AbstractEventLoop] = []
    signals = 0

    async def main() -> T:
        loops.append(asyncio.get_running_loop())
        task = asyncio.ensure_future(work)
        running.append(task)
        return await task

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal signals
        signals += 1
        if signals == 1 and running and not running[0].done():
            running[0].cancel()
            loops[0].call_soon_threadsafe(lambda: None)  # wake the loop if it is waiting on I/O
            return
        raise KeyboardInterrupt

    ours = threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    previous = signal.signal(signal.SIGINT, on_sigint) if ours else None
    try:
        return summarizer.run_sync(main())
    except asyncio.CancelledError:
        if signals:
            raise KeyboardInterrupt from None
        raise
    except KeyboardInterrupt:
        if running and not running[0].done():
            running[0].cancel()
            with contextlib.suppress(BaseException):  # a second Ctrl-C: stop waiting
                summarizer.run_sync(asyncio.wait(running))
        raise
    finally:
        if ours:
            signal.signal(signal.SIGINT, previous)
