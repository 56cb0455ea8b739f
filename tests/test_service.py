"""The HTTP service in process (httpx over ASGI), against the loopback fake model endpoint in bench/: every
route, every error answer, keys, limits, the access log. Only `test_analysis_*` depend on what the fake
answers, and only loosely."""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest

from bench.fake_openai import serve as fake_endpoint
from summarizer.core.article import MAX_BYTES
from summarizer.core.errors import ConfigError
from summarizer.core.schemas import ArticleAnalysis
from summarizer.model.cache import ResponseCache
from summarizer.model.client import make_client
from summarizer.model.local import free_port
from summarizer.pipeline import Summarizer
from summarizer.service.app import ServiceConfig, create_app
from summarizer.service.guard import Limits, check_exposure, digest, load_keys

pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
ARTICLE = (Path(__file__).resolve().parent.parent / "bench" / "article.txt").read_text()
KEY = "test-key-0123456789abcdef"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """The fake model endpoint: a fixed valid answer per task after 10 ms; HTTP 500 for FAIL-ME."""
    with fake_endpoint(free_port(), 0.01, fail_marker="FAIL-ME") as url:
        yield url


def calls(base_url: str) -> int:
    return int(httpx2.get(base_url.removesuffix("/v1") + "/calls").json()["n"])


Client = Callable[..., Any]


