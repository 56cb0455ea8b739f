"""The embedded model server: stopping it at any moment, and the CLI's interrupts.

The tests marked `live` run the embedded model for real (the `local` extra). CI runs them twice: first,
before anything else has read the model file (a cold start, when loading it can take long), then warm
with the whole suite. They give the model work generous timeouts, but assert the interrupt latency on its
own: from the signal to the process's exit, at most EXIT_LIMIT seconds.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from bench.bench_interrupt import HANG_SECONDS, Outcome, as_foreground, crash_engine_run, interrupt_run
from summarizer import Summarizer, local
from summarizer.core.errors import ConfigError, LocalModelError
from summarizer.model.engine import X86_FEATURES, cannot_load, missing_cpu_features
from summarizer.model.local import (
    DRAFTS_ENV,
    SLOTS_ENV,
    STOP_GRACE_SECONDS,
    THREADS_ENV,
    EnginePlan,
    LocalServer,
    ServerStopped,
    busy_cores,
    describe_exit,
    engine_environment,
    plan_engine,
)
from summarizer.model.settings import EMBEDDED_MODEL, resolve_settings
from summarizer.model.weights import model_path

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


# A stand-in for an engine that dies on its first request as one built for another CPU would (SIGILL).
CRASHING_SERVER = """
import http.server, os, signal, sys
class Crash(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{"status": "ok"}')
    def do_POST(self):
        os.kill(os.getpid(), signal.SIGILL)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Crash).serve_forever()
