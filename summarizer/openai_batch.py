"""`summarizer batch --openai-batch`: warm the response cache through OpenAI's Batch API.

The Batch API answers within 24 hours at half the price of the ordinary calls. It is used here only as a
cache warmer: the first-round calls of every article (each chunk x task) are planned, the ones already in
the cache dropped, the rest written as Batch API request lines with exactly the body the ordinary path
sends, and every answer that passes the same checks (the schema, and the evidence quotes found in the
text) is stored under the key the ordinary path looks up. The ordinary run that follows finds those in
the cache and makes every other call itself, as usual: the requests that failed or came back invalid (with
its re-asks), the reduce step of long articles, and everything when the batch failed or expired.

https://platform.openai.com/docs/api-reference/batch
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import openai
from instructor.processing import handle_response_model, process_response
from openai.types import Batch
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from .cache import CachedResponse, ResponseCache
from .client import as_summarizer_error, describe_error
from .errors import ConfigError, SummarizerError
from .settings import Settings

if TYPE_CHECKING:  # only their attributes are used: no import cycle should pipeline or batch import this
    from .batch import BatchInput
    from .pipeline import PlannedCall, Summarizer

ENDPOINT: Final = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
# OpenAI's limits per batch: 50,000 requests and a 200 MB input file. Calls beyond them are left to the
# ordinary path (`deferred`).
MAX_REQUESTS = 50_000
MAX_FILE_BYTES = 190 * 1024 * 1024
CUSTOM_ID_CHARS = 24
MAX_POLL_MISSES = 10  # consecutive failed polls (after the client's own retries) before giving up


@dataclass
class PrefillReport:
    planned: int = 0  # first-round calls of every input
    already_cached: int = 0
    duplicates: int = 0  # the same request twice (the same chunk in two inputs): submitted once
    deferred: int = 0  # over the Batch API's limits: left to the ordinary path
    submitted: int = 0
    filled: int = 0  # validated and stored in the cache
    failed: int = 0  # not stored: the ordinary path makes these calls (and re-asks) itself
    prompt_tokens: int = 0  # of every answer that came back, the invalid ones too (they are billed)
    completion_tokens: int = 0
    batch_id: str | None = None
    status: str = "not submitted"  # the batch's final status
    skipped_inputs: list[str] = field(default_factory=list)  # could not be read or planned
    failures: dict[str, str] = field(default_factory=dict)  # custom_id -> why it was not cached

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class _Pending:
    call: PlannedCall
    model: type[BaseModel]  # the response model as instructor prepared it, to parse the answer with


def request_body(call: PlannedCall, settings: Settings) -> tuple[type[BaseModel], dict[str, Any]]:
    """The body the ordinary path (`client.call_model`) sends for `call`, and the prepared response model.

    The step instructor's patched `create` takes: the mode's request handler (tools and tool_choice for
    TOOLS). Its Jinja templating pass does not run: the ordinary path passes no `context=`."""
    mode = settings.instructor_mode
    prepared, body = handle_response_model(
        call.response_model,
        mode=mode,
        model=settings.model,
        messages=call.messages,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
    )
    assert prepared is not None
    return prepared, body


def prefill_cache(
    summarizer: Summarizer,
    items: list[BatchInput],
    tasks: Iterable[str] | str | None,
    cache: ResponseCache,
    *,
    notice: Callable[[str], None] = print,
    poll_seconds: float = 30.0,
) -> PrefillReport:
    """Plan, submit one batch, wait for it (polling every `poll_seconds`), cache the valid answers.

    A batch that ends failed, expired or cancelled is reported, not raised: what it did answer is still
    cached, the rest runs the ordinary way. Errors of the API calls themselves raise `SummarizerError`."""
    if summarizer.settings.endpoint == "embedded":
        raise ConfigError("--openai-batch needs OpenAI's Batch API: set OPENAI_API_KEY")
    report = PrefillReport()
    lines, pending = _plan(summarizer, items, tasks, cache, report)
    if not pending:
        report.status = "nothing to submit"
        notice(f"summarizer: every one of the {report.planned} planned calls is cached: no batch submitted")
        return report
    summarizer.run_sync(_submit_and_collect(summarizer, lines, pending, cache, report, notice, poll_seconds))
    notice(
        f"summarizer: OpenAI batch {report.batch_id} {report.status}: {report.filled} of "
        f"{report.submitted} calls cached, {report.failed} left to the ordinary path"
    )
    return report


def _plan(
    summarizer: Summarizer,
    items: list[BatchInput],
    tasks: Iterable[str] | str | None,
    cache: ResponseCache,
    report: PrefillReport,
) -> tuple[list[str], dict[str, _Pending]]:
    """The request lines and, by custom_id, what each one is for."""
    lines: list[str] = []
    pending: dict[str, _Pending] = {}
    keys: set[str] = set()
    size = 0
    tasks = list(tasks) if tasks is not None and not isinstance(tasks, str) else tasks
    for item in items:
        try:
            calls = summarizer.plan(item.load(), tasks)
        except SummarizerError as exc:  # the ordinary run reports it
            report.skipped_inputs.append(f"{item.id}: {exc}")
            continue
        for call in calls:
            report.planned += 1
            if call.cache_key in keys:
                report.duplicates += 1
                continue
            keys.add(call.cache_key)
            if _cached(cache, call):
                report.already_cached += 1
                continue
            custom_id = call.cache_key[:CUSTOM_ID_CHARS]
            if custom_id in pending:  # two keys alike in their first 96 bits: never in practice
                custom_id = call.cache_key
            try:
                model, body = request_body(call, summarizer.settings)
            except Exception as exc:  # e.g. a Jinja syntax error in the text: the ordinary path fails too
                report.failures[custom_id] = f"{call.prompt}: cannot build the request: {describe_error(exc)}"
                report.failed += 1
                continue
            line = json.dumps(
                {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}, ensure_ascii=False
            )
            if len(pending) >= MAX_REQUESTS or size + len(line.encode("utf-8")) + 1 > MAX_FILE_BYTES:
                report.deferred += 1
                continue
            size += len(line.encode("utf-8")) + 1
            lines.append(line)
            pending[custom_id] = _Pending(call, model)
    report.submitted = len(pending)
    return lines, pending


def _cached(cache: ResponseCache, call: PlannedCall) -> bool:
    """In the cache and valid under today's schema: what the ordinary path counts as a hit."""
    hit = cache.get(call.cache_key)
    if hit is None:
        return False
    try:
        call.response_model.model_validate_json(hit.output_json)
    except ValueError:
        return False
    return True


