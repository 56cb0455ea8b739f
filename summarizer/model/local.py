"""The embedded model: SmolLM2-135M-Instruct served by llama.cpp's own server (`engine.py`) in a child.

The server runs as a child process on a free loopback port. It is stopped when the context exits, also on
Ctrl-C and on errors, and on Linux the kernel kills it if we are killed outright (PR_SET_PDEATHSIG), so no
process is ever left behind. If it dies on its own (a signal, out of memory), `crash()` names how, so
that a user reads "the embedded model crashed: SIGILL (illegal instruction)", not "Connection error".

Start-up can take long on a cold machine (the first read of the 93 MB model file), and it usually runs in a
worker thread (`asyncio.to_thread`), which an interrupt cannot reach. So `stop()` may be called from any
thread at any moment: it sets a flag that `start()` checks between short readiness polls, and it kills the
child itself (SIGTERM, then SIGKILL after a short grace), so the whole thing ends within about a second.
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures
import contextlib
import http.client
import importlib.util
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..core.errors import ConfigError, LocalModelError
from . import engine
from .weights import engine_model

CONTEXT_TOKENS = engine.CONTEXT_TOKENS  # each slot's context
INSTALL_HINT = "install the embedded engine with: pip install 'summarizer[local]'"
SLOTS_ENV = "SUMMARIZER_ENGINE_SLOTS"
THREADS_ENV = "SUMMARIZER_ENGINE_THREADS"
DRAFTS_ENV = "SUMMARIZER_ENGINE_DRAFTS"  # engine.SPECULATIVE: "none" (the default) or "ngram"
DECODE_THREADS_ENV = "SUMMARIZER_ENGINE_DECODE_THREADS"
# Readiness is polled this often; it is also how long a stop() waits at most for start() to notice.
POLL_SECONDS = 0.05
# Time the server gets to exit on SIGTERM before SIGKILL: nothing it would save is worth a wait.
STOP_GRACE_SECONDS = 0.5
# What a death by each signal most likely means, and what to try.
CRASH_HINTS = {
    signal.SIGILL: "this CPU lacks an instruction the engine uses: run with --base-url and --model against "
    "another OpenAI-compatible server, and report `python -c 'import xllamacpp; "
    "print(xllamacpp.get_system_info())'` with /proc/cpuinfo's flags",
    signal.SIGKILL: "killed from outside, most often by the kernel when memory ran out: close other "
    f"programs or lower {SLOTS_ENV}",
    signal.SIGSEGV: "a fault in the engine: run again, and report it if it repeats",
    signal.SIGBUS: "the model file may have changed or be on a failing disk: run again",
}


@dataclass(frozen=True)
class EnginePlan:
    """How the engine is started: slots (requests at once) and CPU threads, and why."""

    slots: int
    threads: int
    ctx_per_slot: int = CONTEXT_TOKENS
    flash_attn: str = "auto"  # engine.FLASH_ATTN: what bench_engine.py compares
    decode_threads: int = engine.DECODE_THREADS  # at most `threads`
    speculative: str = "none"  # engine.SPECULATIVE


def _positive(env: dict[str, str] | os._Environ[str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def plan_engine(
    env: dict[str, str] | os._Environ[str] | None = None,
    cores: int | None = None,
    memory_bytes: int | None = None,
    busy: float | None = None,
) -> EnginePlan:
    """Slots and threads from the machine, each overridable by its variable.

    Threads: the cores this process may run on that other work leaves free (`busy_cores`, measured at
    start), at least one. The engine's threads wait for each other at every step, so a thread on a core
    another process holds slows all of them: on 2 cores with one busy, 1 thread evaluated and decoded
    faster than 2; on idle cores, 2 took the seed in 16.2 s against 21 s (bench/README.md).

    Slots: 3, so that a batch's articles share the engine (continuous batching decodes the slots' tokens in
    one pass; an article's own tasks go in order, see pipeline.py); fewer if memory is short, at about
    0.5 GB a slot (its 8,192-token KV cache, buffers) beside 1 GB for the process.
    """
    env = os.environ if env is None else env
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    slots = engine_slots(env, memory_bytes)
    if (threads := _positive(env, THREADS_ENV)) is None:
        threads = max(1, min(cores, math.ceil(cores - (busy_cores() if busy is None else busy))))
    drafts = env.get(DRAFTS_ENV, "").strip().lower() or "none"
    if drafts not in engine.SPECULATIVE:
        raise ConfigError(f"{DRAFTS_ENV} must be one of {', '.join(engine.SPECULATIVE)}, not {drafts!r}")
    decode = _positive(env, DECODE_THREADS_ENV) or EnginePlan.decode_threads
    return EnginePlan(slots=slots, threads=threads, speculative=drafts, decode_threads=decode)


def engine_slots(
    env: dict[str, str] | os._Environ[str] | None = None, memory_bytes: int | None = None
) -> int:
    """`plan_engine`'s slots alone: what a caller needs before the engine starts (how many requests to
    send at once), without the 0.2 s that measuring the busy cores takes."""
    env = os.environ if env is None else env
    if memory_bytes is None:
        try:
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            memory_bytes = 4 << 30
    by_memory = max(1, int((memory_bytes / 2**30 - 1) / 0.5))
    return _positive(env, SLOTS_ENV) or min(3, by_memory)


def _proc_stat() -> str:
    return Path("/proc/stat").read_text(encoding="ascii")


def busy_cores(
    interval: float = 0.2,
    read_stat: Callable[[], str] = _proc_stat,
    own_cpu: Callable[[], float] = time.process_time,
    clock: Callable[[], float] = time.monotonic,
) -> float:
    """How many cores other work keeps busy now: the machine's CPU time that was not idle over `interval`
    (`/proc/stat`), less this process's own. Not the 1-minute load average, which lags: a run just
    ended still counted as a busy core, and the next run took 1 thread (the seed in 21 s instead of 16 s).
    Where there is no /proc/stat, the load average is all there is."""

    def sample() -> tuple[int, int]:
        ticks = [int(n) for n in read_stat().split("\n", 1)[0].split()[1:9]]
        return sum(ticks), ticks[3] + ticks[4]  # all of user..steal; idle + iowait

    try:
        total, idle = sample()
        own, began = own_cpu(), clock()
        time.sleep(interval)
        total2, idle2 = sample()
        own, spent = own_cpu() - own, clock() - began
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except OSError:
            return 0.0
    if total2 <= total:
        return 0.0
    # Less this process's own work (its other threads: the client is made while the engine starts).
    busy = (os.cpu_count() or 1) * (1 - (idle2 - idle) / (total2 - total)) - own / max(spent, 1e-3)
    return max(0.0, busy)


def engine_environment(env: dict[str, str] | os._Environ[str] | None = None) -> dict[str, str]:
    """The engine's environment: ours, with OpenMP's waits bounded unless it says otherwise
    (`engine.openmp_environment`: spinning for milliseconds starves a working thread on a busy machine,
    sleeping at once makes every step pay a wake-up)."""
    return engine.openmp_environment(os.environ if env is None else env)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to kill it when its parent dies (Linux only).

    Linux counts the parent *thread*: `start()` should be called from a thread that lives as long as the
    server (the main thread, or a pool's worker, which lives until the pool shuts down)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


# Every server started and not yet stopped, for `kill_all` (the CLI's last resort on an interrupt).
_servers: weakref.WeakSet[LocalServer] = weakref.WeakSet()


def kill_all() -> None:
    """SIGKILL every embedded server of this process, without waiting: for a process about to exit now."""
    for server in list(_servers):
        process = server.process
        if process is not None:
            with contextlib.suppress(OSError):
                process.kill()


class ServerStopped(LocalModelError):
    """`stop()` was called while the server was starting (an interrupt, or the owner closing)."""


def describe_exit(returncode: int) -> str:
    """`SIGILL (illegal instruction)` for a death by signal, `exit status 3` otherwise."""
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
        except ValueError:
            return f"signal {-returncode}"
        return f"{sig.name} ({(signal.strsignal(sig) or sig.name).lower()})"
    return f"exit status {returncode}"


def _hint(returncode: int) -> str | None:
    return CRASH_HINTS.get(signal.Signals(-returncode)) if -returncode in signal.valid_signals() else None


class LocalServer:
    """A running engine. Use as a context manager, or call `start()` and `stop()`."""

    def __init__(
        self,
        *,
        port: int | None = None,
        plan: EnginePlan | None = None,  # planned from the machine when it starts
        startup_timeout: float = 120.0,
    ):
        self.port = port or free_port()
        # Planned in start(): measuring the busy cores takes 0.2 s, which a caller may spend on other work.
        self.plan = plan
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None  # how the process ended, once it has
        # The engine's log, its last lines only: shown if it fails, never growing with the server's life.
        self._log: collections.deque[str] = collections.deque(maxlen=40)
        # Set by stop() for good: a start() that has not spawned yet must not spawn a server nobody stops.
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # process creation vs. stop(), which may run in another thread

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LocalServer:
        # Found, not imported: importing it would load the native library in this process.
        if importlib.util.find_spec("xllamacpp") is None:
            raise LocalModelError(f"the embedded engine (xllamacpp) is not installed: {INSTALL_HINT}")
        if missing := engine.missing_cpu_features():
            raise LocalModelError(
                f"this CPU lacks {', '.join(missing)}, which the embedded engine needs: use --base-url and "
                "--model with another OpenAI-compatible server"
            )
        command = self._command()
        with self._lock:
            if self._stopping.is_set():
                raise ServerStopped("the embedded model server was stopped before it started")
            self.process = subprocess.Popen(
                command,
                env=engine_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Its own process group: a terminal's Ctrl-C reaches only us, and we stop it in order.
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
            process = self.process
            _servers.add(self)
        threading.Thread(target=self._drain, args=(process.stdout,), daemon=True).start()
        try:
            self._wait_ready(process)
        except BaseException:
            self.stop()
            raise
        return self

    def _command(self) -> list[str]:
        plan = self.plan = self.plan or plan_engine()
        return [
            sys.executable, "-m", "summarizer.model.engine",
            "--model", str(engine_model(notice=lambda m: print(m, file=sys.stderr))),
            "--port", str(self.port),
            "--slots", str(plan.slots),
            "--threads", str(plan.threads),
            "--ctx-per-slot", str(plan.ctx_per_slot),
            "--flash-attn", plan.flash_attn,
            "--decode-threads", str(min(plan.decode_threads, plan.threads)),
            "--speculative", plan.speculative,
        ]  # fmt: skip

    def _drain(self, pipe: IO[bytes] | None) -> None:
        """Read the engine's log as it comes (a full pipe would block it), keeping the last lines."""
        if pipe is None:
            return
        with contextlib.suppress(OSError, ValueError):
            for raw in pipe:
                self._log.append(raw.decode("utf-8", "replace").rstrip())

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._stopping.is_set():
                raise ServerStopped("the embedded model server was stopped while starting")
            if (code := process.poll()) is not None:
                self.returncode = code
                hint = _hint(code)
                raise LocalModelError(
                    f"the embedded model server exited at start-up ({describe_exit(code)})"
                    + (f"; {hint}" if hint else "")
                    + f": {self._log_tail()}"
                )
            if self._healthy():
                return
            self._stopping.wait(POLL_SECONDS)
        raise LocalModelError(f"the embedded model server did not answer within {self.startup_timeout:.0f} s")

    def _healthy(self) -> bool:
        """GET /health on loopback, directly: no proxy from the environment applies (urllib's would)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            connection.request("GET", "/health")
            return connection.getresponse().status == 200  # 503 while the model loads
        except (OSError, http.client.HTTPException):
            return False  # refused until it listens; the timeout bounds one that accepts and hangs
        finally:
            connection.close()

    def _log_tail(self) -> str:
        return " | ".join(line for line in list(self._log)[-3:] if line)

    def crash(self, wait: float = 0.5) -> str | None:
        """If the engine has died on its own: one line saying how, and what to try. Else None.

        Asked after a failed request: the connection drops while the process is still exiting, so it is
        given `wait` seconds to finish dying before it counts as alive."""
        process = self.process
        code = self.returncode
        if process is not None and code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = process.wait(timeout=wait)
        if code is None or self._stopping.is_set():
            return None
        self.returncode = code
        hint = _hint(code)
        return f"the embedded model crashed: {describe_exit(code)}" + (f"; {hint}" if hint else "")

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop the server, or a start() in progress in another thread. Safe to call more than once."""
        self._stopping.set()
        with self._lock:
            process, self.process = self.process, None
        try:
            if process is not None and process.poll() is None and grace > 0:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=grace)
        finally:  # also when a second Ctrl-C lands in the wait above
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
            _servers.discard(self)
            if process is not None and process.stdout is not None:
                process.stdout.close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- started early ----------------------------------------------------------------------------------

