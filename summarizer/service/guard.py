"""Who may call the service, and how much: API keys, the body size, per-key rate and concurrency limits.

Keys are kept as SHA-256 digests only and compared with `hmac.compare_digest` against every stored digest,
so neither the keys nor the time a comparison takes leak through memory dumps or timing.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.errors import ConfigError
from ..core.loopback import is_loopback
from .problems import Problem, problem_response

KEYS_ENV = "SUMMARIZER_SERVER_KEYS"
ANONYMOUS = "anonymous"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def load_keys(keys_file: Path | None = None, env: dict[str, str] | None = None) -> frozenset[str]:
    """The digests of the keys in SUMMARIZER_SERVER_KEYS (comma-separated) and in `keys_file` (one a line,
    `#` comments). The keys themselves are not kept."""
    env = dict(os.environ) if env is None else env
    keys = [k.strip() for k in env.get(KEYS_ENV, "").split(",")]
    if keys_file is not None:
        try:
            lines = keys_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--keys-file {keys_file}: cannot read: {exc}") from None
        keys += [line.strip() for line in lines if not line.lstrip().startswith("#")]
    keys = [k for k in keys if k]
    if short := [k for k in keys if len(k) < 16]:
        raise ConfigError(f"{len(short)} server key(s) shorter than 16 characters: use long random keys")
    return frozenset(digest(k) for k in keys)


def check_exposure(host: str, keys: frozenset[str]) -> None:
    """Refuse to serve beyond this machine without keys: anyone who can reach the port would spend the
    model endpoint's tokens (and its owner's money)."""
    if not keys and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without API keys: anyone on the network could use the model "
            f"endpoint at your cost. Set {KEYS_ENV} or --keys-file, or bind 127.0.0.1"
        )


@dataclass
class Limits:
    max_body: int = 2_000_000
    per_minute: int = 120  # requests that start work (POST), per key
    concurrent: int = 8  # such requests in flight at once, per key


@dataclass
class _Bucket:
    starts: deque[float] = field(default_factory=deque)
    in_flight: int = 0


class Guard:
    """Authenticates a request's bearer key and admits it within the key's limits."""

    def __init__(self, keys: Iterable[str], limits: Limits):
        self.keys = tuple(keys)
        self.limits = limits
        self._buckets: dict[str, _Bucket] = {}

    @property
    def open(self) -> bool:
        """No keys configured: only allowed on loopback (see `check_exposure`)."""
        return not self.keys

    def identify(self, authorization: str | None) -> str:
        """The key's digest (its identity for limits), or raises 401."""
        if self.open:
            return ANONYMOUS
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(
                401,
                "missing API key: send the header 'Authorization: Bearer <key>'",
                kind="unauthorized",
                headers={"WWW-Authenticate": "Bearer"},
            )
        candidate = digest(token.strip())
        # Compare with every key, without stopping at a match: the time taken says nothing.
        found = False
        for known in self.keys:
            found |= hmac.compare_digest(candidate, known)
        if not found:
            raise Problem(
                401,
                "invalid API key",
                kind="unauthorized",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return candidate

    def admit(self, identity: str) -> None:
        """Count one request that starts work; 429 with Retry-After when over a limit. Pair with `release`."""
        bucket = self._buckets.setdefault(identity, _Bucket())
        now = time.monotonic()
        while bucket.starts and bucket.starts[0] <= now - 60:
            bucket.starts.popleft()
        if len(bucket.starts) >= self.limits.per_minute:
            wait = math.ceil(bucket.starts[0] + 60 - now)
            raise Problem(
                429,
                f"rate limit: {self.limits.per_minute} requests a minute per key; retry in {wait} s",
                kind="rate-limited",
                headers={"Retry-After": str(max(wait, 1))},
            )
        if bucket.in_flight >= self.limits.concurrent:
            raise Problem(
                429,
                f"at most {self.limits.concurrent} requests at once per key; retry when one finishes",
                kind="too-many-concurrent",
                headers={"Retry-After": "1"},
            )
        bucket.starts.append(now)
        bucket.in_flight += 1

    def release(self, identity: str) -> None:
        self._buckets[identity].in_flight -= 1


def caller(request: Request) -> str:
    """The route dependency: the caller's identity for limits (the key's digest), or 401."""
    guard: Guard = request.app.state.service.guard
    return guard.identify(request.headers.get("authorization"))


Caller = Annotated[str, Depends(caller)]


class BodyLimit:
    """ASGI middleware: refuse a body over `max_body` bytes with 413, from Content-Length when it is sent,
    else while the body streams in (chunked uploads), before the app holds it all in memory."""

    def __init__(self, app: ASGIApp, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = Problem(413, f"request body over the limit of {self.max_body:,} bytes", kind="too-large")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await problem_response(too_large)(scope, receive, send)
            return
        seen = 0
        started = answered = False

        async def limited_receive() -> Message:
            nonlocal seen, answered
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body and not answered:
                    answered = True
                    if not started:
                        await problem_response(too_large)(scope, receive, send)
                    # The app sees a client that went away and stops reading; what it answers is dropped.
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
