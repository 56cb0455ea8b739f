import json

import pytest
from pydantic import ValidationError

from summarizer.core.schemas import TASK_MODELS, ArticleAnalysis, Event, EventType, Stance


def _walk(node, path=""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


@pytest.mark.parametrize("task", sorted(TASK_MODELS))
def test_every_string_and_list_the_model_fills_is_bounded(task):
    # Small models loop until the token limit without bounds; the bounds become grammar limits.
    schema = TASK_MODELS[task].model_json_schema()
    for path, node in _walk(schema):
        if node.get("type") == "string" and "enum" not in node:
            assert "maxLength" in node, f"{task}: unbounded string at {path}"
        if node.get("type") == "array":
            assert "maxItems" in node, f"{task}: unbounded list at {path}"


def test_plover_event_types():
    assert len([t for t in EventType if t is not EventType.OTHER]) == 16
    assert {"AGREE", "ASSAULT", "MOBILIZE", "OTHER"} <= {t.value for t in EventType}


def test_polarity_is_a_fixed_set():
    ok = dict(actor="A", target="B", position="p", polarity="supports", sentences=[1])
    Stance(**ok)
    with pytest.raises(ValidationError):
        Stance(**{**ok, "polarity": "likes"})


def test_event_needs_an_actor_and_a_known_type():
    ok = dict(description="d", event_type="CONSULT", actors=["A"], sentences=[1])
    assert Event(**ok).recipients == []
    with pytest.raises(ValidationError):
        Event(**{**ok, "actors": []})
    with pytest.raises(ValidationError):
        Event(**{**ok, "event_type": "PARTY"})
    with pytest.raises(ValidationError):
        Event(**{**ok, "sentences": [1, 2, 3, 4]})  # 1 to 3 citations


@pytest.mark.parametrize("task", sorted(TASK_MODELS))
def test_the_schema_sent_has_no_descriptions_to_copy(task):
    # A small model copies schema text into fields ("A factual headline of at most 15 words."): every
    # field's meaning is said in the prompt template instead.
    schema = TASK_MODELS[task].model_json_schema()
    described = [path for path, node in _walk(schema) if isinstance(node.get("description"), str)]
    assert not described


def test_output_schema_is_json():
    schema = ArticleAnalysis.model_json_schema()
    assert {"summary", "stances", "events", "metadata", "article"} <= set(schema["properties"])
    json.dumps(schema)
