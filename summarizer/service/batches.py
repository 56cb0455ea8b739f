"""The batch routes: submit a JSONL body, read a job's status and its results, cancel it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from ..pipeline.summarizer import parse_tasks
from .core import TASKS_PARAM
from .guard import Caller
from .jobs import JobRunner
from .problems import Problem, documented
from .store import ACTIVE, default_jobs_db, write_input

NDJSON = "application/x-ndjson"
JSON = "application/json"


class Tokens(BaseModel):
    prompt: int
    completion: int


class BatchJob(BaseModel):
    """A batch job's state and counts. `done + partial + failed + pending == total`."""

    id: str
    state: Literal["queued", "running", "done", "cancelled", "failed"]
    tasks: list[str]
    created: str = Field(description="ISO 8601, UTC.")
    updated: str = Field(description="ISO 8601, UTC.")
    total: int = Field(description="Articles in the job.")
    done: int = Field(description="Articles with a complete analysis.")
    partial: int = Field(description="Articles with an analysis that misses some pieces.")
    failed: int = Field(description="Articles without an analysis.")
    pending: int = Field(description="Articles not finished yet.")
    tokens: Tokens
    cost_usd: float | None = Field(description="None when the model's price is unknown.")
    error: str | None = Field(description="Why the job failed, when it did.")


class BatchLine(BaseModel):
    """One line of a batch body, as `summarizer batch` reads it (`article` is accepted for `text` too).
    The reader takes any JSON value for the optional fields and reads it as text, so the schema leaves
    them open."""

    text: str = Field(min_length=1, description="The article as plain text.")
    id: Any = Field(default=None, description="Default: a hash of the text.")
    title: Any = None
    url: Any = None
    published: Any = Field(default=None, description="YYYY-MM-DD.")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


# Components of the OpenAPI document (openapi.py adds them), so that a generated client has the models of
# a line in and a line out, and reads each result line into them.
SCHEMAS: dict[str, Any] = {
    "BatchLine": BatchLine.model_json_schema(),
    "BatchResult": {
        "title": "BatchResult",
        "description": "One line of a job's results.",
        "type": "object",
        "properties": {"id": {"type": "string"}, "analysis": _ref("ArticleAnalysis")},
        "required": ["id", "analysis"],
    },
}
_LINES = {"type": "array", "minItems": 1, "items": _ref("BatchLine")}
# NDJSON, as `summarizer batch` reads a file; or one JSON array of the same objects, which is what clients
# generated from the document can send (openapi-python-client skips a body it only has as NDJSON).
_BODY = {
    "description": "The articles: one JSON object a line (NDJSON, each item below on a line of its own), or"
    " one JSON array of them (application/json).",
    "required": True,
    "content": {NDJSON: {"schema": _LINES}, JSON: {"schema": _LINES}},
}
# Where a client (or schemathesis' stateful tests) goes from a new job.
_LINKS = {
    name: {"operationId": op, "parameters": {"job_id": "$response.body#/id"}}
    for name, op in (
        ("GetBatch", "get_batch"),
        ("GetBatchResults", "get_batch_results"),
        ("CancelBatch", "cancel_batch"),
    )
}
_RESULTS = {
    "description": "The finished articles, one BatchResult a line (NDJSON: each item below on a line of its"
    " own), in the order they finished.",
    "content": {NDJSON: {"schema": {"type": "array", "items": _ref("BatchResult")}}},
}


def add_batch_routes(app: FastAPI, service: Any) -> None:
    config = service.config
    db = Path(config.jobs_db or default_jobs_db())
    runner = JobRunner(db, config.batch_concurrency, service.prices, service.metrics, config.running_jobs)
    service.jobs = runner
    caps = (config.max_jobs_per_key, config.max_articles_per_key)

    @app.post(
        "/v1/batches",
        status_code=202,
        tags=["batches"],
        operation_id="create_batch",
        response_model=BatchJob,
        responses={202: {"description": "Queued.", "links": _LINKS}, **documented(400, 413, 415, 422, 429)},
        openapi_extra={"requestBody": _BODY},
    )
    async def submit(
        request: Request,
        who: Caller,
        tasks: str | None = Query(None, json_schema_extra=TASKS_PARAM, description="Default: all three."),
    ) -> JSONResponse:
        """Queue a batch job. Answered at once with the job; it runs in the background and survives
        restarts."""
        chosen: list[str] = list(parse_tasks(tasks or None))
        body = await request.body()
        array = request.headers.get("content-type", "").split(";")[0].strip().lower() == JSON
        service.spend.check_key(who)
        service.guard.admit(who)
        try:
            job_id, source = runner.store.new_input()
            # A 2 MB body is 50,000 articles to parse: in a worker process (offload.py says why).
            total = await service.offload.run(len(body), write_input, source, body, array)
            job = await asyncio.to_thread(runner.store.queue, job_id, who, chosen, total, caps)
        finally:
            service.guard.release(who)
        runner.submitted()
        return JSONResponse(job, status_code=202, headers={"Location": f"/v1/batches/{job['id']}"})

    @app.get(
        "/v1/batches/{job_id}",
        tags=["batches"],
        operation_id="get_batch",
        response_model=BatchJob,
        responses=documented(404),
    )
    async def status(job_id: str, who: Caller) -> dict[str, Any]:
        """State, counts, tokens and cost so far."""
        return await asyncio.to_thread(runner.store.get, job_id, who)

    @app.get(
        "/v1/batches/{job_id}/results",
        tags=["batches"],
        operation_id="get_batch_results",
        response_class=StreamingResponse,
        responses={200: _RESULTS, **documented(404)},
    )
    async def results(job_id: str, who: Caller, after: int = Query(0, ge=0)) -> Response:
        """The finished articles, streamed. `?after=N` skips the first N lines: pass the number of lines
        already read to continue."""
        await asyncio.to_thread(runner.store.get, job_id, who)
        _, path, _ = runner.store.files(job_id)
        return StreamingResponse(_stream(path, after), media_type=NDJSON)

    @app.delete(
        "/v1/batches/{job_id}",
        tags=["batches"],
        operation_id="cancel_batch",
        response_model=BatchJob,
        responses=documented(404, 409),
    )
    async def cancel(job_id: str, who: Caller) -> dict[str, Any]:
        """Cancel a queued or running job; its finished articles stay available."""
        job = await asyncio.to_thread(runner.store.get, job_id, who)
        if job["state"] not in ACTIVE or not runner.cancel(job_id):
            job = await asyncio.to_thread(runner.store.get, job_id, who)
            raise Problem(409, f"batch job {job_id} is already {job['state']}", kind="conflict")
        return await asyncio.to_thread(runner.store.get, job_id, who)


async def _stream(path: Path, after: int) -> AsyncIterator[bytes]:
    """Complete lines only (one being appended right now is not finished), read in blocks off the loop."""
    if not path.exists():
        return
    size = os.path.getsize(path)
    seen = 0
    with path.open("rb") as f:
        pending = b""
        while f.tell() < size:
            block = pending + await asyncio.to_thread(f.read, min(1 << 16, size - f.tell()))
            *lines, pending = block.split(b"\n")
            out = []
            for line in lines:
                seen += 1
                if seen > after:
                    out.append(line + b"\n")
            if out:
                yield b"".join(out)
