"""BENCHMARK AND FAULT FIXTURE, not a model: a loopback server speaking the OpenAI chat-completions API that
waits a fixed delay per call and answers with a schema-valid tool call for whichever task was asked, its
sentence numbers among those the request's schema allows (`answer_for`).

It measures our own overhead (scheduling, rendering, validation, evidence checks, file writes) with the
model's time held constant, and plays the faults of tests/faults (`Faults`: 500s, 429 storms with
Retry-After, truncated JSON, slow answers), changeable while it runs. An article holding a tag `REF-<word>`
gets answers that carry `answer-for-<word>` (which the article itself does not contain), so a test can check
that every article's result is its own. It binds to 127.0.0.1 only.

    python bench/fake_openai.py --port 8765 --delay 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# Canned answers in the shape the model writes. Each item names the words of bench/article.txt that its
# sentence holds (`CUE`): the answer cites the number of the first numbered sentence of the request that
# holds them, among the numbers the request's schema allows, so citations are valid for any article the
# tests send and point at the right sentence of bench/article.txt. Names are bench/article.txt's.
CUE = "_cue"
ANSWERS: dict[str, dict[str, Any]] = {
    "Summary": {
        "headline": "Kim shows Shoigu his missiles",
        "summary": "Kim Jong Un gave Sergei Shoigu a tour of weapons.",
        "key_points": [
            {"text": "Russia and China sent delegations.", "sentences": [2], CUE: "sent delegations"}
        ],
    },
    "StanceList": {
        "stances": [
            {
                "actor": "Kang Sun Nam",
                "target": "Kremlin",
                "position": "Supports the Kremlin.",
                "polarity": "supports",
                "sentences": [10],
                CUE: "fully supports the Kremlin",
            },
            {
                "actor": "United States",
                "target": "North Korea",
                "position": "Calls the missile tests irresponsible.",
                "polarity": "opposes",
                "sentences": [11],
                CUE: "deeply irresponsible",
            },
        ]
    },
    "EventList": {
        "events": [
            {
                "description": "Photos of the tour were released.",
                "event_type": "OTHER",
                "actors": ["North Korea"],
                "recipients": [],
                "location": None,
                "sentences": [4],
                CUE: "were released by a North Korean media outlet",
            }
        ]
    },
}
# Extractive rails (`--rails extractive`): the model only chooses. The fixture chooses like a reader would
# among what the request offers: a listed candidate whose text holds the cue (else the first offered),
# sentence numbers from the enum; names kept where offered. Nothing is hard-coded text.
EXTRACTIVE: dict[str, dict[str, Any]] = {
    "ExtractiveSummary": {"headline": "70th anniversary", "summary": 3, "key_points": "sent delegations"},
    "ExtractiveStanceList": {
        "stances": [
            {
                "actor": "Kang Sun Nam",
                "target": "Kremlin",
                "polarity": "supports",
                CUE: "supports the Kremlin",
            },
            {"actor": "United States", "target": "North Korea", "polarity": "opposes", CUE: "irresponsible"},
        ]
    },
    "ExtractiveEventList": {
        "events": [
            {
                "event_type": "OTHER",
                "actors": ["North Korea"],
                "recipients": [],
                "location": None,
                CUE: "released",
            }
        ]
    },
}
LISTED = re.compile(r"^\[(\d+[a-z]?)\] (.*)$", re.MULTILINE)
NAME_FIELDS = ("actor", "target", "actors", "recipients", "location")
TAG = re.compile(r"REF-([A-Za-z0-9_]+)")
NUMBERED = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)


def answer_for(name: str, tag: str | None, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The canned answer for tool `name`; with a tag, its free-text fields say whose answer it is. With the
    request `body`, its sentence numbers (and names, where the schema lists them) are ones the request's
    schema allows."""
    answer = copy.deepcopy(ANSWERS[name])
    items = answer.get("key_points") or answer.get("stances") or answer.get("events") or []
    if body is not None:
        allowed = _enums(body)
        sentences = dict((int(n), text) for n, text in NUMBERED.findall(_user_text(body)))
        for item in items:
            # The request's enum, else the numbered lines it shows, else (a request without numbered
            # sentences, as bench_batch's plain loop sends) the canned numbers.
            numbers = allowed.get("sentences") or sorted(sentences) or item["sentences"]
            cued = [n for n in numbers if item[CUE] in sentences.get(n, "")]
            item["sentences"] = [(cued or numbers)[0]]
            for field_name in NAME_FIELDS:
                if field_name in allowed and item.get(field_name):
                    item[field_name] = _pick(item[field_name], allowed[field_name])
            if "when" in allowed:  # an event's date: one the request lists that its cited sentence holds
                cited = sentences.get(item["sentences"][0], "")
                item["when"] = next((d for d in allowed["when"] if d in cited), None)
    for item in items:
        item.pop(CUE, None)
    if tag is not None:
        mark = f" (answer-for-{tag})"
        if name == "Summary":
            answer["summary"] += mark
        elif name == "StanceList":
            answer["stances"][0]["position"] += mark
        elif name == "EventList":
            answer["events"][0]["description"] += mark
    return answer


