"""The embedded engine: one slot against N, and llama-cpp-python beside it, on the same requests, in one run.

    python bench/bench_engine.py                       # the seed, then the 20 dev articles
    python bench/bench_engine.py --slots 1 2 3 --old-python /path/to/venv/bin/python --dev 20
    python bench/bench_engine.py --seed-runs 3         # the README's first command, as a new user runs it
    python bench/bench_engine.py --seed-runs 3 --seed-waits [--seed-hog]   # against sleeping waits
    python bench/bench_engine.py --encoding-probe 2    # the weights' encoding, decode threads, drafts

The requests are the pipeline's own first-round requests (`Summarizer.plan`: every task of every article,
the numbered article first, the schema as a grammar), sent straight to the server with as many in flight as
it has slots, so that only the engine differs. Each configuration starts its server cold (start-up is
timed apart), sends the seed's three requests, then the dev articles' requests. llama-cpp-python, where an
interpreter with it is given (`--old-python`, a portable build: `CMAKE_ARGS=-DGGML_NATIVE=OFF`), serves one
request at a time and takes the schema as `response_format: json_object` (it rejects `json_schema`).

Printed per configuration and workload: wall time, requests, completion tokens/s over the wall, the
prompt and completion tokens, and p50/p99 latency per request. The server's own split (prompt evaluation
vs decoding, per request) is summed from its `timings` where the engine reports them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from summarizer import Summarizer  # noqa: E402
from summarizer.core.article import article_from_text  # noqa: E402
from summarizer.model.grammar import llguidance_grammar  # noqa: E402
from summarizer.model.local import EnginePlan, LocalServer, free_port  # noqa: E402
from summarizer.model.weights import model_path  # noqa: E402
from summarizer.pipeline.prompts import schema_of  # noqa: E402

SEED = ROOT / "seeds" / "000_576e96b86ee510dd.txt"
DEV = ROOT.parent / "shared" / "data" / "cnndm-dev.jsonl"
MAX_TOKENS = 1500


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_ms: float = 0.0
    decode_ms: float = 0.0
    prompt_evaluated: int = 0  # prompt tokens not taken from the slot's cache
    errors: int = 0
    wall: float = 0.0


Request = tuple[list[dict[str, str]], dict[str, Any]]


def requests_for(texts: list[str]) -> list[list[Request]]:
    """Per article, (messages, schema) of every first-round request the pipeline makes for it."""
    summarizer = Summarizer(notice=lambda _: None)
    return [
        [(call.messages, schema_of(call.response_model)) for call in summarizer.plan(article_from_text(text))]
        for text in texts
    ]


def body(messages: list[dict[str, str]], schema: dict[str, Any], engine: str) -> dict[str, Any]:
    """The request for `engine`: xllamacpp takes the schema as llama.cpp's compact `grammar` (the default
    mode, client.py), "xllamacpp-response-format" as `response_format` (json_schema mode)."""
    payload = {"model": "m", "messages": messages, "max_tokens": MAX_TOKENS, "temperature": 0}
    if engine == "xllamacpp":
        return payload | {"grammar": llguidance_grammar(schema)}
    if engine == "xllamacpp-response-format":
        form = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
        return payload | {"response_format": form}
    return payload | {"response_format": {"type": "json_object", "schema": schema}}


def send(base_url: str, payload: dict[str, Any]) -> tuple[float, dict[str, Any] | None]:
    data = json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{base_url}/chat/completions", data=data, headers={"Content-Type": "application/json"}
    )
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=900) as response:
            answer = json.load(response)
    except OSError as exc:
        print(f"    request failed: {exc}", file=sys.stderr)
        return time.perf_counter() - began, None
    return time.perf_counter() - began, answer


def run(base_url: str, articles: list[list[dict[str, Any]]], slots: int, in_order: bool) -> Result:
    """`slots` requests in flight: every request at once, or (`in_order`) each article's one after another,
    `slots` articles side by side, as the pipeline does on the embedded engine."""
    result = Result()
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=slots) as pool:
        if in_order:
            answers = [
                a for group in pool.map(lambda g: [send(base_url, b) for b in g], articles) for a in group
            ]
        else:
            answers = list(pool.map(lambda b: send(base_url, b), [b for group in articles for b in group]))
        for seconds, answer in answers:
            result.latencies.append(seconds)
            if answer is None:
                result.errors += 1
                continue
            usage = answer.get("usage") or {}
            result.prompt_tokens += usage.get("prompt_tokens", 0)
            result.completion_tokens += usage.get("completion_tokens", 0)
            timings = answer.get("timings") or {}
            result.prompt_ms += timings.get("prompt_ms", 0.0)
            result.prompt_evaluated += timings.get("prompt_n", 0)
            result.decode_ms += timings.get("predicted_ms", 0.0)
    result.wall = time.perf_counter() - began
    return result


class OldServer:
    """llama-cpp-python's server from another interpreter (the engine this project used before)."""

    def __init__(self, python: str):
        self.python, self.port = python, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> OldServer:
        command = [
            self.python, "-m", "llama_cpp.server", "--model", str(model_path()), "--chat_format", "chatml",
            "--n_ctx", "8192", "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("llama-cpp-python's server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(name: str, workload: str, r: Result, start: float) -> str:
    split = f"{r.prompt_ms / 1000:.1f} / {r.decode_ms / 1000:.1f} s" if r.prompt_ms else "-"
    return (
        f"| {name} | {workload} | {start:.1f} s | {r.wall:.1f} s | {len(r.latencies)} ({r.errors} failed) | "
        f"{r.prompt_tokens} / {r.completion_tokens} | {r.completion_tokens / r.wall:.1f} | {split} | "
        f"{statistics.median(r.latencies):.1f} / {p(r.latencies, 0.99):.1f} s |"
    )


def batch_rounds(old_python: str | None, rounds: int, dev: int) -> None:
    """`summarizer batch` on the dev articles, end to end (start-up, every task, re-asks, checks, writes),
    this checkout against another interpreter's installed summarizer (the old engine), alternated."""
    import tempfile

    lines = DEV.read_text().splitlines()[:dev]
    print(f"\n`summarizer batch` on {len(lines)} dev articles, --no-cache, {rounds} round(s), alternated\n")
    print("| engine | round | wall | articles/minute | exit |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "dev.jsonl"
        source.write_text("\n".join(lines) + "\n")
        runs = [("this checkout", sys.executable)] + ([("old engine", old_python)] if old_python else [])
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SUMMARIZER_"))}
        for n in range(rounds):
            for name, python in runs:
                out = Path(tmp) / f"{name.replace(' ', '-')}-{n}.jsonl"
                command = [python, "-m", "summarizer", "batch", str(source), "-o", str(out), "--no-cache"]
                began = time.perf_counter()
                done = subprocess.run(command, capture_output=True, env=env, check=False, cwd=tmp)
                wall = time.perf_counter() - began
                rate = len(lines) / wall * 60
                print(f"| {name} | {n + 1} | {wall:.0f} s | {rate:.2f} | {done.returncode} |", flush=True)


# What `--seed-waits` sets beside the default: how the engine waited and decoded before 2026-12.
SLEEPING_WAITS = {"OMP_WAIT_POLICY": "PASSIVE", "SUMMARIZER_ENGINE_DECODE_THREADS": "1"}
HOG_AFTER = 1.5  # `--seed-hog`: seconds until the busy loop starts (the engine has chosen its threads)


def seed_runs(runs: int, against: str | None = None, waits: bool = False, hog: bool = False) -> None:
    """The README's first command as a new user runs it (nothing configured, an empty response cache each
    time, from another directory), `runs` times: wall time, and the model's seconds per task from the
    output's metadata. With `against` (another checkout's root), that checkout's command after each of
    ours, the same interpreter and packages: a ratio that the host's speed of the hour does not move.
    With `waits`, this checkout again with OpenMP's threads sleeping at once and one decoding thread
    (`SLEEPING_WAITS`); with `hog`, a busy loop beside every command from `HOG_AFTER` seconds on."""
    import tempfile

    variants: list[tuple[str, Path, dict[str, str]]] = [("this checkout", ROOT, {})]
    if against:
        variants.append(("against", Path(against).resolve(), {}))
    if waits:
        variants.append(("sleeping waits, 1 decoding thread", ROOT, SLEEPING_WAITS))
    print(f"\n`summarizer summarize {SEED.relative_to(ROOT)}`, an empty cache each run")
    print(f"(a busy loop from {HOG_AFTER} s on)\n" if hog else "")
    print(
        "| checkout | run | wall | model time | summary / stances / events (prompt / completion tok) | exit |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    walls: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for n in range(runs):
        for name, tree, extra in variants:
            with tempfile.TemporaryDirectory() as tmp:
                env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SUMMARIZER_"))}
                env |= {"SUMMARIZER_CACHE_DIR": tmp, "PYTHONPATH": str(tree)} | extra  # its package, prompts
                command = [sys.executable, "-m", "summarizer", "summarize", str(SEED)]
                loop = f"import time; time.sleep({HOG_AFTER})\nwhile True: pass"
                busy = subprocess.Popen([sys.executable, "-c", loop]) if hog else None
                began = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp, check=False)
                walls[name].append(time.perf_counter() - began)
                if busy is not None:
                    busy.kill()
                    busy.wait()
            meta = json.loads(done.stdout)["metadata"] if done.returncode == 0 else {"tasks": {}}
            tasks = " / ".join(
                f"{t['seconds']:.2f} s ({t['usage']['prompt_tokens']} / {t['usage']['completion_tokens']})"
                for t in meta["tasks"].values()
            )
            model, code = meta.get("seconds", 0), f"exit {done.returncode}" if done.returncode else ""
            print(
                f"| {name} | {n + 1} | {walls[name][-1]:.2f} s | {model:.2f} s | {tasks} | {code} |",
                flush=True,
            )
    print()
    ours = statistics.median(walls["this checkout"])
    for name, values in walls.items():
        ratio = (
            ""
            if name == "this checkout"
            else f" (this checkout {statistics.median(values) / ours:.2f} times as fast)"
        )
        print(f"{name}: median {statistics.median(values):.2f} s{ratio}")


def seed_on_own_server(seed: list[Request], plan: EnginePlan, engine: str = "xllamacpp") -> Result:
    """The seed's requests in order on one slot of a server of its own, started for this alone: a slot's
    cached article would favour whichever configuration came second."""
    with LocalServer(plan=plan) as server:
        return run(server.base_url, [[body(m, schema, engine) for m, schema in seed]], 1, True)


def engine_probe(seed: list[Request], rounds: int) -> None:
    """The seed's requests in order on one slot, alternated: the schema as `response_format` or as the
    compact grammar, and flash attention as the library decides or on. Wall, tokens, prompt and decode
    tokens/s summed from the server's timings."""
    print(
        "\n| schema sent as | flash attention | round | wall | completion tokens | prompt tok/s "
        "| decode tok/s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    cores = len(os.sched_getaffinity(0))
    for n in range(rounds):
        for flash in ("auto", "on"):
            for engine in ("xllamacpp-response-format", "xllamacpp"):
                # As this table was first measured: every thread decoding, no drafts (encoding_probe).
                plan = EnginePlan(
                    slots=1, threads=cores, flash_attn=flash, decode_threads=cores, speculative="none"
                )
                r = seed_on_own_server(seed, plan, engine)
                form = "grammar" if engine == "xllamacpp" else "response_format"
                print(
                    f"| {form} | {flash} | {n + 1} | {r.wall:.1f} s | {r.completion_tokens} | "
                    f"{r.prompt_evaluated / (r.prompt_ms / 1000):.0f} | "
                    f"{r.completion_tokens / (r.decode_ms / 1000):.1f} |",
                    flush=True,
                )


def encoding_probe(seed: list[Request], rounds: int) -> None:
    """The seed's three requests in order on one slot, each row a server of its own: the weights as
    published (Q4_1) or re-encoded (Q8_0, reencode.py), one request's tokens decoded on 1 thread or on
    all, n-gram drafts or none. Prompt and decode seconds from the server's timings."""
    from summarizer.model.weights import FILE_ENV

    cores = len(os.sched_getaffinity(0))
    rows = [
        ("Q4_1", cores, "none"),
        ("Q8_0", cores, "none"),
        ("Q8_0", 1, "none"),
        ("Q8_0", 1, "ngram"),
    ]
    print("\n| weights | decode threads | drafts | round | wall | prompt eval | decode | prompt tok/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in range(rounds):
        for weights, decode_threads, drafts in rows:
            if weights == "Q4_1":
                os.environ[FILE_ENV] = str(model_path())  # loaded as it is
            plan = EnginePlan(slots=1, threads=cores, decode_threads=decode_threads, speculative=drafts)
            try:
                r = seed_on_own_server(seed, plan)
            finally:
                os.environ.pop(FILE_ENV, None)
            print(
                f"| {weights} | {decode_threads} | {drafts} | {n + 1} | {r.wall:.1f} s | "
                f"{r.prompt_ms / 1000:.1f} s | {r.decode_ms / 1000:.1f} s | "
                f"{r.prompt_evaluated / (r.prompt_ms / 1000):.0f} |",
                flush=True,
            )


def threads_probe(seed: list[Request]) -> None:
    """The seed's summary request, its prefix made new each time (no cache), on 1 and 2 threads with
    OpenMP's threads spinning (ACTIVE) or sleeping (PASSIVE) while they wait: prompt and decode tokens/s."""
    messages, schema = seed[0]
    print("\n| threads | OpenMP wait policy | prompt tok/s | decode tok/s |")
    print("| --- | --- | --- | --- |")
    for policy in ("PASSIVE", "ACTIVE"):
        os.environ["OMP_WAIT_POLICY"] = policy  # the engine's environment takes ours (engine_environment)
        for threads in (1, 2):
            # Every thread decoding too, and no drafts: what this probe compares is the threads' waits.
            plan = EnginePlan(slots=1, threads=threads, decode_threads=threads, speculative="none")
            with LocalServer(plan=plan) as server:
                prompts, decodes = [], []
                for n in range(2):
                    fresh = [dict(m) for m in messages]
                    fresh[0]["content"] = f"({policy} {threads} {n}) " + fresh[0]["content"]
                    payload = body(fresh, schema, "xllamacpp") | {"max_tokens": 60}
                    _, answer = send(server.base_url, payload)
                    t = (answer or {}).get("timings") or {}
                    prompts.append(f"{t.get('prompt_per_second', 0):.0f}")
                    decodes.append(f"{t.get('predicted_per_second', 0):.1f}")
                print(f"| {threads} | {policy} | {', '.join(prompts)} | {', '.join(decodes)} |", flush=True)
    os.environ.pop("OMP_WAIT_POLICY")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slots", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--dev", type=int, default=20, help="how many dev articles (0: the seed only)")
    parser.add_argument("--old-python", help="an interpreter with llama-cpp-python[server] (portable build)")
    parser.add_argument(
        "--batch-rounds", type=int, default=0, help="also run `summarizer batch` end to end, this many rounds"
    )
    parser.add_argument("--batch-old-python", help="an interpreter with the old summarizer installed")
    parser.add_argument("--threads-probe", action="store_true", help="1 and 2 threads, OpenMP waits")
    parser.add_argument(
        "--engine-probe", type=int, default=0, help="rounds of: schema form x flash attention, on the seed"
    )
    parser.add_argument(
        "--seed-runs", type=int, default=0, help="the README's first command, this many times"
    )
    parser.add_argument("--seed-against", help="with --seed-runs: another checkout's root, alternated")
    parser.add_argument(
        "--seed-waits", action="store_true", help="with --seed-runs: also sleeping waits, 1 decoding thread"
    )
    parser.add_argument("--seed-hog", action="store_true", help="with --seed-runs: a busy loop beside")
    parser.add_argument(
        "--encoding-probe", type=int, default=0, help="rounds of: Q4_1 or Q8_0, decode threads, drafts"
    )
    options = parser.parse_args()
    if options.encoding_probe:
        encoding_probe(requests_for([SEED.read_text(encoding="utf-8")])[0], options.encoding_probe)
        return
    if options.seed_runs:
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        seed_runs(options.seed_runs, options.seed_against, options.seed_waits, options.seed_hog)
        return
    if options.engine_probe:
        engine_probe(requests_for([SEED.read_text(encoding="utf-8")])[0], options.engine_probe)
        return
    if options.threads_probe:
        threads_probe(requests_for([SEED.read_text(encoding="utf-8")])[0])
        return
    if options.batch_rounds:
        batch_rounds(options.batch_old_python, options.batch_rounds, options.dev or 20)
        return

    seed = requests_for([SEED.read_text(encoding="utf-8")])
    dev_texts = [json.loads(line)["article"] for line in DEV.read_text().splitlines()[: options.dev]]
    dev = requests_for(dev_texts) if dev_texts else []
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"command: python bench/bench_engine.py {' '.join(sys.argv[1:])}")
    count = sum(len(group) for group in dev)
    print(f"requests: seed {len(seed[0])}, dev {count} ({len(dev)} articles), max_tokens {MAX_TOKENS}")
    print()
    print(
        "| engine | workload | start | wall | requests | prompt / completion tokens | completion tok/s "
        "| prompt eval / decode (summed) | p50 / p99 per request |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    configs = [
        ("xllamacpp", n, order) for n in options.slots for order in ((True, False) if n > 1 else (True,))
    ]
    if options.old_python:
        configs.append(("llama-cpp-python", 1, True))
    for engine, slots, in_order in configs:
        began = time.perf_counter()
        server: Any = (
            LocalServer(plan=EnginePlan(slots=slots, threads=options.threads))
            if engine == "xllamacpp"
            else OldServer(options.old_python)
        )
        with server:
            start = time.perf_counter() - began
            name = f"{engine}, {slots} slot{'s' if slots > 1 else ''}, {options.threads} threads"
            name += ", tasks in order" if in_order else ", tasks at once"
            for workload, articles in (("seed", seed), ("dev", dev)):
                if articles:
                    bodies = [[body(m, s, engine) for m, s in group] for group in articles]
                    print(
                        row(name, workload, run(server.base_url, bodies, slots, in_order), start), flush=True
                    )


if __name__ == "__main__":
    main()
