"""The embedded engine's own process: llama.cpp's HTTP server, from the `xllamacpp` wheel, on loopback.

    python -m summarizer.engine --model PATH --port N [--slots S] [--threads T] [--ctx-per-slot C]

`local.py` starts this as a child and talks to it over the OpenAI API; nothing here is imported by the
parent but the CPU check, which must not load the native library (that is what would trap).

Why xllamacpp: a prebuilt manylinux wheel of llama.cpp and its C++ server (continuous batching, parallel
slots, prompt cache, JSON-schema grammars), so installing needs no compiler, and the library is built for
a fixed instruction set instead of the build machine's (`-march=native` made llama-cpp-python die with
SIGILL on a CPU other than the one pip compiled it on). The CPU is checked here at run time instead.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from .grammar import llguidance_grammar

CONTEXT_TOKENS = 8192  # each slot's context: what the server is started with, and what a chunk must fit

# What xllamacpp's x86-64 wheel is built for (`xllamacpp.get_system_info()` prints AVX, AVX2, F16C, FMA
# and BMI2; a live test checks this list against it). A CPU without one of them would trap on the first
# prompt, so it is refused before the library is loaded. ARM64 wheels need only the base ISA.
X86_FEATURES = ("avx", "avx2", "fma", "f16c", "bmi2")
# llama.cpp's `flash_attn_type` values.
FLASH_ATTN = {"auto": -1, "off": 0, "on": 1}
# Drafting without a draft model (off by default): the next tokens are guessed from where the last 3
# appeared before (in the prompt or the answer so far) and checked in one batch; greedy decoding keeps
# the tokens it would have chosen. It paid while the model repeated itself (14 % less decoding time when
# it wrote one stance five times over); since the grammar forbids repeats (grammar.py) a rejected draft
# costs more than the accepted ones save: the seed's stances took 2.0-2.4 s with drafts, 1.2-1.3 s without.
SPECULATIVE = ("none", "ngram")
NGRAM_SIZE, DRAFT_MAX = 3, 16
# OpenMP's threads wait for each other at every step of the model. A waiting thread spins this many times
# (about 10 microseconds; libgomp's own figure when threads outnumber cores) before it sleeps. Sleeping at
# once (OMP_WAIT_POLICY=PASSIVE, until 2026-12) made every step pay a wake-up, so a second decoding thread
# only slowed one request down; spinning for milliseconds (libgomp's default, or ACTIVE) took the core a
# working thread needed as soon as other work arrived (2.7 to 20 times slower). With 1000 spins and 2
# decoding threads the seed took 11-13 % less time on idle cores, and 8-21 % more than sleeping when a busy
# loop started beside it (bench/README.md). A user's OMP_WAIT_POLICY or GOMP_SPINCOUNT is kept.
SPIN_COUNT = "1000"
DECODE_THREADS = 2  # with SPIN_COUNT: the engine's default, and `local.EnginePlan`'s


def openmp_environment(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with OpenMP's waits bounded (`SPIN_COUNT`), unless it already says how threads wait."""
    merged = dict(env)
    if "OMP_WAIT_POLICY" not in merged and "GOMP_SPINCOUNT" not in merged:
        merged["GOMP_SPINCOUNT"] = SPIN_COUNT
    return merged


