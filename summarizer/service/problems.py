"""Errors as RFC 9457 problem details (`application/problem+json`: type, title, status, detail).

Each of our errors maps to one status: bad input 400, settings a request chose badly (an unknown task) 422,
too large 413, the model endpoint refusing or answering garbage 502, unreachable 503, too slow 504.
"""

from __future__ import annotations

import contextvars
import re
from typing import Any

import openai
from starlette.responses import JSONResponse

from ..core.errors import ConfigError, EndpointError, InputError, ModelOutputError, SummarizerError
from ..model.client import causes

PROBLEM_JSON = "application/problem+json"
# A URN, not a URL: the type names the problem and must not look like a page someone should fetch.
_TYPE = "urn:summarizer:problem:"

TITLES = {
    400: "Bad input",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    421: "Misdirected request",
    422: "Unprocessable request",
    429: "Too many requests",
    500: "Internal error",
    502: "Model endpoint failed",
    503: "Model endpoint unavailable",
    504: "Model endpoint timed out",
}


# The id of the request being answered (set by middleware.RequestContext): in every problem document, and
# in the server log beside what the caller is not shown.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class Problem(Exception):
    """Raised anywhere in a request: answered as problem+json with this status."""

    def __init__(
        self, status: int, detail: str, *, kind: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}
        self.kind = kind or TITLES.get(status, "error").lower().replace(" ", "-")

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a worker process too (offload.py): it crosses back whole, not as Exception(detail).
        return (Problem, (self.status, self.detail), {"kind": self.kind, "headers": self.headers})


def problem_response(problem: Problem, **extra: Any) -> JSONResponse:
    body = {
        "type": _TYPE + problem.kind,
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
        **extra,
    }
    if (rid := request_id.get()) is not None:
        body["request_id"] = rid
    return JSONResponse(body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON)


# What a caller must not learn from an error: where the model endpoint is (an internal URL), and the
# server's file paths. The server log keeps the whole message.
_ENDPOINT = re.compile(r"(the embedded model at|the endpoint) \S+?(?=[:,;)]?(?:\s|$))")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+?(?=[:,;)]?(?:\s|$))", re.IGNORECASE)
_PATH = re.compile(r"(?<![\w:/.])/(?:[^\s/:'\"]+/)+[^\s/:'\"]*")


def public(detail: str) -> str:
    """`detail` without URLs and absolute paths."""
    detail = _ENDPOINT.sub("the model endpoint", detail)
    detail = _URL.sub("<url>", detail)
    return _PATH.sub("<path>", detail)


def from_error(exc: SummarizerError) -> Problem:
    """Our one-line errors, with the status a client can act on, without internal URLs or paths."""
    detail = public(str(exc))
    if isinstance(exc, InputError):
        return Problem(413 if "too large" in detail else 400, detail, kind="bad-input")
    if isinstance(exc, ConfigError):
        return Problem(422, detail, kind="bad-request")
    if isinstance(exc, EndpointError):
        found = list(causes(exc))
        if any(isinstance(e, openai.APITimeoutError) for e in found):
            return Problem(504, detail, kind="endpoint-timeout")
        if any(isinstance(e, openai.APIConnectionError) for e in found):
            return Problem(503, detail, kind="endpoint-unavailable")
        return Problem(502, detail, kind="endpoint-error")
    if isinstance(exc, ModelOutputError):
        return Problem(502, detail, kind="model-output-invalid")
    return Problem(500, detail, kind="internal")


PROBLEM_REF = "#/components/schemas/Problem"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "example": _TYPE + "bad-input"},
        "title": {"type": "string", "example": "Bad input"},
        "status": {"type": "integer", "example": 400},
        "detail": {"type": "string", "example": "text: is empty"},
        "request_id": {"type": "string", "description": "Quote it to the operator: the server log has it."},
    },
    "required": ["type", "title", "status", "detail"],
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these problem statuses (401 always, dropped by openapi.py on a keyless
    server): what /docs shows a client to expect."""
    return {
        status: {"description": TITLES[status], "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}}
        for status in sorted({401, *statuses})
    }
