"""The shapes of the output.

Two layers:
- what the model writes (`Summary`, `Stance`, `Event` and the `*List` wrappers): every string and list is
  bounded, because the bounds become grammar limits on llama.cpp-style servers and small models otherwise
  repeat themselves until the token limit;
- what we add after checking it (`Grounding`, `ResolvedDate`, `CheckedStance`, `CheckedEvent`,
  `ArticleAnalysis`): these are never sent to the model, so changing them does not invalidate cassettes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextvars import ContextVar
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Sentence = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Quote = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]

Polarity = Literal["supports", "opposes", "neutral", "mixed"]
TaskName = Literal["summary", "stances", "events"]
TASKS: tuple[TaskName, ...] = ("summary", "stances", "events")


class EventType(StrEnum):
    """The 16 PLOVER event categories (Halterman et al., Political Language Ontology for Verifiable Event
    Records), plus OTHER for what fits none of them."""

    AGREE = "AGREE"  # agree to, promise or sign an agreement
    CONSULT = "CONSULT"  # meet, visit, talk, negotiate
    SUPPORT = "SUPPORT"  # praise, endorse, defend verbally
    CONCEDE = "CONCEDE"  # give in, ease sanctions, release, apologise
    COOPERATE = "COOPERATE"  # act together: military, economic, judicial cooperation
    AID = "AID"  # give material, humanitarian, military or economic aid
    RETREAT = "RETREAT"  # withdraw, disarm, demobilise
    REQUEST = "REQUEST"  # ask, appeal, demand
    ACCUSE = "ACCUSE"  # criticise, blame, allege
    REJECT = "REJECT"  # refuse, veto, deny
    THREATEN = "THREATEN"  # threaten force, sanctions or other action
    PROTEST = "PROTEST"  # demonstrate, strike, boycott
    SANCTION = "SANCTION"  # impose sanctions, embargoes, expel, break relations
    MOBILIZE = "MOBILIZE"  # raise alert, deploy, show or test weapons
    COERCE = "COERCE"  # arrest, seize, repress, restrict
    ASSAULT = "ASSAULT"  # use of force, attack, kill
    OTHER = "OTHER"


# --- what the model writes -------------------------------------------------------------------------


# The pipeline sets this around a model call: a function that raises ValueError for a quote that is not
# in the article, so that instructor re-asks with that error. A context variable rather than instructor's
# `context=`: that also renders every message as a Jinja template, and an article is not a template.
quote_check: ContextVar[Callable[[str], None] | None] = ContextVar("quote_check", default=None)


def _check_quote(quote: str) -> str:
    check = quote_check.get()
    if check is not None:
        check(quote)
    return quote


class Summary(BaseModel):
    """A headline, a short summary and the key points of one article."""

    headline: Short = Field(description="A factual headline of at most 15 words.")
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)] = Field(
        description="2 to 4 sentences that summarise the article."
    )
    key_points: list[Sentence] = Field(
        min_length=1, max_length=5, description="The most important facts, one sentence each."
    )


class Stance(BaseModel):
    """Who holds which position toward whom, with the article's own words as evidence."""

    actor: Short = Field(description="The person, government or organisation holding the position.")
    target: Short = Field(description="Whom or what the position is about.")
    position: Sentence = Field(description="The position, as a short statement.")
    polarity: Polarity = Field(description="supports, opposes, neutral or mixed toward the target.")
    evidence: Quote = Field(description="A sentence copied word for word from the article.")

    _evidence_in_article = field_validator("evidence")(_check_quote)


class Event(BaseModel):
    """Something that happened (or is announced), who did it to whom, where and when."""

    description: Sentence = Field(description="What happened, in one sentence.")
    event_type: EventType = Field(description="The PLOVER category of the event.")
    actors: list[Short] = Field(min_length=1, max_length=4, description="Who acted.")
    recipients: list[Short] = Field(default_factory=list, max_length=4, description="Who was acted upon.")
    location: Short | None = Field(default=None, description="Where it happened, if the article says.")
    date_text: Short | None = Field(
        default=None, description="The date or time as written in the article, if it says."
    )
    evidence: Quote = Field(description="A sentence copied word for word from the article.")

    _evidence_in_article = field_validator("evidence")(_check_quote)


