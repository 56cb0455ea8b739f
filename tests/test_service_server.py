"""`summarizer serve` as a real process on loopback: it answers, refuses to start where it must, and on
SIGTERM finishes the request in flight before it exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bench.fake_openai import serve as fake_endpoint
from summarizer.model.local import free_port

pytestmark = [pytest.mark.system, pytest.mark.block_network(allowed_hosts=["127.0.0.1"])]
ARTICLE = (Path(__file__).resolve().parent.parent / "bench" / "article.txt").read_text()
KEY = "process-key-0123456789abcdef"


def summarizer_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "summarizer", *args]


@contextmanager
def serve_process(
    base_url: str, jobs_db: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    command = summarizer_command(
        "serve", "--port", str(port), "--base-url", base_url, "--model", "m", "--jobs-db", str(jobs_db), *args
    )
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_serves_and_finishes_the_request_in_flight_on_sigterm(tmp_path: Path) -> None:
    with (
        fake_endpoint(free_port(), 3.0) as endpoint,
        serve_process(endpoint, tmp_path / "jobs.sqlite", env={"SUMMARIZER_SERVER_KEYS": KEY}) as (
            url,
            process,
        ),
    ):
        headers = {"authorization": f"Bearer {KEY}"}
        assert httpx.get(url + "/readyz").json()["status"] == "ready"
        assert httpx.post(url + "/v1/analyses", json={"text": ARTICLE}).status_code == 401
        answer: dict[str, httpx.Response] = {}
        request = threading.Thread(
            target=lambda: answer.update(
                r=httpx.post(url + "/v1/analyses", json={"text": ARTICLE}, headers=headers, timeout=30)
            )
        )
        request.start()
        time.sleep(0.7)  # the request is waiting on the (slow) model endpoint, 2.3 s more
        process.send_signal(signal.SIGTERM)
        request.join()
        assert process.wait(timeout=30) == 130  # the CLI's code for an interrupted command
        stderr = process.stderr.read() if process.stderr else ""
    assert answer["r"].status_code == 200, answer["r"].text
    assert answer["r"].json()["metadata"]["model"] == "m"
    assert "POST /v1/analyses 200" in stderr and KEY not in stderr and "Traceback" not in stderr
    assert stderr.rstrip().endswith("interrupted (SIGTERM): stopped")


def test_refuses_a_public_address_without_keys() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SUMMARIZER_SERVER_KEYS"}
    done = subprocess.run(
        summarizer_command(
            "serve", "--host", "0.0.0.0", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"
        ),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: refusing to listen on 0.0.0.0 without API keys")
    assert len(done.stderr.strip().splitlines()) <= 2  # one message (wrapped), no traceback


def test_batch_job_resumes_after_kill_9_without_losing_or_repeating_articles(tmp_path: Path) -> None:
    n = 24
    body = "".join(
        json.dumps({"id": f"a{i:02d}", "text": f"Article {i}. {ARTICLE}"}) + "\n" for i in range(n)
    )
    db = tmp_path / "jobs.sqlite"
    with fake_endpoint(free_port(), 0.3) as endpoint:
        with serve_process(endpoint, db, "--batch-concurrency", "4") as (url, process):
            job = httpx.post(
                url + "/v1/batches", content=body, headers={"content-type": "application/x-ndjson"}
            ).json()
            status = job
            while status["done"] < 6:
                time.sleep(0.1)
                status = httpx.get(url + f"/v1/batches/{job['id']}").json()
            os.killpg(process.pid, signal.SIGKILL)  # the server and anything it started
            process.wait()
        with serve_process(endpoint, db, "--batch-concurrency", "4") as (url, _):
            while (status := httpx.get(url + f"/v1/batches/{job['id']}").json())["state"] != "done":
                time.sleep(0.2)
            lines = httpx.get(url + f"/v1/batches/{job['id']}/results").text.splitlines()
        model_calls = httpx.get(endpoint.removesuffix("/v1") + "/calls").json()["n"]
    ids = [json.loads(line)["id"] for line in lines]
    assert sorted(ids) == [f"a{i:02d}" for i in range(n)], "an article lost or done twice"
    assert status["done"] == n and status["failed"] == 0 and status["pending"] == 0
    # Three calls an article; only the (at most 4) articles in flight at the kill ran twice.
    assert 3 * n <= model_calls <= 3 * (n + 4), model_calls


def test_idle_and_trickling_connections_are_closed_after_the_read_timeout(tmp_path: Path) -> None:
    """Issue 19, item 4: sockets that send nothing, or headers a byte at a time, are not held for ever."""
    import socket

    def closed_within(sock: socket.socket, seconds: float) -> bool:
        sock.settimeout(seconds)
        try:
            return sock.recv(1024) == b""  # the server closed it (no answer to a request never sent)
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True

    with (
        fake_endpoint(free_port(), 0.01) as endpoint,
        serve_process(endpoint, tmp_path / "jobs.sqlite", "--read-timeout", "1") as (url, _),
    ):
        port = int(url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
        trickling = socket.create_connection(("127.0.0.1", port))
        started = time.monotonic()
        for byte in b"GET /healthz HTTP/1.1\r\n":  # a byte every 0.2 s: headers never complete in time
            try:
                trickling.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
            if time.monotonic() - started > 3:
                break
        assert all(closed_within(s, 3) for s in idle)
        assert closed_within(trickling, 3)
        assert httpx.get(url + "/healthz").status_code == 200  # and it still serves the others
        for s in [*idle, trickling]:
            s.close()
