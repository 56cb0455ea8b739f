"""Issue 19, "no request stops it": the batch worker survives what one job does, the server's loop stays
free while an analysis computes, keys share the batch runner fairly, the key is checked before the body is
read, any 500 is a problem document, a nested body is refused without leftovers, and job counts and
claims hold over restarts and a second server."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from bench.fake_openai import serve as fake_endpoint
from summarizer.model.local import free_port
from summarizer.pipeline import Summarizer
from summarizer.service.guard import digest
from tests.test_service import ARTICLE, KEY, PROBLEM, assert_problem, endpoint, service
from tests.test_service_jobs import jsonl, wait_for

pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
__all__ = ["endpoint"]
NDJSON = {"content-type": "application/x-ndjson"}


def fail_first_batch(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> list[int]:
    """The first job the runner starts raises `error` from inside the batch code; later ones run."""
    import summarizer.service.jobs as jobs

    real, started = jobs.run_batch, [0]

    async def flaky(*args: Any, **kw: Any) -> Any:
        started[0] += 1
        if started[0] == 1:
            raise error
        return await real(*args, **kw)

    monkeypatch.setattr(jobs, "run_batch", flaky)
    return started


# --- item 1: the worker survives any job ----------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
        sqlite3.OperationalError("database is locked"),
    ],
    ids=["unicode", "sqlite-busy"],
)
async def test_a_job_that_raises_fails_with_a_reason_and_the_next_one_runs(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    fail_first_batch(monkeypatch, error)
    async with service(endpoint, jobs_db=tmp_path / "jobs.sqlite") as client:
        first = (await client.post("/v1/batches", content=jsonl(1), headers=NDJSON)).json()
        second = (await client.post("/v1/batches", content=jsonl(2), headers=NDJSON)).json()
        failed = await wait_for(client, first["id"], ("failed", "done"))
        done = await wait_for(client, second["id"], ("failed", "done"))
        ready = await client.get("/readyz")
    assert failed["state"] == "failed" and failed["error"]
    assert type(error).__name__ in failed["error"]
    assert str(tmp_path) not in failed["error"]
    assert done["state"] == "done" and done["done"] == 2
    assert ready.status_code == 200


async def test_a_job_whose_input_went_missing_fails_and_the_next_one_runs(tmp_path: Path) -> None:
    with fake_endpoint(free_port(), 0.2) as slow:
        async with service(slow, jobs_db=tmp_path / "jobs.sqlite", batch_concurrency=1) as client:
            busy = (await client.post("/v1/batches", content=jsonl(20), headers=NDJSON)).json()
            await wait_for(client, busy["id"], ("running",))
            lost = (await client.post("/v1/batches", content=jsonl(1), headers=NDJSON)).json()
            later = (await client.post("/v1/batches", content=jsonl(2), headers=NDJSON)).json()
            (tmp_path / "jobs" / lost["id"] / "input.jsonl").unlink()
            await client.delete(f"/v1/batches/{busy['id']}")
            failed = await wait_for(client, lost["id"], ("failed", "done"))
            done = await wait_for(client, later["id"], ("failed", "done"))
    assert failed["state"] == "failed" and "no such file" in failed["error"].lower()
    assert str(tmp_path) not in failed["error"]
    assert done["state"] == "done" and done["done"] == 2


class Crash(BaseException):
    """Stands in for what ends a worker outright (as a crash of the process would)."""


async def test_a_job_that_kills_the_worker_twice_is_failed_and_readyz_says_so(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import summarizer.service.jobs as jobs

    real = jobs.run_batch

    async def deadly(inputs: Any, *args: Any, **kw: Any) -> Any:
        if any(item.id == "a00" for item in inputs):
            raise Crash
        return await real(inputs, *args, **kw)

    monkeypatch.setattr(jobs, "run_batch", deadly)
    db = tmp_path / "jobs.sqlite"
    for attempt in (1, 2):
        async with service(endpoint, jobs_db=db) as client:
            if attempt == 1:
                killer = (await client.post("/v1/batches", content=jsonl(1), headers=NDJSON)).json()
                later = (await client.post("/v1/batches", content=jsonl(3, start=1), headers=NDJSON)).json()
            for _ in range(100):
                ready = await client.get("/readyz")
                if ready.status_code == 503:
                    break
                await asyncio.sleep(0.05)
            assert_problem(ready, 503, "batch worker stopped")
            assert (await client.get(f"/v1/batches/{killer['id']}")).json()["state"] == "running"
    async with service(endpoint, jobs_db=db) as client:
        status = (await client.get(f"/v1/batches/{killer['id']}")).json()
        rest = await wait_for(client, later["id"], ("done", "failed"))
        ready = await client.get("/readyz")
    assert status["state"] == "failed" and "stopped 2 times" in status["error"]
    assert rest["state"] == "done" and rest["done"] == 2
    assert ready.status_code == 200


# --- item 2: the server's loop stays free -----------------------------------------------------------------


async def test_healthz_answers_within_100_ms_while_an_analysis_computes(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Summarizer.segment

    def slow_segment(self: Summarizer, *args: Any, **kw: Any) -> Any:
        stop = time.perf_counter() + 1.5  # CPU-bound, as a large article's segmenting is
        while time.perf_counter() < stop:
            sum(range(1000))
        return real(self, *args, **kw)

    monkeypatch.setattr(Summarizer, "segment", slow_segment)
    async with service(endpoint) as client:
        asked = time.perf_counter()
        analysis = asyncio.create_task(client.post("/v1/analyses", json={"text": ARTICLE}))
        lags = []
        for _ in range(6):  # each probe is due 50 ms after the last: how late does its answer come?
            due = time.perf_counter() + 0.05
            await asyncio.sleep(0.05)
            assert (await client.get("/healthz")).status_code == 200
            lags.append(time.perf_counter() - due)
        assert not analysis.done(), "the slow analysis ended before /healthz was asked"
        assert (await analysis).status_code == 200
    assert time.perf_counter() - asked > 1.5
    assert max(lags) < 0.1, lags


# --- item 3: fair between keys, bounded per key ----------------------------------------------------------


async def test_one_keys_large_job_does_not_hold_back_another_keys_small_one(tmp_path: Path) -> None:
    other = "other-key-0123456789abcdef"
    a, b = ({"authorization": f"Bearer {k}", **NDJSON} for k in (KEY, other))
    keys = frozenset({digest(KEY), digest(other)})
    with fake_endpoint(free_port(), 0.1) as slow:
        async with service(slow, jobs_db=tmp_path / "jobs.sqlite", keys=keys, batch_concurrency=2) as client:
            big = (await client.post("/v1/batches", content=jsonl(40), headers=a)).json()
            await wait_for(client, big["id"], ("running",), headers=a)
            small = (await client.post("/v1/batches", content=jsonl(1), headers=b)).json()
            small_done = await wait_for(client, small["id"], ("done",), headers=b)
            big_then = (await client.get(f"/v1/batches/{big['id']}", headers=a)).json()
            await client.delete(f"/v1/batches/{big['id']}", headers=a)
    assert small_done["done"] == 1
    assert big_then["state"] == "running" and big_then["pending"] > 0


async def test_queued_jobs_and_articles_are_capped_per_key(endpoint: str, tmp_path: Path) -> None:
    with fake_endpoint(free_port(), 0.5) as slow:
        async with service(
            slow, jobs_db=tmp_path / "jobs.sqlite", max_jobs_per_key=2, max_articles_per_key=5
        ) as c:
            first = await c.post("/v1/batches", content=jsonl(2), headers=NDJSON)
            second = await c.post("/v1/batches", content=jsonl(4, start=2), headers=NDJSON)
            third = await c.post("/v1/batches", content=jsonl(5, start=4), headers=NDJSON)
            for job in (first, second):
                assert job.status_code == 202, job.text
                await c.delete(f"/v1/batches/{job.json()['id']}")
            too_many_articles = await c.post("/v1/batches", content=jsonl(6), headers=NDJSON)
    assert first.status_code == second.status_code == 202
    assert_problem(third, 429, "at most 2 jobs")
    assert third.headers["retry-after"]
    assert_problem(too_many_articles, 429, "5 articles")
    assert sorted(p.name for p in (tmp_path / "jobs").iterdir()) == sorted(
        job.json()["id"] for job in (first, second)
    ), "a refused job leaves nothing on disk"


# --- item 4: the key before the body ---------------------------------------------------------------------


async def test_the_key_is_checked_before_the_body_is_read(endpoint: str) -> None:
    async with service(endpoint, keys=frozenset({digest(KEY)})) as client:
        app = client.app  # type: ignore[attr-defined]
        read: list[bool] = []
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            read.append(True)
            await asyncio.sleep(3600)  # a client that never sends its body
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/analyses",
            "raw_path": b"/v1/analyses",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"localhost"), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        await asyncio.wait_for(app(scope, receive, send), 5)
    assert sent[0]["status"] == 401 and not read


# --- item 5: any 500 is a problem document ---------------------------------------------------------------


async def test_an_unexpected_error_is_a_problem_with_a_request_id_logged_with_its_traceback(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import summarizer.service.app as app_module

    def broken(tasks: Any) -> Any:
        raise RuntimeError("a bug somewhere")

    monkeypatch.setattr(app_module, "parse_tasks", broken)
    async with service(endpoint) as client:
        r = await client.post("/v1/analyses", json={"text": ARTICLE})
        after = await client.get("/healthz")
    body = assert_problem(r, 500, "internal error")
    rid = body["request_id"]
    assert r.headers["x-request-id"] == rid and "a bug" not in r.text
    logged = [rec for rec in caplog.records if rid in rec.getMessage() and rec.exc_info]
    assert logged and "a bug somewhere" in str(logged[0].exc_info[1])
    assert after.status_code == 200


# --- item 6: a nested line --------------------------------------------------------------------------------


async def test_a_deeply_nested_line_is_400_and_leaves_nothing_on_disk(endpoint: str, tmp_path: Path) -> None:
    nested = '{"text": "a"}\n' + "[" * 100_000 + "]" * 100_000 + "\n"
    async with service(endpoint, jobs_db=tmp_path / "jobs.sqlite") as client:
        r = await client.post("/v1/batches", content=nested.encode(), headers=NDJSON)
        deep = await client.post(
            "/v1/analyses",
            content=b'{"text": ' + b"[" * 100_000,
            headers={"content-type": "application/json"},
        )
    assert_problem(r, 400, "line 2: nested too deeply")
    assert list((tmp_path / "jobs").iterdir()) == []
    assert deep.status_code == 400 and deep.headers["content-type"] == PROBLEM


# --- item 7: job data over restarts, one server per database ----------------------------------------------


async def test_counts_and_results_hold_over_a_restart_with_failed_articles(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite"
    lines = [json.dumps({"id": f"f{i}", "text": f"FAIL-ME {i}. {ARTICLE}"}) + "\n" for i in range(2)]
    body = "".join(lines) + jsonl(10)
    with fake_endpoint(free_port(), 0.2, fail_marker="FAIL-ME") as slow:
        async with service(slow, jobs_db=db, batch_concurrency=2) as client:
            job = (await client.post("/v1/batches", content=body, headers=NDJSON)).json()
            while (await client.get(f"/v1/batches/{job['id']}")).json()["done"] < 3:
                await asyncio.sleep(0.05)
        async with service(slow, jobs_db=db, batch_concurrency=2) as client:
            status = await wait_for(client, job["id"], ("done",))
            ids = [
                json.loads(x)["id"]
                for x in (await client.get(f"/v1/batches/{job['id']}/results")).text.splitlines()
            ]
    assert status["total"] == 12 and status["done"] == 10 and status["failed"] == 2
    assert status["done"] + status.get("partial", 0) + status["failed"] + status["pending"] == status["total"]
    assert sorted(ids) == [f"a{i:02d}" for i in range(10)]


async def test_a_second_server_on_the_same_jobs_database_is_refused(endpoint: str, tmp_path: Path) -> None:
    from summarizer.core.errors import ConfigError

    db = tmp_path / "jobs.sqlite"
    async with service(endpoint, jobs_db=db) as first:
        with pytest.raises(ConfigError, match="another summarizer serve is using the jobs database"):
            async with service(endpoint, jobs_db=db):
                pass
        assert (await first.get("/healthz")).status_code == 200


def test_a_job_is_claimed_once(tmp_path: Path) -> None:
    """Item 7: claiming is one conditional UPDATE: of two claims of one queued job, one wins."""
    from summarizer.service.store import JobStore

    store = JobStore(tmp_path / "jobs.sqlite")
    try:
        job = store.create("k", b'{"text": "The minister spoke."}\n', [], (10, 100))
        assert store.claim(job["id"]) is not None
        assert store.claim(job["id"]) is None
    finally:
        store.close()


def test_the_tally_counts_each_article_once_and_reads_only_what_was_appended(tmp_path: Path) -> None:
    """Item 3 and 7: counts kept incrementally (not by reading the whole file after every article), an
    article counted once (done, partial or failed), a line being written not counted yet."""
    from summarizer.service.store import Tally

    results, failures = tmp_path / "results.jsonl", tmp_path / "failures.jsonl"
    tally = Tally(results, failures)
    line = lambda i, complete: json.dumps({"id": i, "analysis": {"complete": complete}}) + "\n"  # noqa: E731
    results.write_text(line("a", True) + line("b", False))
    failures.write_text(json.dumps({"id": "b"}) + "\n" + json.dumps({"id": "c"}) + "\n")
    assert tally.update() == (1, 1, 1)  # a done, b partial (not also failed), c failed
    offset = tally._offsets[0]
    with results.open("a") as f:
        f.write(line("d", True) + '{"id": "e", "analy')  # e is still being written
    assert tally.update() == (2, 1, 1)
    assert tally._offsets[0] == offset + len(line("d", True))
    failures.write_text(json.dumps({"id": "c"}) + "\n")  # pruned: rewritten shorter
    assert tally.update() == (2, 1, 1)
