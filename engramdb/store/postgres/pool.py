"""PostgreSQL connections: a psycopg pool, pgvector's binary format, driver errors mapped."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
import psycopg_pool
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format

from engramdb.config import StoreConfig
from engramdb.errors import ConfigError, InvalidInputError, StoreError

Conn = psycopg.Connection[Any]


class VectorDumper(Dumper):
    """numpy float vector → pgvector binary (uint16 dim, uint16 unused, big-endian float32)."""

    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        vector = np.ascontiguousarray(obj, dtype=">f4").ravel()
        return struct.pack(">HH", vector.size, 0) + vector.tobytes()


class VectorLoader(Loader):
    format = Format.BINARY

    def load(self, data: Any) -> npt.NDArray[np.float32]:
        return np.frombuffer(bytes(data), dtype=">f4", offset=4).astype(np.float32)


def describe(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag is not None else None
    return primary or str(exc).strip() or type(exc).__name__


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Driver errors as engramdb's: bad values (NUL, out of range) are the caller's, else ours."""
    try:
        yield
    except psycopg_pool.PoolTimeout as exc:  # (pool errors are also psycopg errors)
        raise StoreError(f"{what}: no PostgreSQL connection became free in time") from exc
    except psycopg_pool.PoolClosed as exc:
        raise StoreError("the store is closed") from exc
    except psycopg.DataError as exc:
        raise InvalidInputError(f"{what}: PostgreSQL refused a value: {describe(exc)}") from exc
    except psycopg.Error as exc:
        raise StoreError(f"{what} failed on PostgreSQL: {describe(exc)}") from exc


def connect(dsn: str) -> Conn:
    """One autocommit connection (for migrations and the first checks)."""
    try:
        return psycopg.connect(dsn, autocommit=True, prepare_threshold=None)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"invalid PostgreSQL DSN: {describe(exc)}") from exc
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to PostgreSQL: {describe(exc)}") from exc


def open_pool(dsn: str, options: StoreConfig, vector_oid: int) -> psycopg_pool.ConnectionPool[Conn]:
    """A pool of autocommit connections that know pgvector's type (its oid differs per
    database). Statements are not prepared: plans then see each user's real selectivity (one
    tenant may hold most rows), and transaction-mode poolers such as PgBouncer work."""
    dumper = type("BoundVectorDumper", (VectorDumper,), {"oid": vector_oid})

    def configure(conn: Conn) -> None:
        conn.adapters.register_dumper(np.ndarray, dumper)
        conn.adapters.register_loader(vector_oid, VectorLoader)
        # a writer waits this long for a user's lock, as SQLite waits for its write lock
        conn.execute(f"SET lock_timeout = {int(options.busy_timeout_ms)}".encode())

    timeout = max(options.busy_timeout_ms / 1000, 1.0)
    pool = psycopg_pool.ConnectionPool(
        dsn,
        min_size=options.pool_min_size,
        max_size=max(options.pool_max_size, options.pool_min_size),
        timeout=timeout,
        kwargs={"autocommit": True, "prepare_threshold": None},
        configure=configure,
        open=False,
        name="engramdb",
    )
    with translated("opening the connection pool"):
        pool.open(wait=True, timeout=timeout)
    return pool


def scalar(conn: Conn, sql: str) -> Any:
    """The one value a query returns."""
    row = conn.execute(sql.encode()).fetchone()
    assert row is not None
    return row[0]
