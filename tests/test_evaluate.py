"""Scoring. The ArticleAnalysis objects are hand-built fixtures (tests/eval_fixtures.py), not model output."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from summarizer.core.errors import InputError
from summarizer.core.schemas import ArticleInfo
from summarizer.evaluation.evaluate import (
    ArticleScore,
    EvalReport,
    evaluate,
    lead3,
    load_eval_set,
    overall_metrics,
    rouge,
)
from summarizer.pipeline.prompts import PromptSet
from summarizer.testing import assert_no_prompt_text

from .eval_fixtures import A1, COPIED_HEADLINE, DATASET, FAILURES, a1, a2, analysis_of, metadata, results

DATA = Path(__file__).parent / "data" / "cnndm-dev.jsonl"


@pytest.fixture
def report() -> EvalReport:
    return evaluate(
        DATASET, results(), FAILURES, run={"label": "fixture run", "command": "summarizer eval x"}
    )


# --- the evaluation set ------------------------------------------------------------------------------


def test_load_eval_set_reads_the_dev_file() -> None:
    articles = load_eval_set(DATA)
    assert len(articles) == 20
    assert articles[0].id.startswith("dm-test-") and articles[0].text and articles[0].reference
    assert articles[0].url and articles[0].url.startswith("http")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"id": "b", "article": "t"}', "'reference' must be a non-empty string"),
        ('{"id": "", "article": "t", "reference": "r"}', "'id' must be"),
        ('{"id": "a", "article": "t", "reference": "r"}', "id 'a' already on line 1"),
    ],
)
def test_load_eval_set_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text('{"id": "a", "article": "t", "reference": "r"}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"set.jsonl, line 3: .*{message}"):
        load_eval_set(path)


def test_load_eval_set_empty_or_missing(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="no articles"):
        load_eval_set(tmp_path / "empty.jsonl")
    with pytest.raises(InputError, match="cannot read"):
        load_eval_set(tmp_path / "missing.jsonl")


# --- metrics -----------------------------------------------------------------------------------------


def test_lead3_takes_three_sentences_past_abbreviations() -> None:
    text = (
        "Mr. Smith went to Washington D.C. on Jan. 5. He met the U.S. president. They talked. A fourth one."
    )
    assert (
        lead3(text) == "Mr. Smith went to Washington D.C. on Jan. 5. He met the U.S. president. They talked."
    )
    assert lead3("Only one sentence") == "Only one sentence"
    assert lead3("") == ""


def test_lead3_on_a_dev_article_with_an_apostrophe_year() -> None:
    """The '90s later in this article made pysbd swallow ten sentences into the third."""
    article = next(a for a in load_eval_set(DATA) if a.id.startswith("cnn-test-2f6106809de4"))
    assert lead3(article.text) == (
        "(CNN)A trip to a former heavyweight champ's gaudy, abandoned mansion. "
        'The tallest and fastest "giga-coaster" in the world. '
        "A dramatic interview with a famed spiritual leader -- and the tearful reaction by one of his former "
        "students."
    )


def test_rouge_identical_and_disjoint() -> None:
    assert rouge("The cat sat on the mat.", "The cat sat on the mat.") == {
        "rouge1": 1.0,
        "rouge2": 1.0,
        "rougeL": 1.0,
    }
    assert rouge("Quantum physics today", "Markets closed higher") == {
        "rouge1": 0.0,
        "rouge2": 0.0,
        "rougeL": 0.0,
    }
    assert rouge("", "Markets closed") == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    assert rouge("cats running", "cat runs")["rouge1"] == 1.0  # Porter stemming


# --- evaluate ----------------------------------------------------------------------------------------


