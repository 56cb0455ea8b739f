"""ASGI middleware around every request:

- `RequestContext`: a request id (returned as `X-Request-Id`, and in every problem document), one access-log
  line per request with the path escaped, and a problem+json 500 for any exception a route lets out, with
  its traceback logged under that id. The exception stops here: uvicorn would otherwise drop the kept-alive
  connection, and a pooled client's next request would fail with a reset.
- `Gate`: what is refused before a body is read: a wrong Host or Origin in keyless mode (DNS rebinding and
  cross-site requests from any web page), a missing or wrong key, a POST body that is not JSON/NDJSON.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import urllib.parse
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .guard import Guard, is_loopback
from .problems import Problem, problem_response, request_id

access_log = logging.getLogger("summarizer.access")
log = logging.getLogger("summarizer.service")

# Printable ASCII a path may keep as it is; everything else (controls, spaces, non-ASCII) is %-escaped, so
# a path can neither start a forged log line nor send escape sequences to a terminal.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def escaped_path(path: str) -> str:
    return urllib.parse.quote(path, safe=_PATH_SAFE, errors="backslashreplace")


class RequestContext:
    """Outermost: sees every answer, the 500s this class writes included."""

    def __init__(self, app: ASGIApp, observe: Callable[[str, int, float], None] | None = None):
        self.app, self.observe = app, observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = secrets.token_hex(6)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def recording_send(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())],
                }
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        except asyncio.CancelledError:
            status = 499  # the client went away, or the server is shutting down
            raise
        except Exception:
            log.exception(
                "request %s: unexpected error in %s %s", rid, scope["method"], escaped_path(scope["path"])
            )
            if not response_started:
                problem = Problem(
                    500, f"internal error: quote request id {rid} to the operator", kind="internal"
                )
                await problem_response(problem)(scope, receive, recording_send)
        finally:
            seconds = time.perf_counter() - started
            access_log.info(
                "%s %s %d %.0fms %s",
                scope["method"],
                escaped_path(scope["path"]),
                status,
                seconds * 1000,
                rid,
            )
            if self.observe is not None:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                self.observe(route, status, seconds)
            request_id.reset(token)


# Routes that need a key when keys are set (the rest: probes, the page, the docs).
def _guarded(path: str) -> bool:
    return path.startswith("/v1/") or path == "/metrics"


_MEDIA = {
    "/v1/analyses": ("application/json",),
    "/v1/batches": ("application/x-ndjson", "application/jsonl", "application/json"),
}


class Gate:
    def __init__(self, app: ASGIApp, guard: Guard, cors_origins: tuple[str, ...] = ()):
        self.app, self.guard, self.cors_origins = app, guard, cors_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self.check(scope)
        except Problem as problem:
            await problem_response(problem)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def check(self, scope: Scope) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path, method = scope["path"], scope["method"]
        if self.guard.open:
            # No key protects a keyless (loopback) server: a page on any site the user visits could call
            # it, directly or by rebinding its own name to 127.0.0.1. Only this machine's names may.
            host = urllib.parse.urlsplit("//" + headers.get("host", "")).hostname or ""
            if not is_loopback(host):
                raise Problem(
                    421,
                    f"this keyless server answers only to a loopback Host, not {host!r}",
                    kind="wrong-host",
                )
            origin = headers.get("origin")
            if origin is not None and origin not in self.cors_origins:
                origin_host = urllib.parse.urlsplit(origin).hostname or ""
                if not is_loopback(origin_host):
                    raise Problem(
                        403, "cross-site requests are refused by a keyless server", kind="forbidden"
                    )
        if _guarded(path) and method != "OPTIONS":
            self.guard.identify(headers.get("authorization"))  # 401 before the body is read
        if method == "POST" and path in _MEDIA:
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if media not in _MEDIA[path]:
                accepted = " or ".join(_MEDIA[path])
                raise Problem(
                    415,
                    f"send the {'article as JSON' if path == '/v1/analyses' else 'articles as JSON lines'}"
                    f" (Content-Type: {accepted}); got {media or 'no Content-Type'}",
                    kind="unsupported-media-type",
                )
