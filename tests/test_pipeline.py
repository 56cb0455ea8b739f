"""The pipeline end to end, replayed from cassettes recorded against the embedded model."""

import shutil
from pathlib import Path

import pytest

from summarizer import ArticleAnalysis, Summarizer
from summarizer.errors import EndpointError
from summarizer.pipeline import parse_tasks
from summarizer.prompts import PromptSet
from summarizer.testing import drift_message

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.vcr
def test_seed_article_all_tasks(summarizer: Summarizer, seed_text: str):
    analysis = summarizer.summarize(seed_text)
    ArticleAnalysis.model_validate(analysis.model_dump())
    assert analysis.summary is not None and analysis.summary.headline
    assert analysis.stances is not None and analysis.events is not None
    meta = analysis.metadata
    assert meta.prompt_versions == summarizer.prompt_versions()
    assert set(meta.tasks) == {"summary", "stances", "events"}
    assert meta.attempts == sum(t.attempts for t in meta.tasks.values()) >= 3
    assert meta.usage.total_tokens == sum(t.usage.total_tokens for t in meta.tasks.values()) > 0
    assert analysis.article.text == seed_text.strip()


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
    template.write_text(template.read_text().replace("factual headline", "accurate headline"))
    from summarizer.client import make_client

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


def test_parse_tasks_keeps_canonical_order():
    assert parse_tasks("events,summary") == ("summary", "events")
    assert parse_tasks(None) == ("summary", "stances", "events")
