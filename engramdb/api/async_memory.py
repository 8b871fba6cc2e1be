"""``AsyncMemory``: the same operations as ``Memory``, awaitable. Each call runs the one sync
implementation in a worker thread (SQLite and ONNX Runtime release the GIL while they work)."""

from __future__ import annotations

import asyncio
import builtins
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, ParamSpec, TypeVar

from engramdb.api.memory import Memory
from engramdb.config import EngramConfig
from engramdb.llm.base import ChatModel
from engramdb.models import (
    AddResult,
    Answer,
    Entity,
    HistoryEntry,
    Hit,
    Kind,
    MemoryItem,
    Profile,
    Relation,
)
from engramdb.retrieve.config import SearchConfig

P = ParamSpec("P")
T = TypeVar("T")


class AsyncMemory:
    def __init__(
        self,
        path: str | Path | None = None,
        *,
        config: EngramConfig | None = None,
        workers: int = 4,
        **options: Any,
    ) -> None:
        self.memory = Memory(path, config=config, **options)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="engramdb")
        self._closed = False

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def add(
        self,
        messages: Sequence[dict[str, Any]] | dict[str, Any] | str,
        *,
        user_id: str,
        session_id: str | None = None,
        timestamp: str | datetime | float | None = None,
        metadata: dict[str, Any] | None = None,
        agent_id: str | None = None,
        wait: bool = False,
    ) -> list[MemoryItem]:
        return await self._run(
            self.memory.add,
            messages,
            user_id=user_id,
            session_id=session_id,
            timestamp=timestamp,
            metadata=metadata,
            agent_id=agent_id,
            wait=wait,
        )

    async def search(
        self,
        query: str,
        *,
        user_id: str,
        limit: int = 10,
        preset: str | SearchConfig | None = None,
        options: dict[str, Any] | None = None,
        now: str | datetime | None = None,
        as_of: str | datetime | None = None,
        kinds: Sequence[Kind] | None = None,
        include_flagged: bool = False,
    ) -> list[Hit]:
        return await self._run(
            self.memory.search,
            query,
            user_id=user_id,
            limit=limit,
            preset=preset,
            options=options,
            now=now,
            as_of=as_of,
            kinds=kinds,
            include_flagged=include_flagged,
        )

    async def feedback(
        self,
        memory_id: str,
        verdict: Literal["wrong"] = "wrong",
        *,
        user_id: str | None = None,
        reason: str | None = None,
    ) -> MemoryItem:
        return await self._run(
            self.memory.feedback, memory_id, verdict, user_id=user_id, reason=reason
        )

    async def ingest(
        self,
        messages: Sequence[dict[str, Any]] | dict[str, Any] | str,
        *,
        user_id: str,
        session_id: str | None = None,
        timestamp: str | datetime | float | None = None,
        metadata: dict[str, Any] | None = None,
        agent_id: str | None = None,
        ttl: float | timedelta | None = None,
        wait: bool = False,
    ) -> AddResult:
        return await self._run(
            self.memory.ingest,
            messages,
            user_id=user_id,
            session_id=session_id,
            timestamp=timestamp,
            metadata=metadata,
            agent_id=agent_id,
            ttl=ttl,
            wait=wait,
        )

    async def flush(self, *, timeout: float | None = None) -> int:
        return await self._run(self.memory.flush, timeout=timeout)

    async def pending(self) -> dict[str, int]:
        return await self._run(self.memory.pending)

    async def stats(self) -> dict[str, Any]:
        return await self._run(self.memory.stats)

    async def profile(
        self, user_id: str, *, limit: int = 20, now: str | datetime | None = None
    ) -> Profile:
        return await self._run(self.memory.profile, user_id, limit=limit, now=now)

    async def sources(
        self, memory_id: str, *, user_id: str | None = None
    ) -> builtins.list[MemoryItem]:
        return await self._run(self.memory.sources, memory_id, user_id=user_id)

    async def related(
        self, memory_id: str, *, user_id: str | None = None
    ) -> builtins.list[MemoryItem]:
        return await self._run(self.memory.related, memory_id, user_id=user_id)

    async def entities(self, user_id: str, *, limit: int = 100) -> builtins.list[Entity]:
        return await self._run(self.memory.entities, user_id, limit=limit)

    async def relations(
        self, user_id: str, *, entity: str | None = None, limit: int = 100
    ) -> builtins.list[Relation]:
        return await self._run(self.memory.relations, user_id, entity=entity, limit=limit)

    async def answer(
        self,
        question: str,
        *,
        user_id: str,
        limit: int = 10,
        as_of: str | datetime | None = None,
    ) -> Answer:
        return await self._run(
            self.memory.answer, question, user_id=user_id, limit=limit, as_of=as_of
        )

    async def pin(
        self, memory_id: str, *, user_id: str | None = None, pinned: bool = True
    ) -> MemoryItem:
        return await self._run(self.memory.pin, memory_id, user_id=user_id, pinned=pinned)

    async def set_importance(
        self, memory_id: str, importance: float, *, user_id: str | None = None
    ) -> MemoryItem:
        return await self._run(self.memory.set_importance, memory_id, importance, user_id=user_id)

    async def expire(
        self, memory_id: str, at: str | datetime | float | None, *, user_id: str | None = None
    ) -> MemoryItem:
        return await self._run(self.memory.expire, memory_id, at, user_id=user_id)

    async def forget(
        self, *, user_id: str | None = None, now: str | datetime | None = None
    ) -> dict[str, int]:
        return await self._run(self.memory.forget, user_id=user_id, now=now)

    async def llm(self) -> ChatModel:
        """The configured chat model (shared with the wrapped ``Memory``; a local model is
        loaded on first use, in a worker thread)."""
        return await self._run(self.memory.llm)

    async def get(
        self, memory_id: str, *, user_id: str | None = None, exact: bool = False
    ) -> MemoryItem:
        return await self._run(self.memory.get, memory_id, user_id=user_id, exact=exact)

    async def resolve_id(self, memory_id: str, *, user_id: str | None = None) -> str:
        return await self._run(self.memory.resolve_id, memory_id, user_id=user_id)

    async def list(
        self,
        *,
        user_id: str,
        kind: Kind | None = None,
        limit: int = 100,
        cursor: str | None = None,
        order: Literal["asc", "desc"] = "desc",
    ) -> builtins.list[MemoryItem]:
        return await self._run(
            self.memory.list, user_id=user_id, kind=kind, limit=limit, cursor=cursor, order=order
        )

    async def list_page(
        self,
        *,
        user_id: str,
        kind: Kind | None = None,
        limit: int = 100,
        cursor: str | None = None,
        order: Literal["asc", "desc"] = "desc",
    ) -> tuple[builtins.list[MemoryItem], str | None]:
        return await self._run(
            self.memory.list_page,
            user_id=user_id,
            kind=kind,
            limit=limit,
            cursor=cursor,
            order=order,
        )

    async def update(
        self, memory_id: str, text: str, *, user_id: str | None = None, reason: str | None = None
    ) -> MemoryItem:
        return await self._run(self.memory.update, memory_id, text, user_id=user_id, reason=reason)

    async def delete(self, memory_id: str, *, user_id: str | None = None) -> None:
        await self._run(self.memory.delete, memory_id, user_id=user_id)

    async def delete_all(self, *, user_id: str) -> dict[str, int]:
        return await self._run(self.memory.delete_all, user_id=user_id)

    async def history(
        self, memory_id: str, *, user_id: str | None = None
    ) -> builtins.list[HistoryEntry]:
        return await self._run(self.memory.history, memory_id, user_id=user_id)

    async def users(self) -> builtins.list[str]:
        return await self._run(self.memory.users)

    async def count(self, *, user_id: str | None = None) -> int:
        return await self._run(self.memory.count, user_id=user_id)

    async def close(self) -> None:
        """Close the store and the worker threads. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._run(self.memory.close)
        self._pool.shutdown(wait=True)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
