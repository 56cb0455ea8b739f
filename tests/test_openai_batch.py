"""`summarizer batch --openai-batch`: the Batch API as a cache warmer.

Offline, against tests/fake_batch_api.py: a loopback imitation of the Batch API written from OpenAI's
documentation, NOT a recording of it. `test_against_real_openai` is the only test that would talk to
OpenAI; it runs only when recording with an OPENAI_API_KEY, and no cassette of it exists yet.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from bench.fake_openai import answer_for
from summarizer.batch import BatchInput
from summarizer.batch.openai_batch import MAX_POLL_MISSES, PrefillReport, prefill_cache, request_body
from summarizer.core.article import article_from_text
from summarizer.core.errors import ConfigError, EndpointError
from summarizer.core.schemas import TASKS
from summarizer.model.cache import CachedResponse, ResponseCache
from summarizer.model.client import make_client
from summarizer.model.pricing import Price
from summarizer.model.settings import Settings, resolve_settings
from summarizer.pipeline import PlannedCall, Summarizer
from summarizer.testing import is_recording
from tests.fake_batch_api import EXPIRED_MESSAGE, FakeBatchAPI, mentions, serve, tool_name

pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = (ROOT / "bench" / "article.txt").read_text(encoding="utf-8")
# The fake's canned names are in ARTICLE; this one has none of them, so its stances and events answers
# are valid JSON naming people the text does not (the ordinary path would re-ask them).
OTHER = "The city council met on Tuesday and agreed to repair the old bridge before the winter."
SUMMARY_500 = "marker-for-a-500"  # an article holding this gets HTTP 500 for its summary request
EVENTS_INVALID = "marker-for-invalid"  # ... and a schema-invalid answer for its events request


def item(text: str, item_id: str) -> BatchInput:
    return BatchInput(id=item_id, source=item_id, load=lambda: article_from_text(text, source=item_id))


@pytest.fixture(autouse=True)
def _own_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever cache a Summarizer opens by default, it is not the user's."""
    monkeypatch.setenv("SUMMARIZER_CACHE_DIR", str(tmp_path / "default-cache"))


@pytest.fixture
def api() -> Iterator[FakeBatchAPI]:
    fake = FakeBatchAPI(
        http_500_if=lambda body: tool_name(body) == "Summary" and mentions(body, SUMMARY_500),
        invalid_if=lambda body: tool_name(body) == "EventList" and mentions(body, EVENTS_INVALID),
    )
    with serve(fake):
        yield fake


def settings_for(api: FakeBatchAPI) -> Settings:
    return resolve_settings(model="gpt-4o-mini", base_url=api.base_url, api_key="test-key", env={})


@pytest.fixture
def summarizer(api: FakeBatchAPI) -> Iterator[Summarizer]:
    settings = settings_for(api)
    client = make_client(settings, http_retries=0)
    with Summarizer(settings, client=client, notice=lambda _: None) as s:
        yield s


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ResponseCache]:
    with ResponseCache(tmp_path / "responses.sqlite3") as c:
        yield c


def run(
    summarizer: Summarizer, items: list[BatchInput], cache: ResponseCache, tasks: Any = None
) -> tuple[PrefillReport, list[str]]:
    notices: list[str] = []
    report = prefill_cache(summarizer, items, tasks, cache, notice=notices.append, poll_seconds=0.01)
    return report, notices


def uploaded_lines(api: FakeBatchAPI) -> list[dict[str, Any]]:
    assert len(api.uploads) == 1
    return [json.loads(line) for line in api.uploads[0].decode("utf-8").splitlines()]


def planned(summarizer: Summarizer, *texts: str) -> list[PlannedCall]:
    return [c for t in texts for c in summarizer.plan(article_from_text(t), None)]


# --- the request lines -------------------------------------------------------------------------------