class StanceList(BaseModel):
    """The actors' stances in the article."""

    stances: list[Stance] = Field(max_length=5)


class EventList(BaseModel):
    """The events the article reports."""

    events: list[Event] = Field(max_length=6)


# --- what we add after checking ----------------------------------------------------------------------

GroundingStatus = Literal["exact", "approximate", "ungrounded"]


class Grounding(BaseModel):
    """Where an evidence quote stands in the source text.

    `start`/`end` are character offsets `[start, end)` into the article text (for HTML, the extracted
    text that the JSON output includes). `exact` means found after normalising quotes, dashes, whitespace
    and case; `approximate` means a fuzzy match, with its score out of 100.
    """

    status: GroundingStatus
    start: int | None = None
    end: int | None = None
    score: float | None = None
    matched_text: str | None = None
    reason: str | None = None


DatePrecision = Literal["day", "week", "month", "year", "range"]


class ResolvedDate(BaseModel):
    """A date written in the article, resolved against the publication date.

    `start`..`end` is inclusive: a day has start == end; a month, a week or a year spans its days.
    """

    start: dt.date
    end: dt.date
    precision: DatePrecision
    method: str = Field(description="How it was resolved, e.g. 'absolute', 'relative to publication'.")
    year_inferred: bool = Field(default=False, description="The year came from elsewhere in the article.")
    scheduled: bool = Field(default=False, description="After the publication date: expected, not past.")


class Evidence(BaseModel):
    """A further quote for the same stance or event, found in another part of a long article."""

    quote: str
    grounding: Grounding


class CheckedStance(Stance):
    grounding: Grounding | None = None
    more_evidence: list[Evidence] = Field(default_factory=list)


class CheckedEvent(Event):
    grounding: Grounding | None = None
    resolved_date: ResolvedDate | None = None
    more_evidence: list[Evidence] = Field(default_factory=list)


class Usage(BaseModel):
    """Tokens used, summed over every attempt, failed ones included."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class TaskRun(BaseModel):
    """How one task went: its prompt version, attempts, usage and time."""

    prompt_version: str
    attempts: int
    usage: Usage
    seconds: float
    cached: bool = Field(
        default=False, description="Served from the response cache: no model call, 0 tokens."
    )


class GroundingCounts(BaseModel):
    """How many stance and event quotes were found exactly, approximately and not at all; `dropped` counts
    the ungrounded items `--strict` removed."""

    exact: int = 0
    approximate: int = 0
    ungrounded: int = 0
    dropped: int = 0


class Metadata(BaseModel):
    model: str
    endpoint: Literal["openai", "compatible", "embedded"]
    mode: str
    prompt_versions: dict[str, str]
    tasks: dict[str, TaskRun]
    usage: Usage
    attempts: int
    seconds: float
    chunks: int = 1
    summarizer_version: str


class ArticleInfo(BaseModel):
    """What we know about the input article. `text` is what offsets point into."""

    source: str | None = None
    title: str | None = None
    author: str | None = None
    published: dt.date | None = None
    language: str | None = None
    text: str | None = None


class ArticleAnalysis(BaseModel):
    """The whole output for one article."""

    model_config = ConfigDict(extra="forbid")

    summary: Summary | None = None
    stances: list[CheckedStance] | None = None
    events: list[CheckedEvent] | None = None
    grounding: GroundingCounts | None = None
    article: ArticleInfo
    metadata: Metadata


TASK_MODELS: dict[str, type[BaseModel]] = {
    "summary": Summary,
    "stances": StanceList,
    "events": EventList,
}
# Every prompt and the model it fills: the tasks, and the step that merges the summaries of a long
# article's chunks.
REDUCE_PROMPT = "summary_reduce"
PROMPT_MODELS: dict[str, type[BaseModel]] = {**TASK_MODELS, REDUCE_PROMPT: Summary}
