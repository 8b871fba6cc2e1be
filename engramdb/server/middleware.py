"""ASGI middleware: access log, request body limit, bearer authentication of /v1 and /mcp."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engramdb.errors import EngramError
from engramdb.server.auth import PRINCIPAL_SCOPE_KEY, Authenticator, Principal
from engramdb.server.errors import ApiError, error_response

access_log = logging.getLogger("engramdb.access")


class AccessLog:
    """One structured log line per request: method, path, status, duration, caller."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            caller = scope.get(PRINCIPAL_SCOPE_KEY)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                    "caller": caller.label if isinstance(caller, Principal) else None,
                },
            )


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes (by Content-Length, or while streaming)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and not declared.isdigit():  # h11 refuses most of these first
            response = error_response(400, "bad_request", "Content-Length must be a byte count")
            await response(scope, receive, send)
            return
        if declared is not None and int(declared) > self.limit:
            exc = BodyTooLarge(self.limit)
            response = error_response(413, "payload_too_large", str(exc.detail))
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)


class BearerAuth:
    """Authenticate every request under the given path prefixes before it reaches a route."""

    def __init__(self, app: ASGIApp, auth: Authenticator, prefixes: Sequence[str]) -> None:
        self.app = app
        self.auth = auth
        self.prefixes = tuple(prefixes)

    def _guarded(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            principal = self.auth.authenticate(Headers(scope=scope).get("authorization"))
        except ApiError as exc:
            answer = error_response(exc.status, exc.code, exc.message, path=scope["path"])
            await answer(scope, receive, send)
            return
        except EngramError as exc:
            await error_response(503, exc.code, str(exc), path=scope["path"])(scope, receive, send)
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        await self.app(scope, receive, send)
