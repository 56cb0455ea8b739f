"""The grammar the embedded engine enforces, checked by llguidance itself (the library llama.cpp's server
runs for it) over a byte-level vocabulary: what each grammar lets a model write, to the byte."""

import functools
import json

import pytest

from summarizer.core.article import article_from_text
from summarizer.core.segment import split_sentences
from summarizer.grounding.ground import Grounding
from summarizer.model.grammar import GRAMMAR_SCHEMA, grammar_schema, llguidance_grammar
from summarizer.model.strict_schema import strict_schema
from summarizer.pipeline.extractive import Extractive
from summarizer.pipeline.prompts import schema_of

from .conftest import missing
from .test_pipeline import SEED_PUBLISHED

try:
    import llguidance
except ImportError:  # the dev extra's
    llguidance = None


@pytest.fixture(autouse=True)
def _llguidance() -> None:
    if llguidance is None:
        missing("llguidance is not installed (pip install -e '.[dev]')")


class _Bytes:
    """A vocabulary of the 256 bytes and an end token: every text is one token a byte."""

    eos_token_id = 256
    bos_token_id = None
    tokens = [bytes([b]) for b in range(256)] + [b"\xff<eos>"]

    def __call__(self, text: bytes) -> list[int]:
        return list(text)


@functools.cache
def _tokenizer() -> object:
    return llguidance.LLTokenizer(llguidance.TokenizerWrapper(_Bytes()))


def accepts(grammar: str, text: str) -> bool:
    """Whether a model held to `grammar` can write exactly `text`."""
    matcher = llguidance.LLMatcher(_tokenizer(), grammar)
    assert not matcher.is_error(), matcher.get_error()
    data = list(text.encode())
    return matcher.try_consume_tokens(data) == len(data) and matcher.is_accepting()


def _numbers(least: int, most: int, values: list[int]) -> dict:
    numbers = {"type": "array", "items": {"enum": values}, "minItems": least, "maxItems": most}
    return {
        "type": "object",
        "properties": {"n": {**numbers, "uniqueItems": True}},
        "required": ["n"],
        "title": "Numbers",
    }


def test_a_schema_without_unique_items_is_sent_as_it_is() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "array", "items": {"enum": [1, 2]}}}}
    grammar = llguidance_grammar(schema)
    assert grammar.startswith("%llguidance {}" + GRAMMAR_SCHEMA)
    compact = {"x-guidance": {"whitespace_flexible": False}}
    assert grammar_schema(grammar) == {**schema, "additionalProperties": False, **compact}
    assert accepts(grammar, '{"n":[2,2,1]}')  # repeats are JSON Schema's to allow here
    assert not accepts(grammar, '{"n": [1]}')  # compact: no whitespace between tokens
    assert not accepts(grammar, '{"n":[1],"m":1}')  # closed: no property the schema does not name


def test_unique_items_of_an_enum_are_chosen_once_each_in_the_schemas_order() -> None:
    grammar = llguidance_grammar(_numbers(1, 2, [1, 2, 12]))
    for ok in ('{"n":[1]}', '{"n":[12]}', '{"n":[1,2]}', '{"n":[1,12]}', '{"n":[2,12]}'):
        assert accepts(grammar, ok), ok
    for bad in ('{"n":[1,1]}', '{"n":[2,1]}', '{"n":[]}', '{"n":[1,2,12]}', '{"n":[3]}', '{"n":[ 1]}'):
        assert not accepts(grammar, bad), bad
    assert grammar_schema(grammar) == {**_numbers(1, 2, [1, 2, 12]), "additionalProperties": False}


def test_the_floor_is_kept_reachable_and_an_impossible_one_left_to_the_schema() -> None:
    grammar = llguidance_grammar(_numbers(2, 3, [1, 2, 3]))
    assert not accepts(grammar, '{"n":[3]}')  # nothing may follow the last value: never a dead end
    assert accepts(grammar, '{"n":[2,3]}') and accepts(grammar, '{"n":[1,2,3]}')
    impossible = llguidance_grammar(_numbers(4, 5, [1, 2, 3]))
    assert accepts(impossible, '{"n":[1,1,2,3]}')  # 4 distinct of 3 cannot be: the schema's bounds alone