def test_request_lines_are_what_the_ordinary_path_sends(
    api: FakeBatchAPI, summarizer: Summarizer, cache: ResponseCache
) -> None:
    # Template syntax in an article reaches the model as written, in the batch as on the ordinary path.
    text = ARTICLE + "\nThe menu said {{ price }} dollars.\n"
    report, _ = run(summarizer, [item(text, "a")], cache)
    lines = uploaded_lines(api)
    assert report.submitted == len(lines) == 3
    assert {line["method"] for line in lines} == {"POST"}
    assert {line["url"] for line in lines} == {"/v1/chat/completions"}
    assert len({line["custom_id"] for line in lines}) == 3

    # The ordinary path, with no cache, against the fake's /chat/completions: it sends these bodies.
    settings = summarizer.settings
    with Summarizer(settings, client=make_client(settings, http_retries=0), notice=lambda _: None) as plain:
        plain.summarize(text)
    sent = sorted(api.chat_bodies, key=tool_name)
    assert sorted((line["body"] for line in lines), key=tool_name) == sent
    for line in lines:  # the messages reach the model as planned: template syntax not evaluated
        assert "{{ price }}" in json.dumps(line["body"]["messages"])


def test_strict_request_lines_are_what_the_ordinary_path_sends(
    api: FakeBatchAPI, cache: ResponseCache
) -> None:
    # OpenAI's own mode: the ordinary path marks the forced tool "strict": true, so that OpenAI enforces
    # the enums; a batch line must carry it too.
    settings = resolve_settings(
        model="gpt-4o-mini", base_url=api.base_url, api_key="test-key", mode="tools_strict", env={}
    )
    with Summarizer(settings, client=make_client(settings, http_retries=0), notice=lambda _: None) as s:
        run(s, [item(ARTICLE, "a")], cache)
    lines = uploaded_lines(api)
    assert [line["body"]["tools"][0]["function"].get("strict") for line in lines] == [True] * 3
    with Summarizer(settings, client=make_client(settings, http_retries=0), notice=lambda _: None) as plain:
        plain.summarize(ARTICLE)
    sent = sorted(api.chat_bodies, key=tool_name)
    assert sorted((line["body"] for line in lines), key=tool_name) == sent


def test_request_body_is_a_forced_tool_call(summarizer: Summarizer) -> None:
    """The body written down: what OpenAI's chat completions API gets in TOOLS mode."""
    for call in planned(summarizer, ARTICLE):
        _, body = request_body(call, summarizer.settings)
        name = call.response_model.__name__
        parameters = body["tools"][0]["function"].pop("parameters")
        assert body == {
            "model": "gpt-4o-mini",
            "messages": call.messages,
            "temperature": 0.0,
            "max_tokens": 1500,
            "tools": [{"type": "function", "function": {"name": name, "description": ANY}}],
            "tool_choice": {"type": "function", "function": {"name": name}},
        }
        assert parameters["type"] == "object"
        assert set(parameters["properties"]) == set(call.response_model.model_fields)


# --- filling the cache -------------------------------------------------------------------------------


