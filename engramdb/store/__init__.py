"""Store registry: a backend is chosen by the store string, imported only when used."""

from __future__ import annotations

import importlib

from engramdb.config import StoreConfig
from engramdb.store.base import MemoryStore, NewMemory, ScopeRows, ScopeState

BACKENDS: dict[str, str] = {
    "sqlite": "engramdb.store.sqlite.store:SQLiteStore",
    "postgresql": "engramdb.store.postgres.store:PostgresStore",
}


def backend_name(target: str) -> str:
    if target.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    return "sqlite"


def open_store(target: str, options: StoreConfig) -> MemoryStore:
    from engramdb.errors import ConfigError

    name = backend_name(target)
    if name not in BACKENDS:
        raise ConfigError(f"the {name} store is not available in this version of engramdb")
    module_name, class_name = BACKENDS[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    store: MemoryStore = cls(target, options)
    return store


__all__ = ["BACKENDS", "MemoryStore", "NewMemory", "ScopeRows", "ScopeState", "open_store"]
