"""How endpoint failures become one-line errors, against a loopback stub that answers with fixed statuses."""

import json

import pytest

from summarizer.core.errors import EndpointError, ModelOutputError
from summarizer.core.schemas import Summary
from summarizer.model.client import REASK_CHARS, Attempts, call_model, make_client
from summarizer.model.settings import resolve_settings
from summarizer.pipeline.prompts import PromptSet

from .conftest import tool_call_completion

pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
MESSAGES = [{"role": "user", "content": "Summarise: nothing happened."}]
PROMPTS = PromptSet.load()


def REASK(errors: str) -> str:
    return PROMPTS.reask(errors, tools=False)


def _settings(base_url: str, **kw):
    return resolve_settings(base_url=base_url, model="stub-model", api_key="sk-test", env={}, **kw)


async def _call(settings):
    attempts = Attempts()
    client = make_client(settings, http_retries=0)
    try:
        return await call_model(client, settings, Summary, MESSAGES, attempts, reask=REASK), attempts
    finally:
        await client.close()


async def test_rejected_key(stub_endpoint):
    stub = stub_endpoint(
        401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
    )
    with pytest.raises(EndpointError, match="rejected the API key"):
        await _call(_settings(stub.base_url))


async def test_unknown_model(stub_endpoint):
    stub = stub_endpoint(
        404, {"error": {"message": "The model `nope` does not exist", "code": "model_not_found"}}
    )
    with pytest.raises(EndpointError, match="model 'stub-model' not found"):
        await _call(_settings(stub.base_url))


async def test_unreachable_endpoint():
    with pytest.raises(EndpointError, match=r"cannot reach the endpoint http://127\.0\.0\.1:1/v1"):
        await _call(_settings("http://127.0.0.1:1/v1"))


async def test_errors_name_the_embedded_model_and_its_loopback_address():
    settings = resolve_settings(env={}).with_overrides(base_url="http://127.0.0.1:1/v1")
    assert settings.endpoint == "embedded"
    with pytest.raises(EndpointError, match=r"cannot reach the embedded model at http://127\.0\.0\.1:1/v1"):
        await _call(settings)


async def test_invalid_output_is_reasked_then_fails_with_usage_counted(stub_endpoint):
    stub = stub_endpoint(200, tool_call_completion(json.dumps({"headline": "only a headline"})))
    settings = _settings(stub.base_url, max_retries=2)
    attempts = Attempts()
    client = make_client(settings, http_retries=0)
    with pytest.raises(ModelOutputError, match="failed validation after 3 attempts"):
        await call_model(client, settings, Summary, MESSAGES, attempts, reask=REASK)
    await client.close()
    assert stub.requests == 3
    assert attempts.count == 3
    assert attempts.usage.total_tokens == 3 * 15


async def test_a_reask_carries_the_errors_and_a_bounded_excerpt_and_never_grows(stub_endpoint):
    runaway = {"headline": "x" * 5000}  # a long invalid answer: appending it whole would grow each re-ask
    stub = stub_endpoint(200, tool_call_completion(json.dumps(runaway)))
    settings = _settings(stub.base_url, max_retries=3)
    with pytest.raises(ModelOutputError):
        await _call(settings)
    first, *reasks = [b for b in stub.bodies if b is not None]
    assert len(reasks) == 3
    assert first["messages"] == MESSAGES
    for body in reasks:
        original, answer, errors = body["messages"]
        assert original == MESSAGES[0]
        assert answer["role"] == "assistant" and len(answer["content"]) <= REASK_CHARS + 20
        assert "headline" in errors["content"] and "key_points" in errors["content"]
    assert reasks[0]["messages"] == reasks[-1]["messages"]


async def test_a_raw_control_character_inside_a_string_is_read_not_reasked(stub_endpoint):
    # Strict JSON forbids a raw newline inside a string; small models write one. Only that is forgiven.
    point = '{"text": "K.", "sentences": [1]}'
    raw = '{"headline": "Line one\nline two", "summary": "S.", "key_points": [' + point + "]}"
    stub = stub_endpoint(200, tool_call_completion(raw))
    summary, attempts = await _call(_settings(stub.base_url))
    assert summary.headline == "Line one\nline two"
    assert (attempts.count, stub.requests) == (1, 1)


