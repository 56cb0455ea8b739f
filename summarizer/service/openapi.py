"""The OpenAPI document as the service behaves, for clients generated from it and for schemathesis:

- one shared `Problem` schema on every error answer (FastAPI would write its own `HTTPValidationError` for
  the 422s, which are problem documents here), and 401 on every route that takes a key;
- a bearer `securitySchemes`, required by `/v1/*` and `/metrics` when the server has keys;
- `/metrics` as text, the NDJSON bodies as `application/x-ndjson` (a batch also as a JSON array), with
  the models of a line in and out (`BatchLine`, `BatchResult`) as components;
- `POST /v1/analyses` needs `text` or `html` (one of them, non-empty).

Checked by schemathesis (tests/test_service_contract.py) and by a client openapi-python-client generates
(tests/test_service_client.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .batches import SCHEMAS as BATCH_SCHEMAS
from .problems import PROBLEM_JSON, PROBLEM_REF, PROBLEM_SCHEMA, TITLES

_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def _guarded(path: str) -> bool:
    return path.startswith("/v1/") or path == "/metrics"


def install(app: FastAPI, *, keyed: bool) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = contract(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    routes=app.routes,
                ),
                keyed=keyed,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def contract(doc: dict[str, Any], *, keyed: bool) -> dict[str, Any]:
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas.update(BATCH_SCHEMAS)
    if keyed:
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API key of the server's."}
        }
    problem = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
    for path, operations in doc.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {"description": TITLES[422], "content": problem}
            if _guarded(path):
                if keyed:
                    operation["security"] = [{"bearer": []}]
                    responses.setdefault("401", {"description": TITLES[401], "content": problem})
                else:
                    responses.pop("401", None)
            if path == "/metrics":
                responses["200"] = {
                    "description": "Prometheus text format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
    return doc
