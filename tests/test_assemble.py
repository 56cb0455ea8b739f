"""Assembling an article's output: counts of its checks, and --drop-unknown-names."""

from __future__ import annotations

from summarizer.core.article import article_from_text
from summarizer.core.schemas import CheckedEvent, CheckedStance, Citation, FieldCheck
from summarizer.model.settings import Settings
from summarizer.pipeline.assemble import ChunkResult, assemble

TEXT = "Kim met Shoigu. Bennett was not there."
SETTINGS = Settings(model="m", endpoint="compatible", base_url="http://127.0.0.1:1/v1")


def _cite() -> list[Citation]:
    return [Citation(sentence=1, start=0, end=15, text="Kim met Shoigu.")]


def _stance(actor: str, unknown: list[str]) -> CheckedStance:
    return CheckedStance(
        actor=actor,
        target="Shoigu",
        position="p",
        polarity="supports",
        sentences=[1],
        evidence=_cite(),
        unknown_names=unknown,
        check=FieldCheck(flagged=bool(unknown)),
    )


def _result() -> ChunkResult:
    event = CheckedEvent(
        description="Kim met Shoigu.",
        event_type="CONSULT",
        actors=["Kim"],  # type: ignore[arg-type]
        sentences=[1],
        evidence=_cite(),
    )
    return ChunkResult(stances=[_stance("Kim", []), _stance("Northkrye", ["Northkrye"])], events=[event])


def _assemble(strict: bool):
    article = article_from_text(TEXT)
    return assemble(
        article, _result(), SETTINGS, sentences=[(0, 15)], chunks=1, seconds=1.0, drop_unknown_names=strict
    )


def test_counts_of_the_checks() -> None:
    analysis = _assemble(strict=False)
    assert analysis.checks is not None
    assert (analysis.checks.items, analysis.checks.unknown_names, analysis.checks.dropped) == (3, 1, 0)
    assert analysis.checks.flagged_fields == 1
    assert [s.actor for s in analysis.stances or []] == ["Kim", "Northkrye"]
    assert analysis.article.sentences == [(0, 15)]


def test_strict_drops_the_items_naming_someone_not_in_the_article_and_keeps_the_rest() -> None:
    analysis = _assemble(strict=True)
    assert analysis.checks is not None and analysis.checks.dropped == 1
    assert [s.actor for s in analysis.stances or []] == ["Kim"]  # the grounded one is kept
    assert len(analysis.events or []) == 1
