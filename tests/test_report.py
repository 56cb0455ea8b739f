"""Comparing runs and writing the reports. The ArticleAnalysis objects are hand-built fixtures
(tests/eval_fixtures.py), not model output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from summarizer.cli import app
from summarizer.core.errors import InputError
from summarizer.evaluation.compare import compare
from summarizer.evaluation.evaluate import (
    ArticleScore,
    EvalArticle,
    EvalReport,
    evaluate,
    load_report,
    overall_metrics,
)
from summarizer.evaluation.report import fmt, to_markdown, write_reports

from .eval_fixtures import DATASET, FAILURES, analysis_of, results

HOSTILE = '<script>alert("x")</script>'


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
    found = {**results(), HOSTILE: analysis_of("Evil text. Two. Three.", HOSTILE, "x")}
    return evaluate(dataset, found, {"a3": "error <img src=x onerror=alert(1)>"}, run={"label": HOSTILE})


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
    assert page.count('src="data:image/png;base64,') == 4  # ROUGE, checks, dates, tokens/time

    md = paths["markdown"].read_text(encoding="utf-8")
    assert "| ROUGE F1 | model (3 articles with a summary) |" in md
    assert "| id | headline (or FAILED: error) | ROUGE 1/2/L |" in md
    assert "<script>" not in md and "&lt;script&gt;" in md

    # the README round trip: report.json loads back into an EvalReport
    assert EvalReport.model_validate_json(paths["json"].read_text(encoding="utf-8")) == report
    assert load_report(paths["json"]) == report


def test_write_reports_with_comparison(tmp_path: Path) -> None:
    a = evaluate(DATASET, results(), FAILURES, run={"label": "A"})
    better = {**results(), "a3": analysis_of(DATASET[2].text, "One two.", "Three four. Five six.")}
    better["a1"] = analysis_of(DATASET[0].text, "Something else entirely", "unrelated words")
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


def test_markdown_shows_the_checks() -> None:
    """The checks are in the overall table and per article, and the copied fields are listed."""
    report = evaluate(DATASET, results(), FAILURES, run={"label": "checks"})
    md = to_markdown(report)
    assert "| citations equal to the article at their offsets | 91.7% |" in md  # 11 of 12
    assert "| names found in the article | 85.7% |" in md  # 12 of 14
    assert "| fields copying prompt or schema text | 3 |" in md
    assert "| entity precision of the summary (mean per article) | 75.0% |" in md
    assert "| support score of written fields: median | 0.800 |" in md
    # a1's row: citations, items, names, entity precision, flagged fields, copies/entities/duplicates
    assert "| 9/10 | 6/7 | 10/12 | 50.0% | 3/10 | 0, 0, 2 | 4: 2/1 |" in md
    assert "### Fields copying prompt or schema text (3)" in md
    assert "- a2: key_points[0]: Headline" in md
    assert "### HTML entities (1)\n\n- a2: summary: Electrons tunnel &amp;amp; jump." in md  # escaped


def test_fmt_shares_as_percent() -> None:
    assert fmt("names_found_share", 0.5) == "50.0%" and fmt("entity_precision_mean", 0.25) == "25.0%"
    assert fmt("support_q1", 0.25) == "0.250" and fmt("flagged_share", None) == "–"


def test_eval_scores_a_finished_batch(tmp_path: Path) -> None:
    """`summarizer eval DATASET --results RESULTS.jsonl`: no model, the failures file beside the results
    read, the reports written with the checks."""
    dataset = tmp_path / "dev.jsonl"
    dataset.write_text(
        "".join(json.dumps({"id": a.id, "article": a.text, "reference": a.reference}) + "\n" for a in DATASET)
    )
    scored = tmp_path / "results.jsonl"
    lines = [{"id": i, "analysis": a.model_dump(mode="json")} for i, a in results().items()]
    scored.write_text("".join(json.dumps(line) + "\n" for line in lines))
    (tmp_path / "results.failures.jsonl").write_text(json.dumps({"id": "a3", "error": FAILURES["a3"]}) + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", str(dataset), "--results", str(scored), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = load_report(out / "report.json")
    assert report.articles[2].error == FAILURES["a3"]
    assert (report.overall["citations_equal"], report.overall["prompt_copies"]) == (11, 3)
    assert (out / "report.html").read_text(encoding="utf-8").count("data:image/png;base64,") == 4
