"""Extractive rails: the model chooses, code writes (`Settings.rails == "extractive"`).

Every generated text field is a choice among spans of the article (`candidates.py`), offered as an `enum`
of candidate ids in the request schema (which llama.cpp's grammar and OpenAI's strict mode enforce, and
validation enforces elsewhere); code copies the chosen span's text and offsets, as it does for evidence:

- summary: the numbers of 2 or 3 sentences, joined in article order; headline: a headline candidate;
  key points: sentence numbers, each point the sentence itself with itself as its citation;
- stance position: a position candidate (the quoted words, or the words said); its sentence is the
  stance's evidence; event description: an event candidate (a clause holding a verb), likewise.
- names are chosen from the article's own (`Grounding.name_choices`), dates from those code found.

Code then checks what a schema cannot say, each check chosen for what it costs the small model:
- **A stance aimed at its own actor** (the same name, a surname, one country's forms: `NameIndex.same`) is
  re-asked through the review (the answer's other stances are usually right, and a re-ask is one short
  call), and dropped if the last attempt still holds it: a position toward oneself is not a stance.
- **Polarity against the chosen clause**: where the clause says so plainly (a verb of one direction only
  from a small lexicon, none negated: "condemned", "welcomed"), a polarity of the other direction is set
  to `neutral` and the model's word kept in `polarity_overruled`. Not re-asked: at temperature 0 the
  small model's polarity follows its prior, not the clause, and neutral is the honest reading of a
  disagreement between it and the text.
Every copied field's `check` says `extractive: true`: its support is 1.0 by construction, and the eval
does not count it as the model's.

A long article's chunks are merged by code (the first chunk's headline and summary, the key points in
order): there is nothing for a reduce prompt to write.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from ..core import schemas
from ..core.schemas import CheckedEvent, CheckedKeyPoint, CheckedStance, CheckedSummary, FieldCheck, Span
from ..grounding.candidates import Candidate, Kind, candidates, clauses, listing, whole
from ..grounding.ground import LEAST_STANCES, Grounding
from .assemble import ChunkResult
from .extractive_request import request_model

# The sentences a summary and its key points may be chosen from: the first ones of at least this many
# words (a lead prior, stated: news puts its main facts first; bylines and one-word lines left out). A
# short list keeps the small model inside the lead: offered the whole article, it chose sentence 20 twice.
SUMMARY_SENTENCES = 8
SUMMARY_MIN_WORDS = 6
# Which candidate list each task's prompt shows, as the template names it.
TASK_KINDS: dict[str, tuple[tuple[str, Kind], ...]] = {
    "summary": (("headlines", "headline"),),
    "stances": (("positions", "position"),),
    "events": (("descriptions", "event"),),
}
# What the extractive templates list, empty: to count a prompt's size without its lists.
EMPTY_VALUES = {name: "" for lists in TASK_KINDS.values() for name, _ in lists} | {"numbers": ""}
# The polarity lexicon: verbs that say a direction plainly. Small on purpose: a word here must not be read
# the other way in ordinary news English ("backed" and "warned" are left out: "backed down", "warned of").
_SUPPORTS = re.compile(
    r"\b(?:welcom(?:e|es|ed|ing)|prais(?:e|es|ed|ing)|support(?:s|ed|ing)?|endors(?:e|es|ed|ing)|"
    r"hail(?:s|ed)|applaud(?:s|ed)|commend(?:s|ed))\b",
    re.IGNORECASE,
)
_OPPOSES = re.compile(
    r"\b(?:condemn(?:s|ed|ing)?|critici[sz](?:e|es|ed|ing)|oppos(?:e|es|ed|ing)|reject(?:s|ed|ing)?|"
    r"denounc(?:e|es|ed|ing)|slam(?:s|med)|accus(?:e|es|ed|ing)|blam(?:e|es|ed|ing))\b",
    re.IGNORECASE,
)
_NEGATED = re.compile(r"\b(?:not|no|never|n't|nor|without)\W+(?:\w+\W+){0,2}$", re.IGNORECASE)


def plain_polarity(clause: str) -> str | None:
    """ "supports" or "opposes" when the clause says so plainly (verbs of one direction only, none
    negated just before), else None."""
    found = {
        direction
        for direction, pattern in (("supports", _SUPPORTS), ("opposes", _OPPOSES))
        for m in pattern.finditer(clause)
        if not _NEGATED.search(clause[: m.start()])
    }
    negated = any(
        _NEGATED.search(clause[: m.start()]) for p in (_SUPPORTS, _OPPOSES) for m in p.finditer(clause)
    )
    return found.pop() if len(found) == 1 and not negated else None


def _opposite(a: str, b: str) -> bool:
    return {a, b} == {"supports", "opposes"}


@dataclass
class Extractive:
    """One article's extractive rails, over its `Grounding` (sentences, names, dates, support)."""

    grounding: Grounding
    _spans: dict[str, Candidate] = field(init=False, default_factory=dict)

    @cached_property
    def _sentences(self) -> dict[int, Any]:
        return {s.number: s for s in self.grounding.sentences}

    def _language(self) -> str | None:
        return self.grounding.article.language

    def offered(self, kind: Kind, numbers: Sequence[int]) -> list[Candidate]:
        """The candidates of `kind` among these sentences (`candidates.candidates`: in article order, at
        most `LIMITS[kind]`), remembered by id for copying them back."""
        found = candidates(kind, [self._sentences[n] for n in numbers], self._language())
        self._spans.update((c.id, c) for c in found)
        return found

    def prompt_values(self, task: str, numbers: Sequence[int]) -> dict[str, str]:
        """What the task's template lists: its candidates, one `[id] text` a line (and for a summary the
        numbers of the sentences it may choose)."""
        values = {name: listing(self.offered(kind, numbers)) for name, kind in TASK_KINDS[task]}
        if task == "stances":  # only the positions the request allows: those whose sentence names an actor
            values["positions"] = listing(self.positions(numbers))
        if task == "summary":
            values["numbers"] = ", ".join(map(str, self.summary_numbers(numbers)))
        return values

    def positions(self, numbers: Sequence[int]) -> list[Candidate]:
        """The positions offered: with names picked, only those whose sentence names someone outside them
        (an actor) and anyone at all (a target)."""
        offered = self.offered("position", numbers)
        g = self.grounding
        if not (g.pick_names and g.name_choices):
            return offered
        return [c for c in offered if self.stance_shapes(c)]

    def summary_numbers(self, numbers: Sequence[int]) -> tuple[int, ...]:
        """The sentences a summary may be made of (`SUMMARY_SENTENCES`): the first long enough ones."""
        long = [n for n in numbers if whole(self._sentences[n]).words >= SUMMARY_MIN_WORDS]
        return tuple((long if len(long) >= 2 else list(numbers))[:SUMMARY_SENTENCES])

    def stance_names(self, span: Candidate) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Who may hold the position `span` states, and toward whom: the article's names in its sentence,
        the actor's outside the span (who is reported as saying it), the target's inside it (what it is
        about; if it names nobody, any name of the sentence). No actor when the sentence names nobody
        outside the span (an unattributed quotation)."""
        sentence = self._sentences[span.sentence]
        found = [
            (m.start(), m.end(), name)
            for name in self.grounding.name_choices
            for m in re.finditer(re.escape(name), sentence.text)
        ]
        inside: dict[str, None] = {}
        outside: dict[str, None] = {}
        for start, end, name in found:
            if any(s <= start and end <= e and (s, e) != (start, end) for s, e, _ in found):
                continue  # "Kang" inside "Kang Sun Nam": the longer name is who it is
            at = sentence.start + start
            (inside if span.start <= at < span.end else outside).setdefault(name)
        return tuple(outside), tuple(inside) or tuple(dict.fromkeys([*outside, *inside]))

    def stance_shapes(self, span: Candidate) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        """The stances the position `span` allows, one (actor, targets) shape per actor of `stance_names`,
        its targets without the actor's own names: a stance aimed at its actor cannot be chosen. (Offered
        one list of both, the small model chose an actor's own name as the target on 8 of the 20 dev
        articles, and two re-asks each did not mend it: that batch decoded 6,265 tokens, 3,956 since.)"""
        actors, targets = self.stance_names(span)
        same = self.grounding.names.same
        shapes = [(actor, tuple(t for t in targets if not same(actor, t))) for actor in actors]
        return [((actor,), aimed) for actor, aimed in shapes if aimed]

    def request_model(self, task: str, numbers: Sequence[int]) -> type[BaseModel]:
        """The response model: every text field an enum of the candidate ids offered, sentence numbers an
        enum of `numbers`, names and dates as `Grounding.request_model` picks them."""
        g = self.grounding
        nums = tuple(numbers)
        names = g.name_choices if g.pick_names and g.name_choices else None
        if task == "summary":
            ids = tuple(c.id for c in self.offered("headline", nums))
            return request_model(task, self.summary_numbers(nums), ids, strict=g.strict)
        if task == "stances":
            offered = self.offered("position", nums)
            least = min(len({c.sentence for c in offered}), LEAST_STANCES)
            ids = tuple(c.id for c in offered)
            if not names:  # names are free text: one shape for every position
                return request_model(task, nums, ids, least=least, strict=g.strict)
            # One shape per position and actor, the actor and target among the names of its own sentence
            # (`stance_shapes`): a schema cannot otherwise tie a name to the position chosen, and offered
            # the article's names, the small model took the first for both, or a publication's name for
            # a minister's words.
            allowed = self.positions(nums)
            variants = tuple((c.id, *shape) for c in allowed for shape in self.stance_shapes(c))
            least = min(len({c.sentence for c in allowed}), least)
            return request_model(task, nums, ids, variants=variants, least=least, strict=g.strict)
        if task == "events":
            ids = tuple(c.id for c in self.offered("event", nums))
            dates = g.date_choices(nums)
            return request_model(task, nums, ids, names=names, dates=dates, strict=g.strict)
        raise ValueError(f"no extractive model for task {task!r}")

    def review(self, output: BaseModel) -> list[str]:
        """`Grounding.review` (names, when they are free text), a summary of one sentence chosen several
        times, and stances aimed at their own actor."""
        problems = self.grounding.review(output)
        # A repeat costs nothing once removed, unless it leaves the summary under 2 sentences: only then is
        # it re-asked (a re-ask costs a call, and the small model repeated key points on most answers).
        if isinstance(output, schemas.ExtractiveSummary) and len(set(output.summary)) < min(
            2, len(output.summary)
        ):
            problems.append(
                "summary: the same sentence chosen more than once: choose 2 or 3 different sentences"
            )
        if isinstance(output, schemas.ExtractiveStanceList):
            for i, stance in enumerate(output.stances):
                if self.grounding.names.same(stance.actor, stance.target):
                    problems.append(
                        f"stances[{i}]: the target {stance.target!r} is the actor {stance.actor!r}: "
                        "a stance is toward someone or something else"
                    )
        return problems

    # --- copying the choices back ----------------------------------------------------------------

    def _span(self, span_id: str) -> Candidate:
        if span_id not in self._spans:  # a cached answer, or one validated elsewhere: rebuild the ids
            digits = re.match(r"\d+", span_id)
            sentence = self._sentences.get(int(digits.group())) if digits else None
            if sentence is not None:
                found = [whole(sentence), *clauses(sentence, self._language(), commas=True)]
                self._spans.update((c.id, c) for c in found)
        return self._spans[span_id]

    def _check(self, text: str, spans: Sequence[Candidate]) -> FieldCheck:
        """The support check of a copied field, `extractive: true`. Its names are the article's by
        construction (each span is the article at its offsets, asserted here), so the name check is not
        run: on copied text it only reads a capitalised function word as a name ("Scroll down for video
        In the ...", "... clubs. The ..."), which flagged 8 of 33 copied fields on three dev articles."""
        article = self.grounding.article.text
        assert all(article[c.start : c.end] == c.text for c in spans), "a span is not the article's text"
        cited = self.grounding.cite(c.sentence for c in spans)
        support = self.grounding.support.score(text, [c.text for c in cited])
        return FieldCheck(
            support=round(support.score, 3),
            unsupported_words=list(support.unsupported),
            flagged=support.flagged,
            extractive=True,
        )

    def summary(self, output: schemas.ExtractiveSummary) -> CheckedSummary:
        headline = self._span(output.headline)
        chosen = [whole(self._sentences[n]) for n in sorted(set(output.summary)) if n in self._sentences]
        text = " ".join(c.text for c in chosen)
        points = []
        for n in dict.fromkeys(output.key_points):
            evidence = self.grounding.cite([n])
            if evidence:
                point = evidence[0].text
                check = self._check(point, [whole(self._sentences[n])])
                points.append(CheckedKeyPoint(text=point, sentences=[n], evidence=evidence, check=check))
        return CheckedSummary(
            headline=headline.text,
            summary=text,
            key_points=points,
            checks={"headline": self._check(headline.text, [headline]), "summary": self._check(text, chosen)},
            spans={"headline": [_as_span(headline)], "summary": [_as_span(c) for c in chosen]},
        )

    def stances(self, output: schemas.ExtractiveStanceList) -> list[CheckedStance]:
        """The stances with their positions copied; one still aimed at its own actor is dropped, and a
        polarity against what its clause plainly says becomes neutral (module docstring)."""
        kept = []
        for stance in output.stances:
            if self.grounding.names.same(stance.actor, stance.target):
                continue
            span = self._span(stance.position)
            written = schemas.Stance.model_construct(
                actor=stance.actor,
                target=stance.target,
                position=span.text,
                polarity=stance.polarity,
                sentences=[span.sentence],
            )
            (checked,) = self.grounding.stances(schemas.StanceList.model_construct(stances=[written]))
            update: dict[str, Any] = {"check": self._check(span.text, [span]), "span": _as_span(span)}
            said = plain_polarity(span.text)
            if said is not None and _opposite(said, stance.polarity):
                update |= {"polarity": "neutral", "polarity_overruled": stance.polarity}
            kept.append(checked.model_copy(update=update))
        return kept

    def events(self, output: schemas.ExtractiveEventList) -> list[CheckedEvent]:
        """The events with their descriptions copied; dates as `Grounding.events` places them."""
        out = []
        for event in output.events:
            span = self._span(event.description)
            data = event.model_dump() | {"description": span.text, "sentences": [span.sentence]}
            written = schemas.Event.model_construct(**data)
            (checked,) = self.grounding.events(schemas.EventList.model_construct(events=[written]))
            update = {"check": self._check(span.text, [span]), "span": _as_span(span)}
            out.append(checked.model_copy(update=update))
        return out


@dataclass
class Rails:
    """One article's checks and request models: `Grounding`'s, or under extractive rails `Extractive`'s
    over it (the same interface: `request_model`, `review`, and the grounding of each task's answer)."""

    grounding: Grounding
    extractive: Extractive | None = None

    def request_model(self, task: str, numbers: Sequence[int]) -> type[BaseModel]:
        if self.extractive is not None and task != schemas.REDUCE_PROMPT:
            return self.extractive.request_model(task, numbers)
        return self.grounding.request_model(task, numbers)

    def review(self, output: BaseModel) -> list[str]:
        return (self.extractive or self.grounding).review(output)

    def values(self, task: str, numbers: Sequence[int]) -> dict[str, str] | None:
        """What an extractive prompt lists besides the article: its candidates."""
        return None if self.extractive is None else self.extractive.prompt_values(task, numbers)

    def ground(self, output: BaseModel, result: ChunkResult) -> None:
        """The answer copied and checked into `result`, whichever task it answers."""
        g, x = self.grounding, self.extractive
        if isinstance(output, schemas.ExtractiveSummary) and x is not None:
            result.summary = x.summary(output)
        elif isinstance(output, schemas.ExtractiveStanceList) and x is not None:
            result.stances = x.stances(output)
        elif isinstance(output, schemas.ExtractiveEventList) and x is not None:
            result.events = x.events(output)
        elif isinstance(output, schemas.Summary):
            result.summary = g.summary(output)
        elif isinstance(output, schemas.StanceList):
            result.stances = g.stances(output)
        elif isinstance(output, schemas.EventList):
            result.events = g.events(output)


def merge_summaries(summaries: Sequence[CheckedSummary]) -> CheckedSummary:
    """A long article's chunk summaries as one, by code: the first chunk's headline and summary (the lead
    prior again: news states its main facts first), and the key points in article order, at most 5."""
    first = summaries[0]
    points = [p for s in summaries for p in s.key_points][:5]
    return first.model_copy(update={"key_points": points})


def _as_span(c: Candidate) -> Span:
    return Span(id=c.id, sentence=c.sentence, start=c.start, end=c.end, text=c.text)