def test_unique_items_of_an_any_of_take_each_branch_once_beside_the_other_properties() -> None:
    def branch(actor: str, targets: list[str]) -> dict:
        properties = {"actor": {"enum": [actor]}, "target": {"enum": targets}}
        return {"type": "object", "properties": properties, "required": ["actor", "target"]}

    schema = {
        "type": "object",
        "properties": {
            "headline": {"enum": ["2a", "4b"]},
            "stances": {
                "type": "array",
                "items": {"anyOf": [{"$ref": "#/$defs/A"}, {"$ref": "#/$defs/B"}]},
                "minItems": 1,
                "maxItems": 5,
                "uniqueItems": True,
            },
        },
        "required": ["headline", "stances"],
        "$defs": {"A": branch("Kim", ["Russia", "U.S."]), "B": branch("Kang", ["U.S."])},
    }
    grammar = llguidance_grammar(schema)
    a, a2, b = (
        '{"actor":"Kim","target":"Russia"}',
        '{"actor":"Kim","target":"U.S."}',
        '{"actor":"Kang","target":"U.S."}',
    )
    assert accepts(grammar, f'{{"headline":"2a","stances":[{a},{b}]}}')
    assert accepts(grammar, f'{{"headline":"4b","stances":[{b}]}}')
    for bad in (f"[{a},{a}]", f"[{a},{a2}]", f"[{b},{a}]", "[]"):  # one stance a branch, in order
        assert not accepts(grammar, f'{{"headline":"2a","stances":{bad}}}'), bad
    assert not accepts(grammar, f'{{"headline":"9z","stances":[{a}]}}')  # the sibling keeps its enum
    assert '"$defs"' not in grammar.partition("\nstart: ")[2]  # the rules carry only what they refer to
    assert not accepts(grammar, f'{{"headline":"2a","stances":[{a}],"x":1}}')


def test_optional_properties_may_be_left_out_after_a_required_first_one() -> None:
    schema = _numbers(1, 3, [1, 2])
    schema["properties"]["note"] = {"type": "string"}  # optional, after the required "n"
    grammar = llguidance_grammar(schema)
    assert accepts(grammar, '{"n":[1,2],"note":"x"}') and accepts(grammar, '{"n":[2]}')
    assert not accepts(grammar, '{"n":[2,2]}') and not accepts(grammar, '{"note":"x","n":[1]}')
    first_optional = {
        **schema,
        "required": ["note"],
        "properties": {"n": schema["properties"]["n"], "note": {"type": "string"}},
    }
    grammar = llguidance_grammar(first_optional)  # spelt out, its comma would need undoing: as JSON Schema
    assert accepts(grammar, '{"n":[2,2],"note":"x"}') and accepts(grammar, '{"note":"x"}')


def test_objects_are_told_apart_by_a_first_property_that_is_a_required_enum() -> None:
    event = {
        "type": "object",
        "properties": {
            "description": {"enum": ["1", "4a", "4b"]},
            "actors": {"type": "array", "items": {"enum": ["Kim", "Kang"]}, "minItems": 1, "maxItems": 2},
            "when": {"anyOf": [{"enum": ["July 26"]}, {"type": "null"}]},
        },
        "required": ["description", "actors"],
    }
    events = {
        "type": "array",
        "items": {"$ref": "#/$defs/E"},
        "minItems": 1,
        "maxItems": 6,
        "uniqueItems": True,
    }
    grammar = llguidance_grammar(
        {"type": "object", "properties": {"events": events}, "required": ["events"], "$defs": {"E": event}}
    )
    one, four = (
        '{"description":"1","actors":["Kim"]}',
        '{"description":"4a","actors":["Kang","Kang"],"when":"July 26"}',
    )
    assert accepts(grammar, f'{{"events":[{one},{four}]}}')
    assert accepts(grammar, '{"events":[{"description":"4b","actors":["Kim"],"when":null}]}')
    for bad in (
        f"[{one},{one}]",
        f"[{four},{one}]",
        '[{"description":"1","actors":[]}]',
        '[{"description":"2","actors":["Kim"]}]',
    ):
        assert not accepts(grammar, f'{{"events":{bad}}}'), bad


def test_the_extractive_rails_lists_are_distinct_for_the_engine_and_plain_for_strict_mode(
    seed_text: str,
) -> None:
    article = article_from_text(seed_text, published=SEED_PUBLISHED)
    sentences = split_sentences(article.text)
    rails = Extractive(Grounding(article, sentences, pick_names=True))
    numbers = tuple(s.number for s in sentences)
    summary = schema_of(rails.request_model("summary", numbers))
    head = summary["properties"]["headline"]["enum"][0]
    grammar = llguidance_grammar(summary)
    assert accepts(
        grammar,
        json.dumps({"headline": head, "summary": [1, 2], "key_points": [1, 3, 5]}, separators=(",", ":")),
    )
    for summary_numbers, points in (([1, 1], [1]), ([2, 1], [1]), ([1, 2], [4, 4])):
        answer = {"headline": head, "summary": summary_numbers, "key_points": points}
        assert not accepts(grammar, json.dumps(answer, separators=(",", ":"))), answer
    stances = schema_of(rails.request_model("stances", numbers))
    assert stances["properties"]["stances"]["uniqueItems"] is True
    assert "uniqueItems" not in json.dumps(strict_schema(stances))  # not in strict mode's subset
