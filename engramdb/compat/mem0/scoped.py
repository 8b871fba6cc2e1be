"""``ScopedMemory``: mem0's ``Memory`` methods over one part of a store, for the REST service's
mem0 routes (engramdb/server/routes/mem0.py). Each tenant of the service sees the same methods
and shapes as the Python layer; only the mapping between a mem0 scope and a store user_id
differs, so that mapping is the one thing this class adds."""

from __future__ import annotations

from collections.abc import Callable

from engramdb.api.memory import Memory as EngramMemory
from engramdb.compat.mem0.memory import M, Memory
from engramdb.errors import NotFoundError
from engramdb.models import MemoryItem


class ScopedMemory(Memory):
    """``inside`` maps a mem0 scope (a user id, ``agent:<id>``, ``run:<id>``) to the store's
    user_id, or raises (a key bound to another user); ``outside`` maps a store user_id back,
    or gives None when it is not the caller's. By-id calls on another scope's memory behave as
    if the id did not exist."""

    _walled = True

    def __init__(
        self,
        base: Memory,
        inside: Callable[[str], str],
        outside: Callable[[str], str | None],
    ) -> None:
        # no super().__init__: this view opens nothing, it shares the base's store
        self.engram, self._owns, self.config = base.engram, False, base.config
        self._raw, self._lock = None, base._lock
        self._base, self._to_store, self._to_caller = base, inside, outside

    def _messages_only(self) -> EngramMemory:
        return self._base._messages_only()  # one for the whole service, opened once

    def _inside(self, scope: str) -> str:
        return self._to_store(scope)

    def _shown(self, item: M) -> M:
        name = self._to_caller(item.user_id)
        if name is None:  # reads are scoped, so this cannot happen; never show it if it does
            raise NotFoundError(f"no memory with id {item.id!r}")
        return item.model_copy(update={"user_id": name})

    def _get(self, memory_id: str) -> MemoryItem | None:
        item = super()._get(memory_id)
        if item is None or self._to_caller(item.user_id) is None:
            return None
        return item

    def reset(self) -> None:
        raise NotImplementedError("reset() empties every scope of a store; not per caller")

    def close(self) -> None:
        """Nothing to close: the base owns the store."""
