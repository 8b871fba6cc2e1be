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
from engramdb.store.base import SESSION_SEGMENT, NewMemory
from engramdb.store.sqlite import lexical
from engramdb.store.sqlite.documents import (
    refresh_sessions,
    refresh_windows,
    scope_token,
    turn_body,
)
from engramdb.store.sqlite.reads import SQLiteReads
from engramdb.store.sqlite.schema import migrate

_USER_TABLES = ("memories", "history", "session_docs", "scope_state")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


class SQLiteStore(SQLiteReads):
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
    def add(self, user_id: str, agent_id: str | None, items: list[NewMemory]) -> list[MemoryItem]:
        now = _iso(datetime.now(UTC))
        pks: list[int] = []
        with self._write() as conn:
            next_vec = self._reserve_vec_ids(conn, len(items))
            next_seq: dict[str, int] = {}
            touched: dict[str, set[int]] = {}
            bodies: list[str] = []
            inserted = 0
            for item in items:
                existing = conn.execute(
                    "SELECT pk FROM memories WHERE user_id = ? AND kind = ? AND content_hash = ?",
                    (user_id, item.kind, item.content_hash),
                ).fetchone()
                if existing:
                    pks.append(existing[0])
                    continue
                key = item.session_id or ""
                if key not in next_seq:
                    next_seq[key] = conn.execute(
                        "SELECT coalesce(max(seq) + 1, 0) FROM memories"
                        " WHERE user_id = ? AND session_key = ?",
                        (user_id, key),
                    ).fetchone()[0]
                seq = next_seq[key]
                next_seq[key] += 1
                next_vec += 1
                pk = self._insert(conn, user_id, agent_id, item, key, seq, next_vec, now)
                pks.append(pk)
                inserted += 1
                bodies.append(turn_body(item.speaker, item.text, item.date_words))
                if item.kind == "episode":
                    touched.setdefault(key, set()).add(seq)
                conn.execute(
                    "INSERT INTO history (memory_id, user_id, version, event, text, actor, at)"
                    " VALUES (?, ?, 1, 'ADD', ?, 'add', ?)",
                    (item.id, user_id, item.text, now),
                )
            lexical.count_terms(conn, bodies)
            self._refresh_derived(conn, user_id, touched)
            self._bump_scope(conn, user_id, max_vec_id=next_vec, added=inserted)
        found = self.get_many(pks)
        return [found[pk] for pk in pks]

    def _insert(
        self,
        conn: sqlite3.Connection,
        user_id: str,
        agent_id: str | None,
        item: NewMemory,
        session_key: str,
        seq: int,
        vec_id: int,
        now: str | None,
    ) -> int:
        cursor = conn.execute(
            """INSERT INTO memories (id, user_id, agent_id, session_id, session_key, seq, kind,
                text, role, speaker, created_at, event_time, valid_from, valid_to, sources,
                content_hash, metadata, date_words, time_lo, time_hi, has_time, vec_id, embedding)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                item.id,
                user_id,
                agent_id,
                item.session_id,
                session_key,
                seq,
                item.kind,
                item.text,
                item.role,
                item.speaker,
                now,
                _iso(item.event_time),
                _iso(item.valid_from),
                _iso(item.valid_to),
                json.dumps(item.sources),
                item.content_hash,
                json.dumps(item.metadata, ensure_ascii=False),
                item.date_words,
                item.time_lo,
                item.time_hi,
                int(item.has_time),
                vec_id,
                np.ascontiguousarray(item.embedding, dtype=np.float32).tobytes(),
            ),
        )
        pk = int(cursor.lastrowid or 0)
        conn.execute(
            "INSERT INTO fts_turn (rowid, body, scope) VALUES (?, ?, ?)",
            (pk, turn_body(item.speaker, item.text, item.date_words), scope_token(user_id)),
        )
        return pk

    def _refresh_derived(
        self, conn: sqlite3.Connection, user_id: str, touched: dict[str, set[int]]
    ) -> None:
        for key, seqs in touched.items():
            refresh_windows(conn, user_id, key, seqs)
            refresh_sessions(conn, user_id, {(key, s // SESSION_SEGMENT) for s in seqs})

    @staticmethod
    def _reserve_vec_ids(conn: sqlite3.Connection, n: int) -> int:
        """Reserve n vector ids; returns the id before the first. Ids never go down, even
        after a delete_all, so a cache can tell new rows from old ones."""
        conn.execute(
            "INSERT INTO counters VALUES ('vec_id',"
            " (SELECT coalesce(max(vec_id), 0) FROM memories)) ON CONFLICT (name) DO NOTHING"
        )
        row = conn.execute(
            "UPDATE counters SET value = value + ? WHERE name = 'vec_id' RETURNING value", (n,)
        ).fetchone()
        return int(row[0]) - n

    def _bump_scope(
        self,
        conn: sqlite3.Connection,
        user_id: str,
        *,
        max_vec_id: int = 0,
        added: int = 0,
        deleted: int = 0,
    ) -> None:
        conn.execute(
            """INSERT INTO scope_state (user_id, epoch, max_vec_id, deletes, rows)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (user_id) DO UPDATE SET
                 epoch = CASE WHEN epoch = 0 THEN excluded.epoch ELSE epoch END,
                 max_vec_id = max(max_vec_id, excluded.max_vec_id),
                 deletes = deletes + excluded.deletes,
                 rows = rows + excluded.rows""",
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
        now = _iso(datetime.now(UTC))
        with self._write() as conn:
            row = self._locate(conn, memory_id, user_id)
            pk, owner, old_text, version, key, seq, kind = row
            vec_id = self._reserve_vec_ids(conn, 1) + 1
            lexical.count_terms(conn, self._bodies(conn, "pk = ?", pk), sign=-1)
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
            lexical.count_terms(conn, [body])
            if kind == "episode":
                self._refresh_derived(conn, owner, {key: {seq}})
            conn.execute(
                "INSERT INTO history (memory_id, user_id, version, event, text, previous_text,"
                " actor, reason, at) VALUES (?, ?, ?, 'UPDATE', ?, ?, ?, ?, ?)",
                (memory_id, owner, version + 1, item.text, old_text, actor, reason, now),
            )
            self._bump_scope(conn, owner, max_vec_id=vec_id)
        return self.get(memory_id)

    def delete(self, memory_id: str, *, actor: str, user_id: str | None = None) -> int:
        now = _iso(datetime.now(UTC))
        with self._write() as conn:
            pk, owner, text, version, key, seq, kind = self._locate(conn, memory_id, user_id)
            lexical.count_terms(conn, self._bodies(conn, "pk = ?", pk), sign=-1)
            conn.execute("DELETE FROM memories WHERE pk = ?", (pk,))
            conn.execute("DELETE FROM fts_turn WHERE rowid = ?", (pk,))
            conn.execute("DELETE FROM fts_window WHERE rowid = ?", (pk,))
            if kind == "episode":
                self._refresh_derived(conn, owner, {key: {seq}})
            conn.execute(
                "INSERT INTO history (memory_id, user_id, version, event, text, actor, at)"
                " VALUES (?, ?, ?, 'DELETE', ?, ?, ?)",
                (memory_id, owner, version, text, actor, now),
            )
            self._bump_scope(conn, owner, deleted=1)
        return pk

    def delete_all(self, user_id: str) -> dict[str, int]:
        with self._write() as conn:
            lexical.count_terms(conn, self._bodies(conn, "user_id = ?", user_id), sign=-1)
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
