"""The embedded model server: stopping it at any moment, and the CLI's interrupts.

The tests marked `live` run the embedded model for real (the `local` extra). CI runs them twice: first,
before anything else has read the model file (a cold start, when loading it can take long), then warm
with the whole suite. They give the model work generous timeouts, but assert the interrupt latency on its
own: from the signal to the process's exit, at most EXIT_LIMIT seconds.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import openai
import pytest

from bench.bench_interrupt import HANG_SECONDS, Outcome, as_foreground, interrupt_run
from summarizer import local
from summarizer.local import STOP_GRACE_SECONDS, LocalServer, ServerStopped, model_path
from summarizer.settings import EMBEDDED_MODEL

pytestmark = [
    pytest.mark.block_network(allowed_hosts=["127.0.0.1"]),
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc"),
]
EXIT_LIMIT = 2.0

# A stand-in for llama.cpp's server: answers GET /v1/models on the port it is given, and ignores SIGTERM
# (as uvicorn in effect does while a generation runs), so that only SIGKILL ends it.
STUBBORN_SERVER = """
import http.server, signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
class Models(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{"data": []}')
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Models).serve_forever()
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited


def _with_command(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    def command(self: LocalServer) -> list[str]:
        return [sys.executable, "-c", *args, str(self.port)]

    monkeypatch.setattr(LocalServer, "_command", command)


# --- stopping the server: no model needed ---------------------------------------------------------------


def test_stop_from_another_thread_ends_a_start_that_would_wait_long(monkeypatch: pytest.MonkeyPatch) -> None:
    # A cold first load can take a minute; an interrupt must not wait for it. This server never gets ready.
    _with_command(monkeypatch, "import time; time.sleep(120)")
    server = LocalServer(startup_timeout=120)
    raised: list[BaseException] = []

    def start() -> None:
        try:
            server.start()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=start)
    thread.start()
    deadline = time.monotonic() + 10
    while server.process is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.process is not None
    pid = server.process.pid
    began = time.monotonic()
    server.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - began < 1.0
    assert len(raised) == 1 and isinstance(raised[0], ServerStopped)
    assert not _alive(pid)


def test_a_start_after_stop_spawns_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_command(monkeypatch, "import time; time.sleep(120)")
    server = LocalServer()
    server.stop()
    with pytest.raises(ServerStopped):
        server.start()
    assert server.process is None


def test_a_server_that_ignores_sigterm_is_killed_after_the_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_command(monkeypatch, STUBBORN_SERVER)
    server = LocalServer(startup_timeout=30).start()
    assert server.process is not None
    pid = server.process.pid
    began = time.monotonic()
    server.stop()
    took = time.monotonic() - began
    assert not _alive(pid)
    assert STOP_GRACE_SECONDS <= took < STOP_GRACE_SECONDS + 1.0


def test_kill_all_kills_every_running_server_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_command(monkeypatch, STUBBORN_SERVER)
    servers = [LocalServer(startup_timeout=30).start() for _ in range(2)]
    processes = [s.process for s in servers]
    assert all(p is not None for p in processes)
    local.kill_all()
    for p in processes:
        assert p is not None
        p.wait(timeout=2)  # SIGKILL: no grace, no wait
        assert p.returncode == -signal.SIGKILL
    for s in servers:
        s.stop()


# --- the real model -------------------------------------------------------------------------------------


@pytest.mark.live
def test_model_ships_in_the_wheel() -> None:
    assert model_path().suffix == ".gguf" and model_path().stat().st_size > 50_000_000


@pytest.mark.live
def test_server_answers_one_request_and_is_gone_afterwards() -> None:
    with LocalServer() as server:
        assert server.process is not None
        pid = server.process.pid
        client = openai.OpenAI(base_url=server.base_url, api_key="not-needed", max_retries=0)
        reply = client.chat.completions.create(
            model=EMBEDDED_MODEL,
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=8,
            temperature=0,
        )
        assert reply.choices[0].message.content
        assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert not _alive(pid)


def _assert_clean_interrupt(outcome: Outcome) -> None:
    assert outcome.exit_seconds is not None, (
        f"still running {HANG_SECONDS:.0f} s after the signal: {outcome.stderr[-800:]}"
    )
    assert outcome.returncode == 130, outcome.stderr[-800:]
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.stderr.strip().splitlines()[-1].startswith("interrupted (SIG")
    assert not outcome.left, f"processes left behind: {outcome.left}"
    assert outcome.exit_seconds <= EXIT_LIMIT, f"exited {outcome.exit_seconds:.2f} s after the signal"


