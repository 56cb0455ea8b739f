"""Load test of `summarizer serve` with one hostile client (issue 19), against the loopback fixture.

    python bench/load_service.py                  # 32 clients for 60 s, the fixture at 200 ms a call
    python bench/load_service.py --offload process,thread   # this code, then the one before, in one run

31 well-behaved clients (two keys) send analyses and small batch jobs; one hostile client (a third key,
and no key) sends what once stopped or froze the service: a lone surrogate in a batch, 1 MB of "a. ", a
1 MB batch of 50,000 tiny articles, a JSON line nested 100,000 deep, a forged log line in the path, a
rebinding Host, and eight sockets that send nothing. A prober asks /healthz every 50 ms. At the end: every
job of the well-behaved clients must finish, none of their answers be a 5xx, and /healthz p99 stay under
100 ms.
`--offload thread` runs the server as it was before large bodies went to worker processes (offload.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_service import wait_until_healthy  # noqa: E402
from bench.fake_openai import serve_process as fixture  # noqa: E402
from summarizer.model.local import free_port  # noqa: E402

ARTICLE = (ROOT / "bench" / "article.txt").read_text()
KEYS = {
    "a": "load-key-a-0123456789abcdef",
    "b": "load-key-b-0123456789abcdef",
    "h": "load-key-h-0123456789abcd",
}
NDJSON = {"content-type": "application/x-ndjson"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def start_server(base_url: str, jobs_db: Path, offload: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    command = [
        sys.executable, "-m", "summarizer", "serve", "--port", str(port), "--base-url", base_url,
        "--model", "bench-model", "--no-cache", "--max-concurrent", "1000", "--rate-limit", "100000",
        "--jobs-db", str(jobs_db), "--batch-concurrency", "8", "--max-key-tokens-per-day", "0",
    ]  # fmt: skip
    env = {
        **os.environ,
        "SUMMARIZER_SERVER_KEYS": ",".join(KEYS.values()),
        "SUMMARIZER_SERVE_OFFLOAD": offload,
    }
    log = open(jobs_db.parent / "server.log", "wb")  # noqa: SIM115 - the server's, for the reader
    process = subprocess.Popen(command, stderr=log, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url)
    return url, process


async def polite(
    client: httpx.AsyncClient, key: str, n: int, until: float, seen: Counter[int], jobs: list
) -> None:
    auth = {"authorization": f"Bearer {KEYS[key]}"}
    i = 0
    while time.monotonic() < until:
        i += 1
        try:
            if i % 5 == 0:
                body = "".join(
                    json.dumps({"id": f"{n}-{i}-{k}", "text": f"{n} {i} {k}. {ARTICLE}"}) + "\n"
                    for k in range(3)
                )
                r = await client.post("/v1/batches", content=body, headers={**auth, **NDJSON})
                if r.status_code == 202:
                    jobs.append((auth, r.json()["id"]))
            else:
                r = await client.post(
                    "/v1/analyses", json={"text": f"Client {n}, request {i}. {ARTICLE}"}, headers=auth
                )
            seen[r.status_code] += 1
        except httpx.HTTPError as exc:
            seen[type(exc).__name__] += 1  # type: ignore[index]


def attacks() -> list[tuple[str, str, bytes, dict[str, str]]]:
    """What the hostile client sends, built once (building a 2 MB body in the loop would stall the
    generator, and its /healthz prober with it)."""
    tiny = "".join(json.dumps({"text": f"x{k}."}) + "\n" for k in range(50_000)).encode()
    return [
        ("POST", "/v1/batches", b'{"id":"\\ud800","text":"The minister spoke."}\n', NDJSON),
        (
            "POST",
            "/v1/analyses",
            json.dumps({"text": "a. " * 333_000}).encode(),
            {"content-type": "application/json"},
        ),
        ("POST", "/v1/batches", tiny[:1_990_000].rsplit(b"\n", 1)[0] + b"\n", NDJSON),
        ("POST", "/v1/batches", b'{"text": "a"}\n' + b"[" * 100_000 + b"]" * 100_000 + b"\n", NDJSON),
        (
            "GET",
            "/v1/batches/x%0A2026-12-06%2000:00:00,000%20summarizer.access%20POST%20/v1/admin/keys%20200%201ms",
            b"",
            {},
        ),
        ("GET", "/v1/batches/%1b[31mred", b"", {}),
        ("GET", "/v1/schema", b"", {"host": "attacker.example"}),
        ("POST", "/v1/analyses", b'{"text": "x"}', {"content-type": "text/plain"}),
    ]


async def hostile(url: str, until: float, seen: Counter[int]) -> None:
    auth = {"authorization": f"Bearer {KEYS['h']}"}
    port = int(url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
    sent = await asyncio.to_thread(attacks)
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        while time.monotonic() < until:
            for method, path, body, headers in sent:
                try:
                    r = await client.request(method, path, content=body, headers={**auth, **headers})
                    seen[r.status_code] += 1
                    r = await client.request(method, path, content=body, headers=headers)  # no key
                    seen[r.status_code] += 1
                except httpx.HTTPError as exc:
                    seen[type(exc).__name__] += 1  # type: ignore[index]
            await asyncio.sleep(0.5)
    for s in idle:
        s.close()


def probe(url: str, seconds: float) -> list[float]:
    """/healthz every 50 ms, in a process of its own: the generator's busy loop (and its GIL) must not
    delay the probe and count as the server's latency."""
    latencies = []
    until = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=10) as client:
        while time.monotonic() < until:
            started = time.perf_counter()
            client.get("/healthz")
            latencies.append(time.perf_counter() - started)
            time.sleep(0.05)
    return latencies


