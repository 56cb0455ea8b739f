"""Issue 19, the OpenAPI document is what clients build on: its shape (offline), and schemathesis against
the running app with the fake endpoint (`system`): every default check, positive and negative data,
bounded examples, zero failures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bench.fake_openai import in_thread
from bench.fake_openai import serve as fake_endpoint
from summarizer.model.local import free_port
from summarizer.service.guard import Limits, digest
from tests.conftest import missing
from tests.test_service import KEY, endpoint, service

pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
__all__ = ["endpoint"]
HERE = Path(__file__).resolve().parent
PROBLEM_REF = "#/components/schemas/Problem"


async def test_the_document_says_what_the_service_does(endpoint: str) -> None:
    async with service(endpoint, keys=frozenset({digest(KEY)})) as client:
        doc = (await client.get("/openapi.json")).json()
        options = await client.options("/v1/batches/x", headers={"authorization": f"Bearer {KEY}"})
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    ops = {
        op["operationId"]: (path, method, op) for path, item in paths.items() for method, op in item.items()
    }
    assert {"create_analysis", "create_batch", "get_batch", "get_batch_results", "cancel_batch"} <= set(ops)
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key of the server's.",
    }
    # One Problem schema on every error; no FastAPI validation model.
    assert "HTTPValidationError" not in schemas and "Problem" in schemas
    for _, _, op in ops.values():
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                assert response["content"]["application/problem+json"]["schema"] == {"$ref": PROBLEM_REF}
    for path, item in paths.items():
        if path.startswith("/v1/") or path == "/metrics":
            for op in item.values():
                assert op["security"] == [{"bearer": []}] and "401" in op["responses"], path
    # NDJSON in and out, typed job status, /metrics as text.
    create = ops["create_batch"][2]
    assert "application/x-ndjson" in create["requestBody"]["content"] and create["requestBody"]["required"]
    assert "application/x-ndjson" in ops["get_batch_results"][2]["responses"]["200"]["content"]
    job = create["responses"]["202"]["content"]["application/json"]["schema"]
    assert job == {"$ref": "#/components/schemas/BatchJob"}
    assert schemas["BatchJob"]["properties"]["state"]["enum"] == [
        "queued",
        "running",
        "done",
        "cancelled",
        "failed",
    ]
    assert "text/plain" in ops["metrics"][2]["responses"]["200"]["content"]
    # text or html: said in the document, as the service needs it (inside allOf: beside `properties`, a
    # generator reads oneOf as the whole model).
    assert "oneOf" not in schemas["AnalysisRequest"]
    assert len(schemas["AnalysisRequest"]["allOf"][0]["oneOf"]) == 2
    # Batch lines as JSON too (what generated clients send), and the models of a line in and out.
    assert create["requestBody"]["content"]["application/json"]["schema"]["items"] == {
        "$ref": "#/components/schemas/BatchLine"
    }
    results = ops["get_batch_results"][2]["responses"]["200"]["content"]["application/x-ndjson"]["schema"]
    assert results["items"] == {"$ref": "#/components/schemas/BatchResult"}
    assert set(options.headers["allow"].replace(" ", "").split(",")) == {"GET", "DELETE"}


@contextmanager
def running_app(base_url: str, **overrides: Any) -> Iterator[str]:
    from summarizer.model.settings import resolve_settings
    from summarizer.service.app import ServiceConfig, create_app

    settings = resolve_settings(base_url=base_url, model="bench-model", max_retries=0, env={})
    jobs = tempfile.TemporaryDirectory()
    defaults: dict[str, Any] = {
        "keys": frozenset({digest(KEY)}),
        "cache": False,
        "prices": {},
        "jobs_db": Path(jobs.name) / "jobs.sqlite",
        "limits": Limits(per_minute=100_000, concurrent=64),
    }
    config = ServiceConfig(**{**defaults, **overrides})
    try:
        with in_thread(create_app(settings, config)) as port:
            yield f"http://127.0.0.1:{port}"
    finally:
        jobs.cleanup()


@pytest.mark.system
def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    if st is None:
        missing("schemathesis is not installed (dev extra)")
    env: dict[str, Any] = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
    }
    with fake_endpoint(free_port(), 0.001) as model, running_app(model) as url:
        command = [st, "--config-file", str(HERE / "schemathesis.toml"), "run", f"{url}/openapi.json"]
        command += ["-H", f"Authorization: Bearer {KEY}", "--mode", "all", "--max-examples", "50"]
        done = subprocess.run(
            [*command, "--report", "junit", "--report-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,  # schemathesis writes its cache (.schemathesis/) beside it
            timeout=600,
        )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failure" not in done.stdout.split("SUMMARY")[-1].lower()