_early: tuple[LocalServer, concurrent.futures.Future[LocalServer]] | None = None


def start_early() -> None:
    """Start the embedded engine now, in a thread, for a command that is about to use it: `summarize`
    calls this before its imports, so that the model loads (its own process, another core) while they
    run, about a second of the seed's ten. The `Connection` takes it (`take_early`); if nothing does,
    it is stopped at exit."""
    global _early
    if _early is not None:
        return
    server = LocalServer()
    started: concurrent.futures.Future[LocalServer] = concurrent.futures.Future()

    def run() -> None:
        try:
            started.set_result(server.start())
        except BaseException as exc:  # handed to whoever takes it, raised there
            started.set_exception(exc)
            return
        # PR_SET_PDEATHSIG fires when the thread that spawned the engine ends, not the process: this one
        # lives as long as the engine.
        server._stopping.wait()

    _early = (server, started)
    threading.Thread(target=run, name="engine-start", daemon=True).start()
    atexit.register(_stop_untaken)


def take_early() -> tuple[LocalServer, concurrent.futures.Future[LocalServer]] | None:
    """The engine `start_early` began, once: the taker owns it (and stops it)."""
    global _early
    early, _early = _early, None
    return early


def _stop_untaken() -> None:
    if (early := take_early()) is not None:
        early[0].stop(grace=0)  # it served nothing: no need to let it finish anything