async def test_truly_broken_json_is_still_reasked(stub_endpoint):
    stub = stub_endpoint(200, tool_call_completion('{"headline": "cut off'))
    with pytest.raises(ModelOutputError, match="after 3 attempts"):
        await _call(_settings(stub.base_url, max_retries=2))
    assert stub.requests == 3


async def test_valid_output_counts_one_attempt(stub_endpoint):
    good = {
        "headline": "Nothing happened",
        "summary": "Nothing happened at all.",
        "key_points": [{"text": "Nothing.", "sentences": [1]}],
    }
    stub = stub_endpoint(200, tool_call_completion(json.dumps(good)))
    summary, attempts = await _call(_settings(stub.base_url))
    assert summary.model_dump() == good
    assert (attempts.count, attempts.usage.total_tokens, stub.requests) == (1, 15, 1)


async def test_an_article_is_never_rendered_as_a_template(stub_endpoint):
    # instructor renders messages as Jinja templates when given a `context=`; we never pass one (the
    # checks travel in the response model), so template syntax in an article reaches the model as written.
    good = {"headline": "h", "summary": "s.", "key_points": [{"text": "k.", "sentences": [1]}]}
    stub = stub_endpoint(200, tool_call_completion(json.dumps(good)))
    hostile = "Text {{ check_quote }} {# gone? #} {% raw %} end"
    settings = _settings(stub.base_url)
    client = make_client(settings, http_retries=0)
    await call_model(
        client, settings, Summary, [{"role": "user", "content": hostile}], Attempts(), reask=REASK
    )
    await client.close()
    assert stub.last_request is not None
    assert stub.last_request["messages"][0]["content"] == hostile


async def test_openai_gets_a_strict_tool_with_a_schema_strict_mode_accepts(stub_endpoint):
    from summarizer.grounding.request import request_model
    from summarizer.model.strict_schema import with_strict_schema

    good = {"headline": "h", "summary": "s.", "key_points": [{"text": "k.", "sentences": [2]}]}
    stub = stub_endpoint(200, tool_call_completion(json.dumps(good)))
    settings = _settings(stub.base_url, mode="tools_strict")
    model = with_strict_schema(request_model("summary", (1, 2)))
    client = make_client(settings, http_retries=0)
    summary = await call_model(client, settings, model, MESSAGES, Attempts(), reask=REASK)
    await client.close()
    assert summary.key_points[0].sentences == [2]
    function = stub.last_request["tools"][0]["function"]
    assert function["strict"] is True
    parameters = json.dumps(function["parameters"])
    assert '"additionalProperties": false' in parameters and '"enum": [1, 2]' in parameters
    assert "maxLength" not in parameters and "minLength" not in parameters  # not in strict mode's subset
    with pytest.raises(ModelOutputError):  # the bounds the schema no longer carries are still validated
        stub.body = tool_call_completion(json.dumps(good | {"headline": "x" * 500}))
        await _call_model(settings, model)


async def _call_model(settings, model):
    client = make_client(settings, http_retries=0)
    try:
        return await call_model(client, settings, model, MESSAGES, Attempts(), reask=REASK)
    finally:
        await client.close()