def missing_cpu_features(cpuinfo: str | None = None, machine: str | None = None) -> list[str]:
    """The instruction-set extensions the engine needs and this CPU lacks ([] where we cannot tell)."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return []
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []  # not Linux: the wheel's own checks will have to do
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return [f for f in X86_FEATURES if f not in flags]
    return []


def cannot_load(error: str) -> str:
    """One line for a library that does not load. The wheel bundles all it needs but the system's OpenMP
    runtime, `libgomp.so.1`, which slim images (python:*-slim, distroless) leave out."""
    line = f"the engine's library does not load: {' '.join(error.split())}"
    if "libgomp" in error:
        line += "; it needs the GNU OpenMP runtime (Debian, Ubuntu: apt-get install libgomp1)"
    return line


def warm(port: int) -> bool:
    """One tiny constrained request as soon as the server answers. The first request with a grammar pays
    for what the engine sets up once (the grammar library's view of the vocabulary, the chat template,
    the compute graphs): 0.21-0.34 s of the seed's first request, none of the later ones (bench/README.md).
    The command is still importing its client then (its first request comes about 0.6 s after the engine
    is ready), so the engine does it in time that was idle. Best effort: a failure costs only the head
    start. True if the engine answered it."""
    body = {
        "messages": [{"role": "user", "content": "Write 1."}],
        "max_tokens": 1,
        "temperature": 0,
        "grammar": llguidance_grammar({"type": "object", "properties": {"n": {"type": "integer"}}}),
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m summarizer.engine", description=__doc__)
    parser.add_argument("--model", required=True, help="the GGUF file")
    parser.add_argument("--port", type=int, required=True, help="the loopback port to listen on")
    parser.add_argument("--slots", type=int, default=1, help="requests served at once")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="CPU threads that evaluate prompts"
    )
    parser.add_argument(
        "--decode-threads",
        type=int,
        default=DECODE_THREADS,
        help="CPU threads that decode one token of one request",
    )
    parser.add_argument("--ctx-per-slot", type=int, default=8192, help="context tokens of each slot")
    parser.add_argument("--max-tokens", type=int, default=4096, help="a cap for requests that set none")
    parser.add_argument(
        "--flash-attn",
        choices=sorted(FLASH_ATTN),
        default="auto",
        help="llama.cpp's flash attention: auto (the library decides), on or off",
    )
    parser.add_argument(
        "--speculative", choices=SPECULATIVE, default="none", help="draft tokens from n-grams, or not"
    )
    parser.add_argument(
        "--no-warm", dest="warm", action="store_false", help="no tiny first request of its own (see warm)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if missing := missing_cpu_features():
        print(f"this CPU lacks {', '.join(missing)}, which the engine needs", file=sys.stderr)
        return 3
    os.environ.update(openmp_environment(os.environ))  # read by OpenMP when the library loads
    try:
        import xllamacpp  # here, after the check: loading it on such a CPU could already trap
    except ImportError as exc:
        print(cannot_load(str(exc)), file=sys.stderr)
        return 3

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.port = args.port
    params.n_parallel = args.slots
    # The context is shared by the slots: each gets n_ctx / n_parallel.
    params.n_ctx = args.ctx_per_slot * args.slots
    params.cont_batching = True  # the slots' tokens are decoded in one batch
    params.use_jinja = True  # the model's own chat template; without it the JSON grammar ran on whitespace
    params.ctx_shift = False  # a request longer than its slot fails instead of shifting, and looping, on
    params.n_predict = args.max_tokens  # a request without max_tokens still ends
    # One token of one request is n_threads' work: DECODE_THREADS, with the bounded spin (SPIN_COUNT); more
    # would wait on each other for a model this small. Several tokens at once (prompts, drafts, the slots'
    # tokens together) take n_threads_batch.
    params.cpuparams.n_threads = args.decode_threads
    params.cpuparams_batch.n_threads = args.threads
    if args.speculative == "ngram":
        spec = params.speculative
        spec.types = [xllamacpp.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
        spec.ngram_simple.size_n = NGRAM_SIZE
        spec.ngram_simple.size_m = DRAFT_MAX
        spec.draft.n_max = DRAFT_MAX
    params.n_threads_http = max(2, args.slots)
    params.flash_attn_type = FLASH_ATTN[args.flash_attn]
    # llama.cpp's warm-up runs before the server answers, so the user would wait for it; `warm` runs after.
    params.warmup = False
    params.endpoint_metrics = False
    params.endpoint_slots = False

    stop = threading.Event()
    # The server holds nothing worth saving: a signal ends the process at once (the parent waits for it).
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    _server = xllamacpp.Server(params)  # serves from threads of its own; loading the model takes ~1 s
    if args.warm:
        threading.Thread(target=warm, args=(args.port,), daemon=True).start()
    while not stop.wait(0.5):
        pass
    # Without `del _server`: its destructor waits for a generation in progress.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
