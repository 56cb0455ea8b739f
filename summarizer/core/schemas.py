"""The shapes of the output.

Two layers:
- what the model writes (`Summary`, `Stance`, `Event` and the `*List` wrappers): every string and list is
  bounded, because the bounds become grammar limits on llama.cpp-style servers and small models otherwise
  repeat themselves until the token limit. The model never copies article text: it cites sentence numbers
  (`sentences`), which the grounding stage turns into evidence. There are no field descriptions: a field's
  meaning is said once, in the prompt template, because a small model copies whatever schema text it sees.
- what we add after checking it (`Citation`, `EventDate`, `FieldCheck`, the `Checked*` models,
  `ArticleAnalysis`): these are never sent to the model, so changing them does not invalidate cassettes.
"""

from __future__ import annotations

import datetime as dt
import html
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints


def _unescape(value: object) -> object:
    # Listed after the constraints in each Annotated type: before them, pydantic 2 drops `pattern` from
    # the JSON schema. A BeforeValidator runs first either way.
    # llama.cpp's server writes ' and " inside tool-call arguments as &#39; and &#34; (NOTES.md).
    return html.unescape(value) if isinstance(value, str) and "&" in value else value


Short = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), BeforeValidator(_unescape)
]
# A name (actor, target, recipient, location): no digits, brackets, braces or markup, which is where a
# small model's filler goes ("{{<NAME>}}", "2, 4, 5"); a grammar-enforcing server cannot write them.
NAME_PATTERN = r"^[^0-9{}<>\[\]()=|#*_\\\n]+$"
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=60, pattern=NAME_PATTERN),
    BeforeValidator(_unescape),
]
Sentence = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), BeforeValidator(_unescape)
]
Paragraph = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600), BeforeValidator(_unescape)
]
# Sentence numbers an item cites. The schema sent to the model narrows them to the article's (or the
# chunk's) numbers with an enum: see `ground.request_model`.
Citations = Annotated[list[int], Field(min_length=1, max_length=3)]

Polarity = Literal["supports", "opposes", "neutral", "mixed"]
TaskName = Literal["summary", "stances", "events"]
TASKS: tuple[TaskName, ...] = ("summary", "stances", "events")


# The 16 PLOVER event categories (Halterman et al., Political Language Ontology for Verifiable Event
# Records), plus OTHER for what fits none of them. A comment, not a docstring: it would go to the model.
class EventType(StrEnum):
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
# No docstrings either: instructor sends a model's docstring as the function description.


class KeyPoint(BaseModel):
    text: Sentence
    sentences: Citations


class Summary(BaseModel):
    headline: Short
    summary: Paragraph
    key_points: list[KeyPoint] = Field(min_length=1, max_length=5)


class Stance(BaseModel):
    actor: Name
    target: Name
    position: Sentence
    polarity: Polarity
    sentences: Citations


class Event(BaseModel):
    description: Sentence
    event_type: EventType
    actors: list[Name] = Field(min_length=1, max_length=4)
    recipients: list[Name] = Field(default_factory=list, max_length=4)
    location: Name | None = None
    # A date expression of the article, as code found it: the request narrows it to an enum of them.
    when: Short | None = None
    sentences: Citations


class StanceList(BaseModel):
    stances: list[Stance] = Field(max_length=5)


class EventList(BaseModel):
    # A news article almost always reports something: an empty list is what a small model returns
    # when it is unsure, so at least one is asked for.
    events: list[Event] = Field(min_length=1, max_length=6)


# What the model chooses under extractive rails (`Settings.rails`): ids of candidate spans of the article
# (`candidates.py`: a sentence number "4", or a clause of it "4b") and sentence numbers, never text. The
# request narrows each to an enum of that article's candidates (`extractive.request_model`); code copies
# the chosen spans. These base shapes name the prompts' schemas (versions) only.
SpanId = Annotated[str, StringConstraints(min_length=1, max_length=8)]


class ExtractiveSummary(BaseModel):
    headline: SpanId
    summary: list[int] = Field(min_length=2, max_length=4)
    key_points: list[int] = Field(min_length=1, max_length=5)


class ExtractiveStance(BaseModel):
    actor: Name
    target: Name
    position: SpanId
    polarity: Polarity


class ExtractiveStanceList(BaseModel):
    stances: list[ExtractiveStance] = Field(max_length=5)


class ExtractiveEvent(BaseModel):
    description: SpanId
    event_type: EventType
    actors: list[Name] = Field(min_length=1, max_length=4)
    recipients: list[Name] = Field(default_factory=list, max_length=4)
    location: Name | None = None
    when: Short | None = None


class ExtractiveEventList(BaseModel):
    events: list[ExtractiveEvent] = Field(min_length=1, max_length=6)


# --- what we add after checking ----------------------------------------------------------------------


class Citation(BaseModel):
    """One sentence an item cites, copied by code: `text == article.text[start:end]`, always."""

    sentence: int
    start: int
    end: int
    text: str


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


class EventDate(BaseModel):
    """The date expression found (by code) in an event's cited sentences, as written, with its offsets
    into the article text and its resolution (None when it cannot be placed)."""

    text: str
    start: int
    end: int
    resolved: ResolvedDate | None = None


