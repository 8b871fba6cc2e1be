"""Every error is a JSON body ``{"error": {"code", "message"}}`` with a stable code; bad input is
always a 4xx, and no traceback ever reaches the client (it goes to the log)."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from engramdb.errors import (
    ConfigError,
    EngramError,
    InvalidInputError,
    LLMError,
    NotFoundError,
    StoreError,
)

log = logging.getLogger("engramdb.server")
# pydantic names the branch of a union in the location ("constrained-str",
# "list[function-after[...]]"): words of its internals, not of the request
_TYPE_TAG = re.compile(r"^(constrained-\w+|[\w-]+\[.*\])$")

# status for each engine error class (the code is the class's ``.code``)
ENGINE_STATUS: dict[type[EngramError], int] = {
    InvalidInputError: 422,
    NotFoundError: 404,
    ConfigError: 422,
    StoreError: 503,
    LLMError: 502,  # the configured model failed or answered nonsense: an upstream fault
}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    502: "bad_gateway",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the service answers with directly (auth, rights, limits)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def unauthorized(message: str = "a valid API key is required") -> ApiError:
    return ApiError(401, "unauthorized", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def mem0_path(path: str) -> bool:
    """Whether a path is one of the mem0 client's (they end with '/', engramdb's own never do)."""
    return path.endswith("/") and path.startswith(("/v1/", "/v3/"))


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    *,
    path: str = "",
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    # mem0's MemoryClient takes an error's message from a top-level "detail" (its platform's
    # shape): on its paths the message is there too, so its exceptions say what went wrong
    extra = {"detail": message} if mem0_path(path) else {}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if status == 500:
        # Starlette re-raises the error after this answer and uvicorn then drops the
        # connection: say so, or a client reusing it sends its next request into a closed socket
        headers["Connection"] = "close"
    return JSONResponse({"error": body, **extra}, status_code=status, headers=headers)


def engine_status(exc: EngramError) -> int:
    for cls in type(exc).__mro__:
        if cls in ENGINE_STATUS:
            return ENGINE_STATUS[cls]
    return 422


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, path=request.url.path)


async def _engine_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EngramError)
    status = engine_status(exc)
    if status >= 500:
        log.error("store error on %s %s: %s", request.method, request.url.path, exc)
    return error_response(status, exc.code, str(exc), path=request.url.path)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {
            "loc": [str(p) for p in err.get("loc", ()) if not _TYPE_TAG.match(str(p))],
            "message": str(err.get("msg", "")).removeprefix("Value error, "),
        }
        for err in exc.errors()[:20]
    ]
    # the deepest is the most specific: for a union ("messages": a string or a list) it is
    # the branch the body took, not "input should be a valid string"
    first = max(details, key=lambda d: len(d["loc"])) if details else {"loc": [], "message": ""}
    where = ".".join(first["loc"])
    message = f"{where}: {first['message']}"
    return error_response(422, "invalid_input", message, details, path=request.url.path)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, path=request.url.path)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "the server failed to answer; see its log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(EngramError, _engine_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
