"""PostgreSQL + pgvector as a dialect of the engine, for a database several processes share.

A write first takes an advisory lock on the user: one user's writes are serialised, users write
in parallel. Vector ids come from a sequence: drawn under the user's lock, they grow in commit
order within a user, which is all a scope cache needs. Reads run on pooled autocommit
connections."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from engramdb.config import StoreConfig
from engramdb.errors import StoreError
from engramdb.store.dialect import Args, Capabilities, Dialect, Row, Tx
from engramdb.store.postgres import bulk
from engramdb.store.postgres.pool import Conn, connect, open_pool, scalar, translated
from engramdb.store.postgres.schema import lock_key, migrate
from engramdb.store.postgres.tsv import TABLES, TsvectorIndex

HNSW_MAX_EF = 1000  # pgvector's upper bound for hnsw.ef_search
# the tables whose rows hold a user's words
_USER_TEXT = ["memories", "history", *TABLES.values(), "lex_terms", "entities"]
log = logging.getLogger("engramdb.store")


@functools.cache
def translate(sql: str) -> bytes:
    """``?`` placeholders as psycopg's ``%s`` (a literal % doubled)."""
    return sql.replace("%", "%%").replace("?", "%s").encode()


class PostgresTx(Tx):
    """Binary results: vectors arrive as numpy arrays."""

    conn: Conn

    def sql(self, sql: str) -> bytes:
        return translate(sql)

    def all(self, sql: str, args: Args = ()) -> list[Row]:
        with self.conn.cursor(binary=True) as cur:
            return cur.execute(translate(sql), args).fetchall()

    def one(self, sql: str, args: Args = ()) -> Row | None:
        with self.conn.cursor(binary=True) as cur:
            row: Row | None = cur.execute(translate(sql), args).fetchone()
            return row

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """An ``INSERT … VALUES (?, …)`` of many rows runs as one statement over arrays (the
        server plans and runs it once, not once a row); anything else row by row."""
        found = _VALUES.search(sql) if len(rows) > 1 else None
        columns = list(zip(*rows, strict=True))
        types = [_array_type(values) for values in columns]
        if found is None or None in types:
            if rows:
                self.conn.cursor().executemany(translate(sql), rows)
            return
        arrays = ", ".join(f"?::{kind}" for kind in types)
        one = f"{sql[: found.start()]} SELECT * FROM unnest({arrays}){sql[found.end() :]}"
        self.conn.execute(translate(one), [list(values) for values in columns])

    def returning(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[Row]:
        found: list[Row] = []
        if rows:
            with self.conn.cursor(binary=True) as cur:
                cur.executemany(translate(sql), rows, returning=True)
                found.append(cur.fetchone())  # type: ignore[arg-type]  # None: a conflict
                while cur.nextset():
                    found.append(cur.fetchone())  # type: ignore[arg-type]
        return found

    def local(self) -> AbstractContextManager[Any]:
        stack = ExitStack()  # pipelined: the settings go with the query, one round trip
        stack.enter_context(self.conn.pipeline())
        stack.enter_context(self.conn.transaction())
        return stack


_VALUES = re.compile(r"\bVALUES \((\?, )*\?\)")
_ARRAY_TYPES = {bool: "boolean[]", int: "bigint[]", float: "float8[]", datetime: "timestamptz[]"}


def _array_type(values: Sequence[Any]) -> str | None:
    """The array type of a column of parameters; None where it cannot be told for sure (only
    None values, several Python types, a type not listed): row by row, then."""
    kinds = {type(v) for v in values if v is not None}
    if len(kinds) != 1:
        return None
    (kind,) = kinds
    return "text[]" if kind is str else _ARRAY_TYPES.get(kind)


class PostgresDialect(Dialect):
    name = "postgresql"
    capabilities = Capabilities(nearest=True, bulk_load=True, concurrent_lexical=True)
    greatest = "greatest"
    collate_c = ' COLLATE "C"'  # the database's collation may order text otherwise
    skip_locked = " FOR UPDATE SKIP LOCKED"
    row_locks = True

    def __init__(self, dsn: str, options: StoreConfig) -> None:
        self.dsn = dsn
        self.options = options
        self.lexical = TsvectorIndex()
        conn = connect(dsn)
        try:
            with translated("preparing the schema"):
                migrate(conn)
                oid = int(scalar(conn, "SELECT 'vector'::regtype::oid"))
        finally:
            conn.close()
        self.pool = open_pool(dsn, options, oid)

    @contextmanager
    def read(self, what: str) -> Iterator[PostgresTx]:
        with translated(what), self.pool.connection() as conn:
            yield PostgresTx(conn)

    @contextmanager
    def write(self, what: str, user_id: str | None) -> Iterator[PostgresTx]:
        """With a user, under that user's lock (waited for at most the busy timeout)."""
        with translated(what), self.pool.connection() as conn, conn.transaction():
            tx = PostgresTx(conn)
            if user_id is not None:
                self.lock(tx, f"engramdb-user:{user_id}")
            yield tx

    def lock(self, tx: Tx, name: str) -> None:
        tx.run("SELECT pg_advisory_xact_lock(?)", (lock_key(name),))

    def vec_ids(self, tx: Tx, n: int) -> list[int]:
        rows = tx.all("SELECT nextval('vec_ids') FROM generate_series(1, ?)", (n,))
        return sorted(int(r[0]) for r in rows)

    def time(self, value: datetime | None) -> Any:
        return value.astimezone(UTC) if value is not None else None

    def _time_out(self, value: Any) -> datetime:
        return value.astimezone(UTC)  # type: ignore[no-any-return]

    def _vector_in(self, value: Any) -> npt.NDArray[np.float32]:
        return np.asarray(value, np.float32)

    _vector_out = _vector_in

    def on_embedder(self, tx: Tx, dim: int, first: bool) -> None:
        """The first embedder fixes the vector column's dimension and gets its HNSW index;
        later, a missing index (a bulk load cut short) is reported."""
        assert isinstance(tx, PostgresTx)
        if first:
            tx.run(f"ALTER TABLE memories ALTER COLUMN embedding TYPE vector({int(dim)})")
            if dim <= bulk.HNSW_MAX_DIM:
                tx.run(bulk.index_statement(self.options.ann_connectivity))
        elif dim <= bulk.HNSW_MAX_DIM and not bulk.index_state(tx.conn):
            idle = tx.one("SELECT pg_try_advisory_xact_lock(?)", (bulk.bulk_lock(tx.conn),))
            if idle == (True,):  # no bulk load under way: one was cut short
                log.warning(
                    "the vector index is missing or invalid (a bulk load was interrupted?):"
                    " nearest-neighbour searches scan the table until it is rebuilt, e.g."
                    " by an empty `with store.bulk_load(): pass`"
                )

    def nearest(
        self, user_id: str, vector: npt.NDArray[np.float32], k: int, expansion: int | None
    ) -> list[int]:
        """Through the HNSW index. Iterative scans (pgvector 0.8) keep it useful when the user
        holds only part of the table: the scan goes on until k of the user's rows are found."""
        ef = min(max(expansion or 0, k, 40), HNSW_MAX_EF)
        with self.read("nearest-neighbour search") as tx, tx.local():
            tx.run(
                "SELECT set_config('hnsw.ef_search', ?, true),"
                " set_config('hnsw.iterative_scan', 'relaxed_order', true)",
                (str(ef),),
            )
            rows = tx.all(
                "SELECT pk FROM memories WHERE user_id = ? ORDER BY embedding <=> ? LIMIT ?",
                (user_id, np.asarray(vector, np.float32), k),
            )
        return [int(r[0]) for r in rows]

    def bulk_load(self, **options: Any) -> AbstractContextManager[bulk.BulkLoad]:
        return bulk.bulk_load(self.dsn, self.options, **options)

    def erased(self) -> None:
        """Dead rows' bytes stay in the tables until overwritten and in the WAL until its segments
        go. ``postgres_erase = "full"``: VACUUM FULL the tables that held text (locking each)
        and switch the WAL, so the checkpoint drops old segments (with ``wal_recycle = off``)."""
        if self.options.postgres_erase == "full":
            self._vacuum("FULL ")
            with self.read("erasing deleted text") as tx:
                try:
                    tx.run("SELECT pg_switch_wal()")
                    tx.run("CHECKPOINT")
                except StoreError as exc:  # needs the pg_checkpoint role or a superuser
                    log.warning("after an erasing delete, the WAL could not be moved on: %s", exc)

    def erased_user(self) -> None:
        """A deleted user: at least a VACUUM, so the space of the dead rows is reused soon."""
        self.erased() if self.options.postgres_erase == "full" else self._vacuum("")

    def _vacuum(self, how: str) -> None:
        with self.read("erasing deleted text") as tx:
            tx.run(f"VACUUM {how}{', '.join(_USER_TEXT)}")

    def close(self) -> None:
        self.pool.close()
