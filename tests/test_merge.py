"""Merging the grounded items of an article's chunks: duplicates folded, citations joined."""

from __future__ import annotations

import datetime as dt

from summarizer.core.schemas import (
    CheckedEvent,
    CheckedKeyPoint,
    CheckedStance,
    CheckedSummary,
    Citation,
    EventDate,
    ResolvedDate,
)
from summarizer.pipeline.merge import cited_numbers, merge_events, merge_stances, reduce_notes


def cite(*numbers: int) -> list[Citation]:
    return [Citation(sentence=n, start=10 * n, end=10 * n + 9, text=f"sentence {n}") for n in numbers]


def stance(actor: str, target: str, polarity: str, *numbers: int) -> CheckedStance:
    return CheckedStance(
        actor=actor, target=target, position="p", polarity=polarity,  # type: ignore[arg-type]
        sentences=list(numbers), evidence=cite(*numbers),
    )  # fmt: skip


def event(actors: list[str], *numbers: int, description: str = "d", day: int | None = None) -> CheckedEvent:
    date = None
    if day is not None:
        d = dt.date(2023, 7, day)
        resolved = ResolvedDate(start=d, end=d, precision="day", method="absolute")
        date = EventDate(text=f"July {day}", start=0, end=7, resolved=resolved)
    return CheckedEvent(
        description=description, event_type="CONSULT", actors=actors, recipients=[],  # type: ignore[arg-type]
        sentences=list(numbers), evidence=cite(*numbers), date=date,
    )  # fmt: skip


def test_the_same_stance_from_two_chunks_is_one_with_both_citations() -> None:
    merged = merge_stances(
        [
            [stance("The United Nations", "Russia", "opposes", 4)],
            [stance("united nations", "Russia.", "opposes", 40, 4)],
        ]
    )
    assert len(merged) == 1
    assert merged[0].sentences == [4, 40]
    assert [c.sentence for c in merged[0].evidence] == [4, 40]


def test_stances_that_differ_in_polarity_or_target_stay_apart() -> None:
    parts = [
        [stance("UN", "Russia", "opposes", 1), stance("UN", "Russia", "supports", 2)],
        [stance("UN", "Iran", "opposes", 3)],
    ]
    assert len(merge_stances(parts)) == 3


def test_merging_leaves_the_inputs_unchanged() -> None:
    first = stance("UN", "Russia", "opposes", 1)
    merge_stances([[first], [stance("UN", "Russia", "opposes", 2)]])
    assert first.sentences == [1] and len(first.evidence) == 1


def test_events_are_the_same_when_they_share_a_sentence_or_a_date() -> None:
    assert len(merge_events([[event(["Kim"], 1, 2)], [event(["Kim"], 2, 3, description="other words")]])) == 1
    assert len(merge_events([[event(["Kim"], 1, day=26)], [event(["kim"], 9, description="x", day=26)]])) == 1
    assert len(merge_events([[event(["Kim"], 1, day=26)], [event(["Kim"], 9, description="x", day=27)]])) == 2
    assert len(merge_events([[event(["Kim"], 1)], [event(["Shoigu"], 1)]])) == 2


def test_a_duplicate_fills_in_what_the_first_lacks() -> None:
    first = event(["Kim"], 1)
    later = event(["Kim"], 1, day=26).model_copy(update={"location": "Pyongyang", "recipients": ["Shoigu"]})
    (merged,) = merge_events([[first], [later]])
    assert merged.location == "Pyongyang" and merged.recipients == ["Shoigu"]
    assert merged.date is not None and merged.date.text == "July 26"


def test_reduce_notes_carry_each_key_point_with_its_sentences() -> None:
    point = CheckedKeyPoint(text="Kim met Shoigu.", sentences=[3, 5], evidence=cite(3, 5))
    part = CheckedSummary(headline="H", summary="S.", key_points=[point])
    notes = reduce_notes([("sentences 1-20", part)])
    assert notes == "Part (sentences 1-20): H\nS.\n- Kim met Shoigu. (sentences 3, 5)"
    assert cited_numbers([part, part]) == (3, 5)
