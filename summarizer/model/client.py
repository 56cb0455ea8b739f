"""The model call: an `openai` client patched by `instructor`, usage summed over attempts, errors mapped.

One code path serves OpenAI, any OpenAI-compatible server and the embedded model; only the base URL,
the key and the model name differ.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import instructor
import openai
from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException
from instructor.core.hooks import Hooks
from pydantic import BaseModel, ValidationError

from ..core.errors import EndpointError, ModelOutputError, SummarizerError
from ..core.schemas import Usage
from .grammar import llguidance_grammar
from .settings import Settings

T = TypeVar("T", bound=BaseModel)
# A re-ask shows the model its errors and at most this much of its failed answer: the conversation never
# grows by more than budget.REASK_TOKENS, whatever the model wrote (a runaway answer can be 1,500 tokens).
REASK_CHARS = 900
# The message of llama.cpp's server when its chat-output parser fails on what the model wrote.
_UNREADABLE_OUTPUT = re.compile(r"(?i)model produced output that does not match|failed to parse")


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
    last_response: Any = None  # the latest completion, for a re-ask's excerpt of it

    def record(self, response: Any) -> None:
        self.count += 1
        self.last_response = response
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
    review: Callable[[T], list[str]] | None = None,
    *,
    reask: Callable[[str], str],
) -> T:
    """Ask for `response_model`, asking again up to `settings.max_retries` times on validation errors and
    on the problems `review` finds in a valid answer (names not in the article, copied instructions); an
    answer `review` faults on its last attempt is returned as it is, for the checks to flag.

    The re-asks are ours, not instructor's: instructor's append every failed answer whole, so a third
    attempt could overflow the context. Ours send the original messages, then a bounded excerpt of the last
    failed answer and `reask(errors)` (the prompts directory's `_reask.j2`, rendered by the caller). An
    answer whose only fault is a raw control character inside a JSON string (strict JSON forbids it, small
    models write it) is read leniently before any re-ask.
    """
    hooks = Hooks()
    hooks.on("completion:response", attempts.record)
    if settings.strict_output:
        hooks.on("completion:kwargs", _strict_tools)
    # The hooks see the request's own dicts before it is sent, not copies: the grammar goes into this one.
    extra_body: dict[str, Any] = {}
    if settings.grammar_output:
        hooks.on("completion:kwargs", as_grammar(extra_body))
    patched = patched_client(client, settings.instructor_mode)
    request = list(messages)
    for attempt in range(settings.max_retries + 1):
        last = attempt == settings.max_retries
        try:
            output: T = await patched.create(
                model=settings.model,
                messages=request,
                response_model=response_model,
                max_retries=0,  # one attempt: the re-asks are this loop's
                temperature=settings.temperature,
                max_tokens=settings.max_tokens,
                hooks=hooks,
                extra_body=extra_body if settings.grammar_output else None,
            )
        except (InstructorRetryException, IncompleteOutputException) as exc:
            if isinstance(exc, InstructorRetryException) and not exc.failed_attempts:
                if not _unreadable(exc):
                    raise as_summarizer_error(exc, settings) from exc  # the request failed, not the answer
                if last:
                    raise ModelOutputError(
                        f"the model's output still failed validation after {attempt + 1} attempts: "
                        "the server could not parse it"
                    ) from exc
                request = [*messages, *_reask(None, "- the answer was not the JSON asked for", reask)]
                continue
            answer = _answer_text(exc.last_completion)
            read = None if answer is None else _lenient(answer, response_model)
            if read is None:
                if last:
                    raise as_summarizer_error(exc, settings, attempts=attempts.count) from exc
                failures = exc.failed_attempts if isinstance(exc, InstructorRetryException) else None
                request = [
                    *messages,
                    *_reask(answer, describe_errors(failures[-1].exception if failures else exc), reask),
                ]
                continue
            output = read
        except SummarizerError:
            raise
        except Exception as exc:
            raise as_summarizer_error(exc, settings) from exc
        problems = [] if last or review is None else review(output)
        if not problems:
            return output
        request = [*messages, *_reask(_answer_text(attempts.last_response), "\n".join(problems), reask)]
    raise AssertionError("unreachable: the last attempt returns or raises")


def _unreadable(exc: BaseException) -> bool:
    """Whether the server answered 500 because its parser could not read the model's output (llama.cpp's
    server does, on a cut answer): an invalid answer, re-asked as one, not an endpoint failure."""
    return any(
        isinstance(e, openai.InternalServerError) and _UNREADABLE_OUTPUT.search(str(e)) for e in causes(exc)
    )


def _strict_tools(*args: Any, **kwargs: Any) -> None:
    """Mark the forced tool `"strict": true` (OpenAI structured outputs): the hook sees the request's own
    `tools` list before it is sent. Its schema is already in strict mode's subset (the response model's)."""
    for tool in kwargs.get("tools") or []:
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            tool["function"]["strict"] = True


def as_grammar(extra_body: dict[str, Any]) -> Callable[..., None]:
    """A hook that moves the request's `response_format` schema into `extra_body["grammar"]`; the format
    left is plain text (llama.cpp takes one or the other)."""

    def hook(*args: Any, **kwargs: Any) -> None:
        form = kwargs.get("response_format")
        if isinstance(form, dict) and form.get("type") == "json_schema":
            extra_body["grammar"] = llguidance_grammar(form["json_schema"]["schema"])
            form.clear()
            form["type"] = "text"

    return hook


def _answer_text(completion: Any) -> str | None:
    """The raw answer of a chat completion: the forced tool call's arguments, else the message content."""
    try:
        message = completion.choices[0].message
    except (AttributeError, IndexError, TypeError):
        return None
    calls = getattr(message, "tool_calls", None) or []
    if calls and getattr(calls[0], "function", None) is not None:
        return str(calls[0].function.arguments)
    content = getattr(message, "content", None)
    return content if isinstance(content, str) else None