class FieldCheck(BaseModel):
    """What the article does not support in one generated text field.

    `unsupported_entities`: its names and numbers not found in the article. `support`: a score from 0 to 1
    of how much of the field the cited sentences (else the article) support, with `unsupported_words`;
    `flagged` when the support is below the documented threshold or an entity is unsupported.
    `extractive`: the field was chosen among spans of the article and copied by code (extractive rails),
    so its support is 1.0 by construction and says nothing about the model's writing.
    """

    unsupported_entities: list[str] = Field(default_factory=list)
    support: float | None = None
    unsupported_words: list[str] = Field(default_factory=list)
    flagged: bool = False
    extractive: bool = False


class Span(BaseModel):
    """A span of the article a field was copied from (extractive rails): `text == article.text[start:end]`,
    always. `id`: the candidate the model chose ("4" a whole sentence, "4b" a clause of sentence 4)."""

    id: str
    sentence: int
    start: int
    end: int
    text: str


# Checked text fields are unbounded: under extractive rails they are copied sentences and clauses, which
# may be longer than what the model may write.
class CheckedKeyPoint(KeyPoint):
    text: str
    sentences: list[int]  # unbounded once checked: merging duplicates joins their citations
    evidence: list[Citation]
    check: FieldCheck = Field(default_factory=FieldCheck)


class CheckedSummary(BaseModel):
    headline: str
    summary: str
    key_points: list[CheckedKeyPoint]
    checks: dict[str, FieldCheck] = Field(
        default_factory=dict, description="The checks of `headline` and `summary`, by field name."
    )
    spans: dict[str, list[Span]] | None = Field(
        default=None,
        description="Extractive rails: the article spans `headline` and `summary` were copied from.",
    )


class CheckedStance(Stance):
    position: str
    sentences: list[int]
    evidence: list[Citation]
    unknown_names: list[str] = Field(
        default_factory=list, description="Actor or target names not found in the article."
    )
    check: FieldCheck = Field(default_factory=FieldCheck, description="The check of `position`.")
    span: Span | None = Field(default=None, description="Extractive rails: where `position` was copied from.")
    polarity_overruled: Polarity | None = Field(
        default=None,
        description="The model's polarity, when the chosen clause plainly said the opposite (the polarity "
        "is then neutral).",
    )


class CheckedEvent(Event):
    description: str
    sentences: list[int]
    evidence: list[Citation]
    date: EventDate | None = None
    unknown_names: list[str] = Field(
        default_factory=list, description="Actor, recipient or location names not found in the article."
    )
    check: FieldCheck = Field(default_factory=FieldCheck, description="The check of `description`.")
    span: Span | None = Field(
        default=None, description="Extractive rails: where `description` was copied from."
    )


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


class CheckCounts(BaseModel):
    """The article's checks in numbers. `items`: stances and events; `unknown_names`: those naming someone
    or somewhere not in the article (`dropped`: how many of them `--strict` removed); `entity_precision`:
    the share of the summary's names and numbers found in the article (None without any);
    `flagged_fields`: generated text fields flagged as unsupported."""

    items: int = 0
    unknown_names: int = 0
    dropped: int = 0
    entity_precision: float | None = None
    flagged_fields: int = 0


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
    rails: Literal["extractive", "free"] = Field(
        default="free",
        description="extractive: every text field was chosen among spans of the article and copied by code; "
        "free: the model wrote them.",
    )
    summarizer_version: str


class ArticleInfo(BaseModel):
    """What we know about the input article. `text` is what offsets point into; `sentences` are the
    `[start, end)` offsets of its numbered sentences (sentence n is `sentences[n - 1]`)."""

    source: str | None = None
    title: str | None = None
    author: str | None = None
    published: dt.date | None = None
    language: str | None = None
    text: str | None = None
    sentences: list[tuple[int, int]] | None = None


class MissingPiece(BaseModel):
    """A task that failed for one chunk of the article (or for the merge of its summaries): the rest of
    the article's output stands without it."""

    task: str
    sentences: str = Field(description='The chunk\'s sentence range, e.g. "sentences 41-80".')
    error: str


class ArticleAnalysis(BaseModel):
    """The whole output for one article. `complete` is false when some pieces failed: `missing` says
    which, and the output holds what the rest produced."""

    model_config = ConfigDict(extra="forbid")

    complete: bool = True
    missing: list[MissingPiece] = Field(default_factory=list)

    summary: CheckedSummary | None = None
    stances: list[CheckedStance] | None = None
    events: list[CheckedEvent] | None = None
    checks: CheckCounts | None = None
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
# Extractive rails use a prompt of their own per task ("summary_extractive", ...); a long article's chunk
# summaries are merged by code there, with no reduce prompt.
EXTRACTIVE_SUFFIX = "_extractive"
EXTRACTIVE_MODELS: dict[str, type[BaseModel]] = {
    "summary": ExtractiveSummary,
    "stances": ExtractiveStanceList,
    "events": ExtractiveEventList,
}
PROMPT_MODELS: dict[str, type[BaseModel]] = {
    **TASK_MODELS,
    REDUCE_PROMPT: Summary,
    **{f"{task}{EXTRACTIVE_SUFFIX}": model for task, model in EXTRACTIVE_MODELS.items()},
}
