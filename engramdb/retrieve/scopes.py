"""The set of cached scopes, least recently used evicted; one lock per scope."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from engramdb.retrieve.scope_index import AnnSettings, ScopeIndex
from engramdb.store.engine import MemoryStore


class ScopeCache:
    def __init__(self, store: MemoryStore, dim: int, ann: AnnSettings, capacity: int = 256) -> None:
        self.store = store
        self.dim = dim
        self.ann = ann
        self.capacity = capacity
        self._scopes: OrderedDict[str, tuple[ScopeIndex, threading.RLock]] = OrderedDict()
        self._lock = threading.Lock()

    @contextmanager
    def open(self, user_id: str) -> Iterator[ScopeIndex]:
        """The scope's index, synced with the store and locked for the caller."""
        with self._lock:
            entry = self._scopes.get(user_id)
            if entry is None:
                entry = (ScopeIndex(user_id, self.dim, self.ann), threading.RLock())
                self._scopes[user_id] = entry
                while len(self._scopes) > self.capacity:
                    _, (old, old_lock) = self._scopes.popitem(last=False)
                    with old_lock:
                        old.save()
            else:
                self._scopes.move_to_end(user_id)
        index, lock = entry
        with lock:
            index.sync(self.store)
            yield index

    def forget(self, user_id: str, pk: int) -> None:
        with self._lock:
            entry = self._scopes.get(user_id)
        if entry is not None:
            with entry[1]:
                entry[0].forget(pk)

    def drop(self, user_id: str) -> int:
        """Evict a scope and delete its cache files; returns how many files were removed."""
        with self._lock:
            entry = self._scopes.pop(user_id, None)
        index = entry[0] if entry else ScopeIndex(user_id, self.dim, self.ann)
        return index.drop_files()

    def save_all(self) -> None:
        with self._lock:
            entries = list(self._scopes.values())
        for index, lock in entries:
            with lock:
                index.save()
