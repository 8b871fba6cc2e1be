"""``AsyncMemory``: the same methods as ``Memory``, awaitable (each runs in a worker thread,
as engramdb's own ``AsyncMemory`` does, so the event loop never waits on SQLite or a model)."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from engramdb.api.memory import Memory as EngramMemory
from engramdb.compat.mem0.memory import _UNSET, Memory


class AsyncMemory:
    def __init__(
        self, config: dict[str, Any] | None = None, *, engram: EngramMemory | None = None
    ) -> None:
        self.sync = Memory(config, engram=engram)
        self.engram = self.sync.engram
        self.config = self.sync.config

    @classmethod
    def from_config(cls, config_dict: dict[str, Any]) -> AsyncMemory:
        return cls(config_dict)

    async def add(self, messages: Any, **kwargs: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self.sync.add, messages, **kwargs)

    async def get(self, memory_id: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(self.sync.get, memory_id)

    async def get_all(self, **kwargs: Any) -> dict[str, list[dict[str, Any]]]:
        return await asyncio.to_thread(lambda: self.sync.get_all(**kwargs))

    async def search(self, query: str, **kwargs: Any) -> dict[str, list[dict[str, Any]]]:
        return await asyncio.to_thread(lambda: self.sync.search(query, **kwargs))

    async def update(
        self,
        memory_id: str,
        text: str | None = None,
        metadata: dict[str, Any] | None = None,
        expiration_date: Any = _UNSET,
        data: str | None = None,
    ) -> dict[str, str]:
        return await asyncio.to_thread(
            self.sync.update, memory_id, text, metadata, expiration_date, data
        )

    async def delete(self, memory_id: str) -> dict[str, str]:
        return await asyncio.to_thread(self.sync.delete, memory_id)

    async def delete_all(
        self, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> dict[str, str]:
        return await asyncio.to_thread(self.sync.delete_all, user_id, agent_id, run_id)

    async def history(self, memory_id: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.sync.history, memory_id)

    async def reset(self) -> None:
        await asyncio.to_thread(self.sync.reset)

    def close(self) -> None:
        self.sync.close()

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
