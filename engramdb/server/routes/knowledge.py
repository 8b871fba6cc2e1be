"""/v1 routes over what memories add up to: profile, sources, entities, relations, answer,
pin/importance/expiry of one memory, forgetting."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from engramdb.server import knowledge, service
from engramdb.server.routes.common import ERRORS, Caller, MemoryDep
from engramdb.server.routes.memories import MemoryId, UserQuery
from engramdb.server.schemas import (
    AnswerOut,
    AnswerRequest,
    EntityList,
    ForgetOut,
    ForgetRequest,
    LifecycleRequest,
    MemoryList,
    MemoryOut,
    ProfileOut,
)

router = APIRouter(prefix="/v1", tags=["knowledge"], responses=ERRORS)
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/profile", response_model=ProfileOut, summary="The user's core memory")
async def profile(memory: MemoryDep, caller: Caller, user_id: UserQuery = None) -> dict[str, Any]:
    return await service.profile(memory, caller, user_id)


@router.get(
    "/memories/{memory_id}/sources", response_model=MemoryList, summary="Where a fact came from"
)
async def sources(
    memory_id: MemoryId, memory: MemoryDep, caller: Caller, user_id: UserQuery = None
) -> dict[str, Any]:
    return {"results": await knowledge.sources(memory, caller, memory_id, user_id)}


@router.post(
    "/memories/{memory_id}/lifecycle",
    response_model=MemoryOut,
    summary="Pin, weigh or set the expiry of a memory",
)
async def lifecycle(
    memory_id: MemoryId,
    body: LifecycleRequest,
    memory: MemoryDep,
    caller: Caller,
    user_id: UserQuery = None,
) -> dict[str, Any]:
    return await knowledge.lifecycle(
        memory,
        caller,
        memory_id,
        user_id,
        pinned=body.pinned,
        importance=body.importance,
        expires_at=body.expires_at,
        clear_expiry=body.clear_expiry,
    )


@router.get("/entities", response_model=EntityList, summary="Entities the memories mention")
async def entities(
    memory: MemoryDep, caller: Caller, user_id: UserQuery = None, limit: Limit = 100
) -> dict[str, Any]:
    return {"results": await knowledge.entities(memory, caller, user_id, limit)}


@router.get("/relations", response_model=EntityList, summary="Facts linking two entities")
async def relations(
    memory: MemoryDep,
    caller: Caller,
    user_id: UserQuery = None,
    entity: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    return {"results": await knowledge.relations(memory, caller, user_id, entity, limit)}


@router.post("/answer", response_model=AnswerOut, summary="Answer from memory with the LLM")
async def answer(body: AnswerRequest, memory: MemoryDep, caller: Caller) -> dict[str, Any]:
    return await knowledge.answer(
        memory, caller, body.question, user_id=body.user_id, limit=body.limit, as_of=body.as_of
    )


@router.post("/forget", response_model=ForgetOut, summary="Delete expired and decayed memories")
async def forget(body: ForgetRequest, memory: MemoryDep, caller: Caller) -> dict[str, Any]:
    return await knowledge.forget(memory, caller, body.user_id)
