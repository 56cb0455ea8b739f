"""The extractive rails' request models, built from what `Extractive` offers (test_extractive.py checks
what it offers for the seed)."""

from typing import Any

import pytest
from pydantic import ValidationError

from summarizer.pipeline.extractive_request import SUMMARY_MOST, request_model
from summarizer.pipeline.prompts import schema_of


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every object in a JSON schema, nested ones included."""
    if isinstance(node, dict):
        return [node, *(found for value in node.values() for found in _walk(value))]
    if isinstance(node, list):
        return [found for value in node for found in _walk(value)]
    return []


def test_a_summary_is_chosen_among_the_ids_and_numbers_given() -> None:
    schema = schema_of(request_model("summary", (1, 2, 3, 4), ("2a", "4b")))
    props = schema["properties"]
    assert props["headline"]["enum"] == ["2a", "4b"]
    summary = props["summary"]
    assert summary["items"]["enum"] == [1, 2, 3, 4]
    assert (summary["minItems"], summary["maxItems"], summary["uniqueItems"]) == (2, SUMMARY_MOST, True)
    assert props["key_points"]["maxItems"] == 5 and props["key_points"]["uniqueItems"] is True
    with pytest.raises(ValidationError, match="there is no sentence 9"):
        request_model("summary", (1, 2, 3, 4), ("2a",)).model_validate(
            {"headline": "2a", "summary": [1, 9], "key_points": [1]}
        )


def test_an_event_takes_names_and_dates_from_the_article_or_none() -> None:
    model = request_model("events", (1, 2), ("1", "2a"), names=("Kim", "Seoul"), dates=("July 26",))
    event = schema_of(model)["$defs"]["ExtractiveEvent"]["properties"]
    assert event["actors"]["items"]["enum"] == ["Kim", "Seoul"]
    assert event["when"]["anyOf"] == [{"enum": ["July 26"], "type": "string"}, {"type": "null"}]
    answer = {"events": [{"description": "2a", "event_type": "OTHER", "actors": ["Kim"], "when": None}]}
    assert model.model_validate(answer).events[0].description == "2a"
    with pytest.raises(ValidationError):
        model.model_validate({"events": [{**answer["events"][0], "when": "June 1"}]})


def test_the_same_arguments_give_the_same_class() -> None:
    # instructor and the grammar cache key on the class: one per schema, not one per call.
    assert request_model("summary", (1, 2), ("1",)) is request_model("summary", (1, 2), ("1",))
    assert request_model("summary", (1, 2), ("1",)) is not request_model("summary", (1, 2), ("2",))


def test_strict_mode_gets_its_subset_of_the_same_schema() -> None:
    variants = (("13a", ("Kang",), ("Kremlin",)), ("19c", ("Kang",), ("U.S.", "Korean")))
    strict = schema_of(request_model("stances", (13, 19), ("13a", "19c"), variants=variants, strict=True))
    objects = [node for node in _walk(strict) if node.get("type") == "object"]
    assert objects and all(node["additionalProperties"] is False for node in objects)
    assert all(set(node["required"]) == set(node["properties"]) for node in objects)
    assert not [node for node in _walk(strict) if "uniqueItems" in node]  # not in OpenAI's subset
    loose = schema_of(request_model("stances", (13, 19), ("13a", "19c"), variants=variants))
    assert loose["properties"]["stances"]["uniqueItems"] is True
