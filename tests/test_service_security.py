"""Issue 19, security: a keyless server answers only to this machine (Host, Origin, media types), one key
learns nothing of another's articles through the cache, callers see no internal URL or server path, and
the access log cannot be forged through the path."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from summarizer.model.cache import ResponseCache
from summarizer.service.guard import digest
from tests.test_service import ARTICLE, KEY, assert_problem, calls, endpoint, service
from tests.test_service_jobs import jsonl, wait_for

pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
__all__ = ["endpoint"]


# --- item 8: CSRF and DNS rebinding on a keyless server ----------------------------------------------------


async def test_a_keyless_server_refuses_other_hosts_other_origins_and_simple_posts(endpoint: str) -> None:
    body = {"text": ARTICLE}
    async with service(endpoint) as client:
        before = calls(endpoint)
        rebound = await client.post("/v1/analyses", json=body, headers={"host": "attacker.example:8000"})
        cross_site = await client.post(
            "/v1/analyses", json=body, headers={"origin": "https://attacker.example"}
        )
        simple_batch = await client.post(
            "/v1/batches", content=jsonl(1), headers={"content-type": "text/plain"}
        )
        no_type = await client.post("/v1/analyses", content=b'{"text": "x"}')
        called = calls(endpoint) - before
        # This machine's own names and pages are served.
        local = await client.get(
            "/v1/schema", headers={"host": "127.0.0.1:8000", "origin": "http://localhost:8000"}
        )
    assert_problem(rebound, 421, "loopback Host")
    assert_problem(cross_site, 403, "cross-site")
    assert_problem(simple_batch, 415, "application/x-ndjson")
    assert_problem(no_type, 415, "application/json")
    assert called == 0
    assert local.status_code == 200


async def test_a_keyed_server_serves_any_host(endpoint: str) -> None:
    headers = {"authorization": f"Bearer {KEY}", "host": "summarizer.internal"}
    async with service(endpoint, keys=frozenset({digest(KEY)})) as client:
        r = await client.get("/v1/schema", headers=headers)
    assert r.status_code == 200


# --- item 10: leaks -----------------------------------------------------------------------------------------


async def test_one_key_does_not_see_another_keys_cache_hits(endpoint: str, tmp_path: Path) -> None:
    other = "other-key-0123456789abcdef"
    keys = frozenset({digest(KEY), digest(other)})
    text = ARTICLE + "\nonly key A has sent this"
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        async with service(endpoint, cache=cache, keys=keys) as client:
            a = await client.post(
                "/v1/analyses", json={"text": text}, headers={"authorization": f"Bearer {KEY}"}
            )
            again = await client.post(
                "/v1/analyses", json={"text": text}, headers={"authorization": f"Bearer {KEY}"}
            )
            before = calls(endpoint)
            b = await client.post(
                "/v1/analyses", json={"text": text}, headers={"authorization": f"Bearer {other}"}
            )
            called = calls(endpoint) - before
    assert a.status_code == again.status_code == b.status_code == 200
    assert all(run["cached"] for run in again.json()["metadata"]["tasks"].values()), "a key's own repeat hits"
    assert not any(run["cached"] for run in b.json()["metadata"]["tasks"].values())
    assert called == 3


async def test_a_failed_jobs_error_holds_no_server_path(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import summarizer.service.jobs as jobs

    async def disk_full(*args: Any, **kw: Any) -> Any:
        raise OSError(28, "No space left on device", str(tmp_path / "jobs" / "x" / "results.jsonl"))

    monkeypatch.setattr(jobs, "run_batch", disk_full)
    async with service(endpoint, jobs_db=tmp_path / "jobs.sqlite") as client:
        job = (
            await client.post(
                "/v1/batches", content=jsonl(1), headers={"content-type": "application/x-ndjson"}
            )
        ).json()
        status = await wait_for(client, job["id"], ("failed", "done"))
    assert status["state"] == "failed" and "No space left on device" in status["error"]
    assert str(tmp_path) not in status["error"] and "/jobs/" not in status["error"]


# --- item 11: log forgery -------------------------------------------------------------------------------


async def test_the_access_log_escapes_the_path(endpoint: str, caplog: pytest.LogCaptureFixture) -> None:
    forged = (
        "/v1/batches/x%0A2026-12-06%2000:00:00,000%20summarizer.access%20POST%20/v1/admin/keys%20200%201ms"
    )
    with caplog.at_level(logging.INFO, logger="summarizer.access"):
        async with service(endpoint, keys=frozenset({digest(KEY)})) as client:
            await client.get(forged)
            await client.get("/v1/batches/%1b[31mred")
    lines = [r.getMessage() for r in caplog.records if r.name == "summarizer.access"]
    assert len(lines) == 2
    for line in lines:
        assert "\n" not in line and "\x1b" not in line and " 401 " in line, line
    assert "%0A" in lines[0] and "%1B" in lines[1]


# --- item 9: spend bounds and pruning -------------------------------------------------------------------


async def test_spend_is_bounded_per_request_and_per_key(endpoint: str, tmp_path: Path) -> None:
    from summarizer.service.budget import Budget

    other = "other-key-0123456789abcdef"
    keys = frozenset({digest(KEY), digest(other)})
    a, b = ({"authorization": f"Bearer {k}"} for k in (KEY, other))
    # The fake answers 900 prompt + 60 completion tokens a call: three calls are 2,880 tokens.
    budget = Budget(request_tokens=20_000, key_tokens_per_day=3_000)
    async with service(endpoint, keys=keys, budget=budget, jobs_db=tmp_path / "jobs.sqlite") as client:
        before = calls(endpoint)
        huge = await client.post("/v1/analyses", json={"text": ARTICLE * 12}, headers=a)
        assert calls(endpoint) == before, "an analysis over the request budget reached the model"
        first = await client.post("/v1/analyses", json={"text": ARTICLE}, headers=a)
        second = await client.post("/v1/analyses", json={"text": ARTICLE + " again"}, headers=a)
        third = await client.post("/v1/analyses", json={"text": ARTICLE + " and again"}, headers=a)
        batch = await client.post(
            "/v1/batches", content=jsonl(1), headers={**a, "content-type": "application/x-ndjson"}
        )
        others = await client.post("/v1/analyses", json={"text": ARTICLE}, headers=b)
    assert_problem(huge, 413, "one request may use 20,000")
    assert first.status_code == 200 and second.status_code == 200  # 2,880 < 3,000 before the second
    assert_problem(third, 429, "3,000 tokens for today")
    assert 1 <= int(third.headers["retry-after"]) <= 86400
    assert_problem(batch, 429, "tokens for today")
    assert others.status_code == 200


async def test_a_batch_job_stops_when_its_keys_budget_is_spent(tmp_path: Path) -> None:
    from bench.fake_openai import serve as fake_endpoint
    from summarizer.model.local import free_port
    from summarizer.service.budget import Budget

    with fake_endpoint(free_port(), 0.05) as slow:
        budget = Budget(key_tokens_per_day=3 * 2_880)
        async with service(
            slow, budget=budget, jobs_db=tmp_path / "jobs.sqlite", batch_concurrency=1
        ) as client:
            job = (
                await client.post(
                    "/v1/batches", content=jsonl(10), headers={"content-type": "application/x-ndjson"}
                )
            ).json()
            status = await wait_for(client, job["id"], ("failed", "done"))
    assert status["state"] == "failed" and "tokens for today" in status["error"]
    assert 3 <= status["done"] < 10


async def test_old_finished_jobs_are_pruned_with_their_files(endpoint: str, tmp_path: Path) -> None:
    import sqlite3
    import time

    from summarizer.service.budget import Budget

    db = tmp_path / "jobs.sqlite"
    async with service(endpoint, jobs_db=db) as client:
        old = (
            await client.post(
                "/v1/batches", content=jsonl(1), headers={"content-type": "application/x-ndjson"}
            )
        ).json()
        await wait_for(client, old["id"], ("done",))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE jobs SET updated = ? WHERE id = ?", (time.time() - 40 * 86400, old["id"]))
    async with service(endpoint, jobs_db=db, budget=Budget(keep_days=30)) as client:
        for _ in range(100):
            gone = await client.get(f"/v1/batches/{old['id']}")
            if gone.status_code == 404:
                break
            await asyncio.sleep(0.05)
    assert gone.status_code == 404
    assert not (tmp_path / "jobs" / old["id"]).exists()