"""


def test_a_crash_mid_request_is_named_with_what_to_try(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_command(monkeypatch, CRASHING_SERVER)
    with pytest.raises(LocalModelError) as caught, Summarizer(notice=lambda _: None) as summarizer:
        pid = None
        try:
            summarizer.summarize("The minister resigned on Monday. Parliament accepted it.")
        finally:
            pid = summarizer._server.process.pid if summarizer._server and summarizer._server.process else pid
    message = str(caught.value)
    assert message.startswith("the embedded model crashed: SIGILL (illegal instruction); this CPU lacks")
    assert "\n" not in message and "Connection error" not in message
    assert caught.value.exit_code == 3
    assert pid is None or not _alive(pid)


def test_an_engine_that_dies_at_start_up_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_command(monkeypatch, "import os, signal; print('loading'); os.kill(os.getpid(), signal.SIGSEGV)")
    with pytest.raises(LocalModelError, match=r"exited at start-up \(SIGSEGV \(segmentation fault\)\)"):
        LocalServer(startup_timeout=30).start()


def test_the_engines_log_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # llama.cpp logs every request: kept in memory, the log must not grow with the server's life.
    _with_command(
        monkeypatch, "import sys; [print('line', i) for i in range(5000)]; " + STUBBORN_SERVER.strip()
    )
    with LocalServer(startup_timeout=30) as server:
        deadline = time.monotonic() + 10
        while "line 4999" not in server._log and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "line 4999" in server._log and len(server._log) <= 40


def test_readiness_ignores_a_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Behind a proxy, urllib sent the loopback probe to the proxy, and start-up failed after 120 s.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    _with_command(monkeypatch, STUBBORN_SERVER)
    began = time.monotonic()
    with LocalServer(startup_timeout=20):
        assert time.monotonic() - began < 10


@pytest.mark.parametrize(
    ("flags", "machine", "missing"),
    [
        ("fpu sse sse2 avx avx2 fma f16c bmi2 avx512f", "x86_64", []),
        ("fpu sse sse2 avx", "x86_64", ["avx2", "fma", "f16c", "bmi2"]),
        ("fp asimd", "aarch64", []),
    ],
)
def test_the_cpu_is_checked_at_run_time(flags: str, machine: str, missing: list[str]) -> None:
    cpuinfo = f"processor\t: 0\nflags\t\t: {flags}\n"
    assert missing_cpu_features(cpuinfo, machine) == missing


def test_a_cpu_without_the_engines_instructions_is_refused_before_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local.engine, "missing_cpu_features", lambda: ["avx2"])
    with pytest.raises(LocalModelError, match="this CPU lacks avx2"):
        LocalServer().start()


def test_a_library_that_does_not_load_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(local.engine, "missing_cpu_features", lambda: [])
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # `import xllamacpp` raises ImportError
    assert local.engine.main(["--model", "m.gguf", "--port", "1"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("the engine's library does not load: ") and err.count("\n") == 1


def test_a_missing_openmp_runtime_says_which_package_brings_it() -> None:
    # What the loader says on a slim image (the wheel links the system's libgomp, python:3.11-slim has none).
    error = "libgomp.so.1: cannot open shared object file: No such file or directory"
    line = cannot_load(error)
    assert error in line and "apt-get install libgomp1" in line and "\n" not in line
    assert "libgomp1" not in cannot_load("xllamacpp.abi3.so: undefined symbol: foo")


def test_the_engines_openmp_threads_spin_briefly_unless_told_otherwise() -> None:
    # Spinning for milliseconds made 2 threads on 2 busy cores 10x slower than 1; sleeping at once made a
    # second decoding thread useless (bench/README.md). A user's own choice is left alone.
    assert engine_environment({}) == {"GOMP_SPINCOUNT": local.engine.SPIN_COUNT}
    assert engine_environment({"OMP_WAIT_POLICY": "PASSIVE"}) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert engine_environment({"GOMP_SPINCOUNT": "0"}) == {"GOMP_SPINCOUNT": "0"}


def test_describe_exit() -> None:
    assert describe_exit(-signal.SIGILL) == "SIGILL (illegal instruction)"
    assert describe_exit(-signal.SIGKILL) == "SIGKILL (killed)"
    assert describe_exit(3) == "exit status 3"


def test_slots_and_threads_follow_the_machine_and_the_variables() -> None:
    idle = {"memory_bytes": 24 << 30, "busy": 0.1}
    assert plan_engine({}, cores=2, **idle) == EnginePlan(slots=3, threads=2, decode_threads=2)
    assert plan_engine({"SUMMARIZER_ENGINE_DECODE_THREADS": "1"}, cores=2, **idle).decode_threads == 1
    assert plan_engine({}, cores=8, **idle).threads == 8
    assert plan_engine({}, cores=2, memory_bytes=1536 << 20, busy=0.1).slots == 1  # memory for one slot
    # Cores that other work holds are left to it: its threads would stall the engine's at every step.
    assert plan_engine({}, cores=2, memory_bytes=24 << 30, busy=0.95).threads == 2
    assert plan_engine({}, cores=2, memory_bytes=24 << 30, busy=1.2).threads == 1
    assert plan_engine({}, cores=2, memory_bytes=24 << 30, busy=9.0).threads == 1
    assert plan_engine({}, cores=8, memory_bytes=24 << 30, busy=3.0).threads == 5
    env = {SLOTS_ENV: "5", THREADS_ENV: "2"}
    assert plan_engine(env, cores=2, memory_bytes=24 << 30, busy=9.0) == EnginePlan(slots=5, threads=2)
    assert plan_engine({}, **idle, cores=2).speculative == "none"
    assert plan_engine({DRAFTS_ENV: "ngram"}, **idle, cores=2).speculative == "ngram"
    with pytest.raises(ConfigError, match=DRAFTS_ENV):
        plan_engine({DRAFTS_ENV: "eagle"}, **idle, cores=2)


def test_the_engine_decodes_one_token_on_two_threads_without_drafts_unless_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Prompts take every free core; one request's next token two of them (engine.SPIN_COUNT says why).
    monkeypatch.setattr(local, "engine_model", lambda notice=None: Path("model.gguf"))
    command = LocalServer(port=1, plan=EnginePlan(slots=3, threads=4))._command()
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options["--threads"] == "4" and options["--decode-threads"] == "2"
    assert options["--speculative"] == "none" and options["--slots"] == "3"
    drafting = LocalServer(port=1, plan=EnginePlan(slots=3, threads=2, speculative="ngram"))._command()
    assert drafting[drafting.index("--speculative") + 1] == "ngram"
    one_core = LocalServer(port=1, plan=EnginePlan(slots=1, threads=1, decode_threads=4))._command()
    assert one_core[one_core.index("--decode-threads") + 1] == "1"  # never more than the prompt's threads


def test_the_busy_cores_are_measured_when_the_engine_starts_not_when_a_summarizer_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Measuring takes 0.2 s, and a run answered from the cache (or a cassette) never starts the engine.
    def measured(*_: object, **__: object) -> float:
        raise AssertionError("busy_cores() called while making a Summarizer")

    monkeypatch.setattr(local, "busy_cores", measured)
    settings = resolve_settings(env={}).with_overrides(endpoint="embedded")
    with Summarizer(settings, notice=lambda _: None) as summarizer:
        assert summarizer._requests._value == local.engine_slots()


def test_busy_cores_are_measured_now_not_the_lagging_load_average() -> None:
    # Two samples of /proc/stat's first line: 400 ticks passed, 100 of them idle or iowait.
    def stat() -> Iterator[str]:
        yield from ["cpu  100 0 100 700 100 0 0 0 0 0\n", "cpu  250 0 250 750 150 0 0 0 0 0\n"]

    still = itertools.repeat(1.0).__next__  # this process used no CPU over the interval
    lines = stat()
    busy = busy_cores(
        interval=0.0, read_stat=lambda: next(lines), own_cpu=still, clock=itertools.count().__next__
    )
    assert busy == pytest.approx((os.cpu_count() or 1) * 0.75)
    # Our own threads' work (the client made while the engine starts) is not another program's.
    lines, own = stat(), iter([0.0, 0.5]).__next__
    busy = busy_cores(
        interval=0.0, read_stat=lambda: next(lines), own_cpu=own, clock=iter([0.0, 1.0]).__next__
    )
    assert busy == pytest.approx((os.cpu_count() or 1) * 0.75 - 0.5)

    def absent() -> str:
        raise FileNotFoundError("/proc/stat")

    assert busy_cores(interval=0.0, read_stat=absent) >= 0.0  # no /proc: the load average


@pytest.mark.live
def test_the_model_file_is_the_one_expected() -> None:
    assert model_path().suffix == ".gguf" and model_path().stat().st_size > 50_000_000


@pytest.mark.live
def test_the_wheel_needs_no_instruction_we_do_not_check() -> None:
    # What the engine library was built for, read from itself, in a child (loading it maps the library).
    code = "import xllamacpp; print(xllamacpp.get_system_info())"
    info = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    built = {
        name.strip().lower()
        for name, _, value in (p.partition("=") for p in info.split("|"))
        if value.strip() == "1"
    }
    isa = {f for f in built if f.startswith(("avx", "fma", "f16c", "bmi", "sse4", "amx"))}
    assert isa <= set(X86_FEATURES), f"the wheel needs {sorted(isa - set(X86_FEATURES))}: check them too"


@pytest.mark.live
def test_killing_the_engine_mid_request_is_one_line_and_exit_3() -> None:
    outcome = crash_engine_run(1.0, signum=signal.SIGILL)
    assert outcome.server_seen, outcome.stderr[-800:]
    assert outcome.returncode == 3, outcome.stderr[-800:]
    assert "Traceback" not in outcome.stderr and "Connection error" not in outcome.stderr
    last = outcome.stderr.strip().splitlines()[-1]
    assert "the embedded model crashed: SIGILL (illegal instruction)" in last, outcome.stderr[-800:]
    assert not outcome.left, f"processes left behind: {outcome.left}"


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
        # The engine's own warm-up request (engine.warm) is one the engine accepts: were its body or its
        # grammar refused, the head start it gives the first request would be silently lost.
        assert local.engine.warm(server.port)
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


# --- started early, before the CLI's imports --------------------------------------------------------------


def test_an_engine_started_early_is_taken_once_and_outlives_the_thread_that_started_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _with_command(monkeypatch, STUBBORN_SERVER)
    local.start_early()
    early = local.take_early()
    assert early is not None and local.take_early() is None  # one taker
    server, started = early
    try:
        assert started.result(timeout=30) is server and server.process is not None
        # The kernel's parent-death signal follows the spawning thread: it must not have fired.
        time.sleep(0.5)
        assert _alive(server.process.pid)
    finally:
        server.stop(grace=0)


UNTAKEN = f"""
import sys
from summarizer.model import local
local.LocalServer._command = lambda self: [sys.executable, "-c", {STUBBORN_SERVER!r}, str(self.port)]
local.start_early()
server, started = local._early
started.result(timeout=30)
print(server.process.pid, flush=True)
"""


def test_an_engine_started_early_that_nothing_took_is_killed_at_exit() -> None:
    # `summarize` whose result came from the cache: the engine it started early served nothing.
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", UNTAKEN], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout)
    deadline = time.monotonic() + 2
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert time.monotonic() - began < 30


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


@pytest.mark.live
async def test_the_engine_enforces_the_compact_grammar_of_the_default_mode(seed_text: str) -> None:
    """The embedded default (`grammar`): llama.cpp reads the llguidance grammar, so the answer is valid,
    closed JSON without whitespace between tokens; through `response_format` the same request gets some."""
    from summarizer.grounding.ground import request_model
    from summarizer.model.client import Attempts, call_model, make_client
    from summarizer.pipeline.prompts import PromptSet

    prompts = PromptSet.load()

    messages = [{"role": "user", "content": f"Summarise this article.\n\n{seed_text[:1500]}"}]
    answers: dict[str, str] = {}
    with LocalServer() as server:
        for mode in ("grammar", "json_schema"):
            settings = resolve_settings(base_url=server.base_url, model=EMBEDDED_MODEL, env={}, mode=mode)
            client = make_client(settings, http_retries=0)
            attempts = Attempts()
            await call_model(
                client,
                settings,
                request_model("summary", (1, 2, 3)),
                messages,
                attempts,
                reask=lambda e: prompts.reask(e, tools=False),
            )
            await client.close()
            answers[mode] = attempts.last_response.choices[0].message.content
    assert "\n" not in answers["grammar"] and '": ' not in answers["grammar"], answers
    assert json.loads(answers["grammar"]) and answers["json_schema"] != answers["grammar"], answers


@pytest.mark.live
async def test_the_engine_writes_a_distinct_list_in_the_schemas_order(seed_text: str) -> None:
    """The seed's stances on the embedded default: each offered stance shape at most once, in the order the
    schema lists them (`model/grammar.py`). Before, the 135M model wrote one stance five times over."""
    from summarizer.core.article import article_from_text
    from summarizer.model.client import Attempts, call_model, make_client
    from summarizer.pipeline.prompts import PromptSet, schema_of

    with LocalServer() as server:
        settings = resolve_settings(
            base_url=server.base_url, model=EMBEDDED_MODEL, env={}, mode="grammar", rails="extractive"
        )
        (call,) = Summarizer(settings, cache=None).plan(article_from_text(seed_text), "stances")
        client = make_client(settings, http_retries=0)
        attempts = Attempts()
        await call_model(
            client,
            settings,
            call.response_model,
            call.messages,
            attempts,
            reask=lambda e: PromptSet.load().reask(e, tools=False),
        )
        await client.close()
    stances = json.loads(attempts.last_response.choices[0].message.content)["stances"]
    branches = [d for name, d in schema_of(call.response_model)["$defs"].items() if name.startswith("Stance")]
    chosen = [
        next(
            n
            for n, d in enumerate(branches)
            if s["actor"] in d["properties"]["actor"]["enum"]
            and s["position"] in d["properties"]["position"]["enum"]
        )
        for s in stances
    ]
    assert len(stances) >= 2 and chosen == sorted(set(chosen)), stances