def _lenient(answer: str, response_model: type[T]) -> T | None:
    """The answer read with raw control characters allowed inside strings, if that is its only fault."""
    try:
        json.loads(answer)
        return None  # strict JSON already: the fault was elsewhere, so this is no rescue
    except ValueError:
        pass
    try:
        return response_model.model_validate(json.loads(answer, strict=False))
    except ValueError:  # still not JSON, or JSON the schema rejects (pydantic's error is a ValueError)
        return None


def _reask(answer: str | None, errors: str, reask: Callable[[str], str]) -> list[dict[str, str]]:
    excerpt = (answer or "(no answer)").strip()
    if len(excerpt) > REASK_CHARS:
        excerpt = excerpt[:REASK_CHARS] + " ... (cut)"
    return [
        {"role": "assistant", "content": excerpt},
        {"role": "user", "content": reask(errors[:REASK_CHARS])},
    ]


# Patching costs about a millisecond, three times an article: once per client and mode is enough, as the
# attempt-counting hooks are passed per call. The first patch of a process also imports instructor's
# provider modules (about 0.6 s): `Connection` does it while the embedded engine loads.
_PATCHED: weakref.WeakKeyDictionary[openai.AsyncOpenAI, dict[instructor.Mode, Any]] = (
    weakref.WeakKeyDictionary()
)


def patched_client(client: openai.AsyncOpenAI, mode: instructor.Mode) -> Any:
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


def endpoint_name(settings: Settings) -> str:
    """The endpoint as errors name it: the URL actually used, without credentials."""
    url = settings.endpoint_url
    return f"the embedded model at {url}" if settings.endpoint == "embedded" else f"the endpoint {url}"


def as_summarizer_error(
    exc: BaseException, settings: Settings, *, attempts: int | None = None
) -> SummarizerError:
    """A one-line error a user can act on, for whatever the openai client or instructor raised."""
    where = endpoint_name(settings)
    for e in causes(exc):
        if isinstance(e, openai.AuthenticationError):
            source = settings.key_source or "SUMMARIZER_API_KEY or --api-key-env"
            return EndpointError(f"{where} rejected the API key (HTTP 401): check {source}")
        if isinstance(e, openai.NotFoundError):
            return EndpointError(f"model {settings.model!r} not found at {where} (HTTP 404): check --model")
        if isinstance(e, openai.PermissionDeniedError):
            return EndpointError(f"{where} refused access to {settings.model!r} (HTTP 403)")
        if isinstance(e, openai.RateLimitError):
            return EndpointError(f"rate limited by {where} (HTTP 429) after retries: try again later")
        if isinstance(e, openai.APIStatusError):
            return EndpointError(f"{where} answered HTTP {e.status_code}: {_first_line(e)}")
        if isinstance(e, openai.APITimeoutError):
            return EndpointError(f"{where} did not answer within {settings.timeout:g} s")
        if isinstance(e, openai.APIConnectionError):
            return EndpointError(f"cannot reach {where}: is the server running? ({_first_line(e)})")
    if isinstance(exc, IncompleteOutputException):
        return ModelOutputError(
            f"the model's answer was cut off at max_tokens ({settings.max_tokens}) after {attempts or 1} "
            "attempts: raise --max-tokens"
        )
    if isinstance(exc, InstructorRetryException):
        failed = exc.failed_attempts or []
        last = failed[-1].exception if failed else exc
        attempts = attempts or exc.n_attempts
        return ModelOutputError(
            f"the model's output still failed validation after {attempts} attempts: " + describe_error(last)
        )
    return ModelOutputError(f"the model call failed: {type(exc).__name__}: {_first_line(exc)}")


def describe_errors(exc: BaseException, limit: int = 5) -> str:
    """Every validation error as 'field: problem', one a line (at most `limit`), for a re-ask."""
    if isinstance(exc, ValidationError) and exc.errors():
        lines = [
            f"- {'.'.join(str(p) for p in e['loc']) or 'output'}: {e['msg']}" for e in exc.errors()[:limit]
        ]
        return "\n".join(lines)
    return "- " + _first_line(exc)


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
