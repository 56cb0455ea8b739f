from pathlib import Path

import pytest

from summarizer.testing import assert_evidence_in_article, assert_schema_valid, snapshot_view


@pytest.fixture
def summarizer_prompts_dir():
    return "my_prompts"  # your templates: system.j2, _article.j2 and one NAME.j2 per task


@pytest.mark.vcr
def test_events_prompt(summarizer, output_snapshot):
    analysis = summarizer.summarize(Path("article.txt").read_text(), tasks="events")
    assert_schema_valid(analysis)
    assert_evidence_in_article(analysis)  # every citation is the article's text at its offsets
    assert snapshot_view(analysis) == output_snapshot
