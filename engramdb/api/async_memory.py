"""``AsyncMemory``: the same operations as ``Memory``, awaitable. Each method is made from
``Memory``'s own (same name, parameters, types and documentation), and runs the one sync
implementation in a worker thread (SQLite and ONNX Runtime release the GIL while they work),
so there is no second copy of any signature to keep in step."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from engramdb.api.memory import Memory
from engramdb.config import EngramConfig

P = ParamSpec("P")
T = TypeVar("T")


def _awaitable(
    method: Callable[Concatenate[Memory, P], T],
) -> Callable[Concatenate[AsyncMemory, P], Coroutine[Any, Any, T]]:
    """``Memory.<name>`` as a coroutine method of ``AsyncMemory``, run in its thread pool."""
    name = method.__name__

    @functools.wraps(method)
    async def run(self: AsyncMemory, /, *args: P.args, **kwargs: P.kwargs) -> T:
        bound: Callable[..., T] = getattr(self.memory, name)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(bound, *args, **kwargs))

    return run


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

    # writing
    add = _awaitable(Memory.add)
    ingest = _awaitable(Memory.ingest)
    update = _awaitable(Memory.update)
    delete = _awaitable(Memory.delete)
    delete_all = _awaitable(Memory.delete_all)
    flush = _awaitable(Memory.flush)
    feedback = _awaitable(Memory.feedback)
    # reading
    search = _awaitable(Memory.search)
    get = _awaitable(Memory.get)
    resolve_id = _awaitable(Memory.resolve_id)
    list = _awaitable(Memory.list)
    list_page = _awaitable(Memory.list_page)
    history = _awaitable(Memory.history)
    users = _awaitable(Memory.users)
    count = _awaitable(Memory.count)
    pending = _awaitable(Memory.pending)
    stats = _awaitable(Memory.stats)
    # knowledge
    profile = _awaitable(Memory.profile)
    sources = _awaitable(Memory.sources)
    related = _awaitable(Memory.related)
    entities = _awaitable(Memory.entities)
    relations = _awaitable(Memory.relations)
    answer = _awaitable(Memory.answer)
    llm = _awaitable(Memory.llm)
    # lifecycle
    pin = _awaitable(Memory.pin)
    set_importance = _awaitable(Memory.set_importance)
    expire = _awaitable(Memory.expire)
    forget = _awaitable(Memory.forget)

    async def close(self) -> None:
        """Close the store and the worker threads. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._pool, self.memory.close)
        self._pool.shutdown(wait=True)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
