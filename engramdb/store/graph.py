"""The engine's graph and lifecycle: entities, relations, links, current facts, pins, uses."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any, Literal

from engramdb.encode.text import normalise_name
from engramdb.models import Entity, MemoryItem, Relation
from engramdb.store.base import EntityMentions
from engramdb.store.dialect import Tx, chunks, marks
from engramdb.store.reads import Reads, by_id
from engramdb.store.rows import bump_scope, set_columns, touch


def pk_of(tx: Tx, memory_id: str, user_id: str | None) -> tuple[int, str]:
    pk, owner = by_id(tx, "pk, user_id", memory_id, user_id)
    return int(pk), str(owner)


class Graph(Reads):
    def owner(self, memory_id: str, user_id: str | None) -> str:
        """The user a memory belongs to (writes lock that user before they look again)."""
        if user_id is not None:
            return user_id
        with self.d.read("locating a memory") as tx:
            return pk_of(tx, memory_id, None)[1]

    def set_lifecycle(
        self,
        memory_id: str,
        user_id: str | None,
        *,
        pinned: bool | None = None,
        importance: float | None = None,
        expires_at: datetime | Literal["keep"] | None = "keep",
    ) -> MemoryItem:
        owner = self.owner(memory_id, user_id)
        with self.d.write("set_lifecycle", owner) as tx:
            pk, _ = pk_of(tx, memory_id, owner)
            asked = {"pinned": pinned, "importance": importance, "expires_at": expires_at}
            change: dict[str, Any] = {k: v for k, v in asked.items() if v not in (None, "keep")}
            if expires_at is None:
                change["expires_at"] = None  # None clears the expiry; "keep" keeps it
            if change:
                set_columns(tx, self.d, pk, **change)
            if expires_at != "keep":
                bump_scope(tx, self.d, owner, max_vec_id=touch(tx, self.d, pk))
        return self.get_many([pk])[pk]

    def record_uses(self, uses: dict[int, int], at: datetime) -> None:
        """Count search results. With row locks (PostgreSQL) one statement a row outside a
        transaction, which a writer delays but never deadlocks; elsewhere one transaction."""
        sql = "UPDATE memories SET uses = uses + ?, last_used_at = ? WHERE pk = ?"
        rows = [(uses[pk], self.d.time(at), pk) for pk in sorted(uses)]
        if not rows:
            return
        if self.d.row_locks:
            with self.d.read("record_uses") as tx:
                for row in rows:
                    tx.run(sql, row)
        else:
            with self.d.write("record_uses", None) as tx:
                tx.many(sql, rows)

    def linked(self, memory_id: str, user_id: str | None, kind: str) -> builtins.list[MemoryItem]:
        with self.d.read("linked") as tx:
            pk, _ = pk_of(tx, memory_id, user_id)
            where = "pk IN (SELECT dst_pk FROM memory_links WHERE src_pk = ? AND kind = ?)"
            return self.items(tx, where, (pk, kind), "ORDER BY pk")

    def successors(self, pks: builtins.list[int]) -> dict[int, builtins.list[str]]:
        """The ids of the facts that superseded each of ``pks`` (their ``supersedes`` links)."""
        out: dict[int, builtins.list[str]] = {}
        with self.d.read("successors") as tx:
            for chunk in chunks(pks):
                for dst, memory_id in tx.all(
                    "SELECT l.dst_pk, m.id FROM memory_links l JOIN memories m ON m.pk = l.src_pk"
                    f" WHERE l.kind = 'supersedes' AND l.dst_pk IN ({marks(len(chunk))})"
                    " ORDER BY l.src_pk",
                    tuple(chunk),
                ):
                    out.setdefault(int(dst), []).append(memory_id)
        return out

    def current_facts(self, user_id: str, at: datetime, limit: int) -> builtins.list[MemoryItem]:
        when = self.d.time(at)
        with self.d.read("current_facts") as tx:
            return self.items(
                tx,
                """user_id = ? AND kind = 'fact'
                   AND (coalesce(attribute, '') <> 'note' OR pinned)
                   AND (valid_from IS NULL OR valid_from <= ?)
                   AND (valid_to IS NULL OR valid_to > ?)
                   AND (expires_at IS NULL OR expires_at > ?)""",
                (user_id, when, when, when, limit),
                "ORDER BY pinned DESC, importance DESC, coalesce(valid_from, created_at) DESC, pk"
                " LIMIT ?",
            )

    def entities(self, user_id: str, limit: int) -> builtins.list[Entity]:
        with self.d.read("entities") as tx:
            rows = tx.all(
                "SELECT e.name, count(DISTINCT me.memory_pk) AS n FROM entities e"
                " JOIN memory_entities me ON me.entity_pk = e.pk WHERE e.user_id = ?"
                f" GROUP BY e.pk, e.name ORDER BY n DESC, e.name{self.d.collate_c} LIMIT ?",
                (user_id, limit),
            )
        return [Entity(name=r[0], memories=int(r[1])) for r in rows]

    def relations(self, user_id: str, entity: str | None, limit: int) -> builtins.list[Relation]:
        sql = """SELECT m.subject, m.attribute, m.value, m.id, m.valid_from, m.valid_to
                 FROM memories m WHERE m.user_id = ? AND m.kind = 'fact'
                 AND EXISTS (SELECT 1 FROM memory_entities o
                             WHERE o.memory_pk = m.pk AND o.role = 'object')"""
        args: list[object] = [user_id]
        if entity is not None:
            sql += """ AND m.pk IN (SELECT me.memory_pk FROM memory_entities me
                       JOIN entities e ON e.pk = me.entity_pk WHERE e.user_id = ? AND e.norm = ?)"""
            args += [user_id, normalise_name(entity)]
        with self.d.read("relations") as tx:
            rows = tx.all(sql + " ORDER BY m.pk DESC LIMIT ?", [*args, limit])
        keys, t = ("subject", "attribute", "object"), self.d.decode
        return [
            Relation(**dict(zip(keys, (v or "" for v in r[:3]), strict=True)), fact_id=r[3],
                     valid_from=t("time", r[4]), valid_to=t("time", r[5]))
            for r in rows
        ]  # fmt: skip

    def entity_memories(self, user_id: str, norms: builtins.list[str]) -> EntityMentions:
        """The memories mentioning these entities, how many memories mention each entity,
        and the source turns of the facts among them (retrieval turns this into scores)."""
        if not norms:
            return EntityMentions([], 0, [])
        with self.d.read("entity_memories") as tx:
            mentions = tx.all(
                f"""WITH hit AS (SELECT pk FROM entities WHERE user_id = ?
                                 AND norm IN ({marks(len(norms))})),
                         df AS (SELECT entity_pk, count(DISTINCT memory_pk) AS n
                                FROM memory_entities WHERE entity_pk IN (SELECT pk FROM hit)
                                GROUP BY entity_pk)
                    SELECT DISTINCT me.memory_pk, me.entity_pk, df.n
                    FROM memory_entities me JOIN df ON df.entity_pk = me.entity_pk""",
                (user_id, *norms),
            )
            pks = sorted({int(m) for m, _, _ in mentions})
            hops: list[tuple[int, int]] = []
            for chunk in chunks(pks):
                sql = (
                    "SELECT src_pk, dst_pk FROM memory_links WHERE kind = 'source'"
                    f" AND src_pk IN ({marks(len(chunk))}) ORDER BY src_pk, dst_pk"
                )
                hops += [(int(a), int(b)) for a, b in tx.all(sql, chunk)]
        rows = [(int(m), int(e), int(n)) for m, e, n in mentions]
        return EntityMentions(rows, self.scope_state(user_id).rows, hops)
