"""The pipeline end to end, replayed from cassettes recorded against the embedded model."""

import datetime as dt
import gzip
import json
import shutil
from pathlib import Path

import pytest

from summarizer import ArticleAnalysis, Summarizer
from summarizer.core.article import article_from_html, article_from_text
from summarizer.core.errors import EndpointError
from summarizer.model.client import REASK_CHARS
from summarizer.model.local import CONTEXT_TOKENS
from summarizer.pipeline import parse_tasks
from summarizer.pipeline.prompts import PromptSet
from summarizer.testing import assert_evidence_in_article, drift_message

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# The seed article carries no date; it reports the armistice's 70th anniversary (2023-07-27) as "this
# week", so the tests take the day after as its publication date.
SEED_PUBLISHED = dt.date(2023, 7, 28)


def recorded(vcr) -> list[tuple[dict, dict]]:
    """The cassette's (request body, response body) pairs."""
    return [
        (json.loads(r.body), json.loads(p["body"]["string"]))
        for r, p in zip(vcr.requests, vcr.responses, strict=True)
    ]


def assert_every_request_fits_the_context(vcr, max_tokens: int) -> None:
    for request, response in recorded(vcr):
        assert request["max_tokens"] == max_tokens
        assert response["usage"]["prompt_tokens"] + max_tokens <= CONTEXT_TOKENS


@pytest.mark.vcr
def test_seed_article_all_tasks(summarizer: Summarizer, seed_text: str, vcr):
    analysis = summarizer.summarize(seed_text, published=SEED_PUBLISHED)
    ArticleAnalysis.model_validate(analysis.model_dump())
    assert analysis.article.text == seed_text.strip()
    assert_evidence_in_article(analysis, min_items=3)
    sentences = analysis.article.sentences or []
    assert sentences and all(analysis.article.text[s:e].strip() for s, e in sentences)
    assert analysis.summary is not None and analysis.summary.headline
    assert analysis.stances is not None and analysis.events is not None
    meta = analysis.metadata
    assert meta.prompt_versions == summarizer.prompt_versions()
    assert set(meta.tasks) == {"summary", "stances", "events"}
    assert meta.attempts == sum(t.attempts for t in meta.tasks.values()) >= 3
    assert meta.usage.total_tokens == sum(t.usage.total_tokens for t in meta.tasks.values()) > 0
    assert meta.usage.total_tokens == sum(r["usage"]["total_tokens"] for _, r in recorded(vcr))
    # The three tasks share the system prompt and the numbered article: one prefix for the server's cache.
    first_users = [b["messages"][1]["content"] for b, _ in recorded(vcr) if len(b["messages"]) == 2]
    assert len({u.rsplit(">>>", 1)[0] for u in first_users}) == 1
    assert_every_request_fits_the_context(vcr, summarizer.settings.max_tokens)


@pytest.mark.vcr
def test_summary_only(summarizer: Summarizer, seed_text: str):
    analysis = summarizer.summarize(seed_text, tasks="summary")
    assert analysis.summary is not None
    assert analysis.stances is None and analysis.events is None
    assert list(analysis.metadata.tasks) == ["summary"]


@pytest.mark.vcr
@pytest.mark.default_cassette("test_summary_only.yaml")
async def test_async_api_replays_the_same_request(summarizer: Summarizer, seed_text: str):
    analysis = await summarizer.asummarize(seed_text, tasks=["summary"])
    assert analysis.summary is not None


@pytest.mark.vcr
@pytest.mark.default_cassette("test_summary_only.yaml")
def test_changed_prompt_fails_with_the_re_record_message(
    summarizer_settings, seed_text, tmp_path, record_mode
):
    if record_mode != "none":
        pytest.skip("checks replay only")
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    template = tmp_path / "prompts" / "summary.j2"
    template.write_text(template.read_text().replace("Summarise the article", "Summarize the article"))
    from summarizer.model.client import make_client

    changed = Summarizer(
        summarizer_settings,
        prompts=PromptSet.load(tmp_path / "prompts"),
        client=make_client(summarizer_settings, http_retries=0),
    )
    with changed, pytest.raises(EndpointError) as caught:
        changed.summarize(seed_text, tasks="summary")
    message = drift_message(caught.value, "tests/test_pipeline.py::test_summary_only")
    assert message is not None
    assert "prompt 'summary'" in message and changed.prompt_versions(("summary",))["summary"] in message
    assert "--record-mode=rewrite" in message


