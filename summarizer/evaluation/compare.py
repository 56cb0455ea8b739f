"""Comparing two evaluation runs article by article: which articles a change made better or worse by the
mean of their three ROUGE F1 scores, and every overall metric of either run with its delta."""

from __future__ import annotations

import statistics
from typing import Any, Literal

from pydantic import BaseModel

from .evaluate import ROUGE_TYPES, ArticleScore, EvalReport

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
