"""Scoring a run against reference summaries: ROUGE of the model's summary and of the lead-3 baseline,
grounding of the evidence quotes, date resolution, retries, tokens and time. Reports are in
`summarizer.report`.

The evaluation set is JSONL, one article a line: `{"id", "article", "reference", "url"?, ...}` (the format
of the CNN/DailyMail dev file; other keys are ignored).

Choices, so that numbers from different runs mean the same thing:
- the model's text scored is `headline + " " + summary`: both are what a reader sees first and together
  are about as long as a CNN/DailyMail reference (3-4 highlight sentences). The key points are left out:
  they mostly restate the summary, and adding them would trade precision for recall and make ROUGE F1
  depend on how many points the model chose to write;
- ROUGE is Google's `rouge-score` (F1 of rouge1, rouge2 and rougeL, Porter stemming). rougeL is the plain
  longest common subsequence over the whole text, not the summary-level rougeLsum;
- lead-3 is the first three sentences of the article, split by `sentencex` (no data to download);
- a comparison ranks articles by the mean of the three ROUGE F1 scores: any one of them alone moves a lot
  on a single short summary.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from .errors import InputError
from .jsonl import iter_jsonl
from .schemas import REDUCE_PROMPT, ArticleAnalysis, CheckedEvent, CheckedStance

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


# --- the evaluation set ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalArticle:
    id: str
    text: str
    reference: str
    url: str | None = None


def load_eval_set(path: str | os.PathLike[str]) -> list[EvalArticle]:
    """Read an evaluation set. Blank lines are skipped; a line that is not a JSON object with non-empty
    string `id`, `article` (or `text`) and `reference`, or repeats an id, raises InputError as
    `file:line: what`. An empty file is an error too."""
    name = os.fspath(path)
    articles: list[EvalArticle] = []
    seen: dict[str, int] = {}
    for number, where, item in iter_jsonl(path):
        text = item.get("article", item.get("text"))
        fields = {"id": item.get("id"), "article": text, "reference": item.get("reference")}
        for key, value in fields.items():
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"{where}: '{key}' must be a non-empty string")
        url = item.get("url")
        if url is not None and not isinstance(url, str):
            raise InputError(f"{where}: 'url' must be a string")
        if item["id"] in seen:
            raise InputError(f"{where}: id {item['id']!r} already on line {seen[item['id']]}")
        seen[item["id"]] = number
        articles.append(EvalArticle(item["id"], str(text), item["reference"], url or None))
    if not articles:
        raise InputError(f"{name}: no articles")
    return articles


# --- metrics -----------------------------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    """The sentences of `text`, by sentencex's rules for English; a piece with no letter or digit (a lone
    "..." or a stray closing quote) is joined to the sentence before it."""
    import sentencex

    out: list[str] = []
    for piece in sentencex.segment("en", text):
        piece = piece.strip()
        if not piece:
            continue
        if out and not any(c.isalnum() for c in piece):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def lead3(text: str) -> str:
    """The lead-3 baseline: the article's first three sentences."""
    return " ".join(sentences(text)[:3])


@functools.cache
def _scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge(candidate: str, reference: str) -> dict[str, float]:
    """F1 of rouge1, rouge2 and rougeL of `candidate` against `reference` (0.0 when either is empty)."""
    scores = _scorer().score(reference, candidate)  # rouge-score takes (target, prediction)
    return {name: float(scores[name].fmeasure) for name in ROUGE_TYPES}


def summary_text(analysis: ArticleAnalysis) -> str | None:
    """What is scored against the reference: headline and summary (see the module docstring)."""
    if analysis.summary is None:
        return None
    return f"{analysis.summary.headline} {analysis.summary.summary}"


# --- scores ------------------------------------------------------------------------------------------


class ArticleScore(BaseModel):
    """One article's scores. A failed article has `ok` false, its error, no ROUGE and zero counts."""

    id: str
    ok: bool
    error: str | None = None
    headline: str | None = None
    rouge: dict[str, float] | None = None
    lead3_rouge: dict[str, float]
    quotes: int = 0
    exact: int = 0
    approximate: int = 0
    ungrounded: int = 0
    events: int = 0
    events_dated: int = Field(default=0, description="Events with a date_text.")
    events_resolved: int = Field(default=0, description="Events whose date resolved to a calendar date.")
    attempts: int = 0
    retries: int = Field(default=0, description="Attempts beyond the first of each model call.")
    tokens: int = 0
    seconds: float = 0.0