async def _submit_and_collect(
    summarizer: Summarizer,
    lines: list[str],
    pending: dict[str, _Pending],
    cache: ResponseCache,
    report: PrefillReport,
    notice: Callable[[str], None],
    poll_seconds: float,
) -> None:
    settings = summarizer.settings
    client = await summarizer._ensure_client()
    data = ("\n".join(lines) + "\n").encode("utf-8")
    try:
        upload = await client.files.create(
            file=("summarizer-batch.jsonl", data, "application/jsonl"), purpose="batch"
        )
        batch = await client.batches.create(
            input_file_id=upload.id,
            endpoint=ENDPOINT,
            completion_window="24h",
            metadata={"created_by": "summarizer", "model": settings.model, "requests": str(len(lines))},
        )
    except openai.OpenAIError as exc:
        raise as_summarizer_error(exc, settings) from exc
    report.batch_id = batch.id
    notice(f"summarizer: OpenAI batch {batch.id} submitted: {len(lines)} requests, results within 24 h")
    transient = (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError)
    last, misses = "", 0
    try:
        while True:
            if (state := _state(batch)) != last:
                notice(f"summarizer: OpenAI batch {batch.id}: {state}")
                last = state
            if batch.status in TERMINAL:
                break
            await asyncio.sleep(poll_seconds)
            try:  # hours of polling meet a network blip sooner or later: the batch runs on regardless
                batch, misses = await client.batches.retrieve(batch.id), 0
            except transient as exc:
                if (misses := misses + 1) > MAX_POLL_MISSES:
                    raise
                why = as_summarizer_error(exc, settings)
                notice(f"summarizer: OpenAI batch {batch.id}: polling failed ({why}), retrying")
        # Partial results too: an expired or cancelled batch keeps (and bills) what it finished.
        files = [f for f in (batch.output_file_id, batch.error_file_id) if f]
        texts = [(await client.files.content(f)).text for f in files]
    except openai.OpenAIError as exc:
        error = as_summarizer_error(exc, settings)
        raise type(error)(f"{error} (OpenAI batch {batch.id}, status {batch.status})") from exc
    report.status = batch.status
    for text in texts:
        for line in text.splitlines():
            if line.strip():
                _take(line, pending, cache, report, settings)
    for custom_id, left in pending.items():  # answered by neither file
        report.failures[custom_id] = f"{left.call.prompt}: no result (batch {batch.status})"
        report.failed += 1
    pending.clear()


def _state(batch: Batch) -> str:
    counts = batch.request_counts
    done = f", {counts.completed}/{counts.total} done, {counts.failed} failed" if counts else ""
    errors = "; ".join(e.message or e.code or "" for e in (batch.errors.data or [])) if batch.errors else ""
    return f"{batch.status}{done}" + (f" ({errors})" if errors else "")


def _take(
    line: str, pending: dict[str, _Pending], cache: ResponseCache, report: PrefillReport, settings: Settings
) -> None:
    """One output line: cached when it is a valid answer, else counted as failed."""
    try:
        record = json.loads(line)
        custom_id = str(record["custom_id"])
    except (ValueError, KeyError, TypeError):
        return  # not ours to count: its call, if any, ends up "no result"
    entry = pending.pop(custom_id, None)
    if entry is None:
        return
    call = entry.call

    def fail(reason: str) -> None:
        report.failures[custom_id] = f"{call.prompt}: {reason}"
        report.failed += 1

    response = record.get("response") or {}
    body = response.get("body")
    if error := record.get("error"):  # not executed: expired, cancelled, ...
        fail(f"{error.get('code')}: {error.get('message')}" if isinstance(error, dict) else str(error))
        return
    if response.get("status_code") != 200 or not isinstance(body, dict):
        message = ((body or {}).get("error") or {}).get("message") if isinstance(body, dict) else None
        fail(f"HTTP {response.get('status_code')}: {message or 'no answer'}")
        return
    try:
        completion = ChatCompletion.model_validate(body)
    except ValueError as exc:
        fail(f"not a chat completion: {describe_error(exc)}")
        return
    usage = completion.usage
    prompt_tokens, completion_tokens = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
    report.prompt_tokens += prompt_tokens
    report.completion_tokens += completion_tokens
    try:
        output = process_response(
            completion,
            response_model=entry.model,
            stream=False,
            strict=True,  # as instructor's patched create, which call_model leaves at its default
            mode=settings.instructor_mode,
        )
    except Exception as exc:  # invalid output: pydantic, instructor or JSON errors alike
        fail(f"invalid output: {describe_error(exc)}")
        return
    cache.put(
        call.cache_key,
        CachedResponse(output.model_dump_json(), 1, prompt_tokens, completion_tokens, time.time()),
    )
    report.filled += 1
