"""Dependencies shared by the routers: the memory, the key store and the caller."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engramdb.api.async_memory import AsyncMemory
from engramdb.server.auth import Principal, principal_of
from engramdb.server.keys import KeyStore
from engramdb.server.schemas import ErrorBody

bearer = HTTPBearer(
    auto_error=False, description="an API key (egk_…) or, for /v1/keys, the admin key"
)


def _memory(request: Request) -> AsyncMemory:
    memory: AsyncMemory = request.app.state.memory
    return memory


def _keys(request: Request) -> KeyStore:
    keys: KeyStore = request.app.state.keys
    return keys


def _caller(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> Principal:
    return principal_of(request)


MemoryDep = Annotated[AsyncMemory, Depends(_memory)]
KeysDep = Annotated[KeyStore, Depends(_keys)]
Caller = Annotated[Principal, Depends(_caller)]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing, invalid or revoked key"},
    403: {"model": ErrorBody, "description": "the key may not do this"},
    404: {"model": ErrorBody, "description": "not found (or not the caller's)"},
    413: {"model": ErrorBody, "description": "request body too large"},
    422: {"model": ErrorBody, "description": "invalid input"},
}
