"""The local batch against `batch --ray` on one and on two Ray nodes, against the loopback fixture.

    python bench/bench_ray.py                    # 200 articles, concurrency 32, 200 ms per call

In one run, against the same fixture (bench/fake_openai.py, in a process of its own):
1. the local batch (`run_batch`, one event loop) at concurrency C;
2. `run_batch_ray` on a one-node Ray cluster on this machine (one CPU, one worker, C articles at once);
3. the same on two nodes of one CPU each (two workers, C each).
Each prints its wall time, articles/s, our CPU ms per article (the driver process's, plus for Ray the
workers' own time in their batches, plus Ray's daemons': raylet, GCS and the rest), and for Ray its
start-up: the nodes' start (what `--ray` without a cluster pays too) and the seconds from the call to
the first result (joining, the actors' start and imports, the first batch). "Steady" rates count from the
first result on (the local batch's too). From those, the corpus size above which Ray would finish first:
(Ray's start-up - the local batch's time to its first result) / (1/local steady - 1/Ray steady).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_batch import inputs
from bench.fake_openai import serve_process
from summarizer.batch import BatchOutput, BatchReport, batch_settings, run_batch
from summarizer.batch.ray import RayOptions, run_batch_ray
from summarizer.core.schemas import TASKS
from summarizer.model.client import make_client
from summarizer.model.local import free_port
from summarizer.model.settings import resolve_settings
from summarizer.pipeline import Summarizer

TICKS = os.sysconf("SC_CLK_TCK")


def settings(url: str) -> Any:
    return resolve_settings(base_url=url, model="bench-model", api_key="bench", max_retries=0, env={})


def local(url: str, n: int, c: int, out: Path) -> dict[str, float]:
    first: list[float] = []

    async def go() -> float:
        s = settings(url)
        async with Summarizer(s, client=make_client(s, http_retries=0), max_requests=c * len(TASKS)) as sm:
            started = time.perf_counter()

            def seen(report: BatchReport) -> None:
                if report.done and not first:
                    first.append(time.perf_counter() - started)

            report = await run_batch(inputs(n), sm, results=out, concurrency=c, on_progress=seen)
            assert report.done == n and report.failed == 0, report
            return time.perf_counter() - started

    cpu = time.process_time()
    wall = asyncio.run(go())
    steady = (n - min(n, c)) / max(1e-9, wall - first[0])
    return {
        "wall": wall,
        "cpu_ms": (time.process_time() - cpu) / n * 1000,
        "first": first[0],
        "steady": steady,
    }


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def on_ray(url: str, n: int, c: int, nodes: int, out: Path) -> dict[str, float]:
    from ray.cluster_utils import Cluster

    started = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        start = time.perf_counter() - started
        daemons = [
            p.process.pid
            for node in [cluster.head_node, *cluster.worker_nodes]
            for kind in node.all_processes.values()
            for p in kind
        ]
        daemons_cpu = cpu_seconds(daemons)
        summarizer = Summarizer(settings(url), cache=None)
        with BatchOutput(out).open(batch_settings(summarizer, None)) as held:
            cpu = time.process_time()
            options = RayOptions(address=cluster.address, workers=nodes, http_retries=0)
            report = run_batch_ray(inputs(n), summarizer, output=held, concurrency=c, options=options)
            driver_cpu = time.process_time() - cpu
        daemons_cpu = cpu_seconds(daemons) - daemons_cpu
    finally:
        cluster.shutdown()
    assert report.done == n and report.failed == 0 and len(report.nodes) == nodes, report
    first = report.first_outcome_seconds or 0.0
    first_batch = min(n, c)
    return {
        "wall": report.seconds,
        "cpu_ms": (driver_cpu + report.worker_cpu_seconds + daemons_cpu) / n * 1000,
        "driver_ms": driver_cpu / n * 1000,
        "workers_ms": report.worker_cpu_seconds / n * 1000,
        "daemons_ms": daemons_cpu / n * 1000,
        "start": start,
        "first": first,
        # Articles a second once the first result is in: the rate a longer corpus would run at.
        "steady": (n - first_batch) / max(1e-9, report.seconds - first),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    n, c = args.articles, args.concurrency
    os.environ["RAY_DATA_DISABLE_PROGRESS_BARS"] = "1"
    with serve_process(free_port(), args.delay) as url, tempfile.TemporaryDirectory() as tmp:
        here = local(url, n, c, Path(tmp) / "local.jsonl")
        one = on_ray(url, n, c, 1, Path(tmp) / "ray1.jsonl")
        two = on_ray(url, n, c, 2, Path(tmp) / "ray2.jsonl")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"command: python bench/bench_ray.py --articles {n} --concurrency {c} --delay {args.delay}")
    print()
    print(
        "| run | wall | articles/s | our CPU ms/article (driver + workers + Ray daemons) | Ray nodes' start"
        " | call to first result |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    rate = here["steady"]
    print(
        f"| local batch | {here['wall']:.2f} s | {n / here['wall']:.1f} (steady {rate:.1f}) |"
        f" {here['cpu_ms']:.1f} | - | {here['first']:.1f} s |"
    )
    for name, r in (("Ray, 1 node", one), ("Ray, 2 nodes", two)):
        split = f"{r['cpu_ms']:.1f} ({r['driver_ms']:.1f} + {r['workers_ms']:.1f} + {r['daemons_ms']:.1f})"
        print(
            f"| {name} | {r['wall']:.2f} s | {n / r['wall']:.1f} (steady {r['steady']:.1f}) | {split} |"
            f" {r['start']:.1f} s | {r['first']:.1f} s |"
        )
    print()
    for name, r in (("1 node", one), ("2 nodes", two)):
        startup = r["start"] + r["first"] - here["first"]
        gain = 1 / rate - 1 / r["steady"]
        if gain <= 0:
            print(
                f"Ray, {name}: never pays on this machine (steady {r['steady']:.1f}/s vs local {rate:.1f}/s)"
            )
        else:
            print(
                f"Ray, {name}: pays above about {startup / gain:,.0f} articles"
                f" (start-up {startup:.1f} s more than local;"
                f" {r['steady']:.1f}/s steady vs {rate:.1f}/s local)"
            )


if __name__ == "__main__":
    main()
