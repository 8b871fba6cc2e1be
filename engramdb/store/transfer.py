"""Raw rows for export and import (manage/transfer.py): memories with what the API does not
hand out (vector, sequence number, history of deleted memories), in pk order, written back
exactly through the engine's insert path, so documents, vector ids and counters stay exact.
A record: the exported columns (record.py) as Python values, the anchor's id, links both ways
and the entities mentioned."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from engramdb.store.base import NewMemory
from engramdb.store.dialect import Dialect, Tx, chunks, marks
from engramdb.store.documents import Documents
from engramdb.store.facts import ENTITY_INSERT
from engramdb.store.record import EXPORTED
from engramdb.store.rows import HISTORY_INSERT, bump_scope, insert_rows, place

Record = dict[str, Any]
_COLUMNS = ", ".join(f"m.{c.name}" for c in EXPORTED)
_HISTORY = ["memory_id", "version", "event", "text", "previous_text", "actor", "reason", "at"]
# columns an import writes as the export found them, over what place() gives a new memory
_KEPT = ("created_at", "updated_at", "agent_id", "version", "uses", "last_used_at")
# graph rows of a page of memories, by the page's pks
_GRAPH = {
    "links": "SELECT l.src_pk, l.kind, d.id FROM memory_links l"
    " JOIN memories d ON d.pk = l.dst_pk WHERE l.src_pk IN ({pks})",
    "linked_from": "SELECT l.dst_pk, l.kind, s.id FROM memory_links l"
    " JOIN memories s ON s.pk = l.src_pk WHERE l.dst_pk IN ({pks})",
    "entities": "SELECT me.memory_pk, e.name, e.norm, me.role FROM memory_entities me"
    " JOIN entities e ON e.pk = me.entity_pk WHERE me.memory_pk IN ({pks})",
}
# writes that restore the graph by memory ids, after a batch is in
_ANCHOR = """UPDATE memories SET anchor_pk =
    (SELECT a.pk FROM memories a WHERE a.id = ? AND a.user_id = ?) WHERE id = ? AND user_id = ?"""
_LINK = """INSERT INTO memory_links (src_pk, dst_pk, user_id, kind)
    SELECT s.pk, d.pk, s.user_id, ? FROM memories s, memories d
    WHERE s.id = ? AND d.id = ? AND s.user_id = ? AND d.user_id = ? ON CONFLICT DO NOTHING"""
_MENTION = """INSERT INTO memory_entities (memory_pk, entity_pk, user_id, role)
    SELECT m.pk, e.pk, m.user_id, ? FROM memories m, entities e
    WHERE m.id = ? AND m.user_id = ? AND e.user_id = ? AND e.norm = ? ON CONFLICT DO NOTHING"""


class TransferRows:
    def __init__(self, dialect: Dialect) -> None:
        self.d = dialect

    def embedder(self) -> dict[str, Any] | None:
        with self.d.read("reading the embedder") as tx:
            row = tx.one("SELECT value FROM meta WHERE key = 'embedder'")
        return self.d.decode("json", row[0]) if row else None

    def _histories(self, tx: Tx, ids: Sequence[str]) -> dict[str, list[Record]]:
        out: dict[str, list[Record]] = {i: [] for i in ids}
        for chunk in chunks(ids):
            sql = (
                f"SELECT {', '.join(_HISTORY)} FROM history"
                f" WHERE memory_id IN ({marks(len(chunk))}) ORDER BY hid"
            )
            for row in tx.all(sql, chunk):
                entry = dict(zip(_HISTORY[1:], row[1:], strict=True))
                entry["at"] = self.d.decode("time", entry["at"])
                out[row[0]].append(entry)
        return out

    def memories(self, after_pk: int, limit: int) -> list[tuple[int, Record]]:
        """Memories with pk > after_pk in pk order, each with its history and graph."""
        with self.d.read("export") as tx:
            rows = tx.all(
                f"SELECT m.pk, {_COLUMNS}, (SELECT a.id FROM memories a WHERE a.pk = m.anchor_pk)"
                " FROM memories m WHERE m.pk > ? ORDER BY m.pk LIMIT ?",
                (after_pk, limit),
            )
            page = [(int(r[0]), self._record(r[1:])) for r in rows]
            by_pk = dict(page)
            for name, sql in _GRAPH.items():
                found: dict[int, list[list[Any]]] = {}
                for chunk in chunks(list(by_pk)):
                    for pk, *rest in tx.all(sql.format(pks=marks(len(chunk))), chunk):
                        found.setdefault(int(pk), []).append(list(rest))
                for pk, record in by_pk.items():
                    record[name] = sorted(found.get(pk, []))
            histories = self._histories(tx, [r["id"] for _, r in page])
        for _, record in page:
            record["history"] = histories[record["id"]]
        return page

    def _record(self, row: Sequence[Any]) -> Record:
        record = {c.name: self.d.decode(c.codec, v) for c, v in zip(EXPORTED, row, strict=False)}
        return {**record, "anchor": row[len(EXPORTED)]}

    def orphans(self, after: str, limit: int) -> list[Record]:
        """History of deleted memories, by memory id > after."""
        c = self.d.collate_c
        with self.d.read("export") as tx:
            rows = tx.all(
                f"""SELECT h.memory_id, min(h.user_id) FROM history h
                    WHERE h.memory_id{c} > ? AND NOT EXISTS
                      (SELECT 1 FROM memories m WHERE m.id = h.memory_id)
                    GROUP BY h.memory_id ORDER BY h.memory_id{c} LIMIT ?""",
                (after, limit),
            )
            histories = self._histories(tx, [r[0] for r in rows])
        return [{"memory_id": m, "user_id": u, "history": histories[m]} for m, u in rows]

    def present(self, records: list[Record]) -> set[str]:
        """Ids of records already in the store (same id, or same user/kind/content hash)."""
        found: set[str] = set()
        with self.d.read("import") as tx:
            for r in records:
                if tx.one(
                    "SELECT 1 FROM memories WHERE id = ? OR (user_id = ? AND kind = ?"
                    " AND content_hash = ?)",
                    (r["id"], r["user_id"], r["kind"], r["content_hash"]),
                ):
                    found.add(r["id"])
        return found

    def write(self, user_id: str, records: list[Record]) -> None:
        """One user's records (every field present) in one transaction, under the user's lock."""
        with self.d.write("import", user_id) as tx:
            docs = Documents(self.d, tx, user_id)
            at, items = datetime.now(UTC), [new_memory(r) for r in records]
            keys, seqs = [r["session_key"] for r in records], [int(r["seq"]) for r in records]
            rows = place(tx, self.d, user_id, None, items, at, keys=keys, seqs=seqs)
            for row, r in zip(rows, records, strict=True):  # what the export kept, as it was
                row.update({name: r[name] for name in _KEPT})
            insert_rows(tx, self.d, docs, rows, None)
            docs.flush()
            top = max(int(r["vec_id"]) for r in rows)
            bump_scope(tx, self.d, user_id, max_vec_id=top, added=len(rows))
            self._history(tx, user_id, [(r["id"], r["history"]) for r in records])
            self._graph(tx, user_id, records)

    def _history(self, tx: Tx, user_id: str, entries: list[tuple[str, list[Record]]]) -> None:
        for chunk in chunks([m for m, _ in entries]):
            where = f"user_id = ? AND memory_id IN ({marks(len(chunk))})"
            tx.run(f"DELETE FROM history WHERE {where}", (user_id, *chunk))
        lines = [
            (m, user_id, *(e[k] for k in _HISTORY[1:-1]), self.d.time(e["at"]))
            for m, entries_of in entries
            for e in entries_of
        ]
        tx.many(HISTORY_INSERT, lines)

    def _graph(self, tx: Tx, user_id: str, records: list[Record]) -> None:
        """Anchors, links and mentions, matched by memory id within the user (a link is written
        by whichever of its ends comes second; missing ends are skipped)."""
        anchors = [(r["anchor"], user_id, r["id"], user_id) for r in records if r.get("anchor")]
        links: set[tuple[str, str, str]] = set()
        entities: dict[str, str] = {}
        mentions: list[tuple[str, str, str, str, str]] = []
        for r in records:
            links.update((kind, r["id"], dst) for kind, dst in r["links"])
            links.update((kind, src, r["id"]) for kind, src in r["linked_from"])
            for name, norm, role in r["entities"]:
                entities.setdefault(norm, name)
                mentions.append((role, r["id"], user_id, user_id, norm))
        tx.many(_ANCHOR, anchors)
        tx.many(_LINK, [(k, s, d, user_id, user_id) for k, s, d in sorted(links)])
        tx.many(ENTITY_INSERT, [(user_id, name, norm) for norm, name in entities.items()])
        tx.many(_MENTION, mentions)

    def write_orphans(self, records: list[Record]) -> int:
        """History of deleted memories not yet present; returns how many were new."""
        written = 0
        for record in records:
            with self.d.write("import", record["user_id"]) as tx:
                if tx.one(
                    "SELECT 1 FROM history WHERE memory_id = ? AND user_id = ?",
                    (record["memory_id"], record["user_id"]),
                ):
                    continue
                self._history(tx, record["user_id"], [(record["memory_id"], record["history"])])
                written += 1
        return written


def new_memory(record: Record) -> NewMemory:
    """The memory a record describes (its anchor is restored by id after the batch)."""
    names = [name for name in NewMemory.__dataclass_fields__ if name != "anchor_pk"]
    values: dict[str, Any] = {name: record.get(name) for name in names}
    values["embedding"] = np.asarray(record["embedding"], np.float32)
    return NewMemory(**values)
