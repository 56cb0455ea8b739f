"""Issue 19, the OpenAPI document is what clients build on: a client generated from the running service's
/openapi.json by openapi-python-client submits a batch, follows it, reads its results and gets a typed
Problem on 401, 413 and 422.

openapi-python-client pins httpx and typer below the versions this project uses, so it lives in a
virtualenv of its own: `.ci/run` makes `.ci/client-venv`; elsewhere set SUMMARIZER_OPENAPI_CLIENT to the
generator's command (its Python, beside it, runs the generated client)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from bench.fake_openai import serve as fake_endpoint
from summarizer.model.local import free_port
from summarizer.service.budget import Budget
from summarizer.service.guard import Limits
from tests.conftest import missing
from tests.test_service import ARTICLE, KEY
from tests.test_service_contract import running_app

pytestmark = [pytest.mark.system, pytest.mark.block_network(allowed_hosts=["127.0.0.1"])]
HERE = Path(__file__).resolve().parent
GENERATOR = Path(
    os.environ.get("SUMMARIZER_OPENAPI_CLIENT") or HERE.parent / ".ci/client-venv/bin/openapi-python-client"
)


def problem(status: int, kind: str) -> dict[str, object]:
    return {
        "status": status,
        "parsed": "Problem",
        "type": f"urn:summarizer:problem:{kind}",
        "problem_status": status,
    }


def test_a_generated_client_runs_a_batch_and_reads_problems(tmp_path: Path) -> None:
    if not GENERATOR.exists():
        missing(f"openapi-python-client is not at {GENERATOR}: run .ci/run, or set SUMMARIZER_OPENAPI_CLIENT")
    article = tmp_path / "article.txt"
    article.write_text(ARTICLE)
    limits = Limits(max_body=200_000, per_minute=100_000, concurrent=64)  # 413 at 200 kB
    with (
        fake_endpoint(free_port(), 0.001) as model,
        running_app(model, limits=limits, budget=Budget(request_tokens=50_000)) as url,
    ):
        (tmp_path / "openapi.json").write_text(httpx.get(f"{url}/openapi.json").text)
        command = [str(GENERATOR), "generate", "--path", "openapi.json", "--meta", "none"]
        generated = subprocess.run(
            [*command, "--output-path", "summarizer_client"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
        )
        assert generated.returncode == 0, generated.stdout + generated.stderr
        driver = [str(GENERATOR.parent / "python"), str(HERE / "openapi_client_driver.py")]
        ran = subprocess.run(
            [*driver, str(tmp_path), url, KEY, str(article)], capture_output=True, text=True, timeout=300
        )
    assert ran.returncode == 0, generated.stdout + ran.stderr[-6000:]
    seen = json.loads(ran.stdout)
    # Every operation generated, with a typed body: nothing skipped for a content type it does not know.
    # What the generator warns about is only the NDJSON it does not read (each NDJSON body also has a JSON
    # form; results are read from the raw body, a line at a time).
    assert "will not be generated" not in generated.stdout, generated.stdout
    for warning in generated.stdout.split("WARNING")[1:]:
        assert "application/x-ndjson" in warning, warning
    assert seen["create_analysis"] == {"status": 200, "parsed": "ArticleAnalysis", "title": "T"}
    assert seen["create_batch"] == {"status": 202, "parsed": "BatchJob"}
    assert seen["get_batch"] == {
        "status": 200,
        "parsed": "BatchJob",
        "state": "done",
        "done": 3,
        "total": 3,
    }
    assert seen["get_batch_results"] == {
        "status": 200,
        "ids": ["article-0", "article-1", "article-2"],
        "summaries": 3,
    }
    assert seen["get_batch_results_after_2"] == 1
    assert seen["cancel_batch_done"] == problem(409, "conflict")
    for call in ("401_get_batch", "401_create_batch", "401_create_analysis"):
        assert seen[call] == problem(401, "unauthorized"), call
    assert seen["413_create_batch"] == problem(413, "too-large")
    assert seen["413_create_analysis"] == problem(413, "over-request-budget")
    assert seen["422_create_batch"] == problem(422, "bad-request")
    assert seen["422_create_analysis"] == problem(422, "bad-request")
    assert seen["404_get_batch"] == problem(404, "not-found")
