"""Batch jobs over HTTP, in process: submit, status, streamed results with ?after=, cancel, restart-resume,
and every error answer. (kill -9 of a real server: tests/test_service_server.py.)"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.fake_openai import serve as fake_endpoint
from summarizer.model.local import free_port
from summarizer.service.guard import digest
from tests.test_service import ARTICLE, KEY, assert_problem, endpoint, service

pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
__all__ = ["endpoint"]  # the module's fake endpoint fixture, used here too
NDJSON = {"content-type": "application/x-ndjson"}


def jsonl(n: int, *, start: int = 0) -> str:
    return "".join(
        json.dumps({"id": f"a{i:02d}", "text": f"Article {i}. {ARTICLE}"}) + "\n" for i in range(start, n)
    )


async def wait_for(
    client: httpx.AsyncClient, job_id: str, states: tuple[str, ...], **kw: Any
) -> dict[str, Any]:
    for _ in range(600):
        status = (await client.get(f"/v1/batches/{job_id}", **kw)).json()
        if status["state"] in states:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} still {status['state']}")


async def test_a_job_runs_and_its_results_stream_with_after(endpoint: str, tmp_path: Path) -> None:
    async with service(endpoint, jobs_db=tmp_path / "jobs.sqlite") as client:
        submitted = await client.post("/v1/batches?tasks=summary,stances", content=jsonl(5), headers=NDJSON)
        assert submitted.status_code == 202, submitted.text
        job = submitted.json()
        assert submitted.headers["location"] == f"/v1/batches/{job['id']}"
        assert job["state"] == "queued" and job["total"] == 5 and job["tasks"] == ["summary", "stances"]
        status = await wait_for(client, job["id"], ("done",))
        everything = (await client.get(f"/v1/batches/{job['id']}/results")).text.splitlines()
        rest = (await client.get(f"/v1/batches/{job['id']}/results?after=3")).text.splitlines()
        metrics = (await client.get("/metrics")).text
    assert status["done"] == 5 and status["failed"] == 0 and status["pending"] == 0
    assert status["tokens"] == {
        "prompt": 5 * 2 * 900,
        "completion": 5 * 2 * 60,
    }  # two tasks, the fake's usage
    assert sorted(json.loads(line)["id"] for line in everything) == ["a00", "a01", "a02", "a03", "a04"]
    assert rest == everything[3:]
    assert json.loads(everything[0])["analysis"]["events"] is None  # the job's tasks were used
    assert "summarizer_batch_queue_depth 0.0" in metrics
    assert "summarizer_model_calls_total 10.0" in metrics  # 5 articles, 2 tasks: the batch's calls count too
    assert 'summarizer_tokens_total{kind="prompt"} 9000.0' in metrics
    assert (tmp_path / "jobs" / job["id"] / "results.jsonl").exists()


@pytest.mark.parametrize(
    ("body", "query", "status", "detail"),
    [
        ("", "", 400, "the body is empty"),
        ('{"text": "a"}\n{broken\n', "", 400, "body, line 2: not valid JSON"),
        ('{"title": "no text"}\n', "", 400, "body, line 1: no 'text'"),
        (b"\xff\xfe\x00binary".decode("latin-1"), "", 400, "not UTF-8"),
        ('{"text": "a"}\n', "?tasks=limericks", 422, "unknown task(s) limericks"),
    ],
)
async def test_bad_batches_are_problems(
    endpoint: str, tmp_path: Path, body: str, query: str, status: int, detail: str
) -> None:
    content = body.encode("latin-1") if "binary" in body else body.encode()
    async with service(endpoint, jobs_db=tmp_path / "jobs.sqlite") as client:
        r = await client.post(f"/v1/batches{query}", content=content, headers=NDJSON)
    assert_problem(r, status, detail)


async def test_a_batch_as_one_json_array_is_the_same_job_as_its_lines(endpoint: str, tmp_path: Path) -> None:
    # What a client generated from the OpenAPI document sends (it has no NDJSON body).
    items = [json.loads(line) for line in jsonl(3).splitlines()]
    as_json = {"content-type": "application/json"}
    async with service(endpoint, jobs_db=tmp_path / "jobs.sqlite") as client:
        submitted = await client.post("/v1/batches", json=items)
        assert submitted.status_code == 202, submitted.text
        await wait_for(client, submitted.json()["id"], ("done",))
        lines = (await client.get(f"/v1/batches/{submitted.json()['id']}/results")).text.splitlines()
        one = await client.post("/v1/batches", content=json.dumps(items[0]), headers=as_json)  # one line
        empty = await client.post("/v1/batches", json=[])
        broken = await client.post("/v1/batches", content=b'[{"text": "a"}', headers=as_json)
        deep = await client.post("/v1/batches", content=b"[" * 100_000 + b"]" * 100_000, headers=as_json)
        wrong = await client.post("/v1/batches", json=[{"title": "no text"}])
    assert sorted(json.loads(line)["id"] for line in lines) == ["a00", "a01", "a02"]
    assert one.status_code == 202 and one.json()["total"] == 1
    assert_problem(empty, 400, "the body is empty")
    assert_problem(broken, 400, "the body is not valid JSON")
    assert_problem(deep, 400, "nested too deeply")
    assert_problem(wrong, 400, "body, line 1: no 'text'")
    assert sorted(d.name for d in (tmp_path / "jobs").iterdir()) == sorted(
        [submitted.json()["id"], one.json()["id"]]
    )


async def test_jobs_belong_to_their_key_and_unknown_ids_are_404(endpoint: str, tmp_path: Path) -> None:
    other = "someone-else-0123456789"
    mine, theirs = {"authorization": f"Bearer {KEY}"}, {"authorization": f"Bearer {other}"}
    keys = frozenset({digest(KEY), digest(other)})
    async with service(endpoint, jobs_db=tmp_path / "jobs.sqlite", keys=keys) as client:
        no_key = await client.post("/v1/batches", content=jsonl(1), headers=NDJSON)
        job = (await client.post("/v1/batches", content=jsonl(1), headers={**mine, **NDJSON})).json()
        seen_by_other = await client.get(f"/v1/batches/{job['id']}", headers=theirs)
        results_by_other = await client.get(f"/v1/batches/{job['id']}/results", headers=theirs)
        cancel_by_other = await client.delete(f"/v1/batches/{job['id']}", headers=theirs)
        unknown = await client.get("/v1/batches/0000000000000000", headers=mine)
        await wait_for(client, job["id"], ("done",), headers=mine)
    assert_problem(no_key, 401, "missing API key")
    for r in (seen_by_other, results_by_other, cancel_by_other, unknown):
        assert_problem(r, 404, "no batch job")


async def test_cancel_stops_a_running_job_and_keeps_what_finished(tmp_path: Path) -> None:
    with fake_endpoint(free_port(), 0.2) as slow:
        async with service(slow, jobs_db=tmp_path / "jobs.sqlite", batch_concurrency=2) as client:
            job = (await client.post("/v1/batches", content=jsonl(20), headers=NDJSON)).json()
            await wait_for(client, job["id"], ("running",))
            while (await client.get(f"/v1/batches/{job['id']}")).json()["done"] < 1:  # some finished first
                await asyncio.sleep(0.05)
            cancelled = await client.delete(f"/v1/batches/{job['id']}")
            again = await client.delete(f"/v1/batches/{job['id']}")
            await asyncio.sleep(0.5)
            status = (await client.get(f"/v1/batches/{job['id']}")).json()
            lines = (await client.get(f"/v1/batches/{job['id']}/results")).text.splitlines()
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert_problem(again, 409, "already cancelled")
    assert status["state"] == "cancelled" and 0 < status["done"] < 20
    assert len(lines) == status["done"]


async def test_a_job_interrupted_by_shutdown_resumes_on_the_next_start(tmp_path: Path) -> None:
    db = tmp_path / "jobs.sqlite"
    with fake_endpoint(free_port(), 0.2) as slow:
        async with service(slow, jobs_db=db, batch_concurrency=2) as client:
            job = (await client.post("/v1/batches", content=jsonl(12), headers=NDJSON)).json()
            while (await client.get(f"/v1/batches/{job['id']}")).json()["done"] < 3:
                await asyncio.sleep(0.05)
        # Stopped mid-job; a new app on the same database picks it up.
        async with service(slow, jobs_db=db, batch_concurrency=2) as client:
            status = await wait_for(client, job["id"], ("done",))
            ids = [
                json.loads(x)["id"]
                for x in (await client.get(f"/v1/batches/{job['id']}/results")).text.splitlines()
            ]
    assert sorted(ids) == [f"a{i:02d}" for i in range(12)]
    assert status["done"] == 12
