"""An OpenAI-compatible HTTP server over any ``ChatModel`` (``engram llm serve``): one model
in one process that other processes or machines can share through the same client code
(``OpenAIChatModel``) they would point at Ollama, vLLM or OpenAI.

Only what engramdb needs: ``POST /v1/chat/completions`` (no streaming) and ``GET /v1/models``.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from engramdb.errors import LLMError
from engramdb.llm.base import ChatModel


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    # a string, or OpenAI's list of content parts (only text parts are read)
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    # clients send many more fields (n, top_p, seed, user...): accepted and ignored
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, description="ignored: the served model's own applies")
    response_format: dict[str, Any] | None = None
    stream: bool = False


class _ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def create_app(model: ChatModel, *, api_key: str | None = None) -> FastAPI:
    """The app; with ``api_key`` every request must carry ``Authorization: Bearer KEY``.
    The model is closed when the app shuts down (uvicorn may end the process right after,
    re-raising SIGTERM, so a caller's ``finally`` is not enough)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(model.close)

    app = FastAPI(title="engramdb llm", docs_url=None, redoc_url=None, lifespan=lifespan)
    created = int(time.time())

    @app.middleware("http")
    async def _authorise(request: Request, call_next: Any) -> Any:
        if api_key and not _has_key(request, api_key):
            return _error(401, "missing or wrong API key", "authentication_error")
        return await call_next(request)

    @app.exception_handler(_ApiError)
    async def _api_error(request: Request, exc: _ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.kind)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        return _error(400, f"{where}: {first['msg']}" if where else str(first["msg"]))

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        card = {"id": model.name, "object": "model", "created": created, "owned_by": "engramdb"}
        return {"object": "list", "data": [card]}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest) -> dict[str, Any]:
        if body.stream:
            raise _ApiError(400, "streaming is not supported by this server")
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        schema = _schema(body.response_format)
        max_tokens = body.max_completion_tokens or body.max_tokens
        try:
            text = await run_in_threadpool(
                model.chat, messages, schema=schema, max_tokens=max_tokens
            )
        except LLMError as exc:
            raise _ApiError(500, str(exc), "server_error") from exc
        return _completion(model.name, text)

    return app


def _schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON schema a response_format asks for: json_schema's own, or any object."""
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise _ApiError(400, "response_format.json_schema.schema must be an object")
        return schema
    raise _ApiError(400, "response_format.type must be text, json_object or json_schema")


def _completion(name: str, text: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
    }


def _has_key(request: Request, api_key: str) -> bool:
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        token.strip().encode(), api_key.encode()
    )


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return JSONResponse(body, status_code=status)