class EvalReport(BaseModel):
    run: dict[str, Any]
    articles: list[ArticleScore]
    overall: dict[str, Any]


def score_article(
    article: EvalArticle, analysis: ArticleAnalysis | None, error: str | None = None
) -> ArticleScore:
    """Scores of one article; `analysis` None means it failed with `error`."""
    lead = rouge(lead3(article.text), article.reference)
    if analysis is None:
        return ArticleScore(id=article.id, ok=False, error=error or "no result", lead3_rouge=lead)
    text = summary_text(analysis)
    counts = analysis.grounding
    if counts is None:  # not recorded: count the quotes we have
        counts_by = {"exact": 0, "approximate": 0, "ungrounded": 0}
        items: list[CheckedStance | CheckedEvent] = [*(analysis.stances or []), *(analysis.events or [])]
        for item in items:
            if item.grounding is not None:
                counts_by[item.grounding.status] += 1
        exact, approximate, ungrounded = counts_by["exact"], counts_by["approximate"], counts_by["ungrounded"]
    else:
        exact, approximate, ungrounded = counts.exact, counts.approximate, counts.ungrounded
    events = analysis.events or []
    meta = analysis.metadata
    # One call per task per chunk, and one reduce call for a long article's summaries.
    calls = sum(1 if name == REDUCE_PROMPT else meta.chunks for name in meta.tasks)
    return ArticleScore(
        id=article.id,
        ok=True,
        headline=analysis.summary.headline if analysis.summary else None,
        rouge=None if text is None else rouge(text, article.reference),
        lead3_rouge=lead,
        quotes=exact + approximate + ungrounded,
        exact=exact,
        approximate=approximate,
        ungrounded=ungrounded,
        events=len(events),
        events_dated=sum(e.date_text is not None for e in events),
        events_resolved=sum(e.resolved_date is not None for e in events),
        attempts=meta.attempts,
        retries=max(0, meta.attempts - calls),
        tokens=meta.usage.total_tokens,
        seconds=meta.seconds,
    )


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return statistics.fmean(items) if items else None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def overall_metrics(articles: list[ArticleScore]) -> dict[str, Any]:
    """The run's totals, a flat mapping of metric name to number (None where there is nothing to count).

    ROUGE means are over the articles with a summary, and lead-3's over the same articles so the two sit
    side by side (`lead3_all_*` is over every article); quote shares are pooled over all quotes; medians
    of tokens and seconds are per article with output."""
    scored = [a for a in articles if a.rouge is not None]
    ok = [a for a in articles if a.ok]
    quotes = sum(a.quotes for a in articles)
    events = sum(a.events for a in articles)
    dated = sum(a.events_dated for a in articles)
    resolved = sum(a.events_resolved for a in articles)
    out: dict[str, Any] = {"articles": len(articles), "with_output": len(ok), "scored": len(scored)}
    for name in ROUGE_TYPES:
        out[name] = _mean(a.rouge[name] for a in scored if a.rouge is not None)
        out[f"lead3_{name}"] = _mean(a.lead3_rouge[name] for a in scored)
        out[f"lead3_all_{name}"] = _mean(a.lead3_rouge[name] for a in articles)
    out.update(
        quotes=quotes,
        exact_share=_share(sum(a.exact for a in articles), quotes),
        approximate_share=_share(sum(a.approximate for a in articles), quotes),
        ungrounded_share=_share(sum(a.ungrounded for a in articles), quotes),
        events=events,
        events_dated=dated,
        events_resolved=resolved,
        resolved_share_dated=_share(resolved, dated),
        resolved_share_all=_share(resolved, events),
        schema_failures=len(articles) - len(ok),
        attempts=sum(a.attempts for a in articles),
        retries=sum(a.retries for a in articles),
        tokens=sum(a.tokens for a in articles),
        tokens_median=statistics.median([a.tokens for a in ok]) if ok else None,
        seconds=round(sum(a.seconds for a in articles), 3),
        seconds_median=statistics.median([a.seconds for a in ok]) if ok else None,
    )
    return out


