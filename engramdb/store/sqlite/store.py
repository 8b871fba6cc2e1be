"""The embedded store: one SQLite file (WAL), the system of record for text, vectors and history.

Each ``add`` is one transaction. Connections are per thread; writers are serialised by SQLite's
write lock (BEGIN IMMEDIATE), so several processes may share one file.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from engramdb.config import StoreConfig
from engramdb.errors import ConfigError, NotFoundError, StoreError
from engramdb.models import MemoryItem
from engramdb.store.base import (
    SESSION_SEGMENT,
    Consolidator,
    ForgetPolicy,
    Inserted,
    NewMemory,
)
from engramdb.store.sqlite import terms
from engramdb.store.sqlite.documents import (
    refresh_sessions,
    refresh_windows,
    scope_token,
    turn_body,
)
from engramdb.store.sqlite.facts import SQLiteFactSession
from engramdb.store.sqlite.graph import SQLiteGraph
from engramdb.store.sqlite.rows import (
    bump_scope,
    existing_pk,
    insert_memory,
    iso,
    next_seq,
    reserve_vec_ids,
    write_history,
)
from engramdb.store.sqlite.schema import migrate

# memory_entities and memory_links go with their memories (ON DELETE CASCADE) but are
# deleted first by user so delete_all can report their counts
_USER_TABLES = (
    "memory_entities",
    "memory_links",
    "memories",
    "entities",
    "history",
    "session_docs",
    "scope_state",
)


class SQLiteStore(SQLiteGraph):
    """``MemoryStore`` on SQLite. ``path`` may be ":memory:"-like only for tests via a temp file."""

    def __init__(self, path: str | Path, options: StoreConfig) -> None:
        self.path = Path(path).expanduser()
        self.options = options
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the folder for {self.path}: {exc.strerror}") from exc
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._write_lock = threading.Lock()  # in-process writers queue here, not in busy-waits
        self._closed = False
        migrate(self._conn())

    # --- connections -------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError("the store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=self.options.busy_timeout_ms / 1000,
                )
                conn.execute("PRAGMA journal_mode = WAL")
                sync = "FULL" if self.options.durability == "full" else "NORMAL"
                conn.execute(f"PRAGMA synchronous = {sync}")
                conn.execute("PRAGMA foreign_keys = ON")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot open {self.path} as an engramdb store: {exc}") from exc
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._closed = True

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """PostgreSQL's bulk load defers its HNSW index; SQLite has none to defer (the
        in-process vector cache builds its own on the first search)."""
        yield

    # --- metadata ----------------------------------------------------------------------
    def check_embedder(self, name: str, dim: int) -> None:
        with self._write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
            if row is None:
                value = json.dumps({"name": name, "dim": dim})
                conn.execute("INSERT INTO meta VALUES ('embedder', ?)", (value,))
                return
        stored = json.loads(row[0])
        if stored != {"name": name, "dim": dim}:
            raise ConfigError(
                f"{self.path} holds vectors of {stored['name']} ({stored['dim']}-d); "
                "the configured "
                f"embedder is {name} ({dim}-d). Use the same embedder or export/import the store."
            )

    # --- writes ------------------------------------------------------------------------
    def add(
        self,
        user_id: str,
        agent_id: str | None,
        items: list[NewMemory],
        consolidate: Consolidator | None = None,
    ) -> list[MemoryItem]:
        now = iso(datetime.now(UTC))
        pks: list[int] = []
        with self._write() as conn:
            next_vec = reserve_vec_ids(conn, len(items))
            seqs: dict[str, int] = {}
            touched: dict[str, set[int]] = {}
            fresh: list[Inserted] = []
            for item in items:
                existing = existing_pk(conn, user_id, item)
                if existing is not None:
                    pks.append(existing)
                    continue
                key = item.session_id or ""
                if key not in seqs:
                    seqs[key] = next_seq(conn, user_id, key)
                seq = seqs[key]
                seqs[key] += 1
                next_vec += 1
                pk = insert_memory(
                    conn,
                    user_id,
                    agent_id,
                    item,
                    session_key=key,
                    seq=seq,
                    vec_id=next_vec,
                    now=now,
                )
                pks.append(pk)
                fresh.append(Inserted(pk, item))
                if item.kind == "episode":
                    touched.setdefault(key, set()).add(seq)
                write_history(
                    conn,
                    item.id,
                    user_id,
                    version=1,
                    event="ADD",
                    text=item.text,
                    actor="add",
                    at=now,
                )
            self._refresh_derived(conn, user_id, touched)
            session = SQLiteFactSession(conn, user_id, agent_id, now)
            if consolidate is not None:
                consolidate(session, fresh)
            bump_scope(
                conn,
                user_id,
                max_vec_id=max(next_vec, session.max_vec_id),
                added=len(fresh) + session.inserted,
            )
        found = self.get_many(pks)
        return [found[pk] for pk in pks]

    def _refresh_derived(
        self, conn: sqlite3.Connection, user_id: str, touched: dict[str, set[int]]
    ) -> None:
        for key, seqs in touched.items():
            refresh_windows(conn, user_id, key, seqs)
            refresh_sessions(conn, user_id, {(key, s // SESSION_SEGMENT) for s in seqs})

    def update(
        self,
        memory_id: str,
        item: NewMemory,
        *,
        actor: str,
        reason: str | None,
        user_id: str | None = None,
    ) -> MemoryItem:
        now = iso(datetime.now(UTC))
        with self._write() as conn:
            row = self._locate(conn, memory_id, user_id)
            pk, owner, old_text, version, key, seq, kind = row
            vec_id = reserve_vec_ids(conn, 1) + 1
            terms.count_terms(conn, self._bodies(conn, "pk = ?", pk), sign=-1)
            conn.execute(
                """UPDATE memories SET text = ?, embedding = ?, vec_id = ?,
                   version = version + 1, updated_at = ?, date_words = ?, time_lo = ?,
                   time_hi = ?, has_time = ?, metadata = ? WHERE pk = ?""",
                (
                    item.text,
                    item.embedding.astype(np.float32).tobytes(),
                    vec_id,
                    now,
                    item.date_words,
                    item.time_lo,
                    item.time_hi,
                    int(item.has_time),
                    json.dumps(item.metadata, ensure_ascii=False),
                    pk,
                ),
            )
            speaker = conn.execute("SELECT speaker FROM memories WHERE pk = ?", (pk,)).fetchone()[0]
            conn.execute("DELETE FROM fts_turn WHERE rowid = ?", (pk,))
            body = turn_body(speaker, item.text, item.date_words)
            conn.execute(
                "INSERT INTO fts_turn (rowid, body, scope) VALUES (?, ?, ?)",
                (pk, body, scope_token(owner)),
            )
            terms.count_terms(conn, [body])
            if kind == "episode":
                self._refresh_derived(conn, owner, {key: {seq}})
            conn.execute(
                "INSERT INTO history (memory_id, user_id, version, event, text, previous_text,"
                " actor, reason, at) VALUES (?, ?, ?, 'UPDATE', ?, ?, ?, ?, ?)",
                (memory_id, owner, version + 1, item.text, old_text, actor, reason, now),
            )
            bump_scope(conn, owner, max_vec_id=vec_id)
        return self.get(memory_id)

    def delete(self, memory_id: str, *, actor: str, user_id: str | None = None) -> int:
        now = iso(datetime.now(UTC))
        with self._write() as conn:
            pk, owner, *_ = self._locate(conn, memory_id, user_id)
            derived = [
                r[0]
                for r in conn.execute(
                    "SELECT src_pk FROM memory_links WHERE dst_pk = ? AND kind = 'source'", (pk,)
                )
            ]
            self._delete_rows(conn, owner, [pk], actor=actor, reason=None, now=now)
            # a fact goes with the last message it was extracted from
            orphans = [
                fact
                for fact in derived
                if not conn.execute(
                    "SELECT 1 FROM memory_links WHERE src_pk = ? AND kind = 'source'", (fact,)
                ).fetchone()
            ]
            if orphans:
                why = "its source message was deleted"
                self._delete_rows(conn, owner, orphans, actor=actor, reason=why, now=now)
        return pk

    def forget(self, user_id: str | None, policy: ForgetPolicy) -> dict[str, int]:
        now = iso(policy.now)
        counts = {"expired": 0, "decayed": 0}
        with self._write() as conn:
            scope, args = ("AND user_id = ?", [user_id]) if user_id is not None else ("", [])
            expired = conn.execute(
                f"SELECT pk, user_id FROM memories WHERE expires_at <= ? {scope}", [now, *args]
            ).fetchall()
            decayed: list[tuple[int, str]] = []
            if policy.decay_before is not None:
                decayed = conn.execute(
                    f"""SELECT pk, user_id FROM memories WHERE uses = 0 AND pinned = 0
                        AND importance < ? AND created_at < ?
                        AND (expires_at IS NULL OR expires_at > ?) {scope}""",
                    [policy.decay_below_importance, iso(policy.decay_before), now, *args],
                ).fetchall()
            for name, rows in (("expired", expired), ("decayed", decayed)):
                by_user: dict[str, list[int]] = {}
                for pk, owner in rows:
                    by_user.setdefault(owner, []).append(pk)
                for owner, pks in by_user.items():
                    self._delete_rows(conn, owner, pks, actor="forget", reason=name, now=now)
                counts[name] = len(rows)
        return counts

    def _delete_rows(
        self,
        conn: sqlite3.Connection,
        owner: str,
        pks: builtins.list[int],
        *,
        actor: str,
        reason: str | None,
        now: str | None,
    ) -> None:
        touched: dict[str, set[int]] = {}
        for pk in pks:
            memory_id, text, version, key, seq, kind = conn.execute(
                "SELECT id, text, version, session_key, seq, kind FROM memories WHERE pk = ?",
                (pk,),
            ).fetchone()
            terms.count_terms(conn, self._bodies(conn, "pk = ?", pk), sign=-1)
            conn.execute("DELETE FROM memories WHERE pk = ?", (pk,))
            conn.execute("DELETE FROM fts_turn WHERE rowid = ?", (pk,))
            conn.execute("DELETE FROM fts_window WHERE rowid = ?", (pk,))
            if kind == "episode":
                touched.setdefault(key, set()).add(seq)
            write_history(
                conn,
                memory_id,
                owner,
                version=version,
                event="DELETE",
                text=text,
                actor=actor,
                reason=reason,
                at=now,
            )
        self._refresh_derived(conn, owner, touched)
        bump_scope(conn, owner, deleted=len(pks))

    def delete_all(self, user_id: str) -> dict[str, int]:
        with self._write() as conn:
            terms.count_terms(conn, self._bodies(conn, "user_id = ?", user_id), sign=-1)
            counts = {"fts_turn": 0, "fts_window": 0, "fts_session": 0}
            pks = [
                r[0] for r in conn.execute("SELECT pk FROM memories WHERE user_id = ?", (user_id,))
            ]
            docs = [
                r[0]
                for r in conn.execute(
                    "SELECT doc_id FROM session_docs WHERE user_id = ?", (user_id,)
                )
            ]
            for table, keys in (("fts_turn", pks), ("fts_window", pks), ("fts_session", docs)):
                for start in range(0, len(keys), 500):
                    chunk = keys[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    cur = conn.execute(f"DELETE FROM {table} WHERE rowid IN ({marks})", chunk)
                    counts[table] += cur.rowcount
            for table in _USER_TABLES:
                counts[table] = conn.execute(
                    f"DELETE FROM {table} WHERE user_id = ?", (user_id,)
                ).rowcount
            counts["vectors"] = counts["memories"]
        return counts

    @staticmethod
    def _bodies(conn: sqlite3.Connection, where: str, arg: object) -> builtins.list[str]:
        """The turn documents of the rows matching ``where`` (to take their terms out)."""
        rows = conn.execute(f"SELECT speaker, text, date_words FROM memories WHERE {where}", (arg,))
        return [turn_body(*row) for row in rows]

    def _locate(
        self, conn: sqlite3.Connection, memory_id: str, user_id: str | None
    ) -> tuple[int, str, str, int, str, int, str]:
        query = (
            "SELECT pk, user_id, text, version, session_key, seq, kind FROM memories WHERE id = ?"
        )
        args: tuple[str, ...] = (memory_id,)
        if user_id is not None:
            query += " AND user_id = ?"
            args += (user_id,)
        row = conn.execute(query, args).fetchone()
        if row is None:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return row  # type: ignore[no-any-return]

    # --- reads -------------------------------------------------------------------------
