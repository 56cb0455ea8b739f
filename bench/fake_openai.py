"""BENCHMARK FIXTURE, not a model: a loopback server speaking the OpenAI chat-completions API that waits a
fixed delay per call and answers with a fixed, schema-valid tool call for whichever task was asked.

It measures our own overhead (scheduling, rendering, validation, evidence checks, file writes) with the
model's time held constant. It binds to 127.0.0.1 only.

    python bench/fake_openai.py --port 8765 --delay 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# Quotes taken from bench/article.txt, so the evidence check finds them and nothing is re-asked.
ANSWERS: dict[str, dict[str, Any]] = {
    "Summary": {
        "headline": "Kim shows Shoigu his missiles",
        "summary": "Kim Jong Un gave Sergei Shoigu a tour of weapons.",
        "key_points": ["Russia and China sent delegations."],
    },
    "StanceList": {
        "stances": [
            {
                "actor": "Kang Sun Nam",
                "target": "Kremlin",
                "position": "Supports the Kremlin.",
                "polarity": "supports",
                "evidence": "he fully supports the Kremlin",
            }
        ]
    },
    "EventList": {
        "events": [
            {
                "description": "Photos of the tour were released.",
                "event_type": "OTHER",
                "actors": ["North Korean media"],
                "recipients": [],
                "location": None,
                "date_text": "July 26",
                "evidence": "were released by a North Korean media outlet on July 26",
            }
        ]
    },
}


def make_app(
    delay: float, *, fail_marker: str | None = None, rate_limit_marker: str | None = None
) -> Starlette:
    """`fail_marker`: a request whose messages contain it gets HTTP 500. `rate_limit_marker`: the first
    such request gets HTTP 429 with Retry-After: 0, the next ones succeed (for the tests)."""
    calls = {"n": 0, "limited": 0}

    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        calls["n"] += 1
        text = json.dumps(body["messages"])
        if fail_marker and fail_marker in text:
            return JSONResponse({"error": {"message": "internal error (benchmark fixture)"}}, status_code=500)
        if rate_limit_marker and rate_limit_marker in text and not calls["limited"]:
            calls["limited"] += 1
            headers = {"retry-after": "0"}
            return JSONResponse(
                {"error": {"message": "rate limited (fixture)"}}, status_code=429, headers=headers
            )
        await asyncio.sleep(delay)
        name = body["tool_choice"]["function"]["name"]
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(ANSWERS[name])},
                }
            ],
        }
        return JSONResponse(
            {
                "id": f"chatcmpl-bench-{calls['n']}",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "bench"),
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 900, "completion_tokens": 60, "total_tokens": 960},
            }
        )

    async def count(request: Request) -> JSONResponse:
        return JSONResponse(calls)

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/calls", count)])


@contextmanager
def serve(port: int, delay: float, **options: str | None) -> Iterator[str]:
    """Run the fixture in a thread; yields its base URL."""
    app = make_app(delay, **options)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", backlog=1024)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join()


@contextmanager
def serve_process(port: int, delay: float) -> Iterator[str]:
    """Run the fixture in a process of its own, so that it does not share the measured process's CPU
    time and GIL; yields its base URL."""
    import subprocess
    import sys
    import urllib.request

    command = [sys.executable, __file__, "--port", str(port), "--delay", str(delay)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/calls", timeout=1).close()
                break
            except OSError:
                threading.Event().wait(0.1)
        yield base + "/v1"
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