def run_info(results: dict[str, ArticleAnalysis], run: dict[str, Any]) -> dict[str, Any]:
    """`run` with what it leaves out taken from the results: model, endpoint and prompt versions (a list
    when the results disagree), the date (now, UTC) and a label (the model)."""
    metas = [a.metadata for a in results.values()]

    def one(values: Iterable[Any]) -> Any:
        distinct = list(dict.fromkeys(values))
        return distinct[0] if len(distinct) == 1 else (distinct or None)

    prompts: dict[str, Any] = {}
    for meta in metas:
        for name, version in meta.prompt_versions.items():
            prompts.setdefault(name, []).append(version)
    derived: dict[str, Any] = {
        "model": one(m.model for m in metas),
        "endpoint": one(m.endpoint for m in metas),
        "prompt_versions": {name: one(versions) for name, versions in sorted(prompts.items())},
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    info = {**derived, **{k: v for k, v in run.items() if v is not None}}
    return {"label": str(info.get("label") or info.get("model") or "run"), **info}


def evaluate(
    dataset: list[EvalArticle],
    results: dict[str, ArticleAnalysis],
    failures: dict[str, str],
    *,
    run: dict[str, Any],
) -> EvalReport:
    """Score every article of `dataset`: its result, else its failure, else "no result" (counted as a
    failure too). Results and failures for ids outside the dataset are ignored. `run` describes the run
    (label, model, endpoint, prompt_versions, date, command); what it lacks comes from the results."""
    articles = [
        score_article(a, results.get(a.id), failures.get(a.id, "no result: the article was not run"))
        for a in dataset
    ]
    return EvalReport(run=run_info(results, run), articles=articles, overall=overall_metrics(articles))


def load_report(path: str | os.PathLike[str]) -> EvalReport:
    """Read a report.json written by `write_reports` (e.g. the baseline to compare against)."""
    try:
        with open(path, encoding="utf-8") as f:
            return EvalReport.model_validate_json(f.read())
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {os.fspath(path)}: {exc}") from exc
    except ValidationError as exc:
        raise InputError(f"{os.fspath(path)}: not an evaluation report ({exc.error_count()} errors)") from exc


# --- comparing two runs ------------------------------------------------------------------------------

Outcome = Literal["better", "worse", "same", "only_a", "only_b"]


class ArticleDelta(BaseModel):
    """One article in two runs: the mean of its three ROUGE F1 scores in each (None: no summary)."""

    id: str
    a: float | None
    b: float | None
    delta: float | None
    outcome: Outcome


class Comparison(BaseModel):
    """Run `b` against run `a` (the baseline): deltas are b - a."""

    a_run: dict[str, Any]
    b_run: dict[str, Any]
    metric: str = "mean of ROUGE-1, ROUGE-2 and ROUGE-L F1"
    threshold: float
    articles: list[ArticleDelta]
    better: list[str]
    worse: list[str]
    same: list[str]
    overall: dict[str, dict[str, Any]]  # metric -> {"a", "b", "delta"}


def rouge_mean(score: ArticleScore) -> float | None:
    return None if score.rouge is None else statistics.fmean(score.rouge[n] for n in ROUGE_TYPES)


def _delta(a: Any, b: Any) -> Any:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool | str):
        return b - a
    return None


def compare(a: EvalReport, b: EvalReport, *, threshold: float = 0.01) -> Comparison:
    """Per article, `b` is better when its ROUGE mean is more than `threshold` above `a`'s, or it has a
    summary where `a` had none; worse the other way round; else the same. Articles in only one report are
    listed as only_a / only_b. Overall, every metric of either report with its delta."""
    in_a = {s.id: s for s in a.articles}
    in_b = {s.id: s for s in b.articles}
    deltas: list[ArticleDelta] = []
    for article_id in [*in_a, *(i for i in in_b if i not in in_a)]:
        sa, sb = in_a.get(article_id), in_b.get(article_id)
        ra = rouge_mean(sa) if sa else None
        rb = rouge_mean(sb) if sb else None
        delta = None if ra is None or rb is None else rb - ra
        outcome: Outcome
        if sb is None:
            outcome = "only_a"
        elif sa is None:
            outcome = "only_b"
        elif delta is not None:
            outcome = "better" if delta > threshold else "worse" if delta < -threshold else "same"
        else:
            outcome = "better" if rb is not None else "worse" if ra is not None else "same"
        deltas.append(ArticleDelta(id=article_id, a=ra, b=rb, delta=delta, outcome=outcome))
    overall = {
        key: {
            "a": a.overall.get(key),
            "b": b.overall.get(key),
            "delta": _delta(a.overall.get(key), b.overall.get(key)),
        }
        for key in [*a.overall, *(k for k in b.overall if k not in a.overall)]
    }
    return Comparison(
        a_run=a.run,
        b_run=b.run,
        threshold=threshold,
        articles=deltas,
        better=[d.id for d in deltas if d.outcome == "better"],
        worse=[d.id for d in deltas if d.outcome == "worse"],
        same=[d.id for d in deltas if d.outcome == "same"],
        overall=overall,
    )
