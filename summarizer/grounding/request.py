"""The request schemas that hold the model to the article: cited sentences an enum of the chunk's numbers,
names and dates picked from the article's own (llama.cpp's grammar and OpenAI's strict mode enforce them; a
server that enforces nothing gets a validation error and a re-ask)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from ..core import schemas
from ..model.strict_schema import with_strict_schema

# --- request models -----------------------------------------------------------------------------------


def _one_of(kind: type, values: tuple[Any, ...], refusal: Callable[[Any], str]) -> Any:
    """`kind` restricted to `values`: an `enum` in the schema sent (a grammar or strict mode enforces it)
    and a validation error, `refusal(value)`, for a server that enforces nothing."""
    allowed = frozenset(values)

    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(refusal(value))
        return value

    return Annotated[kind, Field(json_schema_extra={"enum": list(values)}), AfterValidator(check)]


def _cited(numbers: tuple[int, ...]) -> Any:
    span = f"{numbers[0]}-{numbers[-1]}" if numbers else "none"
    number = _one_of(int, numbers, lambda n: f"there is no sentence {n}: cite sentences {span}")
    return Annotated[list[number], Field(min_length=1, max_length=3)]  # type: ignore[valid-type]


def _picked(values: tuple[str, ...]) -> Any:
    return _one_of(str, values, lambda value: f"{value!r} is not one of the article's own")


@functools.lru_cache(maxsize=256)
def request_model(
    task: str,
    numbers: tuple[int, ...],
    *,
    names: tuple[str, ...] | None = None,
    dates: tuple[str, ...] = (),
    least: int = 0,
    strict: bool = False,
) -> type[BaseModel]:
    """`task`'s schema: its `sentences` an enum of `numbers`; its names an enum of `names` when given, else
    free text (`Grounding.review` checks it); an event's `when` one of `dates` or null; at least `least`
    stances; in OpenAI strict mode's subset when `strict`. The class names are the base models'
    (instructor names the forced tool after them). Cached: a class costs about a millisecond to build, and
    instructor caches its schema per class, so articles of the same length share one."""
    model = _request_model(task, numbers, names, dates, least)
    return with_strict_schema(model) if strict else model


def _request_model(
    task: str, numbers: tuple[int, ...], names: tuple[str, ...] | None, dates: tuple[str, ...], least: int
) -> type[BaseModel]:
    cited = _cited(numbers)
    # Not named `when`: with postponed annotations, `when: when` in a class body would read the field's own
    # default (None) as its type. None itself cannot be a local annotation either: NoneType.
    when_type: Any = (_picked(dates) | None) if dates else type(None)
    name: Any = _picked(names) if names else schemas.Name
    if task in ("summary", schemas.REDUCE_PROMPT):

        class KeyPoint(schemas.KeyPoint):
            sentences: cited  # type: ignore[valid-type]

        class Summary(schemas.Summary):
            key_points: list[KeyPoint] = Field(min_length=1, max_length=5)  # type: ignore[assignment]

        return Summary
    if task == "stances":

        class Stance(schemas.Stance):
            actor: name
            target: name
            sentences: cited  # type: ignore[valid-type]

        class StanceList(schemas.StanceList):
            stances: list[Stance] = Field(min_length=least, max_length=5)  # type: ignore[assignment]

        return StanceList
    if task == "events":

        class Event(schemas.Event):
            actors: list[name] = Field(min_length=1, max_length=4)
            recipients: list[name] = Field(default_factory=list, max_length=4)
            location: name | None = None
            when: when_type = None
            sentences: cited  # type: ignore[valid-type]

        class EventList(schemas.EventList):
            events: list[Event] = Field(min_length=1, max_length=6)  # type: ignore[assignment]

        return EventList
    raise ValueError(f"no response model for task {task!r}")
