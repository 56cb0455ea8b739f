"""Scoring a run: ROUGE of the model's summary against reference summaries beside the lead-3 baseline, and
what the output says about itself (`summarizer.quality`): evidence equal to the article, fields copied from
the prompt, HTML entities, duplicates, names found in the article, entity precision and support, dates
found and resolved; retries, tokens and time. Reports are in `summarizer.report`.

The evaluation set is JSONL, one article a line: `{"id", "article", "reference", "url"?, ...}` (the format
of the CNN/DailyMail dev file; other keys are ignored).

Choices, so that numbers from different runs mean the same thing:
- the model's text scored is `headline + " " + summary`: both are what a reader sees first and together
  are about as long as a CNN/DailyMail reference (3-4 highlight sentences). The key points are left out:
  they mostly restate the summary, and adding them would trade precision for recall and make ROUGE F1
  depend on how many points the model chose to write;
- ROUGE is Google's `rouge-score` (F1 of rouge1, rouge2 and rougeL, Porter stemming). rougeL is the plain
  longest common subsequence over the whole text, not the summary-level rougeLsum;
- lead-3 is the first three sentences of the article, as `segment` splits it (sentencex's rules);
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
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ..core.errors import InputError
from ..core.jsonl import iter_jsonl
from ..core.schemas import REDUCE_PROMPT, ArticleAnalysis
from ..core.segment import split_sentences
from ..pipeline.prompts import PromptSet
from . import quality

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
    """The sentences of `text` as segment cuts an English article (the ones the model cites)."""
    return [s.text for s in split_sentences(text, "en")]


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
    """One article's scores. A failed article has `ok` false, its error, no ROUGE and zero counts.

    `items`: stances and events (`items_cited`: with a citation). `citations` of key points, stances and
    events, `citations_equal` to the article at their offsets, `citations_misplaced` (offsets not those of
    the cited sentence). `fields`: strings the model wrote; those copying prompt or schema text, and those
    with an HTML entity left, as `where: text`. `duplicates`: items repeating an earlier one, near or exact.
    `names`: actor, target, recipient and location names, `names_found` in the article. `checked_fields`:
    generated text fields with a support check; `support`: the scores of those the model wrote
    (`extractive_fields`, copied from the article by code under extractive rails, score 1.0 by
    construction and are left out of `support`: they are no win of the model's writing).
    `events_dated`: with a date found in their sentences. `retries`: attempts beyond the first of each
    model call. `summarizer.quality` defines each count."""

    id: str
    ok: bool
    error: str | None = None
    headline: str | None = None
    rouge: dict[str, float] | None = None
    lead3_rouge: dict[str, float]
    items: int = 0
    items_cited: int = 0
    citations: int = 0
    citations_equal: int = 0
    citations_misplaced: int = 0
    fields: int = 0
    prompt_copies: list[str] = Field(default_factory=list)
    html_entities: list[str] = Field(default_factory=list)
    duplicates: int = 0
    exact_duplicates: int = 0
    names: int = 0
    names_found: int = 0
    entity_precision: float | None = None
    checked_fields: int = 0
    flagged_fields: int = 0
    extractive_fields: int = 0
    support: list[float] = Field(default_factory=list)
    events: int = 0
    events_dated: int = 0
    events_resolved: int = 0
    attempts: int = 0
    retries: int = 0
    tokens: int = 0
    seconds: float = 0.0


class EvalReport(BaseModel):
    run: dict[str, Any]
    articles: list[ArticleScore]
    overall: dict[str, Any]


def score_article(
    article: EvalArticle,
    analysis: ArticleAnalysis | None,
    error: str | None = None,
    *,
    phrases: quality.PromptPhrases | None = None,
) -> ArticleScore:
    """Scores of one article; `analysis` None means it failed with `error`. `phrases`: what a field must
    not copy (default: `quality.prompt_phrases` of the installed prompts)."""
    lead = rouge(lead3(article.text), article.reference)
    if analysis is None:
        return ArticleScore(id=article.id, ok=False, error=error or "no result", lead3_rouge=lead)
    text = summary_text(analysis)
    phrases = phrases or quality.prompt_phrases(PromptSet.load())
    items = quality.items(analysis)
    cited = quality.citations(analysis)
    names, found = quality.names(analysis)
    near, exact = quality.duplicates(analysis)
    checks = quality.field_checks(analysis)
    events = analysis.events or []
    meta = analysis.metadata
    # One call per task per chunk, and one reduce call for a long article's summaries; a task served from
    # the response cache made none.
    calls = sum(
        1 if name == REDUCE_PROMPT else meta.chunks for name, run in meta.tasks.items() if not run.cached
    )
    return ArticleScore(
        id=article.id,
        ok=True,
        headline=analysis.summary.headline if analysis.summary else None,
        rouge=None if text is None else rouge(text, article.reference),
        lead3_rouge=lead,
        items=len(items),
        items_cited=sum(bool(item.evidence) for item in items),
        citations=len(cited),
        citations_equal=sum(quality.citation_equal(c, analysis.article) for c in cited),
        citations_misplaced=sum(quality.citation_misplaced(c, analysis.article) for c in cited),
        fields=len(quality.generated_fields(analysis)),
        prompt_copies=quality.prompt_copies(analysis, phrases),
        html_entities=quality.html_entities(analysis),
        duplicates=near,
        exact_duplicates=exact,
        names=names,
        names_found=found,
        entity_precision=analysis.checks.entity_precision if analysis.checks else None,
        checked_fields=len(checks),
        flagged_fields=sum(c.flagged for c in checks),
        extractive_fields=sum(c.extractive for c in checks),
        support=[c.support for c in checks if c.support is not None and not c.extractive],
        events=len(events),
        events_dated=sum(e.date is not None for e in events),
        events_resolved=sum(e.date is not None and e.date.resolved is not None for e in events),
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


def _distribution(name: str, values: list[float]) -> dict[str, float | None]:
    """min, quartiles, max and mean; quartiles by the inclusive method (they lie within the data)."""
    if len(values) < 2:
        one = values[0] if values else None
        q1 = median = q3 = one
    else:
        q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    keys = ("min", "q1", "median", "q3", "max", "mean")
    found = (min(values, default=None), q1, median, q3, max(values, default=None), _mean(values))
    return {f"{name}_{key}": value for key, value in zip(keys, found, strict=True)}


def overall_metrics(articles: list[ArticleScore]) -> dict[str, Any]:
    """The run's totals, a flat mapping of metric name to number (None where there is nothing to count).

    ROUGE means are over the articles with a summary, and lead-3's over the same articles so the two sit
    side by side (`lead3_all_*` is over every article); shares are pooled (over all citations, items,
    names, fields); entity precision is the mean over articles that have one; medians of tokens and
    seconds are per article with output."""
    scored = [a for a in articles if a.rouge is not None]
    ok = [a for a in articles if a.ok]

    def total(key: str) -> int:
        return sum(getattr(a, key) for a in articles)

    def having(key: str) -> int:
        return sum(bool(getattr(a, key)) for a in articles)

    out: dict[str, Any] = {"articles": len(articles), "with_output": len(ok), "scored": len(scored)}
    for name in ROUGE_TYPES:
        out[name] = _mean(a.rouge[name] for a in scored if a.rouge is not None)
        out[f"lead3_{name}"] = _mean(a.lead3_rouge[name] for a in scored)
        out[f"lead3_all_{name}"] = _mean(a.lead3_rouge[name] for a in articles)
    out.update(
        schema_failures=len(articles) - len(ok),
        items=total("items"),
        items_cited=total("items_cited"),
        items_cited_share=_share(total("items_cited"), total("items")),
        citations=total("citations"),
        citations_equal=total("citations_equal"),
        evidence_equal_share=_share(total("citations_equal"), total("citations")),
        citations_misplaced=total("citations_misplaced"),
        fields=total("fields"),
        prompt_copies=sum(len(a.prompt_copies) for a in articles),
        articles_with_prompt_copies=having("prompt_copies"),
        html_entities=sum(len(a.html_entities) for a in articles),
        articles_with_html_entities=having("html_entities"),
        duplicates=total("duplicates"),
        exact_duplicates=total("exact_duplicates"),
        articles_with_duplicates=having("duplicates"),
        names=total("names"),
        names_found=total("names_found"),
        names_found_share=_share(total("names_found"), total("names")),
        entity_precision_mean=_mean(a.entity_precision for a in ok if a.entity_precision is not None),
        checked_fields=total("checked_fields"),
        flagged_fields=total("flagged_fields"),
        flagged_share=_share(total("flagged_fields"), total("checked_fields")),
        extractive_fields=total("extractive_fields"),
        **_distribution("support", [v for a in articles for v in a.support]),
        events=total("events"),
        events_dated=total("events_dated"),
        events_resolved=total("events_resolved"),
        resolved_share_dated=_share(total("events_resolved"), total("events_dated")),
        resolved_share_all=_share(total("events_resolved"), total("events")),
        attempts=total("attempts"),
        retries=total("retries"),
        tokens=total("tokens"),
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
    prompts: PromptSet | None = None,
) -> EvalReport:
    """Score every article of `dataset`: its result, else its failure, else "no result" (counted as a
    failure too). Results and failures for ids outside the dataset are ignored. `run` describes the run
    (label, model, endpoint, prompt_versions, date, command); what it lacks comes from the results.
    `prompts`: the templates whose text a field must not copy (default: the installed prompts)."""
    phrases = quality.prompt_phrases(prompts or PromptSet.load())
    articles = [
        score_article(
            a, results.get(a.id), failures.get(a.id, "no result: the article was not run"), phrases=phrases
        )
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
