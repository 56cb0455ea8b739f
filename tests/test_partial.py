"""One failed piece of a long article does not lose the rest: the answer comes back partial."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from summarizer import Summarizer
from summarizer.core.article import article_from_text
from summarizer.core.errors import ModelOutputError
from summarizer.model.budget import CONTEXT_ENV
from summarizer.model.client import make_client
from summarizer.model.settings import resolve_settings

from .conftest import tool_call_completion

pytestmark = pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
BROKEN = "Zebras"  # the chunk holding this word gets invalid JSON, on every attempt


def long_article(broken_line: int = 90) -> str:
    lines = [f"Kim Jong Un met Sergei Shoigu in Pyongyang on day {i} of the talks." for i in range(1, 121)]
    lines[broken_line] = f"{BROKEN} crossed the river in Pyongyang."
    return "\n".join(lines)


def _enum(node: Any) -> list[int]:
    if isinstance(node, dict):
        if isinstance(node.get("enum"), list) and all(isinstance(v, int) for v in node["enum"]):
            return node["enum"]
        node = list(node.values())
    for item in node if isinstance(node, list) else []:
        if found := _enum(item):
            return found
    return []


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """A valid answer for the request's task, citing the first sentence it may; invalid for BROKEN."""
    tool = body["tools"][0]["function"]
    first = _enum(tool["parameters"])[0]
    if BROKEN in body["messages"][1]["content"]:
        return tool_call_completion('{"events": [{"description": "cut', tool["name"])
    point = {"text": "Kim met Shoigu.", "sentences": [first]}
    arguments = {
        "Summary": {"headline": "Kim meets Shoigu", "summary": "Kim met Shoigu.", "key_points": [point]},
        "StanceList": {"stances": []},
        "EventList": {
            "events": [
                {
                    "description": "Kim met Shoigu.",
                    "event_type": "CONSULT",
                    "actors": ["Kim Jong Un"],
                    "sentences": [first],
                }
            ]
        },
    }[tool["name"]]
    return tool_call_completion(json.dumps(arguments), tool["name"])


@pytest.fixture
def endpoint(stub_endpoint) -> str:
    return stub_endpoint(200, answer).base_url


@pytest.fixture
def summarizer(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Summarizer]:
    monkeypatch.setenv(CONTEXT_ENV, "2500")  # small, so that the article is cut into several chunks
    settings = resolve_settings(base_url=endpoint, model="fake", max_tokens=300, max_retries=1, env={})
    with Summarizer(settings, client=make_client(settings, http_retries=0)) as s:
        yield s


# A middle chunk, and the first one, whose result the merge once took as the sign that a task was asked.
@pytest.mark.parametrize("broken_line", [90, 0], ids=["middle-chunk", "first-chunk"])
def test_one_broken_chunk_gives_a_partial_result_with_the_rest(
    summarizer: Summarizer, broken_line: int
) -> None:
    text = long_article(broken_line)
    article = article_from_text(text)
    chunks = summarizer.segment(article).chunks
    assert len(chunks) >= 3
    broken = next(c for c in chunks if any(BROKEN in s.text for s in c.sentences))
    analysis = summarizer.summarize(article, tasks="summary,events")
    assert not analysis.complete
    assert {(m.task, m.sentences) for m in analysis.missing} == {
        ("summary", broken.span),
        ("events", broken.span),
    }
    assert "failed validation after 2 attempts" in analysis.missing[0].error
    # Every other chunk's events are there, citing sentences of their own chunks; the summary was reduced.
    cited = {n for e in analysis.events or [] for n in e.sentences}
    assert cited == {c.numbers[0] for c in chunks if c is not broken}
    assert analysis.summary is not None and "summary_reduce" in analysis.metadata.tasks
    assert analysis.metadata.tasks["events"].attempts == len(chunks) - 1 + 2  # the broken one tried twice


def test_an_article_whose_every_piece_fails_is_an_error(summarizer: Summarizer) -> None:
    with pytest.raises(ModelOutputError):
        summarizer.summarize(f"{BROKEN} crossed the river.", tasks="events")
