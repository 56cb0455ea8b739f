"""Shared fixtures. The cassette fixtures come from the `summarizer.testing` plugin, as a user gets them."""

from __future__ import annotations

import http.client
import json
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
# The real classes, taken before any cassette can patch them (conftest loads before any test runs).
_HTTP_CLASSES = {"HTTPConnection": http.client.HTTPConnection, "HTTPSConnection": http.client.HTTPSConnection}
SEED = ROOT / "seeds" / "000_576e96b86ee510dd.txt"


def missing(reason: str) -> None:
    """A test's need is not installed: skip it here, but fail under CI=true, where CI installs every need
    (a skipped check reported as passing is how the eval's browser check went unrun)."""
    (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(reason)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI caches responses by default: each test gets an empty cache of its own, never the user's."""
    monkeypatch.setenv("SUMMARIZER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def _no_cassette_patch_outside_cassettes(request: pytest.FixtureRequest) -> None:
    """A test without a cassette talks to real loopback servers through http.client. vcrpy swaps
    http.client's connection classes process-wide, and a reset window that a thread closes after its
    cassette has ended puts vcrpy's class back for good (seen once in CI: the live tokenizer test, long
    after the last cassette, was answered "not in the cassette"). Put the real classes back, and say so."""
    if request.node.get_closest_marker("vcr") is not None:
        return
    leaked = [name for name, cls in _HTTP_CLASSES.items() if getattr(http.client, name) is not cls]
    for name in leaked:
        setattr(http.client, name, _HTTP_CLASSES[name])
    if leaked:
        warnings.warn(f"vcrpy had left http.client.{', '.join(leaked)} patched; restored", stacklevel=1)


@pytest.fixture
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


def tool_call_completion(arguments: str, name: str = "Summary") -> dict[str, Any]:
    """A chat completion whose one tool call carries `arguments`, shaped as OpenAI sends it."""
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": "stub",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_0",
                            "type": "function",
                            "function": {"name": name, "arguments": arguments},
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


class _Server(ThreadingHTTPServer):
    # The pipeline sends up to 16 requests at once: socketserver's default backlog of 5 resets some of
    # their connections on a busy machine (a ReadError in the client, seen in CI).
    request_queue_size = 64


# A fixed JSON answer, or a function of the request's JSON body that returns one.
Body = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


class StubEndpoint:
    """A loopback HTTP server answering every POST with a fixed status and JSON body: for testing how we
    handle an endpoint's errors (401, 404, invalid output), not a model."""

    def __init__(self, status: int, body: Body):
        self.status, self.body, self.requests = status, body, 0
        self.last_request: dict[str, Any] | None = None
        self.bodies: list[dict[str, Any] | None] = []  # every request's JSON body, in order
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    stub.last_request = json.loads(raw)
                except ValueError:  # e.g. a multipart file upload
                    stub.last_request = None
                stub.bodies.append(stub.last_request)
                stub.requests += 1
                answer = stub.body(stub.last_request or {}) if callable(stub.body) else stub.body
                payload = json.dumps(answer).encode()
                self.send_response(stub.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        # A client that gives up (its other requests failed) leaves a broken pipe: not this test's concern.
        self.server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        # Polled every 20 ms: shutdown() waits up to one poll (the default 0.5 s, in every test's teardown).
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture
def stub_endpoint() -> Iterator[Callable[[int, Body], StubEndpoint]]:
    started: list[StubEndpoint] = []

    def start(status: int, body: Body) -> StubEndpoint:
        stub = StubEndpoint(status, body)
        stub.thread.start()
        started.append(stub)
        return stub

    yield start
    for stub in started:
        stub.server.shutdown()
        stub.server.server_close()
