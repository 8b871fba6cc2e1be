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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from engramdb.config import StoreConfig
from engramdb.errors import ConfigError, NotFoundError, StoreError
from engramdb.models import MemoryItem
from engramdb.store.base import SESSION_SEGMENT, NewMemory
from engramdb.store.postgres.documents import TURN, WINDOW, Documents, turn_documents
from engramdb.store.postgres.pool import Conn, Pool, connect, translated, vector_oid
from engramdb.store.postgres.reads import PostgresReads
from engramdb.store.postgres.records import INSERT, check_storable, memory_row
from engramdb.store.postgres.schema import USER_TABLES, lock_key, migrate

HNSW_MAX_DIM = 2000  # pgvector indexes vector columns of at most 2000 dimensions


class PostgresStore(PostgresReads):
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
                    conn.execute(
                        "CREATE INDEX memories_hnsw ON memories USING hnsw"
                        f" (embedding vector_cosine_ops) WITH (m = {self.options.ann_connectivity},"
                        " ef_construction = 64)"
                    )
                return
        stored = json.loads(row[0])
        if stored != {"name": name, "dim": dim}:
            raise ConfigError(
                f"this database holds vectors of {stored['name']} ({stored['dim']}-d); the"
                f" configured embedder is {name} ({dim}-d). Use the same embedder or"
                " export/import the store."
            )

    # --- writes ------------------------------------------------------------------------
    def add(self, user_id: str, agent_id: str | None, items: list[NewMemory]) -> list[MemoryItem]:
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
            pks = self._insert(conn, user_id, agent_id, fresh, now) if fresh else []
            for index, pk in enumerate(pks):
                found[(fresh[index].kind, fresh[index].content_hash)] = pk
        ordered = [found[(i.kind, i.content_hash)] for i in items]
        got = self.get_many(ordered)
        return [got[pk] for pk in ordered]

    def _insert(
        self,
        conn: Conn,
        user_id: str,
        agent_id: str | None,
        items: list[NewMemory],
        now: datetime,
        seqs: list[int] | None = None,
    ) -> list[int]:
        """Insert new memories with their documents, history and counters; returns pks."""
        keys = sorted({i.session_id or "" for i in items})
        next_seq = dict.fromkeys(keys, 0)
        for key, value in conn.execute(
            "SELECT session_key, max(seq) + 1 FROM memories WHERE user_id = %s"
            " AND session_key = ANY(%s) GROUP BY session_key",
            (user_id, keys),
        ):
            next_seq[key] = int(value)
        vec_ids = [
            int(r[0])
            for r in conn.execute(
                "SELECT nextval('vec_ids') FROM generate_series(1, %s)", (len(items),)
            )
        ]
        vec_ids.sort()
        params, placed = [], []
        for index, item in enumerate(items):
            key = item.session_id or ""
            seq = next_seq[key] if seqs is None else max(seqs[index], next_seq[key])
            next_seq[key] = seq + 1
            placed.append((key, seq))
            params.append(memory_row(user_id, agent_id, item, key, seq, vec_ids[index], now))
        pks: list[int] = []
        with conn.cursor() as cur:
            cur.executemany(INSERT, params, returning=True)
            while True:
                row = cur.fetchone()
                if row is None:  # a concurrent writer without the lock won the race
                    raise StoreError("a memory of this batch was added concurrently: retry")
                pks.append(int(row[0]))
                if not cur.nextset():
                    break
        conn.execute(
            "INSERT INTO history (memory_id, user_id, version, event, text, actor, at)"
            " SELECT i, %s, 1, 'ADD', t, 'add', %s FROM unnest(%s::text[], %s::text[]) AS x(i, t)",
            (user_id, now, [i.id for i in items], [i.text for i in items]),
        )
        docs = Documents(conn, user_id)
        docs.put(
            "lex_turn",
            TURN,
            turn_documents(
                (pk, i.speaker, i.text, i.date_words) for pk, i in zip(pks, items, strict=True)
            ),
        )
        touched: dict[str, set[int]] = {}
        for item, (key, seq) in zip(items, placed, strict=True):
            if item.kind == "episode":
                touched.setdefault(key, set()).add(seq)
        self._refresh_derived(docs, touched)
        docs.flush()
        self._bump_scope(conn, user_id, max_vec_id=vec_ids[-1], added=len(items))
        return pks

    @staticmethod
    def _refresh_derived(docs: Documents, touched: dict[str, set[int]]) -> None:
        for key, seqs in sorted(touched.items()):
            docs.refresh_windows(key, seqs)
            docs.refresh_sessions({(key, s // SESSION_SEGMENT) for s in seqs})

    @staticmethod
    def _bump_scope(
        conn: Conn, user_id: str, *, max_vec_id: int = 0, added: int = 0, deleted: int = 0
    ) -> None:
        conn.execute(
            """INSERT INTO scope_state (user_id, epoch, max_vec_id, deletes, rows)
               VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (user_id) DO UPDATE SET
                 epoch = CASE WHEN scope_state.epoch = 0 THEN excluded.epoch
                              ELSE scope_state.epoch END,
                 max_vec_id = greatest(scope_state.max_vec_id, excluded.max_vec_id),
                 deletes = scope_state.deletes + excluded.deletes,
                 rows = scope_state.rows + excluded.rows""",
            (user_id, max_vec_id, max_vec_id, deleted, added - deleted),
        )

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
            (vec_id,) = conn.execute("SELECT nextval('vec_ids')").fetchone() or (0,)
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
                self._refresh_derived(docs, {key: {seq}})
            docs.flush()
            conn.execute(
                "INSERT INTO history (memory_id, user_id, version, event, text, previous_text,"
                " actor, reason, at) VALUES (%s, %s, %s, 'UPDATE', %s, %s, %s, %s, %s)",
                (memory_id, owner, version + 1, item.text, old_text, actor, reason, now),
            )
            self._bump_scope(conn, owner, max_vec_id=int(vec_id))
        return self.get(memory_id)

    def delete(self, memory_id: str, *, actor: str, user_id: str | None = None) -> int:
        owner = user_id or self.get(memory_id).user_id
        with self._write("delete", owner) as conn:
            pk, _, text, version, key, seq, kind, _ = self._locate(conn, memory_id, owner)
            conn.execute("DELETE FROM memories WHERE pk = %s", (pk,))
            docs = Documents(conn, owner)
            docs.delete("lex_turn", TURN, [pk])
            docs.delete("lex_window", WINDOW, [pk])
            if kind == "episode":
                self._refresh_derived(docs, {key: {seq}})
            docs.flush()
            conn.execute(
                "INSERT INTO history (memory_id, user_id, version, event, text, actor, at)"
                " VALUES (%s, %s, %s, 'DELETE', %s, %s, %s)",
                (memory_id, owner, version, text, actor, datetime.now(UTC)),
            )
            self._bump_scope(conn, owner, deleted=1)
        return pk

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
