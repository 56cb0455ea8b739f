"""Assemble: the merged, grounded result of one article into its `ArticleAnalysis`, with the counts of
its checks and the cost of its calls."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from ..core.article import Article
from ..core.schemas import (
    ArticleAnalysis,
    CheckCounts,
    CheckedEvent,
    CheckedStance,
    CheckedSummary,
    FieldCheck,
    Metadata,
    MissingPiece,
    TaskRun,
    Usage,
)
from ..model.settings import Rails, Settings


@dataclass
class ChunkResult:
    """The grounded output of every task, for one chunk or (merged) for the whole article."""

    summary: CheckedSummary | None = None
    stances: list[CheckedStance] | None = None
    events: list[CheckedEvent] | None = None
    runs: dict[str, TaskRun] = field(default_factory=dict)
    missing: list[MissingPiece] = field(default_factory=list)


def assemble(
    article: Article,
    result: ChunkResult,
    settings: Settings,
    *,
    sentences: list[tuple[int, int]],
    chunks: int,
    seconds: float,
    drop_unknown_names: bool,
    entity_precision: float | None = None,
    rails: Rails = "free",
) -> ArticleAnalysis:
    """The output for one article: checks counted (and, with `drop_unknown_names`, items naming someone or
    somewhere not in the article dropped), usage and attempts summed over every task and chunk."""
    stances, events = result.stances, result.events
    items: list[CheckedStance | CheckedEvent] = [*(stances or []), *(events or [])]
    counts = CheckCounts(
        items=len(items),
        unknown_names=sum(1 for item in items if item.unknown_names),
        entity_precision=entity_precision,
        flagged_fields=sum(1 for check in _field_checks(result) if check.flagged),
    )
    if drop_unknown_names:
        stances = None if stances is None else [s for s in stances if not s.unknown_names]
        events = None if events is None else [e for e in events if not e.unknown_names]
        counts.dropped = len(items) - len(stances or []) - len(events or [])
    runs = result.runs
    metadata = Metadata(
        model=settings.model,
        endpoint=settings.endpoint,
        mode=settings.mode,
        prompt_versions={name: run.prompt_version for name, run in runs.items()},
        tasks=runs,
        usage=sum((run.usage for run in runs.values()), Usage()),
        attempts=sum(run.attempts for run in runs.values()),
        seconds=round(seconds, 3),
        chunks=chunks,
        rails=rails,
        summarizer_version=_package_version(),
    )
    info = article.info().model_copy(update={"sentences": sentences})
    return ArticleAnalysis(
        complete=not result.missing,
        missing=result.missing,
        summary=result.summary,
        stances=stances,
        events=events,
        checks=counts,
        article=info,
        metadata=metadata,
    )


def _field_checks(result: ChunkResult) -> list[FieldCheck]:
    checks: list[FieldCheck] = []
    if result.summary is not None:
        checks += [*result.summary.checks.values(), *(p.check for p in result.summary.key_points)]
    checks += [s.check for s in result.stances or []]
    checks += [e.check for e in result.events or []]
    return checks


def combine_runs(per_chunk: list[dict[str, TaskRun]]) -> dict[str, TaskRun]:
    """A task's cost over all chunks: attempts and tokens summed; time is the slowest chunk's, as they
    run concurrently."""
    combined: dict[str, TaskRun] = {}
    for runs in per_chunk:
        for name, run in runs.items():
            seen = combined.get(name)
            combined[name] = (
                run
                if seen is None
                else TaskRun(
                    prompt_version=run.prompt_version,
                    attempts=seen.attempts + run.attempts,
                    usage=seen.usage + run.usage,
                    seconds=max(seen.seconds, run.seconds),
                    cached=seen.cached and run.cached,
                )
            )
    return combined


@functools.cache
def _package_version() -> str:
    try:
        return version("summarizer")
    except PackageNotFoundError:
        return "0+unknown"
