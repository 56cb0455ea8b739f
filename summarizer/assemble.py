"""After the model: each chunk's outputs checked (quotes located, dates resolved), chunks combined, and the
article's `ArticleAnalysis` assembled with its counts and costs."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import BaseModel

from .article import Article
from .chunking import Chunk
from .dates import resolve_date
from .evidence import count_grounding, locate_quote, shift
from .schemas import (
    ArticleAnalysis,
    CheckedEvent,
    CheckedStance,
    EventList,
    Grounding,
    GroundingCounts,
    Metadata,
    StanceList,
    Summary,
    TaskRun,
    Usage,
)
from .settings import Settings


@dataclass
class ChunkResult:
    """The checked output of every task for one chunk of the article."""

    summary: Summary | None = None
    stances: list[CheckedStance] | None = None
    events: list[CheckedEvent] | None = None
    runs: dict[str, TaskRun] = field(default_factory=dict)


def check_outputs(
    outputs: list[BaseModel], runs: dict[str, TaskRun], chunk: Chunk, article: Article
) -> ChunkResult:
    """One chunk's task outputs with every quote located (offsets into the whole article) and every event
    date resolved against the publication date."""
    result = ChunkResult(runs=runs)
    for output in outputs:
        if isinstance(output, Summary):
            result.summary = output
        elif isinstance(output, StanceList):
            result.stances = [
                CheckedStance(
                    **s.model_dump(), grounding=shift(locate_quote(s.evidence, chunk.text), chunk.start)
                )
                for s in output.stances
            ]
        elif isinstance(output, EventList):
            result.events = [_check_event(e.model_dump(), chunk, article) for e in output.events]
    return result


def _locate(quote: str, chunk: Chunk) -> Grounding:
    return shift(locate_quote(quote, chunk.text), chunk.start)


def _check_event(event: dict[str, Any], chunk: Chunk, article: Article) -> CheckedEvent:
    return CheckedEvent(
        **event,
        grounding=_locate(event["evidence"], chunk),
        resolved_date=resolve_date(
            event["date_text"], article.published, article_text=article.text, language=article.language
        ),
    )


def assemble(
    article: Article, result: ChunkResult, settings: Settings, *, chunks: int, seconds: float, strict: bool
) -> ArticleAnalysis:
    """The output for one article: grounding counted (and, with `strict`, ungrounded items dropped), usage
    and attempts summed over every task and chunk."""
    stances, events = result.stances, result.events
    counts: GroundingCounts | None = None
    if stances is not None or events is not None:
        items: list[CheckedStance | CheckedEvent] = [*(stances or []), *(events or [])]
        counts = count_grounding(item.grounding for item in items)
        if strict:
            keep_stances = None if stances is None else [s for s in stances if grounded(s)]
            keep_events = None if events is None else [e for e in events if grounded(e)]
            counts.dropped = len(items) - len(keep_stances or []) - len(keep_events or [])
            stances, events = keep_stances, keep_events
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
        summarizer_version=_package_version(),
    )
    return ArticleAnalysis(
        summary=result.summary,
        stances=stances,
        events=events,
        grounding=counts,
        article=article.info(),
        metadata=metadata,
    )


def grounded(item: CheckedStance | CheckedEvent) -> bool:
    """Its quote, or the quote of a duplicate merged into it from another chunk, is in the article."""
    groundings = [item.grounding, *(e.grounding for e in item.more_evidence)]
    return any(g is None or g.status != "ungrounded" for g in groundings)


def summary_notes(index: int, summary: Summary) -> str:
    points = " ".join(summary.key_points)
    return f"Part {index}: {summary.headline}. {summary.summary} {points}"


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
                )
            )
    return combined


@functools.cache
def _package_version() -> str:
    try:
        return version("summarizer")
    except PackageNotFoundError:
        return "0+unknown"
