"""The PostgreSQL store's graph and lifecycle operations (the counterparts of sqlite/graph.py):
entities, relations, links between memories, the current facts of a user, pinning, expiry and
use counts. Mixed into ``PostgresStore``, which provides the connections and transactions."""

from __future__ import annotations

import builtins
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from engramdb.encode.text import normalise_name
from engramdb.errors import NotFoundError
from engramdb.models import Entity, MemoryItem, Relation
from engramdb.store.base import entity_scores
from engramdb.store.postgres.pool import Conn
from engramdb.store.postgres.reads import COLUMNS, PostgresReads, row_to_item, utc
from engramdb.store.postgres.writes import bump_scope, touch


class PostgresGraph(PostgresReads):
    if TYPE_CHECKING:

        def _write(self, what: str, user_id: str | None) -> AbstractContextManager[Conn]:
            """PostgresStore's write transaction under the user's lock."""
            ...

    @staticmethod
    def _pk_of(conn: Conn, memory_id: str, user_id: str | None) -> int:
        query, args = "SELECT pk FROM memories WHERE id = %s", [memory_id]
        if user_id is not None:
            query += " AND user_id = %s"
            args.append(user_id)
        row = conn.execute(query.encode(), args).fetchone()
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
        owner = user_id if user_id is not None else self.get(memory_id).user_id
        with self._write("set_lifecycle", owner) as conn:
            pk = self._pk_of(conn, memory_id, owner)
            if pinned is not None:
                conn.execute("UPDATE memories SET pinned = %s WHERE pk = %s", (pinned, pk))
            if importance is not None:
                conn.execute("UPDATE memories SET importance = %s WHERE pk = %s", (importance, pk))
            if expires_at != "keep":
                conn.execute("UPDATE memories SET expires_at = %s WHERE pk = %s", (expires_at, pk))
                bump_scope(conn, owner, max_vec_id=touch(conn, pk))
        return self.get_many([pk])[pk]

    def record_uses(self, uses: dict[int, int], at: datetime) -> None:
        """One autocommit statement per row, in pk order: a row locked by a writer (a fact being
        revised) delays its count but never deadlocks, as a multi-row transaction could."""
        if not uses:
            return
        with self._read("record_uses") as conn, conn.cursor() as cur:
            for pk in sorted(uses):
                cur.execute(
                    "UPDATE memories SET uses = uses + %s, last_used_at = %s WHERE pk = %s",
                    (uses[pk], at, pk),
                )

    def linked(self, memory_id: str, user_id: str | None, kind: str) -> builtins.list[MemoryItem]:
        with self._read("linked") as conn:
            pk = self._pk_of(conn, memory_id, user_id)
            rows = conn.execute(
                f"""SELECT {COLUMNS} FROM memories WHERE pk IN
                    (SELECT dst_pk FROM memory_links WHERE src_pk = %s AND kind = %s)
                    ORDER BY pk""".encode(),
                (pk, kind),
            ).fetchall()
        return [row_to_item(r) for r in rows]

    def current_facts(self, user_id: str, at: datetime, limit: int) -> builtins.list[MemoryItem]:
        with self._read("current_facts") as conn:
            rows = conn.execute(
                f"""SELECT {COLUMNS} FROM memories
                    WHERE user_id = %(u)s AND kind = 'fact'
                      AND (coalesce(attribute, '') <> 'note' OR pinned)
                      AND (valid_from IS NULL OR valid_from <= %(at)s)
                      AND (valid_to IS NULL OR valid_to > %(at)s)
                      AND (expires_at IS NULL OR expires_at > %(at)s)
                    ORDER BY pinned DESC, importance DESC,
                      coalesce(valid_from, created_at) DESC, pk
                    LIMIT %(n)s""".encode(),
                {"u": user_id, "at": at.astimezone(UTC), "n": limit},
            ).fetchall()
        return [row_to_item(r) for r in rows]

    def entities(self, user_id: str, limit: int) -> builtins.list[Entity]:
        with self._read("entities") as conn:
            rows = conn.execute(
                """SELECT e.name, count(DISTINCT me.memory_pk) AS n FROM entities e
                   JOIN memory_entities me ON me.entity_pk = e.pk
                   WHERE e.user_id = %s GROUP BY e.pk, e.name
                   ORDER BY n DESC, e.name COLLATE "C" LIMIT %s""",
                (user_id, limit),
            ).fetchall()
        return [Entity(name=r[0], memories=int(r[1])) for r in rows]

    def relations(self, user_id: str, entity: str | None, limit: int) -> builtins.list[Relation]:
        sql = """SELECT m.subject, m.attribute, m.value, m.id, m.valid_from, m.valid_to
                 FROM memories m WHERE m.user_id = %s AND m.kind = 'fact'
                 AND EXISTS (SELECT 1 FROM memory_entities o
                             WHERE o.memory_pk = m.pk AND o.role = 'object')"""
        args: list[object] = [user_id]
        if entity is not None:
            sql += """ AND m.pk IN (SELECT me.memory_pk FROM memory_entities me
                       JOIN entities e ON e.pk = me.entity_pk
                       WHERE e.user_id = %s AND e.norm = %s)"""
            args += [user_id, normalise_name(entity)]
        with self._read("relations") as conn:
            rows = conn.execute(
                (sql + " ORDER BY m.pk DESC LIMIT %s").encode(), [*args, limit]
            ).fetchall()
        return [
            Relation(
                subject=r[0] or "",
                attribute=r[1] or "",
                object=r[2] or "",
                fact_id=r[3],
                valid_from=utc(r[4]),
                valid_to=utc(r[5]),
            )
            for r in rows
        ]

    def entity_memories(self, user_id: str, norms: builtins.list[str]) -> dict[int, float]:
        """Memories mentioning the entities, weighted by each entity's rarity, and one hop
        on the source turns of facts about them (see ``entity_scores``)."""
        if not norms:
            return {}
        with self._read("entity_memories") as conn:
            mentions = conn.execute(
                """WITH hit AS (SELECT pk FROM entities WHERE user_id = %s AND norm = ANY(%s)),
                        df AS (SELECT entity_pk, count(DISTINCT memory_pk) AS n
                               FROM memory_entities WHERE entity_pk IN (SELECT pk FROM hit)
                               GROUP BY entity_pk)
                   SELECT DISTINCT me.memory_pk, me.entity_pk, df.n
                   FROM memory_entities me JOIN df ON df.entity_pk = me.entity_pk""",
                (user_id, norms),
            ).fetchall()
            pks = list({int(m) for m, _, _ in mentions})
            hops = conn.execute(
                "SELECT src_pk, dst_pk FROM memory_links WHERE kind = 'source'"
                " AND src_pk = ANY(%s) ORDER BY src_pk, dst_pk",
                (pks,),
            ).fetchall()
        total = self.scope_state(user_id).rows
        rows = [(int(m), int(e), int(n)) for m, e, n in mentions]
        return entity_scores(rows, total, [(int(a), int(b)) for a, b in hops])
