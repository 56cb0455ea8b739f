"""Hand-built ArticleAnalysis objects in the shape the pipeline writes, for the evaluation and report
tests. They are test fixtures, not model output: each carries one defect that a metric must count."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from summarizer.core.schemas import (
    ArticleAnalysis,
    ArticleInfo,
    CheckCounts,
    CheckedEvent,
    CheckedKeyPoint,
    CheckedStance,
    CheckedSummary,
    Citation,
    EventDate,
    EventType,
    FieldCheck,
    Metadata,
    ResolvedDate,
    TaskRun,
    Usage,
)
from summarizer.evaluation.evaluate import EvalArticle


def metadata(
    attempts: int,
    tokens: int,
    seconds: float,
    tasks: tuple[str, ...] = ("summary",),
    chunks: int = 1,
    cached: tuple[str, ...] = (),
) -> Metadata:
    def run(task: str) -> TaskRun:
        return TaskRun(
            prompt_version="v1", attempts=1, usage=Usage(total_tokens=1), seconds=1.0, cached=task in cached
        )

    return Metadata(
        model="fixture-model",
        endpoint="compatible",
        mode="tools",
        prompt_versions={t: "v1" for t in tasks},
        tasks={t: run(t) for t in tasks},
        usage=Usage(total_tokens=tokens),
        attempts=attempts,
        seconds=seconds,
        chunks=chunks,
        summarizer_version="0.0.0",
    )


def spans(text: str) -> list[tuple[int, int]]:
    """The sentences of the fixture texts: every run up to a full stop."""
    return [(m.start(), m.end()) for m in re.finditer(r"\S[^.]*\.", text)]


def cite(text: str, n: int) -> Citation:
    start, end = spans(text)[n - 1]
    return Citation(sentence=n, start=start, end=end, text=text[start:end])


def summary_of(
    text: str, headline: str, summary: str, point: str = "k", checks: dict[str, FieldCheck] | None = None
) -> CheckedSummary:
    """A summary whose key point cites sentence 1 and is fully supported; `checks` of headline and summary."""
    key_point = CheckedKeyPoint(
        text=point, sentences=[1], evidence=[cite(text, 1)], check=FieldCheck(support=1.0)
    )
    return CheckedSummary(headline=headline, summary=summary, key_points=[key_point], checks=checks or {})


def analysis_of(
    text: str, headline: str | None, summary: str = "", point: str = "k", **kw: Any
) -> ArticleAnalysis:
    kw.setdefault("metadata", metadata(1, 100, 1.0))
    found = summary_of(text, headline, summary, point) if headline else None
    return ArticleAnalysis(summary=found, article=ArticleInfo(text=text, sentences=spans(text)), **kw)


def stance(text: str, actor: str, position: str, support: float, flagged: bool = False) -> CheckedStance:
    """A stance toward "Rivers" citing sentences 1 and 2."""
    return CheckedStance(
        actor=actor,
        target="Rivers",
        position=position,
        polarity="supports",
        sentences=[1, 2],
        evidence=[cite(text, 1), cite(text, 2)],
        check=FieldCheck(support=support, flagged=flagged),
    )


def event(
    actors: list[str], evidence: list[Citation], date: str | None, resolved: bool, **kw: Any
) -> CheckedEvent:
    """An event; `date` as found in its sentences (None: none found), resolved or not."""
    day = dt.date(2015, 4, 6)
    when = ResolvedDate(start=day, end=day, precision="day", method="absolute") if resolved else None
    return CheckedEvent(
        description=f"{actors[0]} did something",
        event_type=EventType.OTHER,
        actors=actors,
        sentences=[c.sentence for c in evidence],
        evidence=evidence,
        date=None if date is None else EventDate(text=date, start=0, end=len(date), resolved=when),
        **kw,
    )


# The reference of a1 is its headline + summary, and the first three sentences of each article equal its
# reference except for a2: so the model's ROUGE is 1 for a1 and 0 for a2, lead-3's is 1 except for a2.
A1 = "Rain fell. Rivers rose. Towns flooded. Later news."
A2 = "Cats sleep. Dogs bark. Birds sing. More."
DATASET = [
    EvalArticle("a1", A1, "Rain fell. Rivers rose. Towns flooded."),
    EvalArticle("a2", A2, "Markets closed higher today.", "http://x"),
    EvalArticle("a3", "One two. Three four. Five six. Seven.", "One two. Three four. Five six."),
    EvalArticle("a4", "Alpha beta. Gamma delta. Epsilon zeta.", "Alpha beta. Gamma delta. Epsilon zeta."),
]
# A prompt phrase (summary.j2) and a schema title, copied by the model in a2.
COPIED_HEADLINE = "A headline of at most 15 words that states its main news."


def a1() -> ArticleAnalysis:
    """Clean text, with: a stance repeated near (another position, same actor, target, polarity and
    sentences) and exactly; an event whose citation's text is not the article's at its offsets, naming two
    names the article does not; an event citing sentence 4 with sentence 3's offsets; an event citing
    nothing. Two fields flagged by their support check."""
    summary = summary_of(
        A1,
        "Rain fell.",
        "Rivers rose. Towns flooded.",
        point="Rain fell.",
        checks={"headline": FieldCheck(support=0.9), "summary": FieldCheck(support=0.4, flagged=True)},
    )
    first = stance(A1, "Rain", "Rain raised rivers.", 0.8)
    near = stance(A1, "rain", "Rivers rose with rain.", 0.2, flagged=True)
    tampered = cite(A1, 3).model_copy(update={"text": "Towns flooded!"})
    misplaced = cite(A1, 3).model_copy(update={"sentence": 4})
    events = [
        event(["Rivers"], [cite(A1, 2)], "Monday", True, check=FieldCheck(support=0.7)),
        event(
            ["Towns"],
            [tampered],
            "last year",
            False,
            recipients=["Nobody"],
            location="Atlantis",
            unknown_names=["Nobody", "Atlantis"],
            check=FieldCheck(support=0.0, flagged=True, unsupported_entities=["Atlantis"]),
        ),
        event(["Rain"], [misplaced], None, False),
        event(["Rain"], [], None, False),
    ]
    return ArticleAnalysis(
        summary=summary,
        stances=[first, near, first.model_copy(deep=True)],
        events=events,
        checks=CheckCounts(items=7, unknown_names=1, entity_precision=0.5, flagged_fields=3),
        article=ArticleInfo(text=A1, sentences=spans(A1)),
        metadata=metadata(5, 1000, 10.0, tasks=("summary", "stances", "events")),
    )


def a2() -> ArticleAnalysis:
    """Prompt and schema text copied into the headline, a key point and a stance; an entity left in the
    summary."""
    copied = CheckedStance(
        actor="Cats",
        target="Dogs",
        position="The clearest first.",
        polarity="neutral",
        sentences=[1],
        evidence=[cite(A2, 1)],
    )
    analysis = analysis_of(
        A2, COPIED_HEADLINE, "Electrons tunnel &amp; jump.", point="Headline", metadata=metadata(1, 300, 4.0)
    )
    return analysis.model_copy(update={"stances": [copied], "checks": CheckCounts(entity_precision=1.0)})


def results() -> dict[str, ArticleAnalysis]:
    return {"a1": a1(), "a2": a2()}


FAILURES = {"a3": "ModelOutputError: summary: still invalid after 3 attempts"}  # a4: neither
