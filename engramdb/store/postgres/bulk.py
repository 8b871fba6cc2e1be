"""Bulk loads on PostgreSQL: the HNSW index is dropped for the load and built once at the end,
with enough ``maintenance_work_mem`` for the whole graph and parallel workers. Inserting into
a live index costs a graph search per row (600 → 190 rows/s by 640k rows); a build from the
finished table is several times cheaper.

Loaders hold a *shared* advisory lock, so loads may overlap; the last one out (it can take the
lock exclusively) builds. Other writers' rows join at the build, and searches meanwhile scan
exactly. The build runs ``CONCURRENTLY`` by default; a failed one leaves an invalid index,
which the next build replaces."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from psycopg import sql

from engramdb.config import StoreConfig
from engramdb.store.postgres.pool import Conn, connect, scalar, translated
from engramdb.store.postgres.schema import lock_key

log = logging.getLogger("engramdb.store")

INDEX = "memories_hnsw"
HNSW_MAX_DIM = 2000  # pgvector indexes vector columns of at most 2000 dimensions
EF_CONSTRUCTION = 64
MAX_WORKERS = 7  # pgvector's suggestion for large builds (plus the leader)
MEMORY_CAP_MB = 4096


def index_statement(m: int, *, concurrently: bool = False) -> str:
    """The one definition of the vector index (``check_embedder`` and the rebuild use it)."""
    how = " CONCURRENTLY" if concurrently else ""
    return (
        f"CREATE INDEX{how} {INDEX} ON memories USING hnsw (embedding vector_cosine_ops)"
        f" WITH (m = {int(m)}, ef_construction = {EF_CONSTRUCTION})"
    )


def bulk_lock(conn: Conn) -> int:
    """The advisory-lock key of bulk loads into the schema that holds ``memories``."""
    return lock_key(f"engramdb-bulk-load:{_schema(conn)}")


def index_state(conn: Conn) -> bool | None:
    """None: no vector index; True: a valid one; False: an invalid one (a failed concurrent
    build leaves it behind: PostgreSQL keeps updating it but never reads it)."""
    row = conn.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = 'memories'::regclass AND c.relname = %s",
        (INDEX,),
    ).fetchone()
    return None if row is None else bool(row[0])


def drop_index(conn: Conn) -> bool:
    """Drop the vector index if there is one; whether there was."""
    if index_state(conn) is None:
        return False
    conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(_schema(conn), INDEX)))
    return True


def _schema(conn: Conn) -> str:
    """The schema of the ``memories`` table (the first on the search path that has one)."""
    where = "n.oid = c.relnamespace WHERE c.oid = 'memories'::regclass"
    return str(scalar(conn, f"SELECT nspname FROM pg_class c JOIN pg_namespace n ON {where}"))


def build_memory_mb(rows: int, dim: int, m: int) -> int:
    """``maintenance_work_mem`` that holds the whole graph (pgvector's per-element estimate, a
    quarter of margin): one that does not fit is finished on disk, many times slower. A
    parallel build allocates this much shared memory up front."""
    per_row = 200 + 16 * m * 2.3 + 8 + 4 * dim
    return int(rows * per_row * 1.25 / 2**20) + 64


@dataclass
class BulkLoad:
    """What a bulk load did, readable after its ``with`` block."""

    dropped: bool = False  # this loader dropped the index on entry
    built: bool = False  # this loader built it on exit
    build_s: float | None = None  # seconds the build took (None: none)
    workers: int = 0  # max_parallel_maintenance_workers of the build
    memory_mb: int = 0  # maintenance_work_mem of the build


def build_index(
    conn: Conn,
    m: int,
    dim: int,
    stats: BulkLoad,
    workers: int | None,
    memory_mb: int | None,
    concurrently: bool,
) -> None:
    """(Re)build the vector index with session settings sized to the table."""
    rows = int(scalar(conn, "SELECT count(*) FROM memories"))
    if memory_mb is None:
        mb = "SELECT pg_size_bytes(current_setting('maintenance_work_mem')) / 1048576"
        memory_mb = max(min(build_memory_mb(rows, dim, m), MEMORY_CAP_MB), int(scalar(conn, mb)))
    if workers is None:
        most = int(scalar(conn, "SELECT current_setting('max_parallel_workers')"))
        workers = min(MAX_WORKERS, most)
    stats.workers, stats.memory_mb = workers, memory_mb
    conn.execute(f"SET maintenance_work_mem = '{int(memory_mb)}MB'".encode())
    conn.execute(f"SET max_parallel_maintenance_workers = {int(workers)}".encode())
    if index_state(conn) is False:
        drop_index(conn)  # an invalid leftover of a failed concurrent build
    start = time.perf_counter()
    conn.execute(index_statement(m, concurrently=concurrently).encode())
    stats.build_s = time.perf_counter() - start
    stats.built = True
    done = (INDEX, rows, stats.build_s, memory_mb, workers)
    log.info("built %s over %d rows in %.1f s (%d MB of work memory, %d workers)", *done)
    conn.execute("RESET max_parallel_maintenance_workers")
    # fresh statistics for the planner on every table the load wrote (autovacuum may not
    # have seen it yet; stale ones made the planner scan every session segment)
    conn.execute("ANALYZE memories, lex_turn, lex_window, lex_session, lex_terms, lex_stats")
    conn.execute("RESET maintenance_work_mem")


@contextmanager
def bulk_load(
    dsn: str,
    options: StoreConfig,
    *,
    workers: int | None = None,
    memory_mb: int | None = None,
    concurrently: bool = True,
) -> Iterator[BulkLoad]:
    """Drop the vector index on entry, build it on exit (also when the block raises);
    ``memory_mb`` defaults to an estimate (at most 4 GB), ``workers`` to 7. If the process
    dies inside, the index stays absent (opening the store warns) until a later bulk load."""
    stats = BulkLoad()
    # a session of its own: its advisory lock goes with it if this process dies
    conn = connect(dsn)
    try:
        # notices of a build (e.g. the graph no longer fitting in memory) go to the log
        conn.add_notice_handler(lambda diag: log.warning("PostgreSQL: %s", diag.message_primary))
        with translated("starting a bulk load"):
            key = bulk_lock(conn)
            conn.execute("SET lock_timeout = 0")  # another loader may be building
            conn.execute("SELECT pg_advisory_lock_shared(%s)", (key,))
            # DROP INDEX holds up every reader of the table while it waits
            conn.execute(f"SET lock_timeout = {int(options.busy_timeout_ms)}".encode())
            stats.dropped = drop_index(conn)
            conn.execute("SET lock_timeout = 0")
        if stats.dropped:
            log.info("bulk load: dropped the vector index; searches scan exactly until it ends")
        try:
            yield stats
        finally:
            with translated("building the vector index after a bulk load"):
                conn.execute("SELECT pg_advisory_unlock_shared(%s)", (key,))
                last = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                row = conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
                dim = None if row is None else int(json.loads(row[0])["dim"])  # the embedder's
                if last == (True,) and dim is not None and dim <= HNSW_MAX_DIM:
                    try:
                        if not index_state(conn):
                            m = options.ann_connectivity
                            build_index(conn, m, dim, stats, workers, memory_mb, concurrently)
                    finally:
                        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        conn.close()
