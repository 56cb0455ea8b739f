"""The model connection a `Summarizer` holds across articles: its client and, for the embedded model, the
local server it starts on first use and stops, always (also on Ctrl-C), with a private event loop for the
sync API."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Self, TypeVar

import openai

from ..model.client import make_client, patched_client
from ..model.local import LocalServer, take_early
from ..model.settings import Settings

T = TypeVar("T")
EMBEDDED_NOTICE = (
    "summarizer: using the embedded {model}, a small offline model: expect rough output. "
    "For a capable model set OPENAI_API_KEY, or pass --base-url and --model for another server."
)


class Connection:
    """The client (made on first use), the embedded server if the settings ask for it, the private runner."""

    def __init__(
        self,
        settings: Settings,
        client: openai.AsyncOpenAI | None,
        http_retries: int,
        notice: Callable[[str], None] | None,
    ) -> None:
        self.settings = settings
        self._client = client
        self._http_retries = http_retries
        self._notice = notice or (lambda message: print(message, file=sys.stderr))
        self._server: LocalServer | None = None
        self._start_lock = asyncio.Lock()
        self._runner: asyncio.Runner | None = None
        # The settings calls are made with: for the embedded model, with its loopback URL once started.
        self._used = self.settings

    # --- lifecycle ---------------------------------------------------------------------------------

    async def _ensure_client(self) -> openai.AsyncOpenAI:
        async with self._start_lock:
            if self._client is None:
                settings = self.settings
                if settings.endpoint == "embedded":
                    self._notice(EMBEDDED_NOTICE.format(model=settings.model))
                    starting: asyncio.Future[LocalServer]
                    if (early := take_early()) is not None:  # the CLI started it before its imports
                        self._server, starting = early[0], asyncio.wrap_future(early[1])
                    else:
                        self._server = LocalServer()  # planned as it starts: the slots of engine_slots()
                        # Submitted now, not at the next await: the engine loads while the client is made.
                        starting = asyncio.get_running_loop().run_in_executor(None, self._server.start)
                    settings = settings.with_overrides(base_url=self._server.base_url)
                    try:
                        # The engine loads in its own process meanwhile: a second of the seed's ten.
                        client = self._make_client(settings)
                        await starting
                    except BaseException:  # an interrupt too: the thread's start() returns once stopped
                        self._stop_server()
                        with contextlib.suppress(BaseException):
                            await starting
                        raise
                else:
                    client = self._make_client(settings)
                self._used = settings
                self._client = client
            return self._client

    def _make_client(self, settings: Settings) -> openai.AsyncOpenAI:
        # The embedded engine is on loopback: a failed request is its death, which no retry mends.
        retries = 0 if self._server is not None else self._http_retries
        client = make_client(settings, http_retries=retries)
        patched_client(client, settings.instructor_mode)  # kept by client.py for the calls
        return client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        self._stop_server()

    def _stop_server(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the embedded server, close the client. Work an interrupt left pending is cancelled by the
        runner, never resumed here. The server goes first: closing the runner waits for the thread that
        may still be starting it, and that thread returns as soon as the server is stopped."""
        self._stop_server()
        if self._runner is not None:
            with contextlib.suppress(Exception):
                self._runner.run(self.aclose())
            self._runner.close()
            self._runner = None

    def run_sync(self, work: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on this summarizer's private runner (its client lives on that loop). On Ctrl-C
        the runner cancels the work and lets it unwind before KeyboardInterrupt goes on."""
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(work)

    def _crash(self) -> str | None:
        """How the embedded engine died, if it did: a request to a dead engine fails as a connection
        error, which would hide it."""
        return self._server.crash() if self._server is not None else None