async def test_a_problem_the_review_finds_is_reasked_and_kept_on_the_last_attempt(stub_endpoint):
    # A valid answer whose name is not in the article: the schema cannot say so, the review does.
    answer = {"headline": "Bruce Bennett", "summary": "s.", "key_points": [{"text": "k.", "sentences": [1]}]}
    stub = stub_endpoint(200, tool_call_completion(json.dumps(answer)))
    settings = _settings(stub.base_url, max_retries=1)
    client = make_client(settings, http_retries=0)
    attempts = Attempts()
    reviewed = []

    def review(output: Summary) -> list[str]:
        reviewed.append(output.headline)
        return ["summary: 'Bruce Bennett' not named in the article"]

    output = await call_model(client, settings, Summary, MESSAGES, attempts, review, reask=REASK)
    await client.close()
    assert output.headline == "Bruce Bennett"  # the last attempt keeps it, for the checks to flag
    assert (stub.requests, attempts.count, len(reviewed)) == (2, 2, 1)  # no review on the last attempt
    _, excerpt, errors = stub.bodies[-1]["messages"]
    assert json.loads(excerpt["content"]) == answer  # the model's own answer, as it wrote it
    assert "'Bruce Bennett' not named in the article" in errors["content"]


async def test_a_server_that_cannot_parse_the_models_output_is_an_invalid_answer_reasked(stub_endpoint):
    # llama.cpp's server answers 500 when its chat-output parser fails on a cut answer (NOTES.md): that is
    # the model's fault, so it is re-asked and ends as invalid output (exit 4), not an endpoint failure.
    error = {
        "error": {
            "code": 500,
            "message": "The model produced output that does not match the expected peg-native format",
            "type": "server_error",
        }
    }
    stub = stub_endpoint(500, error)
    with pytest.raises(ModelOutputError, match="after 3 attempts: the server could not parse it"):
        await _call(_settings(stub.base_url, max_retries=2))
    assert stub.requests == 3


async def test_any_other_server_error_is_still_the_endpoints(stub_endpoint):
    stub = stub_endpoint(500, {"error": {"message": "out of memory", "type": "server_error"}})
    with pytest.raises(EndpointError, match="answered HTTP 500"):
        await _call(_settings(stub.base_url, max_retries=2))
    assert stub.requests == 1


def content_completion(content: str) -> dict:
    """A chat completion whose message content is `content` (how json_schema and grammar answers come)."""
    completion = tool_call_completion("{}")
    completion["choices"][0]["message"] = {"role": "assistant", "content": content}
    completion["choices"][0]["finish_reason"] = "stop"
    return completion


async def test_grammar_mode_sends_the_schema_as_llamacpps_compact_grammar_not_response_format(stub_endpoint):
    from summarizer.grounding.ground import request_model
    from summarizer.model.grammar import llguidance_grammar

    good = {"headline": "h", "summary": "s.", "key_points": [{"text": "k.", "sentences": [2]}]}
    stub = stub_endpoint(200, content_completion(json.dumps(good)))
    settings = _settings(stub.base_url, mode="grammar")
    model = request_model("summary", (1, 2))
    summary = await _call_model(settings, model)
    assert summary.key_points[0].sentences == [2]
    body = stub.last_request
    assert body["response_format"] == {"type": "text"}  # llama.cpp takes a schema or a grammar, not both
    header, _, schema = body["grammar"].partition("\nstart: %json ")
    assert header == "%llguidance {}"
    schema = json.loads(schema)
    assert schema["x-guidance"] == {"whitespace_flexible": False}
    assert schema["additionalProperties"] is False and schema["title"] == model.__name__
    assert all(d.get("additionalProperties") is False for d in schema["$defs"].values() if "properties" in d)
    assert body["grammar"] == llguidance_grammar(model.model_json_schema())
    stub.body = content_completion('{"headline": "cut off')  # a re-ask carries the grammar again
    with pytest.raises(ModelOutputError):
        await _call_model(settings.with_overrides(max_retries=1), model)
    assert all(b is not None and "grammar" in b for b in stub.bodies[-2:])


async def test_json_schema_mode_still_sends_response_format(stub_endpoint):
    from summarizer.grounding.ground import request_model

    good = {"headline": "h", "summary": "s.", "key_points": [{"text": "k.", "sentences": [2]}]}
    stub = stub_endpoint(200, content_completion(json.dumps(good)))
    await _call_model(_settings(stub.base_url, mode="json_schema"), request_model("summary", (1, 2)))
    assert stub.last_request["response_format"]["type"] == "json_schema"
    assert "grammar" not in stub.last_request
