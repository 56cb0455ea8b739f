"""The model call: an `openai` client patched by `instructor`, usage summed over attempts, errors mapped.

One code path serves OpenAI, any OpenAI-compatible server and the embedded model; only the base URL,
the key and the model name differ.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import instructor
import openai
from instructor.core.exceptions import InstructorRetryException
from instructor.core.hooks import Hooks
from pydantic import BaseModel, ValidationError

from .errors import EndpointError, ModelOutputError, SummarizerError
from .schemas import Usage
from .settings import Settings

T = TypeVar("T", bound=BaseModel)


def make_client(settings: Settings, *, http_retries: int = 2) -> openai.AsyncOpenAI:
    """The async client. `http_retries` is the openai client's own retry of 408/429/5xx with backoff
    (it honours Retry-After); validation re-asks are instructor's, counted separately."""
    return openai.AsyncOpenAI(
        api_key=settings.api_key.get_secret_value(),
        base_url=settings.base_url,
        timeout=settings.timeout,
        max_retries=http_retries,
    )


@dataclass
class Attempts:
    """What the calls of one task cost: every response counts, the failed ones too."""

    count: int = 0
    usage: Usage = field(default_factory=Usage)

    def record(self, response: Any) -> None:
        self.count += 1
        if (u := getattr(response, "usage", None)) is not None:
            self.usage += Usage(
                prompt_tokens=u.prompt_tokens or 0,
                completion_tokens=u.completion_tokens or 0,
                total_tokens=u.total_tokens or 0,
            )


async def call_model(
    client: openai.AsyncOpenAI,
    settings: Settings,
    response_model: type[T],
    messages: list[dict[str, str]],
    attempts: Attempts,
) -> T:
    """Ask for `response_model`, re-asking on validation errors up to `settings.max_retries` times."""
    hooks = Hooks()
    hooks.on("completion:response", attempts.record)
    patched = _patched(client, settings.instructor_mode)
    try:
        return await patched.create(
            model=settings.model,
            messages=messages,
            response_model=response_model,
            max_retries=settings.max_retries,  # re-asks after the first try
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            hooks=hooks,
        )
    except SummarizerError:
        raise
    except Exception as exc:
        raise as_summarizer_error(exc, settings) from exc


# Patching costs about a millisecond, three times an article: once per client and mode is enough, as the
# attempt-counting hooks are passed per call.
_PATCHED: weakref.WeakKeyDictionary[openai.AsyncOpenAI, dict[instructor.Mode, Any]] = (
    weakref.WeakKeyDictionary()
)


def _patched(client: openai.AsyncOpenAI, mode: instructor.Mode) -> Any:
    by_mode = _PATCHED.setdefault(client, {})
    if mode not in by_mode:
        by_mode[mode] = instructor.from_openai(client, mode=mode)
    return by_mode[mode]


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes, and the exceptions of instructor's failed attempts."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend(x for x in (e.__cause__, e.__context__) if x is not None)
        for failed in getattr(e, "failed_attempts", None) or ():
            if isinstance(getattr(failed, "exception", None), BaseException):
                todo.append(failed.exception)


def as_summarizer_error(exc: BaseException, settings: Settings) -> SummarizerError:
    """A one-line error a user can act on, for whatever the openai client or instructor raised."""
    where = settings.base_url or "https://api.openai.com/v1"
    for e in causes(exc):
        if isinstance(e, openai.AuthenticationError):
            return EndpointError(
                f"the endpoint {where} rejected the API key (HTTP 401): check OPENAI_API_KEY"
            )
        if isinstance(e, openai.NotFoundError):
            return EndpointError(f"model {settings.model!r} not found at {where} (HTTP 404): check --model")
        if isinstance(e, openai.PermissionDeniedError):
            return EndpointError(f"the endpoint {where} refused access to {settings.model!r} (HTTP 403)")
        if isinstance(e, openai.RateLimitError):
            return EndpointError(f"rate limited by {where} (HTTP 429) after retries: try again later")
        if isinstance(e, openai.APIStatusError):
            return EndpointError(f"the endpoint {where} answered HTTP {e.status_code}: {_first_line(e)}")
        if isinstance(e, openai.APITimeoutError):
            return EndpointError(f"the endpoint {where} did not answer within {settings.timeout:.0f} s")
        if isinstance(e, openai.APIConnectionError):
            return EndpointError(
                f"cannot reach the endpoint {where}: is the server running? ({_first_line(e)})"
            )
    if isinstance(exc, InstructorRetryException):
        failed = exc.failed_attempts or []
        last = failed[-1].exception if failed else exc
        attempts = exc.n_attempts
        return ModelOutputError(
            f"the model's output still failed validation after {attempts} attempts: " + describe_error(last)
        )
    return ModelOutputError(f"the model call failed: {type(exc).__name__}: {_first_line(exc)}")


def describe_error(exc: BaseException) -> str:
    """A validation error as 'field: problem', the first of them; anything else as its first line."""
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "output"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return f"{where}: {first['msg']}{more}"
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