def test_evaluate_per_article(report: EvalReport) -> None:
    s1, s2, s3, s4 = report.articles
    assert s1.ok and s1.headline == "Rain fell."
    assert s1.rouge == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    assert s1.lead3_rouge == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    # 3 stances + 4 events, the last event cites nothing; 10 citations, one's text tampered, one misplaced
    assert (s1.items, s1.items_cited) == (7, 6)
    assert (s1.citations, s1.citations_equal, s1.citations_misplaced) == (10, 9, 1)
    assert (s1.duplicates, s1.exact_duplicates) == (2, 1)
    assert (s1.names, s1.names_found) == (12, 10)  # "Nobody" and "Atlantis" are unknown
    assert s1.entity_precision == 0.5
    assert (s1.checked_fields, s1.flagged_fields) == (10, 3)
    assert sorted(s1.support) == [0.0, 0.2, 0.4, 0.7, 0.8, 0.8, 0.9, 1.0]  # 2 events without a score
    assert (s1.fields, s1.prompt_copies, s1.html_entities) == (22, [], [])
    assert (s1.events, s1.events_dated, s1.events_resolved) == (4, 2, 1)
    assert (s1.attempts, s1.retries, s1.tokens, s1.seconds) == (5, 2, 1000, 10.0)  # 3 calls, 5 attempts
    assert s2.rouge == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0} and s2.retries == 0
    assert s2.prompt_copies == [
        f"headline: {COPIED_HEADLINE}",
        "key_points[0]: Headline",
        "stances[0].position: The clearest first.",
    ]
    assert s2.html_entities == ["summary: Electrons tunnel &amp; jump."]
    assert not s3.ok and s3.error == FAILURES["a3"] and s3.rouge is None and s3.tokens == 0
    assert s3.lead3_rouge["rouge1"] == 1.0 and s3.citations == 0
    assert not s4.ok and s4.error is not None and "no result" in s4.error


def test_evaluate_overall(report: EvalReport) -> None:
    o = report.overall
    assert (o["articles"], o["with_output"], o["scored"], o["schema_failures"]) == (4, 2, 2, 2)
    assert (o["rouge1"], o["rouge2"], o["rougeL"]) == (0.5, 0.5, 0.5)
    assert (o["lead3_rouge1"], o["lead3_rougeL"]) == (0.5, 0.5)  # a1 and a2, the articles with a summary
    assert o["lead3_all_rouge1"] == 0.75  # 1, 0, 1, 1
    assert (o["items"], o["items_cited"], o["items_cited_share"]) == (8, 7, 7 / 8)
    assert (o["citations"], o["citations_equal"], o["citations_misplaced"]) == (12, 11, 1)
    assert o["evidence_equal_share"] == 11 / 12
    assert (o["fields"], o["prompt_copies"], o["articles_with_prompt_copies"]) == (28, 3, 1)
    assert (o["html_entities"], o["articles_with_html_entities"]) == (1, 1)
    assert (o["duplicates"], o["exact_duplicates"], o["articles_with_duplicates"]) == (2, 1, 1)
    assert (o["names"], o["names_found"], o["names_found_share"]) == (14, 12, 12 / 14)
    assert o["entity_precision_mean"] == 0.75
    assert (o["checked_fields"], o["flagged_fields"], o["flagged_share"]) == (12, 3, 0.25)
    # support over 9 fields: 0, .2, .4, .7, .8, .8, .9, 1, 1
    assert (o["support_min"], o["support_median"], o["support_max"]) == (0.0, 0.8, 1.0)
    assert o["support_q1"] == pytest.approx(0.4) and o["support_q3"] == pytest.approx(0.9)
    assert o["support_mean"] == pytest.approx(5.8 / 9)
    assert (o["events"], o["events_dated"], o["events_resolved"]) == (4, 2, 1)
    assert o["resolved_share_dated"] == 0.5 and o["resolved_share_all"] == 0.25
    assert (o["attempts"], o["retries"], o["tokens"], o["tokens_median"]) == (6, 2, 1300, 650)
    assert (o["seconds"], o["seconds_median"]) == (14.0, 7.0)


def test_evaluate_run_info(report: EvalReport) -> None:
    run = report.run
    assert run["label"] == "fixture run" and run["command"] == "summarizer eval x"
    assert run["model"] == "fixture-model" and run["endpoint"] == "compatible"
    assert run["prompt_versions"] == {"events": "v1", "stances": "v1", "summary": "v1"}
    assert dt.datetime.fromisoformat(run["date"]).tzinfo is not None


