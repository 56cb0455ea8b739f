"""The HTTP service's overhead against the loopback benchmark fixture (bench/fake_openai.py, 200 ms a call).

    python bench/bench_service.py                 # 200 articles, 32 concurrent clients

Side by side, in one run, against the same fixture (in a process of its own):
1. the articles through the in-process `Summarizer`, 32 at a time;
2. the same articles sent by 32 concurrent HTTP clients to `POST /v1/analyses` of `summarizer serve` (a
   process of its own, no response cache): throughput, p50/p99 latency, errors, and the server's resident
   memory before and after;
   Both paths are warmed up first with other articles. The HTTP path runs the pipeline in the server's
   process and the clients in this one, so with a spare core it can be the faster of the two.
3. the same articles as one batch job (`POST /v1/batches`), the server killed with SIGKILL halfway and
   started again on the same job database: articles lost and done twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fake_openai import serve_process as fake_process  # noqa: E402
from summarizer.model.client import make_client  # noqa: E402
from summarizer.model.local import free_port  # noqa: E402
from summarizer.model.settings import resolve_settings  # noqa: E402
from summarizer.pipeline import Summarizer  # noqa: E402

ARTICLE = (ROOT / "bench" / "article.txt").read_text()
MODEL = "bench-model"


def articles(n: int) -> list[str]:
    # Distinct texts: nothing can be answered from a cache.
    return [f"Article number {i}.\n{ARTICLE}" for i in range(n)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def in_process(base_url: str, texts: list[str], clients: int) -> dict[str, float]:
    settings = resolve_settings(base_url=base_url, model=MODEL, env={})
    gate = asyncio.Semaphore(clients)
    latencies: list[float] = []
    errors = 0

    async with Summarizer(settings, client=make_client(settings)) as summarizer:

        async def one(text: str) -> None:
            nonlocal errors
            async with gate:
                started = time.perf_counter()
                try:
                    await summarizer.asummarize(text)
                except Exception:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        # Warm-up, as the server gets: templates read, the client patched, first connections opened.
        await asyncio.gather(*(summarizer.asummarize(f"Warm-up {i}.\n{ARTICLE}") for i in range(clients)))
        started = time.perf_counter()
        await asyncio.gather(*(one(t) for t in texts))
        wall = time.perf_counter() - started
    return figures(wall, latencies, errors)


def figures(wall: float, latencies: list[float], errors: int) -> dict[str, float]:
    """One path's figures: wall time, p50 and p99 latency, errors."""
    return {
        "wall": wall,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "errors": errors,
    }


def wait_until_healthy(url: str, tries: int = 300) -> None:
    """Poll `url`/healthz until the service answers (at most `tries` times, 0.1 s apart)."""
    for _ in range(tries):
        try:
            httpx.get(url + "/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)


@contextmanager
def server(base_url: str, jobs_db: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    command = [
        sys.executable, "-m", "summarizer", "serve", "--port", str(port), "--base-url", base_url,
        "--model", MODEL, "--no-cache", "--max-concurrent", "1000", "--rate-limit", "100000",
        "--jobs-db", str(jobs_db), "--batch-concurrency", "32",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait()


async def over_http(url: str, texts: list[str], clients: int) -> dict[str, float]:
    gate = asyncio.Semaphore(clients)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def one(text: str) -> None:
            nonlocal errors
            async with gate:
                started = time.perf_counter()
                try:
                    r = await client.post("/v1/analyses", json={"text": text})
                    errors += r.status_code != 200
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one(t) for t in texts))
        wall = time.perf_counter() - started
    return figures(wall, latencies, errors)


def batch_with_kill(base_url: str, texts: list[str], jobs_db: Path) -> dict[str, float]:
    body = "".join(json.dumps({"id": f"a{i:04d}", "text": t}) + "\n" for i, t in enumerate(texts))
    started = time.perf_counter()
    with server(base_url, jobs_db) as (url, process):
        job = httpx.post(
            url + "/v1/batches", content=body, headers={"content-type": "application/x-ndjson"}
        ).json()
        while (status := httpx.get(f"{url}/v1/batches/{job['id']}").json())["done"] < len(texts) // 2:
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    done_at_kill = status["done"]
    with server(base_url, jobs_db) as (url, _):
        while (status := httpx.get(f"{url}/v1/batches/{job['id']}").json())["state"] != "done":
            time.sleep(0.1)
        lines = httpx.get(f"{url}/v1/batches/{job['id']}/results").text.splitlines()
    wall = time.perf_counter() - started
    ids = [json.loads(line)["id"] for line in lines]
    return {
        "wall": wall,
        "done_at_kill": done_at_kill,
        "lost": len({f"a{i:04d}" for i in range(len(texts))} - set(ids)),
        "twice": len(ids) - len(set(ids)),
        "failed": status["failed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the fixture waits per call")
    args = parser.parse_args()
    texts = articles(args.articles)
    n = len(texts)

    with fake_process(free_port(), args.delay) as base_url, tempfile.TemporaryDirectory() as tmp:
        local = asyncio.run(in_process(base_url, texts, args.clients))
        with server(base_url, Path(tmp) / "jobs.sqlite") as (url, process):
            warm = [f"Warm-up {i}.\n{ARTICLE}" for i in range(args.clients)]
            asyncio.run(over_http(url, warm, args.clients))  # warm-up: imports, first calls
            rss_before = rss_mb(process.pid)
            http = asyncio.run(over_http(url, texts, args.clients))
            rss_after = rss_mb(process.pid)
            # The same again: memory that keeps growing per request would show here.
            asyncio.run(over_http(url, [t + "\nagain" for t in texts], args.clients))
            rss_again = rss_mb(process.pid)
        batch = batch_with_kill(base_url, texts, Path(tmp) / "batch.sqlite")

    delay_ms = args.delay * 1000
    print(f"# bench_service: {n} articles, {args.clients} concurrent clients, fixture {delay_ms:.0f} ms/call")
    print(f"# {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs\n")
    print("| path | wall s | articles/s | p50 s | p99 s | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in (("in-process Summarizer", local), ("HTTP POST /v1/analyses", http)):
        cells = f"{r['wall']:.2f} | {n / r['wall']:.1f} | {r['p50']:.3f} | {r['p99']:.3f} | {r['errors']:.0f}"
        print(f"| {name} | {cells} |")
    overhead = (http["wall"] - local["wall"]) / local["wall"] * 100
    print(f"\nservice overhead on throughput: {overhead:+.1f} %")
    print(
        f"server RSS: {rss_before:.0f} MB before, {rss_after:.0f} MB after {n} articles, "
        f"{rss_again:.0f} MB after {n} more"
    )
    print(
        f"\nbatch job of {n} with kill -9 at {batch['done_at_kill']:.0f} done and a restart: "
        f"{batch['wall']:.1f} s in all, lost {batch['lost']:.0f}, done twice {batch['twice']:.0f}, "
        f"failed {batch['failed']:.0f}"
    )


if __name__ == "__main__":
    main()
