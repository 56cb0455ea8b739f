"""uvicorn as `summarizer serve` runs it: its keep-alive timeout, plus the read timeouts it lacks.

uvicorn closes a kept-alive connection that stays idle (`timeout_keep_alive`), but a new connection that
sends nothing, or a request whose headers or body trickle in, is held for ever: a handful of such sockets
hold the server's connections. `TimedH11Protocol` closes a connection whose request headers are not
complete within `read_timeout` seconds of their first byte (or of the connection), or whose body pauses
for longer than that between two reads. While the app works on a request, nothing is timed here (an
analysis may take minutes): that is `--request-timeout`'s.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol


class TimedH11Protocol(H11Protocol):
    read_timeout: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._read_timer: asyncio.TimerHandle | None = None
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _disarm(self) -> None:
        if getattr(self, "_read_timer", None) is not None:
            assert self._read_timer is not None
            self._read_timer.cancel()
            self._read_timer = None

    def _arm(self) -> None:
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._disarm()  # the body: the time between two reads, renewed by each
        elif state is not h11.IDLE:
            self._disarm()  # the request is in: the app's time now, not the client's
            return
        # The headers: one deadline from the connection or their first byte, not renewed by each byte.
        if self._read_timer is None and not self.transport.is_closing():
            self._read_timer = self.loop.call_later(self.read_timeout, self._timed_out)

    def _timed_out(self) -> None:
        self._read_timer = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.disconnected = True
                self.cycle.message_event.set()
            self.transport.close()


def config(
    app: Any, host: str, port: int, *, read_timeout: float, keep_alive: int, graceful: int
) -> uvicorn.Config:
    protocol = type("TimedH11Protocol", (TimedH11Protocol,), {"read_timeout": read_timeout})
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        access_log=False,  # ours (middleware.RequestContext) has the request id and escapes the path
        log_level="warning",
        timeout_keep_alive=keep_alive,
        # SIGINT/SIGTERM: stop accepting, let requests in flight finish, then cancel what remains.
        timeout_graceful_shutdown=graceful,
        lifespan="on",
    )
