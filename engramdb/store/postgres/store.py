"""The PostgreSQL store: the engine over PostgreSQL + pgvector, selected by a ``postgresql://``
DSN; several engramdb processes may share the database."""

from __future__ import annotations

from engramdb.config import StoreConfig
from engramdb.store.engine import Engine
from engramdb.store.postgres.dialect import PostgresDialect


class PostgresStore(Engine):
    def __init__(self, dsn: str, options: StoreConfig) -> None:
        super().__init__(PostgresDialect(dsn, options), options)
        self.dsn = dsn
