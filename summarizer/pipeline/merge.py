"""Merge: the grounded items of one article (from one chunk or many) into one list without duplicates,
and the notes from which the model merges a long article's chunk summaries.

Two stances are the same when their actor and target (compared loosely: normalised, no punctuation, no
leading "the") and their polarity are equal. Two events are the same when their type and set of actors are
equal and they cite a sentence in common, have the same resolved date, or near-identical descriptions
(rapidfuzz token_set_ratio >= 90). The first occurrence is kept; a duplicate adds the sentences it cites
(evidence in article order), its recipients, and the location and date the first lacks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rapidfuzz import fuzz

from ..core.schemas import CheckedEvent, CheckedStance, CheckedSummary, Citation
from ..core.text import folded

_MAX_RECIPIENTS = 4


def _match_key(name: str) -> str:
    """What two names or descriptions are matched by: folded, no punctuation, no leading "the"."""
    words = re.sub(r"[^\w\s]", "", folded(name)).split()
    return " ".join(words[1:] if words[:1] == ["the"] and len(words) > 1 else words)


def _join_evidence(kept: CheckedStance | CheckedEvent, dup: CheckedStance | CheckedEvent) -> None:
    evidence: dict[int, Citation] = {c.sentence: c for c in [*kept.evidence, *dup.evidence]}
    kept.evidence = [evidence[n] for n in sorted(evidence)]
    kept.sentences = sorted(evidence)
    kept.unknown_names = list(dict.fromkeys([*kept.unknown_names, *dup.unknown_names]))


def merge_stances(parts: Sequence[Sequence[CheckedStance]]) -> list[CheckedStance]:
    kept: dict[tuple[str, str, str], CheckedStance] = {}
    for stance in (s for part in parts for s in part):
        key = (_match_key(stance.actor), _match_key(stance.target), stance.polarity)
        if key in kept:
            _join_evidence(kept[key], stance)
        else:
            kept[key] = stance.model_copy(deep=True)
    return list(kept.values())


def _same_event(a: CheckedEvent, b: CheckedEvent) -> bool:
    if a.event_type != b.event_type or {_match_key(x) for x in a.actors} != {_match_key(x) for x in b.actors}:
        return False
    if set(a.sentences) & set(b.sentences):
        return True
    if a.date and b.date and a.date.resolved and b.date.resolved:
        return (a.date.resolved.start, a.date.resolved.end) == (b.date.resolved.start, b.date.resolved.end)
    return fuzz.token_set_ratio(_match_key(a.description), _match_key(b.description)) >= 90


def merge_events(parts: Sequence[Sequence[CheckedEvent]]) -> list[CheckedEvent]:
    kept: list[CheckedEvent] = []
    for event in (e for part in parts for e in part):
        first = next((k for k in kept if _same_event(k, event)), None)
        if first is None:
            kept.append(event.model_copy(deep=True))
            continue
        _join_evidence(first, event)
        known = {_match_key(r) for r in first.recipients}
        for recipient in event.recipients:
            if _match_key(recipient) not in known and len(first.recipients) < _MAX_RECIPIENTS:
                first.recipients.append(recipient)
                known.add(_match_key(recipient))
        first.location = first.location or event.location
        first.date = first.date or event.date
    return kept


def reduce_notes(summaries: Sequence[tuple[str, CheckedSummary]]) -> str:
    """The chunk summaries as the reduce prompt shows them: per part its headline, summary and key points,
    each key point with the sentence numbers it cites (the reduce step may cite only those)."""
    blocks = []
    for span, s in summaries:
        points = "\n".join(f"- {p.text} (sentences {', '.join(map(str, p.sentences))})" for p in s.key_points)
        blocks.append(f"Part ({span}): {s.headline}\n{s.summary}\n{points}")
    return "\n\n".join(blocks)


def cited_numbers(summaries: Sequence[CheckedSummary]) -> tuple[int, ...]:
    return tuple(sorted({n for s in summaries for p in s.key_points for n in p.sentences}))
