"""Golden checks: every prompt in prompts/ over real articles, replayed from cassettes recorded against the
embedded model, with the structured output kept as a snapshot beside each cassette.

A changed template fails here with the re-record message; a changed output shows its diff (accept it with
`pytest --snapshot-update`). What every recording must show, whatever the model: evidence equal to the
article at its offsets, no field copied from the prompt, no HTML entity; on the seed, an event dated in
July 2023 and at least two stances (the request asks for as many as the article has sentences reporting a
position, up to two: `Grounding.least_stances`).
"""

import json
from pathlib import Path

import pytest

from summarizer import Summarizer
from summarizer.article import Article, article_from_text
from summarizer.prompts import PromptSet
from summarizer.schemas import PROMPT_MODELS
from summarizer.testing import (
    assert_dates_resolved,
    assert_evidence_in_article,
    assert_no_prompt_text,
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


def check(analysis, min_items: int = 1) -> None:
    assert_schema_valid(analysis)
    assert_evidence_in_article(analysis, min_items=min_items)
    assert_no_prompt_text(analysis, PromptSet.load())


@pytest.mark.vcr
@pytest.mark.parametrize("name", ARTICLES)
def test_summary_prompt(summarizer: Summarizer, name: str, output_snapshot):
    analysis = summarizer.summarize(ARTICLES[name](), tasks="summary")
    check(analysis)
    assert analysis.summary is not None and analysis.summary.headline and analysis.summary.key_points
    assert snapshot_view(analysis) == output_snapshot


@pytest.mark.vcr
@pytest.mark.parametrize("name", ARTICLES)
def test_stances_prompt(summarizer: Summarizer, name: str, output_snapshot):
    analysis = summarizer.summarize(ARTICLES[name](), tasks="stances")
    check(analysis)
    if name == "seed":  # Putin's letter, Kang Sun Nam's support, the United States' warning...
        assert analysis.stances is not None and len(analysis.stances) >= 2
    assert snapshot_view(analysis) == output_snapshot


@pytest.mark.vcr
@pytest.mark.parametrize("name", ARTICLES)
def test_events_prompt(summarizer: Summarizer, name: str, output_snapshot):
    article = ARTICLES[name]()
    analysis = summarizer.summarize(article, tasks="events")
    check(analysis)
    # check() holds the date's own test: in one of the event's cited sentences, text and offsets.
    assert all(
        article.text[e.date.start : e.date.end] == e.date.text for e in analysis.events or [] if e.date
    )
    if name == "seed":  # published 2023-07-28; it reports what happened on July 26 and 27
        assert_dates_resolved(analysis, min_resolved=1)
        dated = [e.date.resolved for e in analysis.events or [] if e.date and e.date.resolved]
        assert any((d.start.year, d.start.month) == (2023, 7) for d in dated), dated
    assert snapshot_view(analysis) == output_snapshot


@pytest.mark.vcr
def test_summary_reduce_prompt(summarizer: Summarizer, output_snapshot):
    article = article_from_text(long_article())
    analysis = summarizer.summarize(article, tasks="summary")
    assert analysis.metadata.chunks > 1 and "summary_reduce" in analysis.metadata.tasks
    assert analysis.summary is not None and analysis.summary.headline
    check(analysis)
    assert snapshot_view(analysis) == output_snapshot
