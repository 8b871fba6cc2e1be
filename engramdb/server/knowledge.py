"""Service operations on what memories add up to: sources, the entity graph, answers,
pinning and expiry, forgetting. Scoped like every other operation (see service.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engramdb.api.async_memory import AsyncMemory
from engramdb.encode.timeparse import parse_timestamp
from engramdb.server.auth import Principal
from engramdb.server.service import memory_view, owner


async def sources(
    memory: AsyncMemory, caller: Principal, memory_id: str, user_id: str | None
) -> list[dict[str, Any]]:
    user = await owner(memory, caller, memory_id, user_id)
    return [memory_view(i, caller) for i in await memory.sources(memory_id, user_id=user)]


async def entities(
    memory: AsyncMemory, caller: Principal, user_id: str | None, limit: int
) -> list[dict[str, Any]]:
    found = await memory.entities(caller.scope(user_id), limit=limit)
    return [e.model_dump() for e in found]


async def relations(
    memory: AsyncMemory,
    caller: Principal,
    user_id: str | None,
    entity: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    found = await memory.relations(caller.scope(user_id), entity=entity, limit=limit)
    return [r.model_dump(mode="json") for r in found]


async def answer(
    memory: AsyncMemory,
    caller: Principal,
    question: str,
    *,
    user_id: str | None,
    limit: int,
    as_of: str | float | None,
) -> dict[str, Any]:
    when = parse_timestamp(as_of, field="as_of") if as_of is not None else None
    result = await memory.answer(question, user_id=caller.scope(user_id), limit=limit, as_of=when)
    return {
        "answer": result.answer,
        "model": result.model,
        "memories": [memory_view(h, caller) for h in result.memories],
    }


async def lifecycle(
    memory: AsyncMemory,
    caller: Principal,
    memory_id: str,
    user_id: str | None,
    *,
    pinned: bool | None,
    importance: float | None,
    expires_at: str | float | None,
    clear_expiry: bool,
) -> dict[str, Any]:
    caller.require_write()
    user = await owner(memory, caller, memory_id, user_id)
    item = await memory.get(memory_id, user_id=user)
    if pinned is not None:
        item = await memory.pin(memory_id, user_id=user, pinned=pinned)
    if importance is not None:
        item = await memory.set_importance(memory_id, importance, user_id=user)
    if expires_at is not None or clear_expiry:
        when: datetime | None = (
            parse_timestamp(expires_at, field="expires_at") if expires_at is not None else None
        )
        item = await memory.expire(memory_id, when, user_id=user)
    return memory_view(item, caller)


async def forget(memory: AsyncMemory, caller: Principal, user_id: str | None) -> dict[str, Any]:
    caller.require_write()
    user = caller.scope(user_id)
    counts = await memory.forget(user_id=user)
    return {"user_id": caller.external(user) or "", "deleted": counts}
