"""/v1 memory routes, shaped like mem0's server: add, search, list, get, update, delete,
delete all of a user, history, and the tenant's users."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from engramdb.server import service
from engramdb.server.routes.common import ERRORS, Caller, MemoryDep
from engramdb.server.schemas import (
    AddRequest,
    AddResults,
    Deleted,
    DeletedAll,
    FeedbackRequest,
    HistoryList,
    MemoryList,
    MemoryOut,
    SearchRequest,
    SearchResults,
    UpdateRequest,
    UserList,
)
from engramdb.server.tenancy import MAX_USER_CHARS

router = APIRouter(prefix="/v1", tags=["memories"], responses=ERRORS)

MemoryId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        description="a memory id, or (with user_id, or a key bound to a user) a unique prefix"
        " of 8 or more characters of it",
    ),
]
UserQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_USER_CHARS,
        description="whose memories (optional for keys bound to a user)",
    ),
]


@router.post("/memories", response_model=AddResults, summary="Remember messages")
async def add_memories(body: AddRequest, memory: MemoryDep, caller: Caller) -> dict[str, Any]:
    messages: Any = (
        body.messages
        if isinstance(body.messages, str)
        else [m.model_dump(exclude_none=True) for m in body.messages]
    )
    return await service.ingest(
        memory,
        caller,
        messages,
        user_id=body.user_id,
        session_id=body.session_id,
        agent_id=body.agent_id,
        timestamp=body.timestamp,
        metadata=body.metadata,
        wait=body.wait,
    )


@router.post("/search", response_model=SearchResults, summary="Search a user's memories")
async def search(body: SearchRequest, memory: MemoryDep, caller: Caller) -> dict[str, Any]:
    results = await service.search(
        memory,
        caller,
        body.query,
        user_id=body.user_id,
        limit=body.limit,
        as_of=body.as_of,
        kinds=body.kinds,
        include_flagged=body.include_flagged,
    )
    return {"results": results}


@router.get("/memories", response_model=MemoryList, summary="List a user's memories")
async def list_memories(
    memory: MemoryDep,
    caller: Caller,
    user_id: UserQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=64, description="`next` of a page")] = None,
    kind: Literal["episode", "fact", "summary"] | None = None,
    order: Literal["asc", "desc"] = "desc",
) -> dict[str, Any]:
    results, cursor = await service.list_page(
        memory, caller, user_id=user_id, limit=limit, cursor=cursor, kind=kind, order=order
    )
    return {"results": results, "next": cursor}


@router.delete("/memories", response_model=DeletedAll, summary="Delete everything of a user")
async def delete_all(memory: MemoryDep, caller: Caller, user_id: UserQuery = None) -> DeletedAll:
    counts = await service.delete_all(memory, caller, user_id)
    return DeletedAll(user_id=caller.user_id or user_id or "", deleted=counts)


@router.get("/memories/{memory_id}", response_model=MemoryOut, summary="One memory")
async def get_memory(
    memory_id: MemoryId, memory: MemoryDep, caller: Caller, user_id: UserQuery = None
) -> dict[str, Any]:
    return await service.get(memory, caller, memory_id, user_id)


@router.put("/memories/{memory_id}", response_model=MemoryOut, summary="Change a memory's text")
async def update_memory(
    memory_id: MemoryId,
    body: UpdateRequest,
    memory: MemoryDep,
    caller: Caller,
    user_id: UserQuery = None,
) -> dict[str, Any]:
    return await service.update(
        memory, caller, memory_id, body.text, user_id=user_id, reason=body.reason
    )


@router.post(
    "/memories/{memory_id}/feedback",
    response_model=MemoryOut,
    summary="Say a memory is wrong (quarantined; a lesson is kept)",
)
async def memory_feedback(
    memory_id: MemoryId,
    body: FeedbackRequest,
    memory: MemoryDep,
    caller: Caller,
    user_id: UserQuery = None,
) -> dict[str, Any]:
    return await service.feedback(
        memory, caller, memory_id, body.verdict, user_id=user_id, reason=body.reason
    )


@router.delete("/memories/{memory_id}", response_model=Deleted, summary="Delete one memory")
async def delete_memory(
    memory_id: MemoryId, memory: MemoryDep, caller: Caller, user_id: UserQuery = None
) -> Deleted:
    return Deleted(id=await service.delete(memory, caller, memory_id, user_id))


@router.get("/memories/{memory_id}/history", response_model=HistoryList, summary="Every version")
async def memory_history(
    memory_id: MemoryId, memory: MemoryDep, caller: Caller, user_id: UserQuery = None
) -> dict[str, Any]:
    entries = await service.history(memory, caller, memory_id, user_id)
    return {"results": [e.model_dump(mode="json") for e in entries]}


@router.get("/users", response_model=UserList, summary="The tenant's users")
async def users(memory: MemoryDep, caller: Caller) -> dict[str, Any]:
    return {"results": await service.users(memory, caller)}