def test_valid_answers_are_cached_and_failures_are_not(
    api: FakeBatchAPI, summarizer: Summarizer, cache: ResponseCache
) -> None:
    bad = f"{ARTICLE}\n{SUMMARY_500} {EVENTS_INVALID}"
    report, notices = run(summarizer, [item(ARTICLE, "good"), item(bad, "bad"), item(OTHER, "other")], cache)
    good_calls, bad_calls, other_calls = (planned(summarizer, t) for t in (ARTICLE, bad, OTHER))

    assert all(cache.get(c.cache_key) is not None for c in good_calls)
    by_prompt = {c.prompt: cache.get(c.cache_key) for c in bad_calls}
    assert by_prompt["summary"] is None  # HTTP 500
    assert by_prompt["events"] is None  # schema-invalid answer
    assert by_prompt["stances"] is not None
    by_prompt = {c.prompt: cache.get(c.cache_key) for c in other_calls}
    assert by_prompt["summary"] is not None  # no names to check
    assert by_prompt["stances"] is None and by_prompt["events"] is None  # names not in its text

    assert (report.planned, report.submitted, report.filled, report.failed) == (9, 9, 5, 4)
    assert report.status == "completed" and report.batch_id

    def why(calls: list[PlannedCall], prompt: str) -> str:
        return report.failures[next(c for c in calls if c.prompt == prompt).cache_key[:24]]

    assert why(bad_calls, "summary").startswith("summary: HTTP 500: The server had an error")
    assert why(bad_calls, "events") == "events: invalid output: events: Field required"
    assert "'Kang Sun Nam', 'Kremlin' not named in the article" in why(other_calls, "stances")
    assert "'North Korea' not named in the article" in why(other_calls, "events")
    # Every answer that came back is billed, the invalid ones too; the 500 is not.
    assert (report.prompt_tokens, report.completion_tokens) == (8 * 900, 8 * 60)

    cached = cache.get(good_calls[0].cache_key)
    assert cached is not None
    assert (cached.attempts, cached.prompt_tokens, cached.completion_tokens) == (1, 900, 60)
    good_calls[0].response_model.model_validate_json(cached.output_json)
    assert notices[-1].endswith("5 of 9 calls cached, 4 left to the ordinary path")

    # The ordinary run that follows: the cached calls are hits, and it makes exactly the failed ones
    # (the fake's /chat/completions answers every request validly; re-asks repeat those requests).
    line_ids = {json.dumps(line["body"], sort_keys=True): line["custom_id"] for line in uploaded_lines(api)}
    settings = summarizer.settings
    client = make_client(settings, http_retries=0)
    with Summarizer(settings, client=client, cache=cache, notice=lambda _: None) as ordinary:
        analyses = [ordinary.summarize(t) for t in (ARTICLE, bad, OTHER)]
    first_tries = {line_ids.get(json.dumps(body, sort_keys=True)) for body in api.chat_bodies}
    assert first_tries - {None} == set(report.failures)
    cached_runs = sum(run.cached for a in analyses for run in a.metadata.tasks.values())
    assert cached_runs == report.filled


def test_polling_reports_each_status(api: FakeBatchAPI, summarizer: Summarizer, cache: ResponseCache) -> None:
    _, notices = run(summarizer, [item(ARTICLE, "a")], cache)
    assert notices[0] == "summarizer: OpenAI batch batch_fake1 submitted: 3 requests, results within 24 h"
    assert notices[1:-1] == [
        f"summarizer: OpenAI batch batch_fake1: {status}"
        for status in (
            "validating, 0/3 done, 0 failed",
            "in_progress, 0/3 done, 0 failed",
            "completed, 3/3 done, 0 failed",
        )
    ]
    assert api.log.count("GET /v1/batches/batch_fake1") == 2


def test_polling_rides_out_a_few_failed_polls(
    api: FakeBatchAPI, summarizer: Summarizer, cache: ResponseCache
) -> None:
    api.flaky_polls = 2
    report, notices = run(summarizer, [item(ARTICLE, "a")], cache)
    assert report.status == "completed" and report.filled == 3
    assert sum("polling failed (the endpoint" in n and "HTTP 503" in n for n in notices) == 2


def test_polling_gives_up_with_the_batch_id(
    api: FakeBatchAPI, summarizer: Summarizer, cache: ResponseCache
) -> None:
    api.flaky_polls = MAX_POLL_MISSES + 1
    with pytest.raises(EndpointError, match=r"HTTP 503.*\(OpenAI batch batch_fake1, status validating\)$"):
        run(summarizer, [item(ARTICLE, "a")], cache)


def test_already_cached_calls_are_not_resubmitted(
    api: FakeBatchAPI, summarizer: Summarizer, cache: ResponseCache
) -> None:
    summary, stances, _ = calls = planned(summarizer, ARTICLE)
    assert (summary.prompt, stances.prompt) == ("summary", "stances")
    valid = summary.response_model.model_validate(answer_for("Summary", None)).model_dump_json()
    cache.put(summary.cache_key, CachedResponse(valid, 1, 0, 0, 0.0))
    # A stale entry (an older schema's output) is a miss on the ordinary path: submitted again.
    cache.put(stances.cache_key, CachedResponse('{"old": "shape"}', 1, 0, 0, 0.0))
    # The same article twice: its calls are submitted once.
    report, _ = run(summarizer, [item(ARTICLE, "a"), item(ARTICLE, "a-again")], cache)
    ids = {line["custom_id"] for line in uploaded_lines(api)}
    assert ids == {c.cache_key[:24] for c in calls[1:]}
    assert (report.planned, report.already_cached, report.duplicates, report.submitted) == (6, 1, 3, 2)

    # Everything cached now: no upload, no batch.
    api.log.clear()
    report, notices = run(summarizer, [item(ARTICLE, "a")], cache)
    assert (report.already_cached, report.submitted, report.status) == (3, 0, "nothing to submit")
    assert api.log == [] and "no batch submitted" in notices[0]


