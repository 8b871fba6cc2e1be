"""HTTP/1.1 connections with deadlines and a cap, and the uvicorn configuration that uses them.

uvicorn (0.54, h11) waits without limit for a request's head and body, and for the first
request of a connection: its only timer is the keep-alive one, armed after a response. A
client sending one byte a minute therefore holds a connection (and a file descriptor) as long
as it likes, and a thousand of them hold a thousand. ``GuardedH11Protocol`` adds

* an idle deadline before the first request too (uvicorn's keep-alive timer, armed at once),
* a head deadline: from a request's first byte to the end of its headers,
* a body deadline: from the end of the headers to the end of the body (a total, so a
  client trickling a byte at a time cannot stretch it),
* a cap on open connections: one more is answered 503 and closed at once,

and answers malformed requests (a bad Content-Length) with the service's JSON error body.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from engramdb.server.settings import ServerSettings


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    head_timeout_s: float
    body_timeout_s: float
    max_connections: int


class GuardedH11Protocol(H11Protocol):
    limits: ClassVar[ConnectionLimits] = ConnectionLimits(10.0, 30.0, 1000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503, "unavailable", "too many open connections; retry later")
            return
        # a connection that never sends a byte is idle: give it what a kept-alive one gets
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()  # a pipelined request may be under way already

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this inside its ``except h11.RemoteProtocolError``: name the fault
        error = sys.exc_info()[1]
        detail = str(error) if isinstance(error, h11.RemoteProtocolError) and str(error) else msg
        self._refuse(400, "bad_request", f"invalid HTTP request: {detail}")

    def _watch(self) -> None:
        """Arm the deadline of the phase the client is in; a phase keeps its first deadline."""
        if self.transport.is_closing():
            self._cancel()
            return
        state = self.conn.their_state
        phase = None
        if state is h11.SEND_BODY:
            phase = "body"
        elif state is h11.IDLE and self.conn.trailing_data[0]:
            phase = "head"
        if phase == self._phase:
            return
        self._cancel()
        self._phase = phase
        if phase is not None:
            wait = self.limits.head_timeout_s if phase == "head" else self.limits.body_timeout_s
            self._deadline = self.loop.call_later(wait, self._expired, phase)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._phase = None

    def _expired(self, phase: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if phase == "head":  # nothing of this request reached the app: answer for it
            self._refuse(408, "request_timeout", "the request's headers came too slowly")
        else:  # the app is reading the body: closing tells it the client is gone
            self.transport.close()

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer with the service's JSON error and close (written raw: no request, or a
        broken one, was read, so h11 has no response to send)."""
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()


def guarded_protocol(settings: ServerSettings) -> type[GuardedH11Protocol]:
    """The protocol class for these settings (uvicorn instantiates it per connection)."""
    limits = ConnectionLimits(
        settings.header_timeout_s, settings.body_timeout_s, settings.max_connections
    )
    return type("EngramHTTPProtocol", (GuardedH11Protocol,), {"limits": limits})


def uvicorn_config(app: Any, settings: ServerSettings, **options: Any) -> uvicorn.Config:
    """How ``engram serve`` (and the tests' live server) run the app under uvicorn."""
    fields: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": int(settings.graceful_timeout_s),
        "lifespan": "on",
        "http": guarded_protocol(settings),
        "timeout_keep_alive": settings.idle_timeout_s,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        **options,
    }
    return uvicorn.Config(app, **fields)
