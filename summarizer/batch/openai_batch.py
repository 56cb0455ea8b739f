"""`summarizer batch --openai-batch`: warm the response cache through OpenAI's Batch API.

The Batch API answers within 24 hours at half the price of the ordinary calls. It is used here only as a
cache warmer: the first-round calls of every article (each chunk x task) are planned, the ones already in
the cache dropped, the rest written as Batch API request lines with exactly the body the ordinary path
sends, and every answer that passes the same checks (the schema, and the evidence quotes found in the
text) is stored under the key the ordinary path looks up. The ordinary run that follows finds those in
the cache and makes every other call itself, as usual: the requests that failed or came back invalid (with
its re-asks), the reduce step of long articles, and everything when the batch failed or expired.

The submitted batch's id is saved in a state file beside the output (`state`) as soon as OpenAI accepts
it, so a run interrupted while it waits (hours, possibly) resumes polling that batch instead of paying for
a new one; the file is removed once the batch's answers are collected. `max_cost` refuses to submit a
batch whose upper-bound cost (estimated prompt tokens, every completion at `max_tokens`, Batch API prices)
is above it.

https://platform.openai.com/docs/api-reference/batch
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import openai
from instructor.processing import handle_response_model, process_response
from openai.types import Batch
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from ..core.errors import ConfigError, SummarizerError
from ..core.files import write_atomic
from ..model.budget import estimate_tokens
from ..model.cache import CachedResponse, ResponseCache
from ..model.client import _strict_tools, as_summarizer_error, describe_error
from ..model.pricing import Price, cost
from ..model.settings import Settings
from .signals import run_to_end

if TYPE_CHECKING:  # only their attributes are used: no import cycle should pipeline or batch import this
    from ..pipeline.summarizer import PlannedCall, Summarizer
    from .inputs import BatchInput

ENDPOINT: Final = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
# OpenAI's limits per batch: 50,000 requests and a 200 MB input file. Calls beyond them are left to the
# ordinary path (`deferred`).
MAX_REQUESTS = 50_000
MAX_FILE_BYTES = 190 * 1024 * 1024
CUSTOM_ID_CHARS = 24
MAX_POLL_MISSES = 10  # consecutive failed polls (after the client's own retries) before giving up
# The Batch API's documented price: half of the ordinary calls'.
BATCH_DISCOUNT = 0.5
POLL_SECONDS = 30.0  # a batch takes minutes to hours: no need to ask more often


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
    resumed: bool = False  # the batch was submitted by an earlier, interrupted run
    cost: float | None = None  # of the tokens above, at Batch API prices (None: no price for the model)
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
    if settings.strict_output:  # the hook the ordinary path runs on its request: the tool marked strict
        _strict_tools(**body)
    return prepared, body


def prefill_cache(
    summarizer: Summarizer,
    items: list[BatchInput],
    tasks: Iterable[str] | str | None,
    cache: ResponseCache,
    *,
    notice: Callable[[str], None] = print,
    poll_seconds: float | None = None,
    state: Path | None = None,
    max_cost: float | None = None,
    prices: dict[str, Price] | None = None,
) -> PrefillReport:
    """Plan, submit one batch, wait for it (polling every `poll_seconds`), cache the valid answers.

    A batch that ends failed, expired or cancelled is reported, not raised: what it did answer is still
    cached, the rest runs the ordinary way. Errors of the API calls themselves raise `SummarizerError`.
    With `state`, a batch id saved there by an interrupted run is polled instead of submitting anew."""
    settings = summarizer.settings
    poll_seconds = POLL_SECONDS if poll_seconds is None else poll_seconds
    if settings.endpoint == "embedded":
        raise ConfigError("--openai-batch needs OpenAI's Batch API: set OPENAI_API_KEY")
    report = PrefillReport()
    lines, pending = _plan(summarizer, items, tasks, cache, report)
    saved = _saved_batch(state)
    if saved is None and not pending:
        report.status = "nothing to submit"
        notice(f"summarizer: every one of the {report.planned} planned calls is cached: no batch submitted")
        return report
    if saved is None and max_cost is not None:
        _check_budget(lines, settings, max_cost, prices or {})
    work = _submit_and_collect(summarizer, lines, pending, cache, report, notice, poll_seconds, state, saved)
    run_to_end(summarizer, work)  # Ctrl-C while polling: the batch id is saved; stop cleanly
    if prices is not None:
        spent = cost(settings.model, report.prompt_tokens, report.completion_tokens, prices)
        report.cost = None if spent is None else spent * BATCH_DISCOUNT
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


def _saved_batch(state: Path | None) -> str | None:
    """The id of a batch an interrupted run submitted (and did not collect), if `state` holds one."""
    if state is None or not state.exists():
        return None
    try:
        return str(json.loads(state.read_text(encoding="utf-8"))["batch_id"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{state} should hold the id of a submitted OpenAI batch but cannot be read ({exc}): check the"
            " batch in OpenAI's dashboard, then delete the file to submit a new one"
        ) from exc


def _check_budget(lines: list[str], settings: Settings, max_cost: float, prices: dict[str, Price]) -> None:
    """Refuse a batch that could cost more than `max_cost`: prompt tokens estimated from the request
    lines (an over-count), every completion at the `max_tokens` limit, at Batch API prices."""
    prompt_tokens = sum(estimate_tokens(line) for line in lines)
    completion_tokens = len(lines) * settings.max_tokens
    full = cost(settings.model, prompt_tokens, completion_tokens, prices)
    if full is None:
        raise ConfigError(f"--max-cost needs a price for {settings.model!r}: add it with --prices FILE")
    bound = full * BATCH_DISCOUNT
    if bound > max_cost:
        raise ConfigError(
            f"the OpenAI batch could cost up to ${bound:.4f} ({len(lines)} requests, about {prompt_tokens:,}"
            f" prompt tokens, at most {settings.max_tokens} completion tokens each), above --max-cost"
            f" ${max_cost:.4f}: nothing was submitted; raise --max-cost or give fewer articles"
        )


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
    state: Path | None,
    saved: str | None,
) -> None:
    settings = summarizer.settings
    client = await summarizer._ensure_client()
    try:
        if saved is not None:
            batch = await client.batches.retrieve(saved)
            report.resumed = True
            notice(f"summarizer: resuming OpenAI batch {batch.id}, submitted by an earlier run ({state})")
        else:
            batch = await _submit(client, lines, settings)
            if state is not None:  # at once: an interrupt from here on must not lose a paid-for batch
                record = {"batch_id": batch.id, "model": settings.model, "requests": len(lines)}
                write_atomic(state, json.dumps(record) + "\n", what="the OpenAI batch state file")
            notice(
                f"summarizer: OpenAI batch {batch.id} submitted: {len(lines)} requests, results within 24 h"
            )
    except openai.OpenAIError as exc:
        raise as_summarizer_error(exc, settings) from exc
    report.batch_id = batch.id
    transient = (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError)
    last, misses = "", 0
    try:
        while True:
            if (status_line := _state(batch)) != last:
                notice(f"summarizer: OpenAI batch {batch.id}: {status_line}")
                last = status_line
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
    if state is not None:  # collected: the next run plans afresh (its calls are in the cache now)
        state.unlink(missing_ok=True)


async def _submit(client: openai.AsyncOpenAI, lines: list[str], settings: Settings) -> Batch:
    data = ("\n".join(lines) + "\n").encode("utf-8")
    upload = await client.files.create(
        file=("summarizer-batch.jsonl", data, "application/jsonl"), purpose="batch"
    )
    return await client.batches.create(
        input_file_id=upload.id,
        endpoint=ENDPOINT,
        completion_window="24h",
        metadata={"created_by": "summarizer", "model": settings.model, "requests": str(len(lines))},
    )


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
    if problems := call.review(output):  # what the ordinary path would have asked again about
        fail(f"invalid output: {'; '.join(problems)}")
        return
    cache.put(
        call.cache_key,
        CachedResponse(output.model_dump_json(), 1, prompt_tokens, completion_tokens, time.time()),
    )
    report.filled += 1