def test_expired_batch_fills_nothing_and_says_so(
    api: FakeBatchAPI, summarizer: Summarizer, cache: ResponseCache
) -> None:
    api.final_status = "expired"
    report, notices = run(summarizer, [item(ARTICLE, "a")], cache)
    assert (report.status, report.submitted, report.filled, report.failed) == ("expired", 3, 0, 3)
    assert all(cache.get(c.cache_key) is None for c in planned(summarizer, ARTICLE))
    assert all(r.endswith(f"batch_expired: {EXPIRED_MESSAGE}") for r in report.failures.values())
    assert "expired, 0/3 done, 3 failed" in notices[-2]
    assert notices[-1].endswith("0 of 3 calls cached, 3 left to the ordinary path")


def test_batch_failed_in_validation_is_reported(
    api: FakeBatchAPI, summarizer: Summarizer, cache: ResponseCache
) -> None:
    api.reject_with = "Enqueued token limit reached for gpt-4o-mini."
    report, notices = run(summarizer, [item(ARTICLE, "a")], cache)
    assert (report.status, report.filled, report.failed) == ("failed", 0, 3)
    assert set(report.failures.values()) == {f"{p}: no result (batch failed)" for p in TASKS}
    assert notices[-2].endswith("failed, 0/3 done, 0 failed (Enqueued token limit reached for gpt-4o-mini.)")


def test_unreadable_input_is_left_to_the_ordinary_run(
    api: FakeBatchAPI, summarizer: Summarizer, cache: ResponseCache
) -> None:
    from summarizer.core.article import read_article

    missing = BatchInput(id="gone", source="gone.txt", load=lambda: read_article(Path("/nonexistent.txt")))
    report, _ = run(summarizer, [missing, item(ARTICLE, "a")], cache)
    assert report.skipped_inputs and report.skipped_inputs[0].startswith("gone: ")
    assert report.filled == 3


def test_an_interrupted_wait_resumes_polling_the_same_batch(
    api: FakeBatchAPI, summarizer: Summarizer, cache: ResponseCache, tmp_path: Path
) -> None:
    state = tmp_path / "results.jsonl.openai-batch.json"

    class Interrupted(Exception):
        pass

    def stop_while_waiting(message: str) -> None:
        if "in_progress" in message:
            raise Interrupted  # the user's Ctrl-C, hours into the wait

    with pytest.raises(Interrupted):
        prefill_cache(
            summarizer, [item(ARTICLE, "a")], None, cache, notice=stop_while_waiting, poll_seconds=0.01,
            state=state,
        )  # fmt: skip
    assert json.loads(state.read_text())["batch_id"] == "batch_fake1"
    api.log.clear()
    notices: list[str] = []
    report = prefill_cache(
        summarizer, [item(ARTICLE, "a")], None, cache, notice=notices.append, poll_seconds=0.01, state=state
    )
    assert report.resumed and report.batch_id == "batch_fake1" and report.filled == 3
    assert len(api.uploads) == 1 and not [e for e in api.log if e.startswith("POST")]  # nothing new paid
    assert notices[0].startswith("summarizer: resuming OpenAI batch batch_fake1")
    assert not state.exists()  # collected: the next run plans afresh


def test_max_cost_bounds_what_is_submitted(
    api: FakeBatchAPI, summarizer: Summarizer, cache: ResponseCache
) -> None:
    prices = {"gpt-4o-mini": Price(input_per_million=1.0, output_per_million=10.0)}
    # 3 requests whose completions could each reach max_tokens 1500: 4,500 x $10/M = $0.045, halved by the
    # Batch API's discount = $0.0225, plus the prompts: above $0.02.
    with pytest.raises(
        ConfigError, match=r"could cost up to \$0\.02\d+ \(3 requests.*above --max-cost \$0\.0200"
    ):
        prefill_cache(summarizer, [item(ARTICLE, "a")], None, cache, notice=lambda _: None, poll_seconds=0.01,
                      max_cost=0.02, prices=prices)  # fmt: skip
    assert api.uploads == []
    report = prefill_cache(summarizer, [item(ARTICLE, "a")], None, cache, notice=lambda _: None,
                           poll_seconds=0.01, max_cost=1.0, prices=prices)  # fmt: skip
    # What came back: 3 x 900 prompt tokens at $1/M + 3 x 60 completion tokens at $10/M = $0.0045, halved.
    assert report.cost == pytest.approx(0.00225)