async def prober(url: str, seconds: float, latencies: list[float]) -> None:
    command = [sys.executable, __file__, "--probe", url, "--seconds", str(seconds)]
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    latencies.extend(json.loads(out))


async def main(url: str, clients: int, seconds: float) -> dict[str, object]:
    until = time.monotonic() + seconds
    seen: Counter[int] = Counter()
    bad: Counter[int] = Counter()
    jobs: list = []
    health: list[float] = []
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=180, limits=limits) as client:
        await asyncio.gather(
            *(polite(client, "ab"[n % 2], n, until, seen, jobs) for n in range(clients - 1)),
            hostile(url, until, bad),
            prober(url, seconds, health),
        )
        deadline = time.monotonic() + 300
        states: Counter[str] = Counter()
        for auth, job_id in jobs:
            while True:
                state = (await client.get(f"/v1/batches/{job_id}", headers=auth)).json()["state"]
                if state not in ("queued", "running") or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            states[state] += 1
    return {"polite": seen, "hostile": bad, "health": health, "jobs": states}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (Linux; NaN elsewhere or once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            pass
    return found


def run_mode(model: str, mode: str, clients: int, seconds: float) -> dict[str, Any]:
    """One run against a new server whose large bodies go to `mode` (offload.py: process or thread)."""
    with tempfile.TemporaryDirectory() as tmp:
        load = os.getloadavg()[0]
        url, process = start_server(model, Path(tmp) / "jobs.sqlite", mode)
        try:
            out = asyncio.run(main(url, clients, seconds))
            cpu = cpu_seconds(process.pid)
            workers = sum(cpu_seconds(child) for child in children(process.pid))
        finally:
            process.terminate()
            process.wait()
        log = (Path(tmp) / "server.log").read_text(errors="replace")
        if os.environ.get("PYTHONASYNCIODEBUG"):  # what held the server's loop (asyncio's debug mode)
            slow = [line for line in log.splitlines() if " took " in line]
            print("\n".join(line[:100] + " ... " + line[-30:] for line in slow[-40:]))
    polite_counts, hostile_counts, health = out["polite"], out["hostile"], out["health"]
    five = sum(v for k, v in polite_counts.items() if not isinstance(k, int) or k >= 500)
    p99 = percentile(health, 0.99)
    forged = log.count("\n2026-12-06 00:00:00,000")
    rows = {
        "polite answers by status": dict(sorted(polite_counts.items(), key=str)),
        "polite 5xx or transport errors": five,
        "hostile answers by status": dict(sorted(hostile_counts.items(), key=str)),
        "/healthz probes, p50 / p99 / max ms": f"{len(health)}, {percentile(health, 0.5) * 1000:.1f} /"
        f" {p99 * 1000:.1f} / {max(health) * 1000:.1f}",
        "polite batch jobs by final state": dict(out["jobs"]),
        "forged log lines / raw escapes in the server log": f"{forged} / {log.count(chr(27))}",
        "CPU s: server process / its worker processes": f"{cpu:.1f} / {workers:.1f}",
        "load average (1 min) before / after": f"{load:.1f} / {os.getloadavg()[0]:.1f}",
    }
    return {"rows": rows, "ok": five == 0 and p99 < 0.1 and set(out["jobs"]) <= {"done"}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--delay-ms", type=float, default=200)
    parser.add_argument(
        "--offload",
        default="process",
        help="large bodies in worker processes (process, the default) or the server's threads (thread, the"
        " code before): a comma-separated list runs each in turn, e.g. process,thread",
    )
    parser.add_argument("--probe", metavar="URL", help=argparse.SUPPRESS)  # the prober's own process
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(probe(args.probe, args.seconds)))
        sys.exit(0)
    modes = args.offload.split(",")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    runs = {}
    with fixture(free_port(), args.delay_ms / 1000) as model:
        for mode in modes:
            runs[mode] = run_mode(model, mode, args.clients, args.seconds)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"# load_service: {args.clients} clients (1 hostile), {args.seconds:.0f} s each, fixture")
    print(f"# {args.delay_ms:.0f} ms/call; {machine}; {started}")
    print(f"# python bench/load_service.py {' '.join(sys.argv[1:])}".rstrip())
    print("| measure | " + " | ".join(f"`{mode}`" for mode in modes) + " |")
    print("|---|" + "---|" * len(modes))
    for name in runs[modes[0]]["rows"]:
        print(f"| {name} | " + " | ".join(str(runs[mode]["rows"][name]) for mode in modes) + " |")
    ok = runs[modes[0]]["ok"]  # the verdict is the first mode's; the others are there to compare
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)