@pytest.mark.live
@pytest.mark.parametrize("delay", [0.5, 1.0, 2.0])
def test_sigint_soon_after_start_ends_the_command_cleanly(delay: float) -> None:
    # Lands in the imports, the server's start-up or the first call, depending on the machine's speed.
    _assert_clean_interrupt(interrupt_run(delay))


@pytest.mark.live
@pytest.mark.parametrize("delay", [0.0, 0.5])
def test_sigint_while_the_model_loads_ends_the_command_cleanly(delay: float) -> None:
    # The model file is dropped from the page cache first, so the load is as slow as on a first run.
    outcome = interrupt_run(delay, after_server=True, cold=True)
    assert outcome.server_seen, outcome.stderr[-800:]
    _assert_clean_interrupt(outcome)


@pytest.mark.live
def test_sigterm_during_the_model_calls_ends_the_command_cleanly() -> None:
    outcome = interrupt_run(3.0, after_server=True, signum=signal.SIGTERM)
    assert outcome.server_seen, outcome.stderr[-800:]
    _assert_clean_interrupt(outcome)
    assert "interrupted (SIGTERM)" in outcome.stderr


@pytest.mark.live
def test_ctrl_c_during_a_run_stops_the_server() -> None:
    outcome = interrupt_run(3.0, after_server=True)
    assert outcome.server_seen, outcome.stderr[-800:]
    _assert_clean_interrupt(outcome)


@pytest.mark.system
def test_the_cli_without_a_signal_is_unaffected_by_the_handlers() -> None:
    # The handlers and the watchdog are installed for every command: an ordinary one still exits 0.
    done = subprocess.run(
        [sys.executable, "-m", "summarizer", "schema"], capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0 and done.stdout.startswith(b"{") and not done.stderr


def _interrupt(command: list[str], signum: int, after: float) -> tuple[float, int, str]:
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=as_foreground,
    )
    time.sleep(after)
    sent = time.monotonic()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    return time.monotonic() - sent, process.returncode, stderr.decode()


@pytest.mark.system
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_reading_stdin_is_one_line_and_exit_130(signum: int) -> None:
    # Reading an article from a pipe that never ends: no model, no server, just the CLI's handling.
    took, code, stderr = _interrupt([sys.executable, "-m", "summarizer", "summarize", "-"], signum, 4.0)
    assert code == 130, stderr
    assert stderr == f"interrupted ({signal.Signals(signum).name}): stopped\n"
    assert took <= EXIT_LIMIT


WEDGED = f"""
import sys, time
from summarizer import entry, local
entry.install()
local.LocalServer._command = lambda self: [sys.executable, "-c", {STUBBORN_SERVER!r}, str(self.port)]
server = local.LocalServer(startup_timeout=30).start()
print(server.process.pid, file=sys.stderr, flush=True)

def wedged():  # an orderly exit that never comes: every interrupt swallowed
    while True:
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            pass

entry.run(wedged)
"""


@pytest.mark.system
def test_the_watchdog_ends_a_wedged_command_and_kills_its_server() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", WEDGED],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=as_foreground,
    )
    assert process.stderr is not None
    server_pid = int(process.stderr.readline())
    time.sleep(0.5)  # into entry.run
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    took = time.monotonic() - sent
    assert process.returncode == 130
    assert process.stderr.read().decode() == "interrupted (SIGINT): stopped\n"
    assert took <= EXIT_LIMIT
    time.sleep(0.2)
    assert not _alive(server_pid)


SWALLOWED = """
import sys, time
from summarizer import entry
entry.install()

class Finalizer:
    def __del__(self):  # as a Ctrl-C landing in a __del__ (the regex module's) would
        raise KeyboardInterrupt

def work():
    Finalizer()
    time.sleep(20)  # without the hook, the interrupt is lost and this runs on

entry.run(work)
"""


@pytest.mark.system
def test_an_interrupt_lost_in_a_finalizer_is_raised_again() -> None:
    began = time.monotonic()
    command = [sys.executable, "-c", SWALLOWED]
    done = subprocess.run(command, capture_output=True, timeout=60, check=False, preexec_fn=as_foreground)
    assert done.returncode == 130
    assert done.stderr.decode() == "interrupted (SIGINT): stopped\n"
    assert time.monotonic() - began < 1.2  # raised again at once, not ended by the watchdog (1.5 s)
