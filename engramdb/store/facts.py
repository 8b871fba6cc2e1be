"""Consolidation's view of the store: reads and writes inside the ``add`` transaction, under the
user's lock, so what it reads cannot change before it writes. Every write names the user."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from engramdb.encode.text import normalise_name
from engramdb.errors import InvalidInputError, NotFoundError
from engramdb.store.base import FACT_SESSION, Inserted, NewMemory, StoredFact
from engramdb.store.dialect import Dialect, Tx
from engramdb.store.documents import Documents, turn_body
from engramdb.store.rows import Change, history, insert_rows, place, set_columns, touch

ENTITY_INSERT = """INSERT INTO entities (user_id, name, norm) VALUES (?, ?, ?)
    ON CONFLICT (user_id, norm) DO NOTHING"""
_TEXT = ["id", "text", "role", "speaker", "session_id", "subject", "attribute", "value", "fact_key"]


def without_nul(item: NewMemory) -> NewMemory:
    """A derived memory without NUL characters (PostgreSQL text cannot hold them): a fact is
    written without them rather than failing the whole add on one backend only."""
    changes: dict[str, Any] = {}
    for name in _TEXT:
        value = getattr(item, name)
        if value and "\x00" in value:
            changes[name] = value.replace("\x00", "")
    if any("\x00" in s for s in item.sources):
        changes["sources"] = [s.replace("\x00", "") for s in item.sources]
    return dataclasses.replace(item, **changes) if changes else item


def check_storable(items: list[NewMemory]) -> None:
    """Text that a backend cannot hold is refused on every backend, naming the message, before
    anything is written: the stores accept the same input."""
    for index, item in enumerate(items):
        if without_nul(item) is not item:
            msg = f"messages[{index}] holds a NUL character, which PostgreSQL cannot store"
            raise InvalidInputError(msg)


class FactSession:
    """What consolidation may do inside ``add`` (which counts ``max_vec_id``, ``inserted``)."""

    def __init__(
        self, d: Dialect, tx: Tx, docs: Documents, agent_id: str | None, now: datetime
    ) -> None:
        self.d, self.tx, self.docs = d, tx, docs
        self.user_id, self.agent_id, self.now = docs.user_id, agent_id, now
        self.max_vec_id = self.inserted = 0

    def facts_for(self, prefix: str) -> list[StoredFact]:
        """Versions of the facts keyed ``prefix`` or ``prefix|…``: ranges in byte order, as
        the fact-key index is ("}" follows "|")."""
        key = f"fact_key{self.d.collate_c}"
        rows = self.tx.all(
            "SELECT pk, id, fact_key, coalesce(value, ''), text, valid_from, valid_to, sources,"
            f" version FROM memories WHERE user_id = ? AND fact_key IS NOT NULL"
            f" AND ({key} = ? OR ({key} >= ? AND {key} < ?)) ORDER BY pk",
            (self.user_id, prefix, prefix + "|", prefix + "}"),
        )
        dec = self.d.decode
        return [
            StoredFact(
                int(pk), mid, key, value, text, dec("time", a), dec("time", b), dec("json", c), v
            )
            for pk, mid, key, value, text, a, b, c, v in rows
        ]

    def insert(self, item: NewMemory, *, actor: str, reason: str) -> tuple[int, bool]:
        """Store a fact; its pk, and False if one with its content hash existed."""
        item = without_nul(item)
        row = self.tx.one(
            "SELECT pk FROM memories WHERE user_id = ? AND kind = ? AND content_hash = ?",
            (self.user_id, item.kind, item.content_hash),
        )
        if row is not None:
            return int(row[0]), False
        rows = place(
            self.tx, self.d, self.user_id, self.agent_id, [item], self.now, keys=[FACT_SESSION]
        )
        (pk,) = insert_rows(self.tx, self.d, self.docs, rows, Change(actor, reason, self.now))
        self.max_vec_id = max(self.max_vec_id, int(rows[0]["vec_id"]))
        self.inserted += 1
        return pk, True

    def _row(self, pk: int, columns: str) -> tuple[Any, ...]:
        row = self.tx.one(
            f"SELECT {columns} FROM memories WHERE pk = ? AND user_id = ?", (pk, self.user_id)
        )
        if row is None:
            raise NotFoundError(f"no memory with pk {pk} for this user")
        return row

    def _history(self, *line: Any) -> None:
        """(memory_id, version, event, text, previous_text, actor, reason)"""
        history(self.tx, self.d, self.user_id, self.now, [line])

    def close(self, pk: int, valid_to: datetime | None, *, actor: str, reason: str) -> None:
        """End a fact's validity at ``valid_to``; None: current again (a move called off)."""
        memory_id, text, version = self._row(pk, "id, text, version")
        set_columns(self.tx, self.d, pk, valid_to=valid_to, updated_at=self.now)
        self.max_vec_id = max(self.max_vec_id, touch(self.tx, self.d, pk))
        event = "INVALIDATE" if valid_to is not None else "UPDATE"
        self._history(memory_id, version, event, text, None, actor, reason)

    def add_sources(self, pk: int, sources: list[str], *, actor: str, reason: str) -> None:
        memory_id, text, version, current = self._row(pk, "id, text, version, sources")
        known = self.d.decode("json", current)
        if new := [s for s in sources if s not in known]:
            set_columns(self.tx, self.d, pk, sources=known + new)
        self._history(memory_id, version, "NOOP", text, None, actor, reason)

    def revise(self, pk: int, item: NewMemory, *, actor: str, reason: str) -> None:
        """A new version of a fact: text, value, embedding; validity unchanged."""
        item = without_nul(item)
        mid, old, version, speaker, sources = self._row(pk, "id, text, version, speaker, sources")
        known = self.d.decode("json", sources)
        merged = known + [s for s in item.sources if s not in known]
        (vec_id,) = self.d.vec_ids(self.tx, 1)
        change: dict[str, Any] = {"text": item.text, "value": item.value, "vec_id": vec_id}
        change.update(embedding=item.embedding, sources=merged, confidence=item.confidence)
        change.update(updated_at=self.now, date_words=item.date_words)
        set_columns(self.tx, self.d, pk, new_version=True, **change)
        self.docs.put("turn", [(pk, turn_body("fact", speaker, item.text, item.date_words))])
        self.max_vec_id = max(self.max_vec_id, vec_id)
        self._history(mid, version + 1, "UPDATE", item.text, old, actor, reason)

    def remark(self, pk: int, metadata: dict[str, Any]) -> None:
        """A message's metadata as enrichment completed it (the guard's marks)."""
        self.tx.run(
            "UPDATE memories SET metadata = ? WHERE pk = ? AND user_id = ?",
            (self.d.encode("json", metadata), pk, self.user_id),
        )

    def link(self, src_pk: int, dst_pk: int, kind: str) -> None:
        self.tx.run(  # both ends must be the user's: a link never crosses scopes
            "INSERT INTO memory_links (src_pk, dst_pk, user_id, kind) SELECT s.pk, d.pk, ?, ?"
            " FROM memories s, memories d WHERE s.pk = ? AND d.pk = ? AND s.user_id = ?"
            " AND d.user_id = ? ON CONFLICT DO NOTHING",
            (self.user_id, kind, src_pk, dst_pk, self.user_id, self.user_id),
        )

    def mention(self, pk: int, names: list[tuple[str, str]]) -> None:
        """The entities (name, role) a memory mentions; a new one keeps its first spelling."""
        first: dict[str, str] = {}
        pairs: list[tuple[str, str]] = []
        for name, role in names:
            norm = normalise_name(name)
            if norm:
                first.setdefault(norm, name)
                if (norm, role) not in pairs:
                    pairs.append((norm, role))
        self.tx.many(ENTITY_INSERT, [(self.user_id, name, norm) for norm, name in first.items()])
        self.tx.many(
            "INSERT INTO memory_entities (memory_pk, entity_pk, user_id, role)"
            " SELECT m.pk, e.pk, ?, ? FROM memories m, entities e WHERE m.pk = ?"
            " AND m.user_id = ? AND e.user_id = ? AND e.norm = ? ON CONFLICT DO NOTHING",
            [(self.user_id, role, pk, self.user_id, self.user_id, norm) for norm, role in pairs],
        )


Consolidator = Callable[[FactSession, list[Inserted]], None]
# deferred enrichment of stored messages (message id → pk), inside Engine.enrich's transaction
Enricher = Callable[[FactSession, dict[str, int]], None]
