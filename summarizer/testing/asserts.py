"""Assertion helpers for structured output, for prompt tests (re-exported by `summarizer.testing`)."""

from __future__ import annotations

import json
from typing import Any

from ..core.schemas import ArticleAnalysis, CheckedEvent, CheckedStance
from ..core.text import folded
from ..evaluation import quality
from ..pipeline.prompts import PromptSet


def _items(analysis: ArticleAnalysis) -> list[CheckedStance | CheckedEvent]:
    return [*(analysis.stances or []), *(analysis.events or [])]


def assert_schema_valid(analysis: ArticleAnalysis) -> None:
    """The JSON a user gets (`-f json`) is valid against the JSON Schema `summarizer schema` publishes,
    checked by jsonschema, not by pydantic (which would re-read its own dump, and leniently)."""
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - a dev dependency
        raise AssertionError("assert_schema_valid needs jsonschema: pip install jsonschema") from None
    from ..render.common import to_json

    schema = ArticleAnalysis.model_json_schema()
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(json.loads(to_json(analysis)))
    )
    if error is not None:  # the deepest error inside unions ("list or null"), where the fault is
        where = "/".join(map(str, error.absolute_path)) or "(top)"
        raise AssertionError(f"not valid against `summarizer schema`: {where}: {error.message[:200]}")


def assert_evidence_in_article(analysis: ArticleAnalysis, *, min_items: int = 1) -> None:
    """Every citation is the article's sentence of that number (text and offsets), every event's date
    is in one of its cited sentences, and at least `min_items` stances, events and key points cite
    something."""
    text = analysis.article.text or ""
    spans = analysis.article.sentences  # sentence n is spans[n - 1]
    points = analysis.summary.key_points if analysis.summary else []
    items = [*_items(analysis), *points]
    for item in items:
        for c in item.evidence:
            assert text[c.start : c.end] == c.text, (
                f"sentence [{c.sentence}] is not the article at its offsets"
            )
            # The number and the offsets come from two places (the model's citation, the segmentation).
            assert not spans or tuple(spans[c.sentence - 1]) == (c.start, c.end), (
                f"sentence [{c.sentence}] is cited at {c.start}-{c.end}, but the article's sentence"
                f" {c.sentence} is at {spans[c.sentence - 1][0]}-{spans[c.sentence - 1][1]}"
            )
    # A date is found by code in the event's own sentences: one of them must hold it, as written.
    for event in analysis.events or []:
        if event.date is not None:
            assert any(
                c.start <= event.date.start and event.date.end <= c.end and event.date.text in c.text
                for c in event.evidence
            ), f"the date {event.date.text!r} of {event.description!r} is in none of its cited sentences"
    cited = sum(1 for item in items if item.evidence)
    assert cited >= min_items, f"{cited} item(s) cite a sentence, expected at least {min_items}"


def assert_names_in_article(analysis: ArticleAnalysis, *, min_share: float = 1.0) -> None:
    """At least `min_share` of the stances and events name only people and places the article names."""
    items = _items(analysis)
    known = [i for i in items if not i.unknown_names]
    share = len(known) / len(items) if items else 1.0
    unknown = sorted({n for i in items for n in i.unknown_names})
    assert share >= min_share, f"{share:.0%} of items name only known names; not in the article: {unknown}"


def assert_no_prompt_text(analysis: ArticleAnalysis, prompts: PromptSet) -> None:
    """No generated field is a phrase of the prompt templates or schema text (a small model copies
    instructions), and no HTML entity (`&#39;`) is left in one. The same rules as `summarizer eval`."""
    copied = quality.prompt_copies(analysis, quality.prompt_phrases(prompts))
    assert not copied, f"fields copied from the prompt or schema: {copied}"
    escaped = quality.html_entities(analysis)
    assert not escaped, f"HTML entities left in fields: {escaped}"


def assert_min_events(analysis: ArticleAnalysis, n: int) -> None:
    found = len(analysis.events or [])
    assert found >= n, f"{found} event(s), expected at least {n}"


def _same_name(a: str, b: str) -> bool:
    return folded(a).strip(" .") == folded(b).strip(" .")


def assert_actor(analysis: ArticleAnalysis, name: str) -> None:
    """`name` acts in an event or holds a stance (names compared case- and punctuation-insensitively)."""
    actors = [s.actor for s in analysis.stances or []] + [a for e in analysis.events or [] for a in e.actors]
    assert any(_same_name(a, name) for a in actors), f"{name!r} not among the actors {sorted(set(actors))}"


def assert_polarity(
    analysis: ArticleAnalysis, actor: str, polarity: str, *, target: str | None = None
) -> None:
    """`actor` holds a stance of `polarity` (toward `target`, if given)."""
    stances = [s for s in analysis.stances or [] if _same_name(s.actor, actor)]
    if target is not None:
        stances = [s for s in stances if _same_name(s.target, target)]
    found = sorted({s.polarity for s in stances})
    assert polarity in found, f"{actor!r} holds {found or 'no stance'}, expected {polarity!r}"


def assert_dates_resolved(analysis: ArticleAnalysis, *, min_resolved: int = 1) -> None:
    """At least `min_resolved` events carry a date found in their sentences and resolved on the calendar."""
    events = analysis.events or []
    resolved = [e for e in events if e.date is not None and e.date.resolved is not None]
    unresolved = [e.date.text for e in events if e.date is not None and e.date.resolved is None]
    assert len(resolved) >= min_resolved, (
        f"{len(resolved)} event(s) with a resolved date (< {min_resolved}); unresolved: {unresolved}"
    )


# --- snapshots of the structured output, kept next to the cassettes -----------------------------------


def snapshot_view(analysis: ArticleAnalysis) -> dict[str, Any]:
    """The analysis without what changes from run to run (timings, package version) or between recording
    and replaying (the endpoint kind: a replay cannot know what the cassette was recorded against, so
    re-recording against OpenAI or a server of one's own would fail its own snapshot): what a snapshot
    keeps."""
    data = analysis.model_dump(mode="json")
    meta = data["metadata"]
    for volatile in ("seconds", "summarizer_version", "endpoint"):
        meta.pop(volatile, None)
    for run in meta.get("tasks", {}).values():
        run.pop("seconds", None)
    return data
