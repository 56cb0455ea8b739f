"""Scoring and reports. The ArticleAnalysis objects here are hand-built test fixtures, not model output."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from summarizer.errors import InputError
from summarizer.evaluate import (
    ArticleScore,
    EvalArticle,
    EvalReport,
    compare,
    evaluate,
    lead3,
    load_eval_set,
    load_report,
    overall_metrics,
    rouge,
)
from summarizer.report import write_reports
from summarizer.schemas import (
    ArticleAnalysis,
    ArticleInfo,
    CheckedEvent,
    CheckedStance,
    EventType,
    Grounding,
    GroundingCounts,
    Metadata,
    ResolvedDate,
    Summary,
    TaskRun,
    Usage,
)

DATA = Path(__file__).parent / "data" / "cnndm-dev.jsonl"
HOSTILE = '<script>alert("x")</script>'


# --- fixtures ----------------------------------------------------------------------------------------


def _metadata(
    attempts: int, tokens: int, seconds: float, tasks: tuple[str, ...] = ("summary",), chunks: int = 1
) -> Metadata:
    run = TaskRun(prompt_version="v1", attempts=1, usage=Usage(total_tokens=1), seconds=1.0)
    return Metadata(
        model="fixture-model",
        endpoint="compatible",
        mode="tools",
        prompt_versions={t: "v1" for t in tasks},
        tasks={t: run for t in tasks},
        usage=Usage(total_tokens=tokens),
        attempts=attempts,
        seconds=seconds,
        chunks=chunks,
        summarizer_version="0.0.0",
    )


def _analysis(headline: str | None, summary: str = "", **kw: Any) -> ArticleAnalysis:
    kw.setdefault("metadata", _metadata(1, 100, 1.0))
    found = Summary(headline=headline, summary=summary, key_points=["k"]) if headline else None
    return ArticleAnalysis(summary=found, article=ArticleInfo(), **kw)


def _event(date_text: str | None, resolved: bool) -> CheckedEvent:
    day = dt.date(2015, 4, 6)
    return CheckedEvent(
        description="d",
        event_type=EventType.OTHER,
        actors=["a"],
        evidence="q",
        date_text=date_text,
        resolved_date=ResolvedDate(start=day, end=day, precision="day", method="absolute")
        if resolved
        else None,
    )


# The reference of a1 is its headline + summary, and the first three sentences of each article equal its
# reference except for a2: so the model's ROUGE is 1 for a1 and 0 for a2, lead-3's is 1 except for a2.
DATASET = [
    EvalArticle(
        "a1", "Rain fell. Rivers rose. Towns flooded. Later news.", "Rain fell. Rivers rose. Towns flooded."
    ),
    EvalArticle("a2", "Cats sleep. Dogs bark. Birds sing. More.", "Markets closed higher today.", "http://x"),
    EvalArticle("a3", "One two. Three four. Five six. Seven.", "One two. Three four. Five six."),
    EvalArticle("a4", "Alpha beta. Gamma delta. Epsilon zeta.", "Alpha beta. Gamma delta. Epsilon zeta."),
]


def _results() -> dict[str, ArticleAnalysis]:
    return {
        "a1": _analysis(
            "Rain fell.",
            "Rivers rose. Towns flooded.",
            events=[_event("Monday", True), _event("last year", False), _event(None, False)],
            grounding=GroundingCounts(exact=2, approximate=1, ungrounded=1),
            metadata=_metadata(5, 1000, 10.0, tasks=("summary", "stances", "events")),
        ),
        "a2": _analysis("Quantum physics", "Electrons tunnel.", metadata=_metadata(1, 300, 4.0)),
    }


FAILURES = {"a3": "ModelOutputError: summary: still invalid after 3 attempts"}  # a4: neither


@pytest.fixture
def report() -> EvalReport:
    return evaluate(
        DATASET, _results(), FAILURES, run={"label": "fixture run", "command": "summarizer eval x"}
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
    a1, a2, a3, a4 = report.articles
    assert a1.ok and a1.headline == "Rain fell."
    assert a1.rouge == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    assert a1.lead3_rouge == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    assert (a1.quotes, a1.exact, a1.approximate, a1.ungrounded) == (4, 2, 1, 1)
    assert (a1.events, a1.events_dated, a1.events_resolved) == (3, 2, 1)
    assert (a1.attempts, a1.retries, a1.tokens, a1.seconds) == (5, 2, 1000, 10.0)  # 3 calls, 5 attempts
    assert a2.rouge == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0} and a2.retries == 0
    assert not a3.ok and a3.error == FAILURES["a3"] and a3.rouge is None and a3.tokens == 0
    assert a3.lead3_rouge["rouge1"] == 1.0
    assert not a4.ok and a4.error is not None and "no result" in a4.error


def test_evaluate_overall(report: EvalReport) -> None:
    o = report.overall
    assert (o["articles"], o["with_output"], o["scored"], o["schema_failures"]) == (4, 2, 2, 2)
    assert (o["rouge1"], o["rouge2"], o["rougeL"]) == (0.5, 0.5, 0.5)
    assert (o["lead3_rouge1"], o["lead3_rougeL"]) == (0.5, 0.5)  # a1 and a2, the articles with a summary
    assert o["lead3_all_rouge1"] == 0.75  # 1, 0, 1, 1
    assert (o["quotes"], o["exact_share"], o["approximate_share"], o["ungrounded_share"]) == (
        4,
        0.5,
        0.25,
        0.25,
    )
    assert (o["events"], o["events_dated"], o["events_resolved"]) == (3, 2, 1)
    assert o["resolved_share_dated"] == 0.5
    assert o["resolved_share_all"] == pytest.approx(1 / 3)
    assert (o["attempts"], o["retries"], o["tokens"], o["tokens_median"]) == (6, 2, 1300, 650)
    assert (o["seconds"], o["seconds_median"]) == (14.0, 7.0)


def test_evaluate_run_info(report: EvalReport) -> None:
    run = report.run
    assert run["label"] == "fixture run" and run["command"] == "summarizer eval x"
    assert run["model"] == "fixture-model" and run["endpoint"] == "compatible"
    assert run["prompt_versions"] == {"events": "v1", "stances": "v1", "summary": "v1"}
    assert dt.datetime.fromisoformat(run["date"]).tzinfo is not None


def test_retries_count_every_chunk_and_the_reduce_call() -> None:
    tasks = ("summary", "stances", "events", "summary_reduce")
    analysis = _analysis("H", "S", metadata=_metadata(8, 10, 1.0, tasks=tasks, chunks=2))
    score = evaluate(DATASET[:1], {"a1": analysis}, {}, run={}).articles[0]
    assert score.retries == 1  # 3 tasks x 2 chunks + 1 reduce = 7 calls


def test_grounding_counted_from_items_when_not_recorded() -> None:
    stance = CheckedStance(
        actor="a",
        target="b",
        position="p",
        polarity="neutral",
        evidence="q",
        grounding=Grounding(status="exact"),
    )
    event = _event(None, False).model_copy(update={"grounding": Grounding(status="ungrounded")})
    analysis = _analysis("H", "S", stances=[stance], events=[event])
    score = evaluate(DATASET[:1], {"a1": analysis}, {}, run={}).articles[0]
    assert (score.quotes, score.exact, score.ungrounded) == (2, 1, 1)


def test_no_quotes_no_shares() -> None:
    lead = {"rouge1": 0.2, "rouge2": 0.1, "rougeL": 0.2}
    o = overall_metrics([ArticleScore(id="x", ok=False, error="e", lead3_rouge=lead)])
    assert o["exact_share"] is None and o["resolved_share_dated"] is None and o["rouge1"] is None
    assert o["tokens_median"] is None and o["schema_failures"] == 1 and o["lead3_all_rouge2"] == 0.1


# --- compare -----------------------------------------------------------------------------------------


def _score(article_id: str, value: float | None) -> ArticleScore:
    scores = None if value is None else {"rouge1": value, "rouge2": value, "rougeL": value}
    lead = {"rouge1": 0.1, "rouge2": 0.1, "rougeL": 0.1}
    return ArticleScore(id=article_id, ok=value is not None, rouge=scores, lead3_rouge=lead)


def _report(label: str, scores: list[ArticleScore]) -> EvalReport:
    return EvalReport(run={"label": label}, articles=scores, overall=overall_metrics(scores))


def test_compare_better_worse_same() -> None:
    a = _report(
        "A",
        [
            _score("up", 0.2),
            _score("down", 0.5),
            _score("flat", 0.3),
            _score("fixed", None),
            _score("broke", 0.4),
            _score("gone", 0.1),
        ],
    )
    b = _report(
        "B",
        [
            _score("up", 0.3),
            _score("down", 0.4),
            _score("flat", 0.305),
            _score("fixed", 0.2),
            _score("broke", None),
            _score("new", 0.3),
        ],
    )
    c = compare(a, b, threshold=0.01)
    assert c.better == ["up", "fixed"]
    assert c.worse == ["down", "broke"]
    assert c.same == ["flat"]
    outcomes = {d.id: d.outcome for d in c.articles}
    assert outcomes["gone"] == "only_a" and outcomes["new"] == "only_b"
    up = next(d for d in c.articles if d.id == "up")
    assert up.delta == pytest.approx(0.1)
    assert c.overall["schema_failures"] == {"a": 1, "b": 1, "delta": 0}
    assert c.overall["rouge1"]["delta"] == pytest.approx(b.overall["rouge1"] - a.overall["rouge1"])


# --- reports -----------------------------------------------------------------------------------------


def _hostile_report() -> EvalReport:
    dataset = [*DATASET, EvalArticle(HOSTILE, "Evil <b>text</b>. Two. Three.", "Evil text.")]
    results = {**_results(), HOSTILE: _analysis(HOSTILE, "x")}
    return evaluate(dataset, results, {"a3": "error <img src=x onerror=alert(1)>"}, run={"label": HOSTILE})


def test_write_reports(tmp_path: Path) -> None:
    report = _hostile_report()
    paths = write_reports(report, tmp_path / "out")
    assert set(paths) == {"json", "markdown", "html"}
    assert all(p.is_file() for p in paths.values())

    page = paths["html"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    lowered = page.lower()
    for external in ('src="http', "src='http", "<link", "<script", "url(", "@import", "<iframe"):
        assert external not in lowered
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page  # id, headline, label
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count('src="data:image/png;base64,') == 4  # ROUGE, grounding, dates, tokens/time

    md = paths["markdown"].read_text(encoding="utf-8")
    assert "| ROUGE F1 | model (3 articles with a summary) |" in md
    assert "| id | headline (or FAILED: error) | ROUGE 1/2/L |" in md
    assert "<script>" not in md and "&lt;script&gt;" in md

    # the README round trip: report.json loads back into an EvalReport
    assert EvalReport.model_validate_json(paths["json"].read_text(encoding="utf-8")) == report
    assert load_report(paths["json"]) == report


def test_write_reports_with_comparison(tmp_path: Path) -> None:
    a = evaluate(DATASET, _results(), FAILURES, run={"label": "A"})
    better = {**_results(), "a3": _analysis("One two.", "Three four. Five six.")}
    better["a1"] = _analysis("Something else entirely", "unrelated words")
    b = evaluate(DATASET, better, {}, run={"label": "B"})
    c = compare(a, b)
    assert (c.better, c.worse, c.same) == (["a3"], ["a1"], ["a2", "a4"])
    paths = write_reports(b, tmp_path, c)
    assert json.loads(paths["comparison"].read_text(encoding="utf-8"))["better"] == c.better
    page = paths["html"].read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 5
    assert "Comparison: A = A, B = B" in page
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "| metric | A: A | B: B | Δ (B − A) |" in md
    assert "### Better (1)\n\n- a3 (" in md
    assert "### Worse (1)\n\n- a1 (" in md


def test_load_report_rejects_other_json(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"run": {}}', encoding="utf-8")
    with pytest.raises(InputError, match="not an evaluation report"):
        load_report(path)