def extractive_answer(name: str, tag: str | None, body: dict[str, Any]) -> dict[str, Any]:
    """An answer to an extractive request (`EXTRACTIVE`): ids and numbers among the request's enums."""
    allowed = _enums(body)
    listed = dict(LISTED.findall(_user_text(body)))

    def choose(field_name: str, cue: str) -> Any:
        offered = allowed.get(field_name) or []
        return next((i for i in offered if cue in listed.get(str(i), "")), offered[0] if offered else None)

    plan = EXTRACTIVE[name]
    if name == "ExtractiveSummary":
        numbers = allowed.get("summary") or []
        return {
            "headline": choose("headline", plan["headline"]),
            "summary": numbers[: max(2, min(plan["summary"], len(numbers)))],
            "key_points": [choose("key_points", plan["key_points"])],
        }
    key = "stances" if name == "ExtractiveStanceList" else "events"
    field_name = "position" if key == "stances" else "description"
    shapes = _shapes(body, field_name)  # a stance's shape per position (`anyOf`), each with its names
    items = []
    for item in copy.deepcopy(plan[key]):
        cue = item.pop(CUE)
        offered = [i for enums in shapes for i in enums.get(field_name, [])]
        if not offered:
            continue  # nothing offered: the request allows no item
        span = next((i for i in offered if cue in listed.get(str(i), "")), offered[0])
        enums = next(e for e in shapes if span in e.get(field_name, []))
        item[field_name] = span
        for names in NAME_FIELDS:
            if names in enums and item.get(names):
                item[names] = _pick(item[names], enums[names])
        if key == "events" and "when" in allowed:
            item["when"] = None
        items.append(item)
    return {key: items}  # a tag cannot be carried: every field is a span of the article


def _shapes(body: dict[str, Any], field_name: str) -> list[dict[str, list[Any]]]:
    """The enums of each model of the request's schema that holds `field_name`, model by model."""
    schema = _schema(body)
    out = []
    for model in [schema, *schema.get("$defs", {}).values()]:
        props = model.get("properties", {})
        if field_name in props:
            out.append({k: v for k, p in props.items() if (v := _enum(p, schema)) is not None})
    return out


def _pick(value: Any, choices: list[Any]) -> Any:
    """`value` (a name or a list of names) kept where it is one of `choices`, else the first choice."""
    if isinstance(value, list):
        return [v if v in choices else choices[0] for v in value]
    return value if value in choices else choices[0]


def _user_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in body["messages"] if m.get("role") == "user")


def _asked(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The response model's name and JSON schema: the forced tool's, or `response_format`'s."""
    if body.get("tools"):
        function = body["tools"][0]["function"]
        return function["name"], function["parameters"]
    form = body["response_format"]["json_schema"]
    return form["name"], form["schema"]


def _schema(body: dict[str, Any]) -> dict[str, Any]:
    """The request's JSON schema, whichever form carries it."""
    return dict(_asked(body)[1])


def _enums(body: dict[str, Any]) -> dict[str, list[Any]]:
    """The enums the request's schema puts on each field (`sentences`, names, `when`), by field name,
    from whichever model of the schema holds the field."""
    schema = _asked(body)[1]
    models = [schema, *schema.get("$defs", {}).values()]
    found: dict[str, list[Any]] = {}
    for model in models:
        for key, prop in model.get("properties", {}).items():
            values = _enum(prop, schema)
            if values is not None:
                found[key] = values
            elif key == "when":
                found[key] = []
    return found


def _enum(prop: dict[str, Any], schema: dict[str, Any]) -> list[Any] | None:
    if "$ref" in prop:
        prop = schema["$defs"][prop["$ref"].rsplit("/", 1)[-1]]
    if "enum" in prop:
        return [v for v in prop["enum"] if v is not None]
    for inner in [prop.get("items"), *prop.get("anyOf", [])]:
        if isinstance(inner, dict) and (values := _enum(inner, schema)) is not None:
            return values
    return None


@dataclass
class Faults:
    """What the fixture does wrong. A test may change these while it runs."""

    fail_marker: str | None = None  # a request whose messages contain it gets HTTP 500
    rate_limit_marker: str | None = None  # the first such request gets HTTP 429 (Retry-After: 0)
    storm: int = 0  # the next `storm` requests, whatever they are, get HTTP 429 with Retry-After
    retry_after: float = 0.0
    truncate_marker: str | None = None  # ... gets its JSON body cut in the middle
    slow_marker: str | None = None  # ... is answered after `slow_seconds` instead of the delay
    slow_seconds: float = 5.0
    # What happened: requests, 429s sent, and the 200 answers per tag (an article's tasks and re-asks).
    calls: dict[str, int] = field(default_factory=lambda: {"n": 0, "limited": 0})
    answered: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)  # requests being answered, per tag
    peak: Counter[str] = field(default_factory=Counter)  # the most at once, per tag
    limited_at: list[float] = field(default_factory=list)  # when each 429 was sent
    first_after_storm: float | None = None  # when the first request after the storm came


