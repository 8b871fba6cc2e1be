"""The PostgreSQL store: the same records, documents, counters and history as the SQLite store,
in a database that several engramdb processes share.

Writes: each call is one transaction that first takes a transaction-scoped advisory lock on the
user, so the writes of one user are serialised across processes (sequence numbers, window and
session documents and BM25 statistics are read-modify-write), while different users write in
parallel. The content-hash unique index with ON CONFLICT DO NOTHING keeps re-adds idempotent
even for a writer that skipped the lock. Vector ids come from a sequence: drawn under the user's
lock, they grow in commit order within a user, which is all a scope cache needs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from engramdb.config import StoreConfig
from engramdb.errors import ConfigError, NotFoundError
from engramdb.models import MemoryItem
from engramdb.store.base import Consolidator, ForgetPolicy, Inserted, NewMemory
from engramdb.store.postgres.bulk import (
    BulkLoad,
    build_index,
    bulk_lock,
    drop_index,
    embedder_dim,
    index_state,
    index_statement,
    log_notice,
)
from engramdb.store.postgres.documents import TURN, Documents, turn_documents
from engramdb.store.postgres.facts import PostgresFactSession
from engramdb.store.postgres.graph import PostgresGraph
from engramdb.store.postgres.pool import Conn, Pool, connect, translated, vector_oid
from engramdb.store.postgres.records import check_storable
from engramdb.store.postgres.schema import USER_TABLES, lock_key, migrate
from engramdb.store.postgres.writes import (
    bump_scope,
    delete_rows,
    draw_vec_ids,
    insert_rows,
    refresh_derived,
)

HNSW_MAX_DIM = 2000  # pgvector indexes vector columns of at most 2000 dimensions
log = logging.getLogger("engramdb.store")


class PostgresStore(PostgresGraph):
    """``MemoryStore`` on PostgreSQL + pgvector, selected by a ``postgresql://`` DSN."""

    def __init__(self, dsn: str, options: StoreConfig) -> None:
        self.dsn = dsn
        self.options = options
        conn = connect(dsn)
        try:
            with translated("preparing the schema"):
                migrate(conn)
                oid = vector_oid(conn)
        finally:
            conn.close()
        self.pool = Pool(
            dsn,
            min_size=options.pool_min_size,
            max_size=options.pool_max_size,
            timeout_s=max(options.busy_timeout_ms / 1000, 1.0),
            lock_timeout_ms=options.busy_timeout_ms,
        )
        self.pool.open(oid)

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def _write(self, what: str, user_id: str | None) -> Iterator[Conn]:
        """One transaction; with a user, under that user's lock (waited for at most the
        configured busy timeout, as SQLite waits for its write lock)."""
        with self._read(what) as conn, conn.transaction():
            if user_id is not None:
                self._lock(conn, user_id)
            yield conn

    @staticmethod
    def _lock(conn: Conn, user_id: str) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(f"engramdb-user:{user_id}"),))

    # --- metadata ----------------------------------------------------------------------
    def check_embedder(self, name: str, dim: int) -> None:
        """The first embedder fixes the vector column's dimension and gets its HNSW index."""
        with self._write("checking the embedder", None) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("engramdb-embedder"),))
            row = conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO meta VALUES ('embedder', %s)",
                    (json.dumps({"name": name, "dim": dim}),),
                )
                conn.execute(f"ALTER TABLE memories ALTER COLUMN embedding TYPE vector({dim})")
                if dim <= HNSW_MAX_DIM:
                    conn.execute(index_statement(self.options.ann_connectivity).encode())
                return
            if json.loads(row[0])["dim"] <= HNSW_MAX_DIM and not index_state(conn):
                idle = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (bulk_lock(conn),))
                if idle.fetchone() == (True,):  # no bulk load under way: one was cut short
                    log.warning(
                        "the vector index is missing or invalid (a bulk load was interrupted?):"
                        " nearest-neighbour searches scan the table until it is rebuilt, e.g."
                        " by an empty `with store.bulk_load(): pass`"
                    )
        stored = json.loads(row[0])
        if stored != {"name": name, "dim": dim}:
            raise ConfigError(
                f"this database holds vectors of {stored['name']} ({stored['dim']}-d); the"
                f" configured embedder is {name} ({dim}-d). Use the same embedder or"
                " export/import the store."
            )

    # --- bulk loads --------------------------------------------------------------------
    @contextmanager
    def bulk_load(
        self,
        *,
        workers: int | None = None,
        memory_mb: int | None = None,
        concurrently: bool = True,
    ) -> Iterator[BulkLoad]:
        """Load many rows without maintaining the vector index: drop ``memories_hnsw`` on
        entry, build it once on exit (also when the block raises), in one pass with
        ``maintenance_work_mem`` sized to the graph (``memory_mb``; default: estimated from the
        rows, at most 4 GB, never below the server's setting) and up to ``workers`` parallel
        workers (default: 7, within the server's ``max_parallel_workers``). Yields a
        ``BulkLoad`` whose ``build_s`` says how long the build took.

        Other processes may go on reading and writing: until the index is back, searches of
        large scopes scan the user's rows exactly (correct, slower) and writes skip the graph
        (the build reads the whole table). The build is ``CREATE INDEX CONCURRENTLY``, which
        blocks no writer and costs about the same as a plain build here (100k rows: 19.4 vs
        18.9 s); ``concurrently=False`` blocks writers for the build (they wait up to
        ``busy_timeout_ms``). Several bulk loads may overlap: the last one out builds. If the
        process dies inside, the index stays absent (opening the store warns): an empty
        ``with store.bulk_load(): pass`` builds it."""
        stats = BulkLoad()
        # a session of its own: its advisory lock goes with it if this process dies
        conn = connect(self.dsn)
        try:
            conn.add_notice_handler(log_notice)
            with translated("starting a bulk load"):
                key = bulk_lock(conn)
                conn.execute("SET lock_timeout = 0")  # another loader may be building
                conn.execute("SELECT pg_advisory_lock_shared(%s)", (key,))
                # DROP INDEX holds up every reader of the table while it waits
                conn.execute(f"SET lock_timeout = {int(self.options.busy_timeout_ms)}".encode())
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
                    dim = embedder_dim(conn)
                    if last == (True,) and dim is not None and dim <= HNSW_MAX_DIM:
                        try:
                            if not index_state(conn):
                                build_index(
                                    conn,
                                    m=self.options.ann_connectivity,
                                    dim=dim,
                                    stats=stats,
                                    workers=workers,
                                    memory_mb=memory_mb,
                                    concurrently=concurrently,
                                )
                        finally:
                            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        finally:
            conn.close()

    # --- writes ------------------------------------------------------------------------
    def add(
        self,
        user_id: str,
        agent_id: str | None,
        items: list[NewMemory],
        consolidate: Consolidator | None = None,
    ) -> list[MemoryItem]:
        check_storable(items)
        now = datetime.now(UTC)
        with self._write("add", user_id) as conn:
            found = {
                (r[0], r[1]): int(r[2])
                for r in conn.execute(
                    "SELECT kind, content_hash, pk FROM memories"
                    " WHERE user_id = %s AND content_hash = ANY(%s)",
                    (user_id, [i.content_hash for i in items]),
                )
            }
            fresh: list[NewMemory] = []
            for item in items:
                if (item.kind, item.content_hash) not in found:
                    found[(item.kind, item.content_hash)] = -1 - len(fresh)  # placeholder
                    fresh.append(item)
            docs = Documents(conn, user_id)
            pks: list[int] = []
            max_vec_id = 0
            if fresh:
                keys = [i.session_id or "" for i in fresh]
                pks, max_vec_id = insert_rows(conn, docs, agent_id, fresh, now, keys=keys)
            for item, pk in zip(fresh, pks, strict=True):
                found[(item.kind, item.content_hash)] = pk
            session = PostgresFactSession(conn, docs, agent_id, now)
            if consolidate is not None:
                consolidate(session, [Inserted(pk, i) for pk, i in zip(pks, fresh, strict=True)])
            docs.flush()
            if fresh or session.max_vec_id:
                bump_scope(
                    conn,
                    user_id,
                    max_vec_id=max(max_vec_id, session.max_vec_id),
                    added=len(fresh) + session.inserted,
                )
        ordered = [found[(i.kind, i.content_hash)] for i in items]
        got = self.get_many(ordered)
        return [got[pk] for pk in ordered]

    def update(
        self,
        memory_id: str,
        item: NewMemory,
        *,
        actor: str,
        reason: str | None,
        user_id: str | None = None,
    ) -> MemoryItem:
        check_storable([item])
        owner = user_id or self.get(memory_id).user_id
        with self._write("update", owner) as conn:
            pk, _, old_text, version, key, seq, kind, speaker = self._locate(conn, memory_id, owner)
            (vec_id,) = draw_vec_ids(conn, 1)
            now = datetime.now(UTC)
            conn.execute(
                """UPDATE memories SET text = %s, embedding = %s, vec_id = %s,
                   version = version + 1, updated_at = %s, date_words = %s, time_lo = %s,
                   time_hi = %s, has_time = %s, metadata = %s WHERE pk = %s""",
                (
                    item.text,
                    item.embedding,
                    vec_id,
                    now,
                    item.date_words,
                    item.time_lo,
                    item.time_hi,
                    item.has_time,
                    json.dumps(item.metadata, ensure_ascii=False),
                    pk,
                ),
            )
            docs = Documents(conn, owner)
            docs.put("lex_turn", TURN, turn_documents([(pk, speaker, item.text, item.date_words)]))
            if kind == "episode":
                refresh_derived(docs, {key: {seq}})
            docs.flush()
            conn.execute(
                "INSERT INTO history (memory_id, user_id, version, event, text, previous_text,"
                " actor, reason, at) VALUES (%s, %s, %s, 'UPDATE', %s, %s, %s, %s, %s)",
                (memory_id, owner, version + 1, item.text, old_text, actor, reason, now),
            )
            bump_scope(conn, owner, max_vec_id=int(vec_id))
        return self.get(memory_id)

    def delete(self, memory_id: str, *, actor: str, user_id: str | None = None) -> int:
        owner = user_id or self.get(memory_id).user_id
        with self._write("delete", owner) as conn:
            pk = self._locate(conn, memory_id, owner)[0]
            docs = Documents(conn, owner)
            derived = [
                r[0]
                for r in conn.execute(
                    "SELECT src_pk FROM memory_links WHERE dst_pk = %s AND kind = 'source'", (pk,)
                )
            ]
            now = datetime.now(UTC)
            delete_rows(conn, docs, [pk], actor=actor, reason=None, now=now)
            # a fact goes with the last message it was extracted from
            orphans = [
                fact
                for fact in derived
                if not conn.execute(
                    "SELECT 1 FROM memory_links WHERE src_pk = %s AND kind = 'source'", (fact,)
                ).fetchone()
            ]
            if orphans:
                why = "its source message was deleted"
                delete_rows(conn, docs, orphans, actor=actor, reason=why, now=now)
            docs.flush()
        return pk

    def forget(self, user_id: str | None, policy: ForgetPolicy) -> dict[str, int]:
        """Expired memories, and decayed ones if the policy says so, deleted user by user,
        each under the user's lock (without a user: the users holding candidates)."""
        now = policy.now.astimezone(UTC)
        queries: list[tuple[str, str, list[object]]] = [
            ("expired", "SELECT pk, user_id FROM memories WHERE expires_at <= %s", [now])
        ]
        if policy.decay_before is not None:
            queries.append(
                (
                    "decayed",
                    """SELECT pk, user_id FROM memories WHERE uses = 0 AND NOT pinned
                       AND importance < %s AND created_at < %s
                       AND (expires_at IS NULL OR expires_at > %s)""",
                    [policy.decay_below_importance, policy.decay_before, now],
                )
            )
        owners = [user_id] if user_id is not None else []
        if user_id is None:
            with self._read("forget") as conn:
                for _, sql, values in queries:
                    found = conn.execute(
                        f"SELECT DISTINCT user_id FROM ({sql}) AS c".encode(), values
                    )
                    owners += [str(r[0]) for r in found]
        counts = {"expired": 0, "decayed": 0}
        for owner in sorted(set(owners)):
            with self._write("forget", owner) as conn:
                docs = Documents(conn, owner)
                for name, sql, values in queries:
                    found = conn.execute(f"{sql} AND user_id = %s".encode(), [*values, owner])
                    pks = [int(r[0]) for r in found]
                    if pks:
                        counts[name] += delete_rows(
                            conn, docs, pks, actor="forget", reason=name, now=now
                        )
                docs.flush()
        return counts

    def delete_all(self, user_id: str) -> dict[str, int]:
        with self._write("delete_all", user_id) as conn:
            counts = {
                table: conn.execute(
                    f"DELETE FROM {table} WHERE user_id = %s".encode(), (user_id,)
                ).rowcount
                for table in USER_TABLES
            }
        counts["vectors"] = counts["memories"]
        return counts

    @staticmethod
    def _locate(
        conn: Conn, memory_id: str, user_id: str
    ) -> tuple[int, str, str, int, str, int, str, str | None]:
        """The memory's row, locked; re-read under the user's lock (it may have changed)."""
        row = conn.execute(
            "SELECT pk, user_id, text, version, session_key, seq, kind, speaker FROM memories"
            " WHERE id = %s AND user_id = %s FOR UPDATE",
            (memory_id, user_id),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return row  # type: ignore[no-any-return]
