"""The command's interrupt handling, installed by `entry.main` before the heavy imports.

Ctrl-C (SIGINT) or SIGTERM at any moment ends the command within 2 s with exit code 130, one line on stderr,
no traceback and no process left:

- The handlers are in place before the CLI's imports (about a second of pydantic, openai, rich...), and an
  interrupt during those imports is an ordinary interrupted exit, not a traceback from inside an import.
- SIGINT keeps Python's own handler, so that `asyncio.Runner` can install its own while a run is in
  progress: the first Ctrl-C cancels the running task, and its `finally` blocks stop the embedded server.
  SIGTERM is handed to whichever SIGINT handler is current, so both take the same path.
- A watchdog: whatever the orderly path is waiting for (a thread, a server slow to die), the process ends
  EXIT_DEADLINE seconds after the first signal, the embedded servers killed first. It hears the signal
  through `signal.set_wakeup_fd`, which the C-level handler writes to whichever Python handler is
  installed, so it needs no handler of its own. (If something else takes the wakeup fd, as
  `loop.add_signal_handler` does, only the watchdog is lost; the orderly path still works.)
- A KeyboardInterrupt raised inside a `__del__` (the `regex` module has some; dateparser compiles with it)
  is lost there and printed as "Exception ignored": it is delivered to the main thread again instead.
- Once interrupted, the user has asked us to stop: an error from the work being torn down, and asyncio's
  complaints about abandoned work ("... exception was never retrieved"), are not shown as tracebacks.

This module imports only the standard library and `local` (which does too), so it loads in milliseconds.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

from ..model import local

EXIT_CODE = 130
# The watchdog's limit, counted from the first signal: under the 2 s promised, with room for the exit.
EXIT_DEADLINE = 1.5
_deadline: float | None = EXIT_DEADLINE

_announce_lock = threading.Lock()
_announced = False
_first_signal: str | None = None
_interrupted = threading.Event()
# What asyncio logs about work an interrupt abandoned (a to_thread future finishing after its task stopped
# listening, a task never finished): true, but noise once the user has asked to stop.
_ABANDONED = (
    "Future exception was never retrieved",
    "Task exception was never retrieved",
    "Task was destroyed",
)


def _quiet_after_interrupt(record: logging.LogRecord) -> bool:
    if not str(record.msg).startswith(_ABANDONED):
        return True
    # A server start-up cut short by stop() is always a shutdown's doing: this one needs no signal seen
    # yet (the watchdog thread may not have run when the abandoned future is collected).
    stopped = record.exc_info is not None and isinstance(record.exc_info[1], local.ServerStopped)
    return not (stopped or _interrupted.is_set())


def announce() -> None:
    """Print the one line an interrupt gets, once (the orderly path and the watchdog may both try)."""
    global _announced
    with _announce_lock:
        if _announced:
            return
        _announced = True
    # os.write, not sys.stderr: the main thread may hold the stream's lock at the moment we are called.
    with contextlib.suppress(OSError):
        os.write(2, f"interrupted ({_first_signal or 'SIGINT'}): stopped\n".encode())


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _first_signal
    _first_signal = _first_signal or "SIGTERM"
    _interrupted.set()
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):  # Python's default (raises KeyboardInterrupt) or asyncio.Runner's (cancels)
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


def _force_exit() -> NoReturn:
    announce()
    local.kill_all()
    os._exit(EXIT_CODE)


def _watch(read_fd: int) -> None:
    """Daemon thread: on the first SIGINT or SIGTERM, give the orderly exit EXIT_DEADLINE seconds."""
    global _first_signal
    wanted = {int(signal.SIGINT), int(signal.SIGTERM)}
    while True:
        try:
            data = os.read(read_fd, 64)
        except OSError:
            return
        if not data:
            return
        for number in data:
            if number in wanted:
                if _first_signal is None and number == signal.SIGTERM:
                    _first_signal = "SIGTERM"
                _interrupted.set()
                if _deadline is None:
                    return
                time.sleep(_deadline)
                _force_exit()


def _unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    lost_interrupt = unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt)
    if lost_interrupt and hasattr(signal, "pthread_kill"):  # POSIX
        _interrupted.set()
        # As if the signal came again a moment later, when this hook has returned (raised in here, it
        # would be ignored again); sent to the main thread, so that a sleep or a select there wakes up.
        main_thread = threading.main_thread().ident or 0
        again = threading.Timer(0.05, signal.pthread_kill, (main_thread, signal.SIGINT))
        again.daemon = True
        again.start()
        return
    sys.__unraisablehook__(unraisable)


def set_exit_deadline(seconds: float | None) -> None:
    """For a command whose orderly shutdown may rightly take longer (a server draining its requests):
    another limit, or None for none. Call it before the signal arrives."""
    global _deadline
    _deadline = seconds


def install() -> None:
    """Set up the handlers and the watchdog (from the main thread, before anything slow)."""
    # (A SIGINT ignored from the start, as for `cmd &` in a script, stays ignored: Python leaves it so.)
    signal.signal(signal.SIGTERM, _on_sigterm)
    logging.getLogger("asyncio").addFilter(_quiet_after_interrupt)
    sys.unraisablehook = _unraisable
    with contextlib.suppress(ValueError, OSError, AttributeError):  # not on every platform
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        threading.Thread(target=_watch, args=(read_fd,), name="interrupt-watchdog", daemon=True).start()


def run(app: Callable[[], object]) -> NoReturn:
    """Run the typer app; an interrupt anywhere in it ends in the one line and exit code 130. Any other
    end leaves with the app's exit code, without the interpreter's teardown (`leave`)."""
    try:
        app()
    except KeyboardInterrupt:
        pass
    except SystemExit as exc:
        # typer turns a KeyboardInterrupt into exit code 130 itself, silently. Work cut short by an
        # interrupt may also end in an error of its own (a cancelled request): the exit is still 130.
        if exc.code in (0, None) or (exc.code != EXIT_CODE and not _interrupted.is_set()):
            if isinstance(exc.code, str):  # sys.exit("message"): Python's own exit prints it, code 1
                sys.stderr.write(exc.code + "\n")
            leave(exc.code if isinstance(exc.code, int) else 1 if exc.code else 0)
    except Exception:
        # An error raised while an interrupt unwinds the work replaces the KeyboardInterrupt: still ours.
        if not _interrupted.is_set():
            raise
    else:
        leave(0)
    _interrupted_exit()


def leave(code: int, *, join: bool = True) -> NoReturn:
    """Exit with `code` once the orderly part is done (servers stopped and files closed by their `with`
    blocks): other threads joined (unless `join` is False), the exit handlers run (logging's flush, an
    untaken engine's kill), the streams flushed, and then without the interpreter tearing down every
    module: about 1,800 of them after a `summarize`, 0.45 s on an idle 2-core machine, 0.8 s on a busy one,
    that nobody waits for usefully."""
    for thread in threading.enumerate() if join else ():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _interrupted_exit() -> NoReturn:
    _interrupted.set()
    # A second Ctrl-C now would only print a traceback from the exit itself.
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    announce()
    local.kill_all()  # should the orderly path have missed one (the kernel would, at our exit, on Linux)
    # Without the teardown, where even the watchdog cannot act (daemon threads are frozen then): the exit
    # handlers run while it still watches. No thread is waited for: the user asked us to stop.
    leave(EXIT_CODE, join=False)
