"""Export/import rows of the PostgreSQL store (see manage/transfer_rows.py): reads in pk order
on a binary cursor (vectors as numpy arrays); writes through the store's insert path in one
transaction under the user's lock, then restore times, versions, agent ids, use counts,
history, anchors, links and entity mentions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

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
from engramdb.store.postgres.documents import Documents
from engramdb.store.postgres.pool import Conn
from engramdb.store.postgres.store import PostgresStore
from engramdb.store.postgres.writes import bump_scope, insert_rows


class PostgresRows:
    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    def embedder(self) -> dict[str, Any] | None:
        with self.store._read("reading the embedder") as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'embedder'").fetchone()
        return json.loads(row[0]) if row else None

    @staticmethod
    def _histories(conn: Conn, ids: list[str]) -> dict[str, list[Record]]:
        out: dict[str, list[Record]] = {i: [] for i in ids}
        for row in conn.execute(
            f"SELECT {HISTORY_COLUMNS} FROM history WHERE memory_id = ANY(%s) ORDER BY hid",
            (ids,),
        ):
            out[row[0]].append(history_entry(row))
        return out

    def memories(self, after_pk: int, limit: int) -> list[tuple[int, Record]]:
        with self.store._read("export") as conn:
            with conn.cursor(binary=True) as cur:
                rows = cur.execute(
                    f"SELECT {MEMORY_COLUMNS} FROM memories WHERE pk > %s ORDER BY pk LIMIT %s",
                    (after_pk, limit),
                ).fetchall()
            out = [(int(r[0]), memory_record(r, r[-1])) for r in rows]
            pks = [pk for pk, _ in out]
            attach_graph(
                out,
                lambda sql: conn.execute(
                    sql.format(pks="SELECT unnest(%s::bigint[])").encode(), (pks,)
                ).fetchall(),
            )
            histories = self._histories(conn, [r["id"] for _, r in out])
        for _, record in out:
            record["history"] = histories[record["id"]]
        return out

    def orphans(self, after: str, limit: int) -> list[Record]:
        with self.store._read("export") as conn:
            rows = conn.execute(
                """SELECT h.memory_id, min(h.user_id) FROM history h
                   WHERE h.memory_id > %s COLLATE "C"
                     AND NOT EXISTS (SELECT 1 FROM memories m WHERE m.id = h.memory_id)
                   GROUP BY h.memory_id ORDER BY h.memory_id COLLATE "C" LIMIT %s""",
                (after, limit),
            ).fetchall()
            histories = self._histories(conn, [r[0] for r in rows])
        return [{"memory_id": m, "user_id": u, "history": histories[m]} for m, u in rows]

    def present(self, records: list[Record]) -> set[str]:
        with self.store._read("import") as conn:
            rows = conn.execute(
                """SELECT r.id FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])
                     AS r(id, user_id, kind, content_hash)
                   WHERE EXISTS (SELECT 1 FROM memories m WHERE m.id = r.id)
                      OR EXISTS (SELECT 1 FROM memories m WHERE m.user_id = r.user_id
                                 AND m.kind = r.kind AND m.content_hash = r.content_hash)""",
                [[r[k] for r in records] for k in ("id", "user_id", "kind", "content_hash")],
            ).fetchall()
        return {str(r[0]) for r in rows}

    def write(self, user_id: str, records: list[Record]) -> None:
        store = self.store
        with store._write("import", user_id) as conn:
            items = [new_memory(r) for r in records]
            docs = Documents(conn, user_id)
            pks, max_vec_id = insert_rows(
                conn,
                docs,
                None,
                items,
                datetime.now(UTC),
                keys=[session_key(r) for r in records],
                seqs=[int(r["seq"]) for r in records],
            )
            docs.flush()
            bump_scope(conn, user_id, max_vec_id=max_vec_id, added=len(records))
            conn.cursor().executemany(
                "UPDATE memories SET created_at = %s, updated_at = %s, version = %s,"
                " agent_id = %s, uses = %s, last_used_at = %s WHERE pk = %s",
                [
                    (
                        _dt(r["created_at"]),
                        _dt(r["updated_at"]),
                        r["version"],
                        r["agent_id"],
                        field(r, "uses"),
                        _dt(field(r, "last_used_at")),
                        pk,
                    )
                    for r, pk in zip(records, pks, strict=True)
                ],
            )
            _insert_history(conn, user_id, [(r["id"], r["history"]) for r in records])
            restore_graph(
                lambda sql, rows: conn.cursor().executemany(sql.replace("?", "%s"), rows),
                user_id,
                records,
            )

    def write_orphans(self, records: list[Record]) -> int:
        written = 0
        for record in records:
            with self.store._write("import", record["user_id"]) as conn:
                if conn.execute(
                    "SELECT 1 FROM history WHERE memory_id = %s", (record["memory_id"],)
                ).fetchone():
                    continue
                _insert_history(conn, record["user_id"], [(record["memory_id"], record["history"])])
                written += 1
        return written


def _insert_history(conn: Conn, user_id: str, entries: list[tuple[str, list[Record]]]) -> None:
    conn.execute("DELETE FROM history WHERE memory_id = ANY(%s)", ([m for m, _ in entries],))
    rows = [
        (m, user_id, e["version"], e["event"], e["text"], e["previous_text"], e["actor"], *extra)
        for m, history in entries
        for e in history
        for extra in [(e["reason"], _dt(e["at"]))]
    ]
    if rows:
        conn.cursor().executemany(
            "INSERT INTO history (memory_id, user_id, version, event, text, previous_text,"
            " actor, reason, at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
