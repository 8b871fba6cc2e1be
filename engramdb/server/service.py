"""The operations behind the REST routes and the MCP tools: scope a call to the caller's tenant
(and user), run it on ``AsyncMemory`` with the internal user_id (so the store query itself is
scoped), and map user ids back in what is returned."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from engramdb.api.async_memory import AsyncMemory
from engramdb.encode.timeparse import parse_timestamp
from engramdb.errors import NotFoundError
from engramdb.models import HistoryEntry, Hit, Kind, MemoryItem
from engramdb.server.auth import Principal

PROFILE_SIZE = 20


def memory_view(item: MemoryItem, caller: Principal) -> dict[str, Any]:
    """A memory as the caller sees it: its user_id in the caller's namespace."""
    name = caller.external(item.user_id)
    if name is None:  # cannot happen for scoped queries; never leak another tenant's row
        raise NotFoundError(f"no memory with id {item.id!r}")
    data = item.model_dump(mode="json", exclude={"content_hash"})
    data["user_id"] = name
    if not isinstance(item, Hit):
        data["score"] = None
        data["signals"] = None
    return data


async def owner(memory: AsyncMemory, caller: Principal, memory_id: str, user_id: str | None) -> str:
    """The internal user_id to scope a by-id operation with. A key bound to a user, or a
    request naming its user, gives it directly; otherwise the memory's owner is looked up and
    must belong to the caller's tenant (404 otherwise, never revealing that it exists). Only
    a scoped operation accepts a prefix of an id: the owner is looked up by the full id, so a
    prefix never reaches beyond the caller's own user."""
    caller.tenant_key()
    if caller.user_id is not None or user_id is not None:
        return caller.scope(user_id)
    item = await memory.get(memory_id, exact=True)
    if caller.external(item.user_id) is None:
        raise NotFoundError(f"no memory with id {memory_id!r}")
    return item.user_id


async def add(
    memory: AsyncMemory,
    caller: Principal,
    messages: str | Sequence[dict[str, Any]],
    *,
    user_id: str | None,
    session_id: str | None = None,
    agent_id: str | None = None,
    timestamp: str | float | None = None,
    metadata: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    caller.require_write()
    user = caller.scope(user_id)
    items = await memory.add(
        messages,
        user_id=user,
        session_id=session_id,
        agent_id=agent_id,
        timestamp=timestamp,
        metadata=metadata,
    )
    return [memory_view(i, caller) for i in items]


async def ingest(
    memory: AsyncMemory,
    caller: Principal,
    messages: str | Sequence[dict[str, Any]],
    *,
    user_id: str | None,
    session_id: str | None = None,
    agent_id: str | None = None,
    timestamp: str | float | None = None,
    metadata: dict[str, Any] | None = None,
    wait: bool = False,
) -> dict[str, Any]:
    """``add``; with ``wait``, the facts it produced and consolidation's decisions."""
    caller.require_write()
    result = await memory.ingest(
        messages,
        user_id=caller.scope(user_id),
        session_id=session_id,
        agent_id=agent_id,
        timestamp=timestamp,
        metadata=metadata,
        wait=wait,
    )
    return {
        "results": [memory_view(i, caller) for i in result.episodes],
        "facts": [memory_view(i, caller) for i in result.facts],
        "decisions": [d.model_dump() for d in result.decisions],
        "pending": result.pending,
    }


async def search(
    memory: AsyncMemory,
    caller: Principal,
    query: str,
    *,
    user_id: str | None,
    limit: int,
    as_of: str | float | None = None,
    kinds: Sequence[Kind] | None = None,
    include_flagged: bool = False,
) -> list[dict[str, Any]]:
    user = caller.scope(user_id)
    when = parse_timestamp(as_of, field="as_of") if as_of is not None else None
    hits = await memory.search(
        query, user_id=user, limit=limit, as_of=when, kinds=kinds, include_flagged=include_flagged
    )
    return [memory_view(h, caller) for h in hits]


async def list_page(
    memory: AsyncMemory,
    caller: Principal,
    *,
    user_id: str | None,
    limit: int = 100,
    cursor: str | None = None,
    kind: Kind | None = None,
    order: Literal["asc", "desc"] = "desc",
) -> tuple[list[dict[str, Any]], str | None]:
    user = caller.scope(user_id)
    items, next_cursor = await memory.list_page(
        user_id=user, kind=kind, limit=limit, cursor=cursor, order=order
    )
    return [memory_view(i, caller) for i in items], next_cursor


async def get(
    memory: AsyncMemory, caller: Principal, memory_id: str, user_id: str | None
) -> dict[str, Any]:
    user = await owner(memory, caller, memory_id, user_id)
    return memory_view(await memory.get(memory_id, user_id=user), caller)


async def update(
    memory: AsyncMemory,
    caller: Principal,
    memory_id: str,
    text: str,
    *,
    user_id: str | None,
    reason: str | None = None,
) -> dict[str, Any]:
    caller.require_write()
    user = await owner(memory, caller, memory_id, user_id)
    item = await memory.update(memory_id, text, user_id=user, reason=reason)
    return memory_view(item, caller)


async def feedback(
    memory: AsyncMemory,
    caller: Principal,
    memory_id: str,
    verdict: Literal["wrong"],
    *,
    user_id: str | None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Mark a memory wrong: quarantined, and a lesson kept for its user (docs/guard.md)."""
    caller.require_write()
    user = await owner(memory, caller, memory_id, user_id)
    item = await memory.feedback(memory_id, verdict, user_id=user, reason=reason)
    return memory_view(item, caller)


async def delete(
    memory: AsyncMemory, caller: Principal, memory_id: str, user_id: str | None
) -> str:
    """Delete one memory; returns its full id (``memory_id`` may be a prefix of it)."""
    caller.require_write()
    user = await owner(memory, caller, memory_id, user_id)
    full = await memory.resolve_id(memory_id, user_id=user)
    await memory.delete(full, user_id=user)
    return full


async def delete_all(memory: AsyncMemory, caller: Principal, user_id: str | None) -> dict[str, int]:
    caller.require_write()
    return await memory.delete_all(user_id=caller.scope(user_id))


async def history(
    memory: AsyncMemory, caller: Principal, memory_id: str, user_id: str | None
) -> list[HistoryEntry]:
    user = await owner(memory, caller, memory_id, user_id)
    return await memory.history(memory_id, user_id=user)


async def users(memory: AsyncMemory, caller: Principal) -> list[str]:
    """The caller's tenant's users (a bound key sees only its own user, if it has memories)."""
    caller.tenant_key()
    every = await memory.users()
    return sorted(name for name in map(caller.external, every) if name is not None)


async def profile(memory: AsyncMemory, caller: Principal, user_id: str | None) -> dict[str, Any]:
    """The user's core memory: the most important facts true now, as items and as text."""
    result = await memory.profile(caller.scope(user_id), limit=PROFILE_SIZE)
    return {
        "user_id": caller.external(result.user_id),
        "facts": [memory_view(f, caller) for f in result.facts],
        "text": result.text,
        "generated_at": datetime.now(UTC).isoformat(),
    }
