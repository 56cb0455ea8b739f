"""What an analysis says about its own quality, with no reference summary and no model: evidence that does
not equal the article at its offsets, fields copied from the prompt or the schema, HTML entities left in
strings, duplicate items, names the article does not contain, and the support checks of generated text.

`summarizer eval` counts these per article (`summarizer.evaluate`), and the pytest plugin's assertions
(`summarizer.testing`) use the same functions, so a test and an evaluation cannot disagree about what
counts as a copy or a duplicate. Nothing here needs the eval extra.
"""

from __future__ import annotations

__all__ = ["PromptPhrases", "prompt_phrases", "words"]  # with the checks below; defined in prompts.py

import html
import re
from collections.abc import Iterable
from typing import Any

from ..core.schemas import (
    ArticleAnalysis,
    ArticleInfo,
    CheckedEvent,
    CheckedStance,
    Citation,
    Event,
    FieldCheck,
    Stance,
)
from ..core.text import folded
from ..pipeline.prompts import PromptPhrases, prompt_phrases, words

# A field copies the prompt when its words run, in order, inside a template's words (two words at least:
# one word such as "government" is an honest answer), or equal a schema field's name, title or
# description (one word is enough there: a key point "Headline" or a location "Location" is a copy).
# Copying is checked rather than equality with a whole template sentence: "Give a headline of at most 15
# words" is copied as "A headline of at most 15 words".

# A character reference (`&#39;`, `&#x27;`) or a named one (`&amp;`); confirmed by html.unescape, so
# "AT&T;" written by an article is not counted.
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")


def generated_fields(analysis: ArticleAnalysis) -> list[tuple[str, str]]:
    """Every string the model wrote, as (where, text): headline, summary, key points, each stance's actor,
    target and position, each event's description, actors, recipients and location."""
    fields: list[tuple[str, str]] = []
    if (s := analysis.summary) is not None:
        fields += [("headline", s.headline), ("summary", s.summary)]
        fields += [(f"key_points[{i}]", p.text) for i, p in enumerate(s.key_points)]
    for i, st in enumerate(analysis.stances or []):
        fields += [(f"stances[{i}].{name}", getattr(st, name)) for name in ("actor", "target", "position")]
    for i, ev in enumerate(analysis.events or []):
        fields.append((f"events[{i}].description", ev.description))
        fields += [(f"events[{i}].actors[{j}]", a) for j, a in enumerate(ev.actors)]
        fields += [(f"events[{i}].recipients[{j}]", r) for j, r in enumerate(ev.recipients)]
        fields += [(f"events[{i}].location", ev.location)] if ev.location else []
    return fields


def prompt_copies(analysis: ArticleAnalysis, phrases: PromptPhrases) -> list[str]:
    """The generated fields that copy the prompt or the schema (`PromptPhrases.matches`), as
    `where: text`."""
    return [f"{where}: {text}" for where, text in generated_fields(analysis) if phrases.matches(text)]


def html_entities(analysis: ArticleAnalysis) -> list[str]:
    """The generated fields that still hold an HTML entity (`&#39;`), as `where: text`."""
    return [
        f"{where}: {text}"
        for where, text in generated_fields(analysis)
        if any(html.unescape(m) != m for m in _ENTITY.findall(text))
    ]


# --- evidence --------------------------------------------------------------------------------------------


def citations(analysis: ArticleAnalysis) -> list[Citation]:
    """Every citation of the key points, stances and events."""
    points = analysis.summary.key_points if analysis.summary else []
    return [c for item in [*points, *items(analysis)] for c in item.evidence]


def items(analysis: ArticleAnalysis) -> list[CheckedStance | CheckedEvent]:
    return [*(analysis.stances or []), *(analysis.events or [])]


def citation_equal(citation: Citation, article: ArticleInfo) -> bool:
    """The citation's text is the article's text at its offsets (False when the article text was not kept:
    nothing can be checked, so nothing is assumed)."""
    text = article.text
    if text is None or not 0 <= citation.start < citation.end <= len(text):
        return False
    return text[citation.start : citation.end] == citation.text


def citation_misplaced(citation: Citation, article: ArticleInfo) -> bool:
    """The offsets are not those of the sentence the citation names (only checkable when the article's
    sentence offsets were kept)."""
    spans = article.sentences
    if spans is None:
        return False
    n = citation.sentence
    return not 1 <= n <= len(spans) or tuple(spans[n - 1]) != (citation.start, citation.end)


# --- duplicates and names --------------------------------------------------------------------------------


def _name(text: str | None) -> str:
    return re.sub(r"[^\w\s]", "", folded(text or ""))


def _near_key(item: CheckedStance | CheckedEvent) -> tuple[Any, ...]:
    if isinstance(item, CheckedStance):
        return ("stance", _name(item.actor), _name(item.target), item.polarity, frozenset(item.sentences))
    return ("event", item.event_type, frozenset(map(_name, item.actors)), frozenset(item.sentences))


def _exact_key(item: CheckedStance | CheckedEvent) -> str:
    # What the model wrote, nothing we added: the same answer given twice.
    written = Stance if isinstance(item, CheckedStance) else Event
    return f"{type(item).__name__}:{item.model_dump_json(include=set(written.model_fields))}"


def _repeats(keys: Iterable[Any]) -> int:
    keys = list(keys)
    return len(keys) - len(set(keys))


def duplicates(analysis: ArticleAnalysis) -> tuple[int, int]:
    """(near, exact) duplicate stances and events: items that repeat an earlier one. Near: a stance with
    the same actor, target (normalised), polarity and cited sentences; an event with the same type, actors
    and cited sentences. Exact: every field the model wrote is equal. An exact repeat is also near."""
    found = items(analysis)
    return _repeats(map(_near_key, found)), _repeats(map(_exact_key, found))


def names(analysis: ArticleAnalysis) -> tuple[int, int]:
    """(names, found in the article) over the stances' actors and targets and the events' actors,
    recipients and locations; found means not listed in the item's `unknown_names`."""
    total = found = 0
    for item in items(analysis):
        if isinstance(item, CheckedStance):
            written = [item.actor, item.target]
        else:
            written = [*item.actors, *item.recipients, *([item.location] if item.location else [])]
        total += len(written)
        found += sum(name not in item.unknown_names for name in written)
    return total, found


def field_checks(analysis: ArticleAnalysis) -> list[FieldCheck]:
    """The support checks of every generated text field: headline, summary, key points, stance positions
    and event descriptions."""
    checks: list[FieldCheck] = []
    if (s := analysis.summary) is not None:
        checks += [*s.checks.values(), *(p.check for p in s.key_points)]
    return checks + [item.check for item in items(analysis)]
