"""The store string picks a dialect, imported when used: a path is SQLite, a DSN PostgreSQL."""

from __future__ import annotations

from engramdb.config import StoreConfig
from engramdb.store.base import NewMemory, ScopeRows, ScopeState
from engramdb.store.dialect import Dialect
from engramdb.store.engine import MemoryStore


def backend_name(target: str) -> str:
    return "postgresql" if target.startswith(("postgresql://", "postgres://")) else "sqlite"


def dialect_for(target: str, options: StoreConfig) -> Dialect:
    if backend_name(target) == "postgresql":
        from engramdb.store.postgres.dialect import PostgresDialect

        return PostgresDialect(target, options)
    from engramdb.store.sqlite.dialect import SQLiteDialect

    return SQLiteDialect(target, options)


def open_store(target: str, options: StoreConfig) -> MemoryStore:
    return MemoryStore(dialect_for(target, options), options)


__all__ = ["MemoryStore", "NewMemory", "ScopeRows", "ScopeState", "dialect_for", "open_store"]
