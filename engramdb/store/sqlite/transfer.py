"""Export/import rows of a SQLite store (see engramdb/manage/transfer_rows.py). Writes go
through the store's own transaction and insert path, so documents, vector ids and counters stay
exact; this module lives with the store because it uses the store's internals."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from engramdb.manage.transfer_rows import (
    HISTORY_COLUMNS,
    MEMORY_COLUMNS,
    Record,
    attach_graph,
    field,
    history_entry,
    memory_record,
    new_memory,
    restore_graph,
    session_key,
)
from engramdb.store.sqlite.rows import bump_scope, insert_memory, reserve_vec_ids
from engramdb.store.sqlite.store import SQLiteStore


class SQLiteRows:
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def embedder(self) -> dict[str, Any] | None:
        row = self.store._conn().execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
        return json.loads(row[0]) if row else None

    def _histories(self, ids: list[str]) -> dict[str, list[Record]]:
        out: dict[str, list[Record]] = {i: [] for i in ids}
        conn = self.store._conn()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                f"SELECT {HISTORY_COLUMNS} FROM history WHERE memory_id IN ({marks}) ORDER BY hid",
                chunk,
            ):
                out[row[0]].append(history_entry(row))
        return out

    def memories(self, after_pk: int, limit: int) -> list[tuple[int, Record]]:
        rows = (
            self.store._conn()
            .execute(
                f"SELECT {MEMORY_COLUMNS} FROM memories WHERE pk > ? ORDER BY pk LIMIT ?",
                (after_pk, limit),
            )
            .fetchall()
        )
        out = [(int(r[0]), memory_record(r, np.frombuffer(r[-1], np.float32))) for r in rows]
        attach_graph(out, lambda sql: self._page_rows(sql, [pk for pk, _ in out]))
        histories = self._histories([r["id"] for _, r in out])
        for _, record in out:
            record["history"] = histories[record["id"]]
        return out

    def _page_rows(self, sql: str, pks: list[int]) -> list[tuple[Any, ...]]:
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(pks), 500):
            chunk = pks[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found += self.store._conn().execute(sql.format(pks=marks), chunk).fetchall()
        return found

    def orphans(self, after: str, limit: int) -> list[Record]:
        rows = (
            self.store._conn()
            .execute(
                "SELECT memory_id, min(user_id) FROM history WHERE memory_id > ? AND memory_id"
                " NOT IN (SELECT id FROM memories) GROUP BY memory_id ORDER BY memory_id LIMIT ?",
                (after, limit),
            )
            .fetchall()
        )
        histories = self._histories([r[0] for r in rows])
        return [{"memory_id": m, "user_id": u, "history": histories[m]} for m, u in rows]

    def present(self, records: list[Record]) -> set[str]:
        conn = self.store._conn()
        found: set[str] = set()
        for record in records:
            row = conn.execute(
                "SELECT 1 FROM memories WHERE id = ? OR (user_id = ? AND kind = ?"
                " AND content_hash = ?)",
                (record["id"], record["user_id"], record["kind"], record["content_hash"]),
            ).fetchone()
            if row:
                found.add(record["id"])
        return found

    def write(self, user_id: str, records: list[Record]) -> None:
        store = self.store
        with store._write() as conn:
            next_vec = reserve_vec_ids(conn, len(records))
            touched: dict[str, set[int]] = {}
            for record in records:
                key = session_key(record)
                (top,) = conn.execute(
                    "SELECT coalesce(max(seq) + 1, 0) FROM memories"
                    " WHERE user_id = ? AND session_key = ?",
                    (user_id, key),
                ).fetchone()
                seq = max(int(record["seq"]), int(top))
                next_vec += 1
                pk = insert_memory(
                    conn,
                    user_id,
                    record["agent_id"],
                    new_memory(record),
                    session_key=key,
                    seq=seq,
                    vec_id=next_vec,
                    now=record["created_at"],
                )
                conn.execute(
                    "UPDATE memories SET version = ?, updated_at = ?, uses = ?, last_used_at = ?"
                    " WHERE pk = ?",
                    (
                        record["version"],
                        record["updated_at"],
                        field(record, "uses"),
                        field(record, "last_used_at"),
                        pk,
                    ),
                )
                _insert_history(conn, record["id"], user_id, record["history"])
                if record["kind"] == "episode":
                    touched.setdefault(key, set()).add(seq)
            store._refresh_derived(conn, user_id, touched)
            bump_scope(conn, user_id, max_vec_id=next_vec, added=len(records))
            restore_graph(conn.executemany, user_id, records)

    def write_orphans(self, records: list[Record]) -> int:
        written = 0
        with self.store._write() as conn:
            for record in records:
                if conn.execute(
                    "SELECT 1 FROM history WHERE memory_id = ?", (record["memory_id"],)
                ).fetchone():
                    continue
                _insert_history(conn, record["memory_id"], record["user_id"], record["history"])
                written += 1
        return written


def _insert_history(conn: Any, memory_id: str, user_id: str, entries: list[Record]) -> None:
    conn.execute("DELETE FROM history WHERE memory_id = ?", (memory_id,))
    conn.executemany(
        "INSERT INTO history (memory_id, user_id, version, event, text, previous_text, actor,"
        " reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                memory_id,
                user_id,
                e["version"],
                e["event"],
                e["text"],
                e["previous_text"],
                e["actor"],
                e["reason"],
                e["at"],
            )
            for e in entries
        ],
    )
