"""The extractive rails' request models: every text field an enum of the candidate ids offered, sentence
numbers an enum of the chunk's, names and dates among the article's own (`extractive.Extractive` chooses
what to offer; this module only builds the schema, as `grounding/request.py` does for the free rails)."""

from __future__ import annotations

import functools
from typing import Any, Union

from pydantic import BaseModel, Field, create_model
from pydantic.config import JsonDict

from ..core import schemas
from ..grounding.request import _one_of, _picked
from ..model.strict_schema import with_strict_schema

# At most this many summary sentences: the small model counts up to the bound (it chose 1, 2, 3, 4 when
# offered 2 to 4), and a fourth lead sentence cost ROUGE against references of three or four sentences.
SUMMARY_MOST = 3

# A list that names an entry at most once: the embedded engine's grammar takes each of its choices at most
# once, in the schema's order (model/grammar.py); elsewhere repeats are removed after the answer.
DISTINCT: JsonDict = {"uniqueItems": True}


def _numbers(numbers: tuple[int, ...], least: int, most: int) -> Any:
    span = f"{numbers[0]}-{numbers[-1]}" if numbers else "none"
    number = _one_of(int, numbers, lambda n: f"there is no sentence {n}: choose among sentences {span}")
    field = Field(min_length=min(least, len(numbers)), max_length=most, json_schema_extra=DISTINCT)
    return list[number], field  # type: ignore[valid-type]


def _ids(ids: tuple[str, ...]) -> Any:
    return _one_of(str, ids, lambda value: f"{value!r} is not one of the listed ids: choose one of them")


@functools.lru_cache(maxsize=256)
def request_model(
    task: str,
    numbers: tuple[int, ...],
    ids: tuple[str, ...],
    *,
    names: tuple[str, ...] | None = None,
    variants: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] | None = None,
    dates: tuple[str, ...] = (),
    least: int = 0,
    strict: bool = False,
) -> type[BaseModel]:
    """`task`'s extractive schema: text fields an enum of `ids`, sentence numbers an enum of `numbers`,
    names an enum of `names` when given, an event's `when` one of `dates` or null. Stances: with
    `variants` (position id, actors, targets), each stance is one of those shapes (an `anyOf`), else a
    position among `ids` with free names; at least `least` of them (none when nothing is offered).
    Class names are the base models' (instructor names the tool or the JSON schema after them). Cached
    like `ground.request_model`."""
    model = _request_model(task, numbers, ids, names, variants, dates, least)
    return with_strict_schema(model) if strict else model


def _request_model(
    task: str,
    numbers: tuple[int, ...],
    ids: tuple[str, ...],
    names: tuple[str, ...] | None,
    variants: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] | None,
    dates: tuple[str, ...],
    least: int,
) -> type[BaseModel]:
    chosen: Any = _ids(ids) if ids else schemas.SpanId
    name: Any = _picked(names) if names else schemas.Name
    when_type: Any = (_picked(dates) | None) if dates else type(None)
    if task == "summary":
        summary_type, summary_field = _numbers(numbers, 2, SUMMARY_MOST)
        points_type, points_field = _numbers(numbers, 1, 5)

        class ExtractiveSummary(schemas.ExtractiveSummary):
            headline: chosen
            summary: summary_type = summary_field  # type: ignore[valid-type]
            key_points: points_type = points_field  # type: ignore[valid-type]

        return ExtractiveSummary
    if task == "stances":
        base = schemas.ExtractiveStance
        free = create_model("ExtractiveStance", __base__=base, actor=name, target=name, position=chosen)
        shapes: list[Any] = [free]
        if variants:
            shapes = [
                create_model(
                    f"Stance{span}_{n}", __base__=schemas.ExtractiveStance, position=(_ids((span,)), ...),
                    actor=(_picked(actors), ...), target=(_picked(targets), ...),
                )
                for n, (span, actors, targets) in enumerate(variants)
            ]  # fmt: skip
        most = 5 if (ids if variants is None else variants) else 0  # nothing offered: no stance
        item: Any = Union[tuple(shapes)] if len(shapes) > 1 else shapes[0]  # noqa: UP007  (a runtime union)

        class ExtractiveStanceList(schemas.ExtractiveStanceList):
            stances: list[item] = Field(
                min_length=min(least, most), max_length=most, json_schema_extra=DISTINCT
            )

        return ExtractiveStanceList
    if task == "events":

        class ExtractiveEvent(schemas.ExtractiveEvent):
            description: chosen
            actors: list[name] = Field(min_length=1, max_length=4)
            recipients: list[name] = Field(default_factory=list, max_length=4)
            location: name | None = None
            when: when_type = None

        class ExtractiveEventList(schemas.ExtractiveEventList):
            events: list[ExtractiveEvent] = Field(  # type: ignore[assignment]
                min_length=1, max_length=6, json_schema_extra=DISTINCT
            )

        return ExtractiveEventList
    raise ValueError(f"no extractive model for task {task!r}")
