"""A response model's JSON schema as a llama.cpp `grammar` for its llguidance backend.

Mostly the schema itself (`%json`), compact and closed. One keyword llguidance does not enforce,
`uniqueItems`, is written out as grammar rules: the items are told apart by a choice (the item's own
`enum`, its `anyOf` branch, or an object's first property when that is a required `enum`), and each
choice is taken at most once, in the order the schema lists them. That is stricter than JSON Schema asks
(two events of one sentence part could differ elsewhere), and it is what the extractive rails mean by it:
a summary's sentence numbers, stances, events in article order, never the same entry twice. (The 135M
model wrote one stance five times over on the seed; on two dev articles it wrote 909 of the batch's 2,345
event tokens, of which 2 and 3 events were left once the repeats were removed.) A `uniqueItems` this
cannot spell out (items with nothing to tell them apart, an optional first property, a `$ref` to it) is
dropped: the schema as it is, the repeats removed after the answer, as on every other endpoint.
"""

from __future__ import annotations

import json
from typing import Any

# In a llguidance grammar, what comes before the JSON schema it enforces. A grammar of rules carries its
# schema in a comment after SCHEMA_COMMENT, so that a recorded request still says what it asked for.
GRAMMAR_SCHEMA = "\nstart: %json "
SCHEMA_COMMENT = "\n// schema: "
_HEADER = "%llguidance {}"
_COMPACT = {"x-guidance": {"whitespace_flexible": False}}


def llguidance_grammar(schema: dict[str, Any]) -> str:
    """`schema` as a llama.cpp `grammar` for its llguidance backend: JSON with no whitespace between
    tokens, no property the schema does not name (JSON Schema allows any by default; llama.cpp's own
    conversion of `response_format` does not), and `uniqueItems` arrays of alternatives as ordered,
    distinct choices (the module's docstring)."""
    schema = _closed(schema)
    if not _has_unique(schema):
        return _HEADER + GRAMMAR_SCHEMA + _compact_json({**schema, **_COMPACT})
    rules = _Rules(schema.get("$defs") or {})
    start = rules.expression(schema)
    return "\n".join([_HEADER + SCHEMA_COMMENT + _compact_json(schema), f"start: {start}", *rules.lines])


def grammar_schema(grammar: str) -> dict[str, Any] | None:
    """The JSON schema a grammar of `llguidance_grammar` enforces, or None for any other grammar."""
    for marker in (GRAMMAR_SCHEMA, SCHEMA_COMMENT):
        if grammar.startswith(_HEADER + marker):
            found = json.loads(grammar[len(_HEADER + marker) :].partition("\n")[0])
            return found if isinstance(found, dict) else None
    return None


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _closed(node: Any) -> Any:
    if isinstance(node, dict):
        node = {key: _closed(value) for key, value in node.items()}
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
    elif isinstance(node, list):
        node = [_closed(item) for item in node]
    return node


def _has_unique(node: Any) -> bool:
    if isinstance(node, dict):
        return node.get("uniqueItems") is True or any(_has_unique(v) for v in node.values())
    return isinstance(node, list) and any(_has_unique(v) for v in node)


def _literal(value: Any, then: str = "") -> str:
    """A grammar string matching `value` written as compact JSON, and `then`."""
    return json.dumps(_compact_json(value) + then)


