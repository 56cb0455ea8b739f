"""OpenAI's strict mode ("structured outputs"): a request schema in the subset it accepts."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` in the subset OpenAI's strict mode accepts: every object closed (`additionalProperties:
    false`) with all its properties required (optional ones are already unions with null); no length
    bounds, defaults or `uniqueItems`, which strict mode does not support: validation still enforces the
    bounds, and repeats are removed after the answer."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for keyword in ("minLength", "maxLength", "default", "uniqueItems"):
                if not isinstance(node.get(keyword), dict):  # a property of that name stays
                    node.pop(keyword, None)
            if node.get("type") == "object" and isinstance(node.get("properties"), dict):
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    strict = copy.deepcopy(schema)
    walk(strict)
    return strict


def with_strict_schema(model: type[BaseModel]) -> type[BaseModel]:
    """`model`, its JSON schema (what instructor sends) in strict mode's subset; same name and validation."""

    def model_json_schema(cls: type[BaseModel], *args: Any, **kwargs: Any) -> dict[str, Any]:
        return strict_schema(model.model_json_schema(*args, **kwargs))

    return type(model.__name__, (model,), {"model_json_schema": classmethod(model_json_schema)})
