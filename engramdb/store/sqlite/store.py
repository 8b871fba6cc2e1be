"""The embedded store: the engine over one SQLite file (WAL), the system of record for text,
vectors and history."""

from __future__ import annotations

from pathlib import Path

from engramdb.config import StoreConfig
from engramdb.store.engine import Engine
from engramdb.store.sqlite.dialect import SQLiteDialect


class SQLiteStore(Engine):
    def __init__(self, path: str | Path, options: StoreConfig) -> None:
        dialect = SQLiteDialect(path, options)
        super().__init__(dialect, options)
        self.path = dialect.path
