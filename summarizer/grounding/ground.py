"""Ground the model's answers in the article: every check in one place.

- Citations: an item cites sentence numbers; code copies the sentences' text and offsets, so evidence
  always equals the article at its offsets. The numbers the model may use are an `enum` in the schema it
  is sent (`request_model`): llama.cpp's grammar and OpenAI's strict mode enforce it, and a server that
  enforces nothing gets a validation error, so the client asks again.
- Names: actors, targets, recipients and locations must be in the article (`names.NameIndex`). The
  review (`Grounding.review`) names an unknown one and the client asks again; on the last attempt it
  passes, and the item is kept with `unknown_names` (`--strict` drops it in assemble). The review stays
  out of the response model, so one model class serves every article with the same sentence numbers.
- Dates: found in the article by code (`dates.DateFinder`, resolved only where an event uses them); an
  event's `when` is an enum of the expressions in the sentences it was shown, and its date is the chosen
  one, else the first in its cited sentences that resolves.
- Generated text (headline, summary, key points, positions, descriptions): its names and numbers not in
  the article are listed (`unsupported_entities`), and its support is scored (`support.SupportIndex`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from pydantic import BaseModel

from ..core import schemas
from ..core.article import Article
from ..core.schemas import (
    CheckedEvent,
    CheckedKeyPoint,
    CheckedStance,
    CheckedSummary,
    Citation,
    EventDate,
    FieldCheck,
)
from ..core.segment import Sentence
from .candidates import reports_position
from .dates import DateFinder, DateMention
from .names import NameIndex
from .request import request_model
from .support import SupportIndex

LEAST_STANCES = 2


@dataclass
class Grounding:
    """One article's sentences and the indexes its checks use, built once per article. `copies`: true for
    a text that copies the instructions (`prompts.PromptPhrases.matches`), which is then re-asked.
    `pick_names`: names are an enum of the article's own (`name_choices`) instead of checked free text;
    `strict`: request schemas in OpenAI strict mode's subset (`strict_schema`). Both come from the
    settings (`Settings.names_from_article`, `Settings.strict_output`)."""

    article: Article
    sentences: Sequence[Sentence]
    copies: Callable[[str], bool] | None = None
    pick_names: bool = False
    strict: bool = False
    _by_number: dict[int, Sentence] = field(init=False)
    _resolved: dict[tuple[int, int], DateMention] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._by_number = {s.number: s for s in self.sentences}

    @cached_property
    def names(self) -> NameIndex:
        return NameIndex(self.article.text, language=self.article.language, sentences=self.sentences)

    @cached_property
    def name_choices(self) -> tuple[str, ...]:
        """The article's own names, for a schema that picks names instead of writing them: each name or
        capitalised run `names.NameIndex` finds in the text, numbers left out, in order of appearance."""
        found = self.names.entities(self.article.text)
        names = (n for n, ok in found if ok and not any(c.isdigit() for c in n) and len(n) <= 60)
        return tuple(dict.fromkeys(names))

    @property
    def _names_picked(self) -> bool:
        return self.pick_names and bool(self.name_choices)

    @cached_property
    def _dates(self) -> DateFinder:
        article = self.article
        return DateFinder(
            article.text, article.published, language=article.language, sentences=self.sentences
        )

    def _date(self, span: tuple[int, int]) -> DateMention:
        """A date expression, resolved once (dateparser is the costly part: only what events use)."""
        if span not in self._resolved:
            self._resolved[span] = self._dates.resolve(*span)
        return self._resolved[span]

    @cached_property
    def support(self) -> SupportIndex:
        return SupportIndex(
            self.article.text, language=self.article.language, sentences=[s.text for s in self.sentences]
        )

    # --- the schema a request is validated against, and the review of what it accepted ------------

    def request_model(self, task: str, numbers: Sequence[int]) -> type[BaseModel]:
        """The response model for one request: the task's schema with `sentences` narrowed to `numbers` (an
        enum), names an enum of the article's own when it picks them, an event's `when` one of the dates
        found in those sentences. Built once per distinct schema (`request_model`, cached)."""
        # Only what the task's schema uses goes into the cache key: a summary has no names or dates.
        names = self.name_choices if self._names_picked and task in ("stances", "events") else None
        dates = self.date_choices(numbers) if task == "events" else ()
        least = self.least_stances(numbers) if task == "stances" else 0
        return request_model(task, tuple(numbers), names=names, dates=dates, least=least, strict=self.strict)

    def least_stances(self, numbers: Sequence[int]) -> int:
        """How many stances a request must hold: as many sentences as report someone's position (a
        quotation, or a verb of saying, backing or opposing), at most `LEAST_STANCES`. Measured: the
        embedded model closes the list after one stance whatever the prompt says; a floor the article
        itself shows makes it point at a second, and an article that reports no position gets none."""
        found = sum(1 for n in numbers if (s := self._by_number.get(n)) and reports_position(s.text))
        return min(found, LEAST_STANCES)

    def date_choices(self, numbers: Sequence[int]) -> tuple[str, ...]:
        """The date expressions code found in these sentences, each text once: what an event's `when`
        may be."""
        spans = [(s.start, s.end) for n in numbers if (s := self._by_number.get(n)) is not None]
        found = (self.article.text[a:b] for a, b in self._dates.spans if any(x <= a < y for x, y in spans))
        return tuple(dict.fromkeys(found))

    def review(self, output: BaseModel) -> list[str]:
        """What the schema cannot say about a valid answer, one line per problem: names not in the article
        (when names are free text) and text that copies the instructions. The client asks again with these
        lines; an answer still wrong on its last attempt is kept, and its checks flag it."""
        problems = []
        for where, names, texts in _parts(output):
            if unknown := ([] if self._names_picked else self._unknown(names)):
                listed = ", ".join(repr(n) for n in unknown)
                problems.append(
                    f"{where}: {listed} not named in the article: use names as the article writes them"
                )
            if self.copies is not None and (copied := next((t for t in texts if self.copies(t)), None)):
                advice = "write what the article reports, in your own words"
                problems.append(f"{where}: {copied!r} copies the instructions: {advice}")
        return problems

    # --- after the model -----------------------------------------------------------------------------

    def cite(self, numbers: Iterable[int]) -> list[Citation]:
        seen: list[int] = []
        for n in numbers:
            if n in self._by_number and n not in seen:
                seen.append(n)
        return [
            Citation(sentence=n, start=s.start, end=s.end, text=s.text)
            for n in seen
            for s in [self._by_number[n]]
        ]

    def check_text(self, text: str, cited: Sequence[Citation] = ()) -> FieldCheck:
        support = self.support.score(text, [c.text for c in cited])
        entities = self.names.unsupported(text)
        return FieldCheck(
            unsupported_entities=entities,
            support=round(support.score, 3),
            unsupported_words=list(support.unsupported),
            flagged=support.flagged or bool(entities),
        )

    def summary(self, output: schemas.Summary) -> CheckedSummary:
        points = []
        for point in output.key_points:
            evidence = self.cite(point.sentences)
            points.append(
                CheckedKeyPoint(
                    text=point.text,
                    sentences=[c.sentence for c in evidence],
                    evidence=evidence,
                    check=self.check_text(point.text, evidence),
                )
            )
        return CheckedSummary(
            headline=output.headline,
            summary=output.summary,
            key_points=points,
            checks={"headline": self.check_text(output.headline), "summary": self.check_text(output.summary)},
        )

    def stances(self, output: schemas.StanceList) -> list[CheckedStance]:
        checked = []
        for stance in output.stances:
            evidence = self.cite(stance.sentences)
            data = stance.model_dump() | {"sentences": [c.sentence for c in evidence]}
            checked.append(
                CheckedStance(
                    **data,
                    evidence=evidence,
                    unknown_names=self._unknown([stance.actor, stance.target]),
                    check=self.check_text(stance.position, evidence),
                )
            )
        return checked

    def events(self, output: schemas.EventList) -> list[CheckedEvent]:
        checked = []
        for event in output.events:
            evidence = self.cite(event.sentences)
            # A name chosen twice for one role is said once (the small model repeats picks to the bound).
            data = event.model_dump() | {
                "sentences": [c.sentence for c in evidence],
                "actors": list(dict.fromkeys(event.actors)),
                "recipients": list(dict.fromkeys(event.recipients)),
            }
            names = [*event.actors, *event.recipients, event.location]
            date = self.event_date(evidence, event.when)
            if date is not None and not any(c.start <= date.start < c.end for c in evidence):
                added = self.cite([self._number_at(date.start)])
                evidence = sorted([*evidence, *added], key=lambda c: c.start)
                data["sentences"] = [c.sentence for c in evidence]
            checked.append(
                CheckedEvent(
                    **data,
                    evidence=evidence,
                    date=date,
                    unknown_names=self._unknown(names),
                    check=self.check_text(event.description, evidence),
                )
            )
        return checked

    def event_date(self, evidence: Sequence[Citation], when: str | None = None) -> EventDate | None:
        """The date expression the model chose (`when`, one of those code found in the sentences it was
        shown), the occurrence nearest the cited sentences; else the first expression in the cited
        sentences (in citation order) that resolves, else the first found there, else None. The text,
        offsets and resolution are always code's; the sentence of a chosen date joins the evidence."""
        text = self.article.text
        if when is not None and evidence:
            chosen = [span for span in self._dates.spans if text[span[0] : span[1]] == when]
            if chosen:
                return _event_date(self._date(min(chosen, key=lambda sp: abs(sp[0] - evidence[0].start))))
        spans = [sp for c in evidence for sp in self._dates.spans if c.start <= sp[0] and sp[1] <= c.end]
        found = [self._date(sp) for sp in spans]
        best = next((m for m in found if m.resolved is not None), found[0] if found else None)
        return None if best is None else _event_date(best)

    def _number_at(self, offset: int) -> int:
        return next(s.number for s in self.sentences if s.start <= offset < s.end)

    def entity_precision(self, summary: CheckedSummary | None) -> float | None:
        """The share of the summary's names and numbers (headline, summary, key points) found in the
        article: entity-level precision (Nan et al. 2021). None without a summary or without entities."""
        if summary is None:
            return None
        text = " ".join([summary.headline, summary.summary, *(p.text for p in summary.key_points)])
        return self.names.precision(text)

    def _unknown(self, names: Iterable[str | None]) -> list[str]:
        return [n for n in names if n and not self.names.contains(n)]


def _event_date(m: DateMention) -> EventDate:
    return EventDate(text=m.text, start=m.start, end=m.end, resolved=m.resolved)


def _parts(output: BaseModel) -> Iterable[tuple[str, list[str | None], list[str]]]:
    """An answer's items as the review reads them: where each is, the names it uses, the text it writes."""
    if isinstance(output, schemas.Summary):
        yield "summary", [], [output.headline, output.summary, *(p.text for p in output.key_points)]
    elif isinstance(output, schemas.StanceList):
        for i, stance in enumerate(output.stances):
            yield f"stances[{i}]", [stance.actor, stance.target], [stance.position]
    elif isinstance(output, schemas.EventList):
        for i, event in enumerate(output.events):
            names = [*event.actors, *event.recipients, event.location]
            yield f"events[{i}]", names, [event.description]
