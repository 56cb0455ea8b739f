"""Golden checks: every prompt in prompts/ over real articles, replayed from cassettes recorded against the
embedded model, with the structured output kept as a snapshot beside each cassette.

A changed template fails here with the re-record message; a changed output shows its diff (accept it with
`pytest --snapshot-update`). The assertions hold for the embedded model's output; with a capable model,
tighten them (e.g. `assert_quotes_grounded(analysis, min_share=0.8)`).
"""

import json
from pathlib import Path

import pytest

from summarizer import Summarizer
from summarizer.article import Article, article_from_text
from summarizer.dates import resolve_date
from summarizer.prompts import PromptSet
from summarizer.schemas import PROMPT_MODELS
from summarizer.testing import (
    assert_quotes_grounded,
    assert_schema_valid,
    snapshot_view,
)

from .conftest import SEED
from .test_pipeline import SEED_PUBLISHED, long_article

DATA = Path(__file__).resolve().parent / "data"


def _cnndm(index: int) -> Article:
    row = json.loads((DATA / "cnndm-dev.jsonl").read_text().splitlines()[index])
    return article_from_text(row["article"], source=row["id"])


ARTICLES = {
    "seed": lambda: article_from_text(SEED.read_text(), source=SEED.name, published=SEED_PUBLISHED),
    "cnn-nepal-quake": lambda: _cnndm(11),  # CNN, 352 words
    "dm-road-accident": lambda: _cnndm(14),  # Daily Mail, 381 words
}


def test_every_prompt_has_golden_checks():
    tested = {
        name.removeprefix("test_").removesuffix("_prompt") for name in globals() if name.endswith("_prompt")
    }
    assert set(PromptSet.load().names()) == set(PROMPT_MODELS) == tested


@pytest.mark.vcr
@pytest.mark.parametrize("name", ARTICLES)
def test_summary_prompt(summarizer: Summarizer, name: str, output_snapshot):
    analysis = summarizer.summarize(ARTICLES[name](), tasks="summary")
    assert_schema_valid(analysis)
    assert analysis.summary is not None and analysis.summary.headline and analysis.summary.key_points
    assert snapshot_view(analysis) == output_snapshot


@pytest.mark.vcr
@pytest.mark.parametrize("name", ARTICLES)
def test_stances_prompt(summarizer: Summarizer, name: str, output_snapshot):
    analysis = summarizer.summarize(ARTICLES[name](), tasks="stances")
    assert_schema_valid(analysis)
    assert_quotes_grounded(analysis, min_share=0.0)  # offsets of whatever was found are right
    for stance in analysis.stances or []:
        assert stance.grounding is not None
        assert stance.grounding.status != "ungrounded" or stance.grounding.reason
    assert snapshot_view(analysis) == output_snapshot


@pytest.mark.vcr
@pytest.mark.parametrize("name", ARTICLES)
def test_events_prompt(summarizer: Summarizer, name: str, output_snapshot):
    article = ARTICLES[name]()
    analysis = summarizer.summarize(article, tasks="events")
    assert_schema_valid(analysis)
    assert_quotes_grounded(analysis, min_share=0.0)
    for event in analysis.events or []:
        expected = resolve_date(event.date_text, article.published, article_text=article.text)
        assert event.resolved_date == expected
        if expected is not None and article.published is not None:
            assert expected.scheduled == (expected.start > article.published)
    assert snapshot_view(analysis) == output_snapshot


@pytest.mark.vcr
def test_summary_reduce_prompt(summarizer: Summarizer, output_snapshot):
    article = article_from_text(long_article())
    analysis = summarizer.summarize(article, tasks="summary")
    assert analysis.metadata.chunks > 1 and "summary_reduce" in analysis.metadata.tasks
    assert analysis.summary is not None and analysis.summary.headline
    assert snapshot_view(analysis) == output_snapshot