def make_app(
    delay: float,
    *,
    fail_marker: str | None = None,
    rate_limit_marker: str | None = None,
    faults: Faults | None = None,
) -> Starlette:
    """`faults` (or the two markers, for short): see `Faults`."""
    f = faults or Faults(fail_marker=fail_marker, rate_limit_marker=rate_limit_marker)
    calls = f.calls

    def too_many() -> JSONResponse:
        calls["limited"] += 1
        f.limited_at.append(time.monotonic())
        headers = {"retry-after": str(f.retry_after)}
        return JSONResponse(
            {"error": {"message": "rate limited (fixture)"}}, status_code=429, headers=headers
        )

    async def chat(request: Request) -> Response:
        body = await request.json()
        calls["n"] += 1
        text = json.dumps(body["messages"])
        if f.storm > 0:
            f.storm -= 1
            return too_many()
        if f.limited_at and f.first_after_storm is None:
            f.first_after_storm = time.monotonic()
        if f.fail_marker and f.fail_marker in text:
            return JSONResponse({"error": {"message": "internal error (benchmark fixture)"}}, status_code=500)
        if f.rate_limit_marker and f.rate_limit_marker in text and not calls["limited"]:
            return too_many()
        slow = bool(f.slow_marker and f.slow_marker in text)
        found = TAG.search(text)
        tag = found.group(1) if found else None
        f.in_flight[tag or ""] += 1
        f.peak[tag or ""] = max(f.peak[tag or ""], f.in_flight[tag or ""])
        try:
            await asyncio.sleep(f.slow_seconds if slow else delay)
        finally:
            f.in_flight[tag or ""] -= 1
        name = _asked(body)[0]
        answer = extractive_answer(name, tag, body) if name in EXTRACTIVE else answer_for(name, tag, body)
        arguments = json.dumps(answer)
        # As a tool call when one was forced; as the message's content for a `response_format`.
        message: dict[str, Any] = {"role": "assistant", "content": arguments}
        finish = "tool_calls" if body.get("tools") else "stop"
        if body.get("tools"):
            function = {"name": name, "arguments": arguments}
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_0", "type": "function", "function": function}],
            }
        completion = {
            "id": f"chatcmpl-bench-{calls['n']}",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "bench"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish,
                }
            ],
            "usage": {"prompt_tokens": 900, "completion_tokens": 60, "total_tokens": 960},
        }
        if f.truncate_marker and f.truncate_marker in text:
            data = json.dumps(completion).encode()
            return Response(data[: len(data) // 2], media_type="application/json")
        f.answered[tag or ""] += 1
        return JSONResponse(completion)

    async def count(request: Request) -> JSONResponse:
        return JSONResponse(calls | {"answered": dict(f.answered), "peak": dict(f.peak)})

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/calls", count)])


@contextmanager
def in_thread(app: Any, port: int = 0, **config: Any) -> Iterator[int]:
    """Run an ASGI app with uvicorn in a thread on loopback (`port` 0: a free one); yields its port."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.02)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join()


@contextmanager
def serve(port: int, delay: float, **options: Any) -> Iterator[str]:
    """Run the fixture in a thread; yields its base URL."""
    with in_thread(make_app(delay, **options), port, backlog=1024):
        yield f"http://127.0.0.1:{port}/v1"


def start_process(port: int, delay: float) -> subprocess.Popen[bytes]:
    """Start the fixture in a process of its own and wait until it answers (a test may kill it)."""
    import urllib.request

    command = [sys.executable, __file__, "--port", str(port), "--delay", str(delay)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/calls", timeout=1).close()
            break
        except OSError:
            threading.Event().wait(0.1)
    return process


@contextmanager
def serve_process(port: int, delay: float) -> Iterator[str]:
    """Run the fixture in a process of its own, so that it does not share the measured process's CPU
    time and GIL; yields its base URL."""
    process = start_process(port, delay)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    uvicorn.run(make_app(args.delay), host="127.0.0.1", port=args.port, log_level="warning")