def long_article() -> str:
    """About 7,000 words: whole CNN/DailyMail articles, one paragraph per line, until the count is reached."""
    parts, words = [], 0
    for line in (DATA / "cnndm-dev.jsonl").read_text().splitlines():
        article = json.loads(line)["article"]
        parts.append(article)
        words += len(article.split())
        if words >= 7000:
            break
    return "\n".join(parts)


@pytest.mark.vcr
def test_long_article_is_chunked_and_merged(summarizer: Summarizer, vcr):
    text = long_article()
    assert len(text.split()) >= 7000
    article = article_from_text(text)
    # Summary and events: enough to show chunking, merging and the reduce step, in a third less model time.
    cut = summarizer.segment(article, ("summary", "events"))
    assert len(cut.chunks) > 1
    analysis = summarizer.summarize(article, tasks="summary,events")
    assert analysis.metadata.chunks == len(cut.chunks)
    assert analysis.summary is not None
    assert "summary_reduce" in analysis.metadata.tasks
    assert analysis.metadata.tasks["events"].attempts >= len(cut.chunks)
    assert_evidence_in_article(analysis, min_items=len(cut.chunks))
    # Numbers are global: events cite sentences beyond the first chunk's.
    first_chunk_last = cut.chunks[0].numbers[-1]
    assert any(n > first_chunk_last for e in analysis.events or [] for n in e.sentences)
    # Every request, first attempt or re-ask, fits the model's context; a re-ask carries a bounded excerpt.
    assert_every_request_fits_the_context(vcr, summarizer.settings.max_tokens)
    for request, _ in recorded(vcr):
        for message in request["messages"][2:]:
            if message["role"] == "assistant":
                assert len(message["content"]) <= REASK_CHARS + 20


@pytest.mark.vcr
def test_html_page(summarizer: Summarizer):
    page = DATA / "html" / "d0382c0d9573a0a7beb1e649012d04ec7275ac23513ca6ca59e51477b028283c.html.gz"
    article = article_from_html(gzip.decompress(page.read_bytes()).decode("utf-8"), source=page.name)
    analysis = summarizer.summarize(article, tasks="summary,events")
    assert analysis.article.title == "PG&E begins new mass power shutoff over fire danger"
    assert analysis.article.published == dt.date(2019, 11, 20)
    assert analysis.article.text == article.text
    assert_evidence_in_article(analysis, min_items=1)
    for event in analysis.events or []:
        if event.date is not None:
            assert article.text[event.date.start : event.date.end] == event.date.text
            assert any(c.start <= event.date.start < c.end for c in event.evidence)


def test_parse_tasks_keeps_canonical_order():
    assert parse_tasks("events,summary") == ("summary", "events")
    assert parse_tasks(None) == ("summary", "stances", "events")


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_an_answer_kept_on_its_last_attempt_is_served_from_the_cache(stub_endpoint, tmp_path):
    """The cache holds the model's last word: replayed as a last attempt, not re-asked for its flaws."""
    from summarizer import ResponseCache
    from summarizer.model.client import make_client
    from summarizer.model.settings import resolve_settings

    from .conftest import tool_call_completion

    invented = {"events": [{"description": "Bennett met Kim.", "event_type": "CONSULT",
                            "actors": ["Bruce Bennett"], "sentences": [1]}]}  # fmt: skip
    stub = stub_endpoint(200, tool_call_completion(json.dumps(invented), "EventList"))
    settings = resolve_settings(base_url=stub.base_url, model="stub", max_retries=1, env={})
    cache = ResponseCache(tmp_path / "cache.sqlite")
    for expected_requests in (2, 2):  # asked once again for the unknown name; then only the cache
        with Summarizer(settings, client=make_client(settings, http_retries=0), cache=cache) as s:
            analysis = s.summarize("Kim Jong Un met Sergei Shoigu.", tasks="events")
        assert stub.requests == expected_requests
        assert analysis.events is not None and analysis.events[0].unknown_names == ["Bruce Bennett"]
