"""The pipeline end to end, replayed from cassettes recorded against the embedded model."""

import datetime as dt
import gzip
import json
import shutil
from pathlib import Path

import pytest

from summarizer import ArticleAnalysis, Summarizer
from summarizer.article import article_from_html, article_from_text
from summarizer.dates import resolve_date
from summarizer.errors import EndpointError
from summarizer.pipeline import parse_tasks
from summarizer.prompts import PromptSet
from summarizer.testing import drift_message

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# The seed article carries no date; it reports the armistice's 70th anniversary (2023-07-27) as "this
# week", so the tests take the day after as its publication date.
SEED_PUBLISHED = dt.date(2023, 7, 28)


def assert_evidence_checked(analysis: ArticleAnalysis, text: str) -> None:
    """Every quote has a grounding whose offsets point at its matched text, and the counts add up."""
    items = [*(analysis.stances or []), *(analysis.events or [])]
    for item in items:
        g = item.grounding
        assert g is not None
        if g.status == "ungrounded":
            assert g.start is None and g.reason
        else:
            assert g.start is not None and g.end is not None
            assert text[g.start : g.end] == g.matched_text
    counts = analysis.grounding
    assert counts is not None
    assert counts.exact + counts.approximate + counts.ungrounded == len(items)


@pytest.mark.vcr
def test_seed_article_all_tasks(summarizer: Summarizer, seed_text: str, vcr):
    analysis = summarizer.summarize(seed_text, published=SEED_PUBLISHED)
    ArticleAnalysis.model_validate(analysis.model_dump())
    assert_evidence_checked(analysis, analysis.article.text or "")
    for event in analysis.events or []:
        assert event.resolved_date == resolve_date(
            event.date_text, SEED_PUBLISHED, article_text=analysis.article.text
        )
    # An invented quote was sent back to the model, naming the quote (instructor's re-ask).
    bodies = [json.loads(r.body) for r in vcr.requests]
    reasks = [b for b in bodies if "is not in the article" in json.dumps(b)]
    assert reasks, "no re-ask for an invented quote was recorded"
    assert meta_reasks(analysis) == len(reasks)
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


def meta_reasks(analysis: ArticleAnalysis) -> int:
    return sum(run.attempts - 1 for run in analysis.metadata.tasks.values())


@pytest.mark.vcr
@pytest.mark.default_cassette("test_seed_article_all_tasks.yaml")
def test_strict_drops_ungrounded_items_and_counts_them(summarizer_settings, seed_text):
    from summarizer.client import make_client

    strict = Summarizer(
        summarizer_settings, client=make_client(summarizer_settings, http_retries=0), strict=True
    )
    with strict:
        analysis = strict.summarize(seed_text, published=SEED_PUBLISHED)
    counts = analysis.grounding
    assert counts is not None and counts.dropped == counts.ungrounded
    kept = [*(analysis.stances or []), *(analysis.events or [])]
    assert all(i.grounding and i.grounding.status != "ungrounded" for i in kept)
    assert len(kept) == counts.exact + counts.approximate


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
def test_long_article_is_chunked_and_merged(summarizer: Summarizer):
    text = long_article()
    assert len(text.split()) >= 7000
    article = article_from_text(text)
    # Summary and events: enough to show chunking, merging and the reduce step, in a third less model time.
    chunks = summarizer.chunks(article, ("summary", "events"))
    assert len(chunks) > 1
    analysis = summarizer.summarize(article, tasks="summary,events")
    assert analysis.metadata.chunks == len(chunks)
    assert analysis.summary is not None
    assert "summary_reduce" in analysis.metadata.tasks
    assert analysis.metadata.tasks["events"].attempts >= len(chunks)
    assert_evidence_checked(analysis, text)


@pytest.mark.vcr
def test_html_page(summarizer: Summarizer):
    page = DATA / "html" / "d0382c0d9573a0a7beb1e649012d04ec7275ac23513ca6ca59e51477b028283c.html.gz"
    article = article_from_html(gzip.decompress(page.read_bytes()).decode("utf-8"), source=page.name)
    analysis = summarizer.summarize(article, tasks="summary,events")
    assert analysis.article.title == "PG&E begins new mass power shutoff over fire danger"
    assert analysis.article.published == dt.date(2019, 11, 20)
    assert analysis.article.text == article.text
    assert_evidence_checked(analysis, article.text)
    for event in analysis.events or []:
        assert event.resolved_date == resolve_date(
            event.date_text, article.published, article_text=article.text, language=article.language
        )


def test_parse_tasks_keeps_canonical_order():
    assert parse_tasks("events,summary") == ("summary", "events")
    assert parse_tasks(None) == ("summary", "stances", "events")