# --- errors ------------------------------------------------------------------------------------------


def test_api_errors_are_one_line(
    stub_endpoint: Callable[[int, dict[str, Any]], Any], cache: ResponseCache, tmp_path: Path
) -> None:
    stub = stub_endpoint(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request"}})
    settings = resolve_settings(model="gpt-4o-mini", base_url=stub.base_url, api_key="bad", env={})
    client = make_client(settings, http_retries=0)
    with (
        Summarizer(settings, client=client, notice=lambda _: None) as s,
        pytest.raises(EndpointError, match=r"rejected the API key \(HTTP 401\)") as caught,
    ):
        prefill_cache(s, [item(ARTICLE, "a")], None, cache, notice=lambda _: None, poll_seconds=0)
    assert "\n" not in str(caught.value)


def test_the_embedded_model_has_no_batch_api(cache: ResponseCache) -> None:
    settings = resolve_settings(env={})
    assert settings.endpoint == "embedded"
    with Summarizer(settings, notice=lambda _: None) as s, pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        prefill_cache(s, [item(ARTICLE, "a")], None, cache)


# --- the real service --------------------------------------------------------------------------------


@pytest.mark.vcr
def test_against_real_openai(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """One small batch through OpenAI's Batch API. Runs only while recording with a real key, e.g.
    `OPENAI_API_KEY=... pytest tests/test_openai_batch.py -k real --record-mode=once` (it waits for the
    batch: minutes, up to 24 h). The upload is multipart with a random boundary, which the project's
    `json_body` matcher compares byte for byte, so a cassette of it would not replay as it stands."""
    if not (os.environ.get("OPENAI_API_KEY") and is_recording(request.config)):
        pytest.skip(
            "must be recorded against OpenAI: set OPENAI_API_KEY and pass --record-mode=once "
            "(no real Batch API cassette exists; the offline tests use a documented-shape fake)"
        )
    settings = resolve_settings(model=os.environ.get("SUMMARIZER_MODEL"))
    assert settings.endpoint == "openai"
    with Summarizer(settings, notice=lambda _: None) as s, ResponseCache(tmp_path / "c.sqlite3") as cache:
        report = prefill_cache(s, [item(ARTICLE, "a")], "summary", cache, poll_seconds=30)
        assert report.status == "completed", report
        assert report.filled == report.submitted == 1
        (call,) = s.plan(article_from_text(ARTICLE), "summary")
        assert cache.get(call.cache_key) is not None


def test_the_cli_counts_the_batch_in_its_totals(
    api: FakeBatchAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from summarizer.cli import app

    monkeypatch.setattr("summarizer.batch.openai_batch.POLL_SECONDS", 0.01)
    (tmp_path / "a.txt").write_text(ARTICLE)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"gpt-4o-mini": {"input": 2.0, "output": 10.0}}))
    out = tmp_path / "results.jsonl"
    result = CliRunner().invoke(app, [
        "batch", str(tmp_path / "a.txt"), "-o", str(out), "--openai-batch", "--base-url", api.base_url,
        "--model", "gpt-4o-mini", "--prices", str(prices), "--max-cost", "1",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = " ".join(result.stderr.split())
    # All three calls answered by the batch, none by the ordinary path: 3 x 900 prompt tokens at $2/M and
    # 3 x 60 completion tokens at $10/M = $0.0072, at the Batch API's half price.
    assert "0 model calls, 3 from the cache" in summary
    assert "2,700 prompt + 180 completion tokens · $0.0036" in summary
    assert not (tmp_path / "results.jsonl.openai-batch.json").exists()