def test_evidence_is_checked_against_the_text_not_assumed() -> None:
    """Without the article's text no citation can be checked: none counts as equal. A citation past the
    end of the text is not equal either."""
    no_text = a1().model_copy(update={"article": ArticleInfo()})
    score = evaluate(DATASET[:1], {"a1": no_text}, {}, run={}).articles[0]
    assert (score.citations, score.citations_equal, score.citations_misplaced) == (10, 0, 0)
    short = a1().model_copy(update={"article": ArticleInfo(text=A1[:15])})  # sentence 1 and a piece
    score = evaluate(DATASET[:1], {"a1": short}, {}, run={}).articles[0]
    assert score.citations_equal == 4  # sentence 1, cited by the key point and the three stances


def test_retries_count_every_chunk_and_the_reduce_call() -> None:
    tasks = ("summary", "stances", "events", "summary_reduce")
    analysis = analysis_of(A1, "H", "S", metadata=metadata(8, 10, 1.0, tasks=tasks, chunks=2))
    score = evaluate(DATASET[:1], {"a1": analysis}, {}, run={}).articles[0]
    assert score.retries == 1  # 3 tasks x 2 chunks + 1 reduce = 7 calls


def test_a_cached_task_made_no_call() -> None:
    meta = metadata(3, 10, 1.0, tasks=("summary", "stances", "events"), cached=("summary",))
    score = evaluate(DATASET[:1], {"a1": analysis_of(A1, "H", "S", metadata=meta)}, {}, run={}).articles[0]
    assert score.retries == 1  # 2 calls made, 3 attempts


def test_prompt_copies_follow_the_prompts_given(tmp_path: Path) -> None:
    """The phrases come from the run's prompts directory: a phrase of one's own templates counts, the
    installed templates' phrases do not (the schema's titles always do)."""
    (tmp_path / "system.j2").write_text("Write rain fell, and nothing else.\n", encoding="utf-8")
    prompts = PromptSet.load(tmp_path)
    score = evaluate(DATASET[:2], {"a1": a1(), "a2": a2()}, {}, run={}, prompts=prompts).articles
    assert score[0].prompt_copies == ["headline: Rain fell.", "key_points[0]: Rain fell."]
    assert score[1].prompt_copies == ["key_points[0]: Headline"]


def test_assert_no_prompt_text_uses_the_same_rules() -> None:
    prompts = PromptSet.load()
    assert_no_prompt_text(a1(), prompts)
    with pytest.raises(AssertionError, match=r"copied from the prompt or schema.*Headline"):
        assert_no_prompt_text(a2(), prompts)
    entity_only = a2().model_copy(update={"stances": []})
    entity_only.summary = entity_only.summary.model_copy(  # type: ignore[union-attr]
        update={"headline": "Cats sleep", "key_points": a1().summary.key_points}  # type: ignore[union-attr]
    )
    with pytest.raises(AssertionError, match=r"HTML entities left in fields.*&amp;"):
        assert_no_prompt_text(entity_only, prompts)


def test_nothing_to_count_gives_no_shares() -> None:
    lead = {"rouge1": 0.2, "rouge2": 0.1, "rougeL": 0.2}
    o = overall_metrics([ArticleScore(id="x", ok=False, error="e", lead3_rouge=lead)])
    assert o["evidence_equal_share"] is None and o["names_found_share"] is None and o["rouge1"] is None
    assert o["support_median"] is None and o["flagged_share"] is None and o["entity_precision_mean"] is None
    assert o["resolved_share_dated"] is None and o["tokens_median"] is None
    assert o["schema_failures"] == 1 and o["lead3_all_rouge2"] == 0.1


def test_support_distribution_of_one_score() -> None:
    lead = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    o = overall_metrics([ArticleScore(id="x", ok=True, lead3_rouge=lead, support=[0.3])])
    assert (o["support_min"], o["support_q1"], o["support_median"], o["support_max"]) == (0.3, 0.3, 0.3, 0.3)
