"""The SQLite store's graph and lifecycle operations: entities, relations, links between
memories, the current facts of a user, pinning, expiry and use counts."""

from __future__ import annotations

import builtins
import sqlite3
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Literal

from engramdb.errors import NotFoundError
from engramdb.models import Entity, MemoryItem, Relation
from engramdb.store.base import entity_scores
from engramdb.store.sqlite.reads import COLUMNS, SQLiteReads, row_to_item
from engramdb.store.sqlite.rows import bump_scope, iso, touch


class SQLiteGraph(SQLiteReads):
    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # SQLiteStore's write transaction

    def _pk_of(self, conn: sqlite3.Connection, memory_id: str, user_id: str | None) -> int:
        query, args = "SELECT pk FROM memories WHERE id = ?", [memory_id]
        if user_id is not None:
            query += " AND user_id = ?"
            args.append(user_id)
        row = conn.execute(query, args).fetchone()
        if row is None:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return int(row[0])

    def set_lifecycle(
        self,
        memory_id: str,
        user_id: str | None,
        *,
        pinned: bool | None = None,
        importance: float | None = None,
        expires_at: datetime | Literal["keep"] | None = "keep",
    ) -> MemoryItem:
        with self._write() as conn:
            pk = self._pk_of(conn, memory_id, user_id)
            owner = conn.execute("SELECT user_id FROM memories WHERE pk = ?", (pk,)).fetchone()[0]
            if pinned is not None:
                conn.execute("UPDATE memories SET pinned = ? WHERE pk = ?", (int(pinned), pk))
            if importance is not None:
                conn.execute("UPDATE memories SET importance = ? WHERE pk = ?", (importance, pk))
            if expires_at != "keep":
                conn.execute(
                    "UPDATE memories SET expires_at = ? WHERE pk = ?", (iso(expires_at), pk)
                )
                bump_scope(conn, owner, max_vec_id=touch(conn, pk))
        return self.get_many([pk])[pk]

    def record_uses(self, uses: dict[int, int], at: datetime) -> None:
        if not uses:
            return
        with self._write() as conn:
            conn.executemany(
                "UPDATE memories SET uses = uses + ?, last_used_at = ? WHERE pk = ?",
                [(n, iso(at), pk) for pk, n in uses.items()],
            )

    def linked(self, memory_id: str, user_id: str | None, kind: str) -> builtins.list[MemoryItem]:
        conn = self._conn()
        pk = self._pk_of(conn, memory_id, user_id)
        rows = conn.execute(
            f"""SELECT {COLUMNS} FROM memories WHERE pk IN
                (SELECT dst_pk FROM memory_links WHERE src_pk = ? AND kind = ?) ORDER BY pk""",
            (pk, kind),
        )
        return [row_to_item(r) for r in rows]

    def current_facts(self, user_id: str, at: datetime, limit: int) -> builtins.list[MemoryItem]:
        when = iso(at)
        rows = self._conn().execute(
            f"""SELECT {COLUMNS} FROM memories
                WHERE user_id = ? AND kind = 'fact'
                  AND (coalesce(attribute, '') <> 'note' OR pinned)
                  AND (valid_from IS NULL OR valid_from <= ?)
                  AND (valid_to IS NULL OR valid_to > ?)
                  AND (expires_at IS NULL OR expires_at > ?)
                ORDER BY pinned DESC, importance DESC, coalesce(valid_from, created_at) DESC, pk
                LIMIT ?""",
            (user_id, when, when, when, limit),
        )
        return [row_to_item(r) for r in rows]

    def entities(self, user_id: str, limit: int) -> builtins.list[Entity]:
        rows = self._conn().execute(
            """SELECT e.name, count(DISTINCT me.memory_pk) AS n FROM entities e
               JOIN memory_entities me ON me.entity_pk = e.pk
               WHERE e.user_id = ? GROUP BY e.pk ORDER BY n DESC, e.name LIMIT ?""",
            (user_id, limit),
        )
        return [Entity(name=r[0], memories=r[1]) for r in rows]

    def relations(self, user_id: str, entity: str | None, limit: int) -> builtins.list[Relation]:
        from engramdb.encode.text import normalise_name

        sql = """SELECT m.subject, m.attribute, m.value, m.id, m.valid_from, m.valid_to
                 FROM memories m WHERE m.user_id = ? AND m.kind = 'fact'
                 AND EXISTS (SELECT 1 FROM memory_entities o
                             WHERE o.memory_pk = m.pk AND o.role = 'object')"""
        args: list[object] = [user_id]
        if entity is not None:
            sql += """ AND m.pk IN (SELECT me.memory_pk FROM memory_entities me
                       JOIN entities e ON e.pk = me.entity_pk WHERE e.user_id = ? AND e.norm = ?)"""
            args += [user_id, normalise_name(entity)]
        rows = self._conn().execute(sql + " ORDER BY m.pk DESC LIMIT ?", [*args, limit])
        return [
            Relation(
                subject=r[0] or "",
                attribute=r[1] or "",
                object=r[2] or "",
                fact_id=r[3],
                valid_from=datetime.fromisoformat(r[4]) if r[4] else None,
                valid_to=datetime.fromisoformat(r[5]) if r[5] else None,
            )
            for r in rows
        ]

    def entity_memories(self, user_id: str, norms: builtins.list[str]) -> dict[int, float]:
        if not norms:
            return {}
        marks = ",".join("?" * len(norms))
        conn = self._conn()
        mentions = conn.execute(
            f"""WITH hit AS (SELECT pk FROM entities WHERE user_id = ? AND norm IN ({marks})),
                     df AS (SELECT entity_pk, count(DISTINCT memory_pk) AS n
                            FROM memory_entities WHERE entity_pk IN (SELECT pk FROM hit)
                            GROUP BY entity_pk)
                SELECT DISTINCT me.memory_pk, me.entity_pk, df.n
                FROM memory_entities me JOIN df ON df.entity_pk = me.entity_pk""",
            (user_id, *norms),
        ).fetchall()
        total = self.scope_state(user_id).rows
        pks = list({m for m, _, _ in mentions})
        hops: list[tuple[int, int]] = []
        for start in range(0, len(pks), 500):
            chunk = pks[start : start + 500]
            hops += conn.execute(
                f"""SELECT src_pk, dst_pk FROM memory_links
                    WHERE kind = 'source' AND src_pk IN ({",".join("?" * len(chunk))})""",
                chunk,
            ).fetchall()
        return entity_scores(mentions, total, hops)