@asynccontextmanager
async def service(
    base_url: str, *, cache: ResponseCache | None = None, **config: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and an httpx client talking to it in process."""
    from summarizer.model.settings import resolve_settings

    settings = resolve_settings(base_url=base_url, model="bench-model", max_retries=0, env={})
    summarizer = Summarizer(settings, client=make_client(settings, http_retries=0), cache=cache)
    jobs = tempfile.TemporaryDirectory()  # batch jobs: never the user's data directory
    config.setdefault("jobs_db", Path(jobs.name) / "jobs.sqlite")
    app = create_app(settings, ServiceConfig(cache=False, prices={}, **config), summarizer=summarizer)
    async with summarizer, app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client
    jobs.cleanup()


def assert_problem(response: httpx.Response, status: int, detail_part: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:summarizer:problem:") and body["title"]
    assert detail_part in body["detail"], body["detail"]
    return body


# --- analyses -------------------------------------------------------------------------------------------


async def test_analysis_returns_the_cli_json(endpoint: str) -> None:
    async with service(endpoint) as client:
        r = await client.post("/v1/analyses", json={"text": ARTICLE, "published": "2023-07-28", "title": "T"})
    assert r.status_code == 200, r.text
    analysis = ArticleAnalysis.model_validate(r.json())
    assert analysis.article.text == ARTICLE.strip()
    assert analysis.article.title == "T" and str(analysis.article.published) == "2023-07-28"
    assert analysis.metadata.model == "bench-model" and analysis.summary is not None


async def test_analysis_of_an_html_page_and_a_task_subset(endpoint: str) -> None:
    html = f"<html><head><title>Kim</title></head><body><article><p>{ARTICLE}</p></article></body></html>"
    async with service(endpoint) as client:
        r = await client.post("/v1/analyses", json={"html": html, "tasks": "summary"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stances"] is None and body["events"] is None and body["summary"] is not None
    assert "Shoigu" in body["article"]["text"] and "<p>" not in body["article"]["text"]


async def test_repeats_are_served_by_the_response_cache(endpoint: str, tmp_path: Path) -> None:
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        async with service(endpoint, cache=cache) as client:
            text = ARTICLE + "\ncache test"
            first = await client.post("/v1/analyses", json={"text": text})
            before = calls(endpoint)
            second = await client.post("/v1/analyses", json={"text": text})
            metrics = (await client.get("/metrics")).text
    assert first.status_code == second.status_code == 200
    assert calls(endpoint) == before, "the repeat called the model"
    assert all(run["cached"] for run in second.json()["metadata"]["tasks"].values())
    assert "summarizer_cache_hits_total 3.0" in metrics


# --- every error answer ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"text": ""}, 400, "text: is empty"),
        ({"text": "   \n "}, 400, "text: contains only whitespace"),
        ({"text": "abc\x00def"}, 400, "binary"),
        ({"html": "<html><body></body></html>"}, 400, "no article text could be extracted"),
        ({"text": ARTICLE, "tasks": ["summary", "poems"]}, 422, "unknown task(s) poems"),
        ({"title": "no article"}, 422, "exactly one of 'text'"),
        ({"text": "a", "html": "<p>a</p>"}, 422, "exactly one of 'text'"),
        ({"text": ARTICLE, "published": "28/07/2023"}, 422, "published"),
        ({"text": ARTICLE, "colour": "red"}, 422, "colour"),
        ([1, 2], 422, "body"),
    ],
)
async def test_bad_input_is_a_problem(endpoint: str, body: Any, status: int, detail: str) -> None:
    async with service(endpoint) as client:
        before = calls(endpoint)
        r = await client.post("/v1/analyses", json=body)
    assert_problem(r, status, detail)
    assert calls(endpoint) == before


async def test_binary_upload_and_broken_json(endpoint: str) -> None:
    async with service(endpoint) as client:
        png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
        binary = await client.post("/v1/analyses", content=png, headers={"content-type": "image/png"})
        broken = await client.post(
            "/v1/analyses", content=b'{"text": ', headers={"content-type": "application/json"}
        )
    assert_problem(binary, 415, "send the article as JSON")
    assert_problem(broken, 400, "not valid JSON")


async def test_bodies_over_the_limit_are_refused(endpoint: str) -> None:
    big = json.dumps({"text": "word " * 600_000}).encode()  # 3 MB
    async with service(endpoint) as client:
        declared = await client.post(
            "/v1/analyses", content=big, headers={"content-type": "application/json"}
        )

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams in
            for i in range(0, len(big), 65536):
                yield big[i : i + 65536]

        streamed = await client.post(
            "/v1/analyses", content=chunks(), headers={"content-type": "application/json"}
        )
    assert_problem(declared, 413, "over the limit of 2,000,000 bytes")
    assert_problem(streamed, 413, "over the limit of 2,000,000 bytes")


async def test_article_over_the_cli_limit_is_413_even_under_a_larger_body_limit(endpoint: str) -> None:
    async with service(endpoint, limits=Limits(max_body=3 * MAX_BYTES)) as client:
        r = await client.post("/v1/analyses", json={"text": "x" * (MAX_BYTES + 1)})
    assert_problem(r, 413, f"the limit is {MAX_BYTES:,}")


async def test_endpoint_failure_down_and_timeout(endpoint: str) -> None:
    async with service(endpoint) as client:
        failed = await client.post("/v1/analyses", json={"text": ARTICLE + " FAIL-ME"})
    down_url = f"http://127.0.0.1:{free_port()}/v1"
    async with service(down_url) as client:
        down = await client.post("/v1/analyses", json={"text": ARTICLE})
        not_ready = await client.get("/readyz")
    with fake_endpoint(free_port(), 2.0) as slow_url:
        async with service(slow_url, request_timeout=0.3) as client:
            slow = await client.post("/v1/analyses", json={"text": ARTICLE})
    assert_problem(failed, 502, "the model endpoint answered HTTP 500")
    assert_problem(down, 503, "cannot reach the model endpoint")
    # Where the model endpoint is stays in the server's log (issue 19, item 10).
    for r in (failed, down):
        assert "127.0.0.1" not in r.text and "http://" not in r.text, r.text
    assert_problem(not_ready, 503, "does not answer")
    assert_problem(slow, 504, "longer than 0 s")


async def test_unknown_route_and_method(endpoint: str) -> None:
    async with service(endpoint) as client:
        missing = await client.get("/v1/nothing")
        wrong = await client.put("/v1/analyses")
    assert_problem(missing, 404, "Not Found")
    assert_problem(wrong, 405, "Method Not Allowed")


# --- the other routes -----------------------------------------------------------------------------------


async def test_schema_prompts_probes_and_docs(endpoint: str) -> None:
    async with service(endpoint) as client:
        schema = (await client.get("/v1/schema")).json()
        prompts = (await client.get("/v1/prompts")).json()["prompts"]
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        openapi = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    assert schema == ArticleAnalysis.model_json_schema()
    assert {p["name"] for p in prompts} >= {"summary", "stances", "events"}
    assert all(len(p["version"]) == 10 for p in prompts)
    assert health.json() == {"status": "ok"} and ready.json()["status"] == "ready"
    assert {"/v1/analyses", "/v1/schema", "/v1/prompts", "/healthz", "/readyz", "/metrics"} <= set(
        openapi["paths"]
    )
    assert "/static/swagger/swagger-ui-bundle.js" in docs.text and "cdn." not in docs.text


async def test_metrics_count_requests_model_calls_and_tokens(endpoint: str) -> None:
    async with service(endpoint) as client:
        await client.post("/v1/analyses", json={"text": ARTICLE + " metrics"})
        await client.post("/v1/analyses", json={"text": ""})
        text = (await client.get("/metrics")).text
    assert 'summarizer_http_requests_total{route="/v1/analyses",status="200"} 1.0' in text
    assert 'summarizer_http_requests_total{route="/v1/analyses",status="400"} 1.0' in text
    assert 'summarizer_http_request_seconds_count{route="/v1/analyses"} 2.0' in text
    assert "summarizer_model_calls_total 3.0" in text  # summary, stances, events: once each
    assert 'summarizer_tokens_total{kind="prompt"} 2700.0' in text  # the fake's 900 per call
    assert "summarizer_batch_queue_depth" in text


# --- keys and limits ------------------------------------------------------------------------------------


async def test_keys(endpoint: str) -> None:
    good = {"authorization": f"Bearer {KEY}"}
    async with service(endpoint, keys=frozenset({digest(KEY)})) as client:
        none = await client.post("/v1/analyses", json={"text": ARTICLE})
        wrong = await client.post(
            "/v1/analyses", json={"text": ARTICLE}, headers={"authorization": "Bearer nope"}
        )
        basic = await client.post(
            "/v1/analyses", json={"text": ARTICLE}, headers={"authorization": f"Basic {KEY}"}
        )
        broken_json = await client.post(
            "/v1/analyses", content=b"{", headers={"content-type": "application/json"}
        )
        ok = await client.post("/v1/analyses", json={"text": ARTICLE}, headers=good)
        guarded = [(await client.get(p)).status_code for p in ("/v1/schema", "/v1/prompts", "/metrics")]
        opened = [
            (await client.get(p, headers=good)).status_code for p in ("/v1/schema", "/v1/prompts", "/metrics")
        ]
        public = [(await client.get(p)).status_code for p in ("/", "/healthz", "/readyz", "/static/page.js")]
    assert_problem(none, 401, "missing API key")
    assert none.headers["www-authenticate"] == "Bearer"
    assert_problem(wrong, 401, "invalid API key")
    assert_problem(basic, 401, "missing API key")
    assert_problem(broken_json, 401, "missing API key")
    assert ok.status_code == 200
    assert guarded == [401, 401, 401] and opened == [200, 200, 200] and public == [200, 200, 200, 200]


def test_keys_are_loaded_hashed_and_exposure_needs_them(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# ops team\n{KEY}\n\n")
    keys = load_keys(keys_file, env={"SUMMARIZER_SERVER_KEYS": "second-key-abcdefghij, "})
    assert keys == {digest(KEY), digest("second-key-abcdefghij")}
    assert KEY not in repr(keys)
    with pytest.raises(ConfigError, match="shorter than 16"):
        load_keys(None, env={"SUMMARIZER_SERVER_KEYS": "pw"})
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0 without API keys"):
        check_exposure("0.0.0.0", frozenset())
    check_exposure("0.0.0.0", keys)
    for loopback in ("127.0.0.1", "::1", "localhost"):
        check_exposure(loopback, frozenset())


async def test_rate_limit_per_key_answers_429_with_retry_after(endpoint: str) -> None:
    other = "other-key-0123456789abcdef"
    keys = frozenset({digest(KEY), digest(other)})
    async with service(endpoint, keys=keys, limits=Limits(per_minute=2)) as client:
        statuses = []
        for _ in range(3):
            r = await client.post(
                "/v1/analyses", json={"text": ARTICLE}, headers={"authorization": f"Bearer {KEY}"}
            )
            statuses.append(r.status_code)
        others = await client.post(
            "/v1/analyses", json={"text": ARTICLE}, headers={"authorization": f"Bearer {other}"}
        )
    assert statuses == [200, 200, 429]
    assert_problem(r, 429, "2 requests a minute per key")
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert others.status_code == 200


async def test_concurrent_requests_per_key_answer_429(tmp_path: Path) -> None:
    with fake_endpoint(free_port(), 0.5) as slow_url:
        async with service(slow_url, limits=Limits(concurrent=1)) as client:
            first = asyncio.create_task(client.post("/v1/analyses", json={"text": ARTICLE}))
            await asyncio.sleep(0.2)
            second = await client.post("/v1/analyses", json={"text": ARTICLE})
            assert (await first).status_code == 200
            third = await client.post("/v1/analyses", json={"text": ARTICLE + " later"})
    assert_problem(second, 429, "at most 1 requests at once")
    assert second.headers["retry-after"] == "1"
    assert third.status_code == 200, "a finished request must free its slot"


async def test_access_log_holds_no_key_article_or_output(
    endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    marker = "Zanzibar-marker-article-text"
    with caplog.at_level(logging.DEBUG):
        async with service(endpoint, keys=frozenset({digest(KEY)})) as client:
            r = await client.post(
                "/v1/analyses?debug=secret-query",
                json={"text": f"{marker}. {ARTICLE}"},
                headers={"authorization": f"Bearer {KEY}"},
            )
            await client.post(
                "/v1/analyses", json={"text": marker}, headers={"authorization": "Bearer leaked-wrong-key"}
            )
    assert r.status_code == 200
    # Ours: the access log and the service's; the HTTP clients' own DEBUG logs are not the server's.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("summarizer"))
    assert "POST /v1/analyses 200" in logged and "POST /v1/analyses 401" in logged
    output = r.json()["summary"]["headline"]
    for secret in (KEY, "leaked-wrong-key", marker, output, "secret-query"):
        assert secret not in logged


async def test_cors_is_off_unless_configured(endpoint: str) -> None:
    preflight = {"origin": "https://newsroom.example", "access-control-request-method": "POST"}
    async with service(endpoint) as client:
        off = await client.options("/v1/analyses", headers=preflight)
    async with service(endpoint, cors_origins=("https://newsroom.example",)) as client:
        on = await client.options("/v1/analyses", headers=preflight)
    assert "access-control-allow-origin" not in off.headers
    assert on.headers["access-control-allow-origin"] == "https://newsroom.example"


async def test_a_start_that_fails_is_kept_for_the_cli_to_report_in_one_line(tmp_path: Path) -> None:
    from summarizer.core.errors import LocalModelError
    from summarizer.model.settings import resolve_settings

    class CannotStart(Summarizer):
        async def _ensure_client(self) -> Any:
            raise LocalModelError("the embedded model could not start: no model file")

    settings = resolve_settings(base_url="http://127.0.0.1:9/v1", model="m", env={})
    app = create_app(
        settings, ServiceConfig(jobs_db=tmp_path / "jobs.sqlite"), summarizer=CannotStart(settings)
    )
    with pytest.raises(LocalModelError):
        async with app.router.lifespan_context(app):
            pass
    assert str(app.state.startup_error) == "the embedded model could not start: no model file"
