"""Interrupt latency: SIGINT (or SIGTERM) N seconds after starting `summarizer summarize` on the seed.

    python bench/bench_interrupt.py                       # 0.5, 1, 2, 5, 10 s; five runs each
    python bench/bench_interrupt.py --delays 1 2 --runs 3 --signal TERM --cold

Each run starts the command with the embedded model (nothing configured, `--no-cache`), sends the signal
after the delay, and measures the time from the signal to the process's exit. Reported per delay: the
worst and median exit time, the exit codes, whether any stderr held a traceback, and whether any process
of the run was left (found by a marker in the environment, which the embedded server inherits, so a
server re-parented after its parent died is found too). `--cold` drops the model file from the page
cache before each run (posix_fadvise DONTNEED: pages another process has mapped stay), so that the
signal lands during a cold first load. Linux only (/proc). The live tests in tests/test_local.py use
the same helpers.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_576e96b86ee510dd.txt"
MARKER = "SUMMARIZER_INTERRUPT_RUN"
# The command is given this long to exit after the signal before it counts as hung and is killed.
HANG_SECONDS = 30.0


@dataclass
class Outcome:
    delay: float
    exit_seconds: float | None  # None: did not exit within HANG_SECONDS (then killed)
    returncode: int | None
    stderr: str
    left: list[str]  # "pid cmdline" of processes of this run still there after it exited
    server_seen: bool  # whether the embedded server had been started when the signal was sent

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.stderr


def evict_from_page_cache(path: Path) -> None:
    """Ask the kernel to drop `path` from the page cache, so that its next read comes from disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def processes_with_marker(tag: str) -> list[str]:
    """Live processes (zombies excluded) whose environment carries MARKER=tag."""
    needle = f"{MARKER}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if state != "Z":
            found.append(f"{entry.name} {cmdline.strip()}")
    return found


def _server_running(tag: str) -> bool:
    return any("summarizer.model.engine" in line for line in processes_with_marker(tag))


def command_env(tag: str) -> dict[str, str]:
    """The caller's environment without endpoint settings (so: the embedded model), plus the marker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SUMMARIZER_API_KEY"))}
    env.pop("SUMMARIZER_MODEL", None)
    env[MARKER] = tag
    return env


def as_foreground() -> None:
    """`preexec_fn` for a child that a test interrupts as a user would (Ctrl-C in a terminal). A job that a
    non-interactive shell starts in the background (`cmd &`, as CI may start .ci/run) ignores SIGINT, and
    every process it starts inherits that: the signal would never reach the command under test."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_run(
    delay: float,
    *,
    signum: int = signal.SIGINT,
    args: tuple[str, ...] = ("summarize", str(SEED), "--no-cache", "--format", "json"),
    cold: bool = False,
    after_server: bool = False,
) -> Outcome:
    """Start the command, signal it after `delay` seconds, wait for it to exit, look for leftovers.

    With `after_server`, the delay counts from when the embedded server process appears (waiting for it
    up to HANG_SECONDS), so that the signal lands in the server's start-up or the model calls whatever
    the machine's speed."""
    if cold:
        from summarizer.model.weights import model_path

        evict_from_page_cache(model_path())
    tag = uuid.uuid4().hex
    cli = subprocess.Popen(
        [sys.executable, "-m", "summarizer", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=command_env(tag),
        cwd=ROOT,
        preexec_fn=as_foreground,
    )
    if after_server:
        deadline = time.monotonic() + HANG_SECONDS
        while not _server_running(tag) and cli.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    time.sleep(delay)
    server_seen = _server_running(tag)
    sent = time.monotonic()
    cli.send_signal(signum)
    return _outcome(cli, tag, delay, sent, server_seen)


def _outcome(cli: subprocess.Popen[bytes], tag: str, delay: float, sent: float, seen: bool) -> Outcome:
    """Wait for the command's exit (killing it after HANG_SECONDS), then look for and kill leftovers."""
    try:
        _, err = cli.communicate(timeout=HANG_SECONDS)
        exit_seconds: float | None = time.monotonic() - sent
    except subprocess.TimeoutExpired:
        cli.kill()
        _, err = cli.communicate()
        exit_seconds = None
    time.sleep(0.3)  # a child killed at our exit needs a moment to be gone
    left = processes_with_marker(tag)
    for line in left:  # never leave them to the next run
        os.kill(int(line.split()[0]), signal.SIGKILL)
    return Outcome(delay, exit_seconds, cli.returncode, err.decode(errors="replace"), left, seen)


def crash_engine_run(delay: float, *, signum: int = signal.SIGILL) -> Outcome:
    """Start the command, and `delay` seconds after its embedded engine appears, send the *engine* the
    signal (SIGILL: as a library built for another CPU dies). The command must say so and exit 3."""
    tag = uuid.uuid4().hex
    cli = subprocess.Popen(
        [sys.executable, "-m", "summarizer", "summarize", str(SEED), "--no-cache", "--format", "json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=command_env(tag),
        cwd=ROOT,
    )
    deadline = time.monotonic() + HANG_SECONDS
    engines: list[str] = []
    while not engines and cli.poll() is None and time.monotonic() < deadline:
        engines = [line for line in processes_with_marker(tag) if "summarizer.model.engine" in line]
        time.sleep(0.05)
    # Until it answers /health it is still loading; the command's first request follows at once.
    port = engines[0].split("--port ")[1].split()[0] if engines else "0"
    while cli.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.05)
    time.sleep(delay)
    sent = time.monotonic()
    for line in engines:
        os.kill(int(line.split()[0]), signum)
    return _outcome(cli, tag, delay, sent, bool(engines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delays", type=float, nargs="+", default=[0.5, 1, 2, 5, 10])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--signal", choices=["INT", "TERM"], default="INT")
    parser.add_argument("--cold", action="store_true", help="drop the model file from the page cache first")
    parser.add_argument(
        "--after-server", action="store_true", help="count the delays from the embedded server's start"
    )
    options = parser.parse_args()
    signum = signal.Signals[f"SIG{options.signal}"]

    print(f"SIG{options.signal}, {options.runs} runs per delay{', cold' if options.cold else ''}\n")
    print("| signal after | worst exit | median exit | exit codes | traceback | processes left | server up |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for delay in options.delays:
        outcomes = [
            interrupt_run(delay, signum=signum, cold=options.cold, after_server=options.after_server)
            for _ in range(options.runs)
        ]
        times = [o.exit_seconds for o in outcomes]
        finished = [t for t in times if t is not None]
        worst = "hung" if None in times else f"{max(finished):.2f} s"
        median = f"{statistics.median(finished):.2f} s" if finished else "-"
        codes = ", ".join(str(o.returncode) for o in outcomes)
        tracebacks = sum(o.traceback for o in outcomes)
        left = sum(len(o.left) for o in outcomes)
        seen = f"{sum(o.server_seen for o in outcomes)}/{len(outcomes)}"
        print(f"| {delay:g} s | {worst} | {median} | {codes} | {tracebacks} | {left} | {seen} |", flush=True)
        for o in outcomes:
            if o.traceback or o.left or o.returncode != 130:
                print(f"<!-- {delay:g} s: rc={o.returncode} left={o.left} stderr={o.stderr[-600:]!r} -->")
        last_lines = {o.stderr.strip().splitlines()[-1] for o in outcomes if o.stderr.strip()}
        print(f"<!-- last stderr lines: {sorted(last_lines)} -->")


if __name__ == "__main__":
    main()