class _Rules:
    """The rules for one schema, named in the order they are made. A node with no `uniqueItems` below it
    is one `%json` rule; objects and arrays above one are spelt out."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.lines: list[str] = []

    def rule(self, body: str) -> str:
        name = f"r{len(self.lines)}"
        self.lines.append(f"{name}: {body}")
        return name

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return self.resolve(self.defs[ref.removeprefix("#/$defs/")])
        return node

    def json(self, node: dict[str, Any]) -> str:
        """One `%json` rule for `node`, `uniqueItems` dropped, with the definitions it refers to (not all
        of them: a stance list's 14 branches would each carry the 14)."""
        body = {**_without_unique(node), **_COMPACT}
        if used := self.referenced(node):
            body["$defs"] = {name: _without_unique(self.defs[name]) for name in sorted(used)}
        return self.rule(f"%json {_compact_json(body)}")

    def referenced(self, node: Any, found: set[str] | None = None) -> set[str]:
        """The definitions `node` refers to, directly or through others."""
        found = set() if found is None else found
        if isinstance(node, dict):
            ref = node.get("$ref")
            if (
                isinstance(ref, str)
                and ref.startswith("#/$defs/")
                and (name := ref.removeprefix("#/$defs/")) not in found
            ):
                found.add(name)
                self.referenced(self.defs[name], found)
            for value in node.values():
                self.referenced(value, found)
        elif isinstance(node, list):
            for value in node:
                self.referenced(value, found)
        return found

    def expression(self, node: dict[str, Any]) -> str:
        node = self.resolve(node)
        if not _has_unique(node):
            return self.json(node)
        if node.get("type") == "object":
            return self.object(node)
        if node.get("type") == "array" and node.get("uniqueItems") is True:
            return self.distinct(node)
        return self.json(node)

    def object(self, node: dict[str, Any]) -> str:
        if (first := _first_required(node)) is None:
            return self.json(node)  # spelt out, an optional first property would need its comma undone
        value = self.expression(node["properties"][first])
        return f'"{{" {_literal(first, ":")} {value}{self.rest(node)} "}}"'

    def rest(self, node: dict[str, Any]) -> str:
        """An object's properties after the first, as the schema has them: the optional ones may be left
        out (in JSON Schema's order, as llguidance writes them). One rule, shared by every spelling, and
        its name after a space (nothing when there are none)."""
        properties: dict[str, Any] = node.get("properties") or {}
        required = set(node.get("required") or ())
        parts = []
        for key in list(properties)[1:]:
            part = f'"," {_literal(key, ":")} {self.expression(properties[key])}'
            parts.append(part if key in required else f"({part})?")
        return f" {self.rule(' '.join(parts))}" if parts else ""

    def keyed(self, node: dict[str, Any]) -> list[str] | None:
        """An object whose first property is a required enum, one spelling per value: the items of a
        distinct list are told apart by it (an event by the sentence part it reports)."""
        if (first := _first_required(node)) is None:
            return None
        key = self.resolve(node["properties"][first])
        if "enum" not in key:
            return None
        rest = self.rest(node)
        return [f'"{{" {_literal(first, ":")} {_literal(value)}{rest} "}}"' for value in key["enum"]]

    def distinct(self, node: dict[str, Any]) -> str:
        """An ordered subset of the item alternatives, `minItems` to `maxItems` of them."""
        items = self.resolve(node.get("items") or {})
        if "enum" in items:
            choices = [_literal(value) for value in items["enum"]]
        elif "anyOf" in items:
            choices = [self.expression(branch) for branch in items["anyOf"]]
        elif (spelt := self.keyed(items)) is not None:
            choices = spelt
        else:  # nothing that tells the items apart
            return self.json(node)
        n, least = len(choices), int(node.get("minItems", 0))
        most = min(int(node.get("maxItems", n)), n)
        if least > most:
            return self.json(node)  # unsatisfiable as asked: the schema's own error, not the grammar's
        made: dict[tuple[int, int], str] = {}

        def pick(i: int, c: int) -> str | None:
            """Choose the next item among choices[i:], c chosen so far: choices[i] or a later one."""
            if c >= most or n - i < least - c or i >= n:
                return None
            if (i, c) not in made:
                take = f"{choices[i]} {after(i + 1, c + 1)}".rstrip()
                later = pick(i + 1, c)
                made[i, c] = self.rule(take if later is None else f"{take} | {later}")
            return made[i, c]

        def after(i: int, c: int) -> str:
            """What follows the c-th item: another after a comma, or nothing once `least` are chosen."""
            more = pick(i, c)
            if more is None:
                return ""
            return f'"," {more}' if c < least else f'("," {more})?'

        first = pick(0, 0)
        inner = "" if first is None else (first if least > 0 else f"({first})?")
        return f'"[" {inner} "]"'.replace("  ", " ")


def _first_required(node: dict[str, Any]) -> str | None:
    """An object's first property, if it is required: an object spelt out in rules starts with it."""
    first = next(iter(node.get("properties") or {}), None)
    return first if first is not None and first in (node.get("required") or ()) else None


def _without_unique(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_unique(v) for k, v in node.items() if k != "uniqueItems"}
    if isinstance(node, list):
        return [_without_unique(v) for v in node]
    return node
