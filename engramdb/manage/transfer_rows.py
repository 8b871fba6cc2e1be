"""Raw rows for ``engram export`` / ``engram import``: one adapter per backend that reads
memories with everything the public API does not hand out (vector, sequence number, history of
deleted memories) and writes them back exactly (ids, times, versions, history).

Writes reuse each store's own insert path inside one of its transactions, so lexical documents,
vector ids and scope counters are maintained exactly as by ``add``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from engramdb.store.base import MemoryStore, NewMemory

Record = dict[str, Any]
_MEMORY = (
    "pk, id, user_id, agent_id, session_id, kind, text, role, speaker, created_at, updated_at,"
    " event_time, valid_from, valid_to, sources, version, content_hash, metadata, date_words,"
    " time_lo, time_hi, has_time, seq, session_key, subject, attribute, value, fact_key,"
    " confidence, importance, pinned, expires_at, uses, last_used_at,"
    " (SELECT a.id FROM memories a WHERE a.pk = memories.anchor_pk) AS anchor, embedding"
)
_KEYS = [k.strip().split(" AS ")[-1] for k in _MEMORY.split(",")][1:-1]
_HISTORY = "memory_id, version, event, text, previous_text, actor, reason, at"
TIMES = (
    "created_at",
    "updated_at",
    "event_time",
    "valid_from",
    "valid_to",
    "expires_at",
    "last_used_at",
)
# Fields of facts, lifecycle and the graph are written only where they differ from these
# defaults (the session key: where it is not the session id), so a memory without any of them
# is the same line as in exports made before they existed, digest included.
_DEFAULTS: dict[str, Any] = {
    "subject": None,
    "attribute": None,
    "value": None,
    "fact_key": None,
    "confidence": None,
    "importance": 0.5,
    "pinned": False,
    "expires_at": None,
    "uses": 0,
    "last_used_at": None,
    "anchor": None,
    "links": [],
    "linked_from": [],
    "entities": [],
}
# Graph rows of a page of memories; ``{pks}`` is the store's way of naming the page's pks.
GRAPH_QUERIES = {
    "links": "SELECT l.src_pk, l.kind, d.id FROM memory_links l"
    " JOIN memories d ON d.pk = l.dst_pk WHERE l.src_pk IN ({pks})",
    "linked_from": "SELECT l.dst_pk, l.kind, s.id FROM memory_links l"
    " JOIN memories s ON s.pk = l.src_pk WHERE l.dst_pk IN ({pks})",
    "entities": "SELECT me.memory_pk, e.name, e.norm, me.role FROM memory_entities me"
    " JOIN entities e ON e.pk = me.entity_pk WHERE me.memory_pk IN ({pks})",
}
# Writes that restore the graph by memory ids (``?`` placeholders; PostgreSQL swaps them).
_ANCHOR = """UPDATE memories SET anchor_pk =
    (SELECT a.pk FROM memories a WHERE a.id = ? AND a.user_id = ?) WHERE id = ? AND user_id = ?"""
_LINK = """INSERT INTO memory_links (src_pk, dst_pk, user_id, kind)
    SELECT s.pk, d.pk, s.user_id, ? FROM memories s, memories d
    WHERE s.id = ? AND d.id = ? AND s.user_id = ? AND d.user_id = ? ON CONFLICT DO NOTHING"""
_ENTITY = """INSERT INTO entities (user_id, name, norm) VALUES (?, ?, ?)
    ON CONFLICT (user_id, norm) DO NOTHING"""
_MENTION = """INSERT INTO memory_entities (memory_pk, entity_pk, user_id, role)
    SELECT m.pk, e.pk, m.user_id, ? FROM memories m, entities e
    WHERE m.id = ? AND m.user_id = ? AND e.user_id = ? AND e.norm = ? ON CONFLICT DO NOTHING"""


def iso(value: Any) -> str | None:
    """A timestamp as the export writes it: ISO 8601 in UTC (SQLite already stores that)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return str(value.astimezone(UTC).isoformat())


def memory_record(row: tuple[Any, ...], vector: Any) -> Record:
    """A record from a row of ``MEMORY_COLUMNS``; ``attach_graph`` adds its links and
    entities, then ``finish`` drops the fields at their defaults."""
    record = dict(zip(_KEYS, row[1:-1], strict=True))
    for key in TIMES:
        record[key] = iso(record[key])
    record["sources"] = json.loads(record["sources"])
    record["metadata"] = json.loads(record["metadata"])
    record["has_time"] = bool(record["has_time"])
    record["pinned"] = bool(record["pinned"])
    record["embedding"] = np.asarray(vector, np.float32)
    return record


def attach_graph(
    page: list[tuple[int, Record]], fetch: Callable[[str], Iterable[tuple[Any, ...]]]
) -> None:
    """Give each record its links (both ways, by memory id) and the entities it mentions;
    ``fetch`` runs a ``GRAPH_QUERIES`` query for the page's pks. Then drop default fields."""
    by_pk = {pk: record for pk, record in page}
    for name, sql in GRAPH_QUERIES.items():
        found: dict[int, list[list[Any]]] = {}
        for pk, *rest in fetch(sql):
            found.setdefault(int(pk), []).append(list(rest))
        for pk, record in by_pk.items():
            record[name] = sorted(found.get(pk, []))
    for record in by_pk.values():
        if record["session_key"] == (record["session_id"] or ""):
            del record["session_key"]
        for key, default in _DEFAULTS.items():
            if record[key] == default and type(record[key]) is type(default):
                del record[key]


def session_key(record: Record) -> str:
    """The key of the session a record's sequence number counts in (facts: their own)."""
    return str(record.get("session_key", record["session_id"] or ""))


def field(record: Record, key: str) -> Any:
    return record.get(key, _DEFAULTS[key])


def restore_graph(
    run: Callable[[str, list[tuple[Any, ...]]], object], user_id: str, records: list[Record]
) -> None:
    """After a batch is written: anchors, links and mentions, matched by memory id within the
    user (a link is written by whichever of its ends comes second; missing ends are skipped).
    ``run`` executes one statement for many parameter rows."""
    anchors = [(r["anchor"], user_id, r["id"], user_id) for r in records if r.get("anchor")]
    links: set[tuple[str, str, str]] = set()
    entities: dict[str, str] = {}
    mentions: list[tuple[str, str, str, str, str]] = []
    for r in records:
        links.update((kind, r["id"], dst) for kind, dst in field(r, "links"))
        links.update((kind, src, r["id"]) for kind, src in field(r, "linked_from"))
        for name, norm, role in field(r, "entities"):
            entities.setdefault(norm, name)
            mentions.append((role, r["id"], user_id, user_id, norm))
    for sql, rows in (
        (_ANCHOR, anchors),
        (_LINK, [(k, s, d, user_id, user_id) for k, s, d in sorted(links)]),
        (_ENTITY, [(user_id, name, norm) for norm, name in entities.items()]),
        (_MENTION, mentions),
    ):
        if rows:
            run(sql, rows)


def history_entry(row: tuple[Any, ...]) -> Record:
    keys = [k.strip() for k in _HISTORY.split(",")][1:]
    entry = dict(zip(keys, row[1:], strict=True))
    entry["at"] = iso(entry["at"])
    return entry


def new_memory(record: Record) -> NewMemory:
    """The memory a record describes, as the store's insert path takes it (the anchor is
    restored by id after the batch: ``restore_graph``)."""

    def when(key: str) -> datetime | None:
        value = record.get(key)
        return datetime.fromisoformat(value) if value else None

    return NewMemory(
        id=record["id"],
        kind=record["kind"],
        text=record["text"],
        role=record["role"],
        speaker=record["speaker"],
        session_id=record["session_id"],
        event_time=when("event_time"),
        sources=list(record["sources"]),
        content_hash=record["content_hash"],
        metadata=dict(record["metadata"]),
        embedding=np.asarray(record["embedding"], np.float32),
        date_words=record["date_words"],
        time_lo=record["time_lo"],
        time_hi=record["time_hi"],
        has_time=bool(record["has_time"]),
        valid_from=when("valid_from"),
        valid_to=when("valid_to"),
        subject=field(record, "subject"),
        attribute=field(record, "attribute"),
        value=field(record, "value"),
        fact_key=field(record, "fact_key"),
        confidence=field(record, "confidence"),
        importance=float(field(record, "importance")),
        pinned=bool(field(record, "pinned")),
        expires_at=when("expires_at"),
    )


class Rows(Protocol):
    def embedder(self) -> dict[str, Any] | None: ...

    def memories(self, after_pk: int, limit: int) -> list[tuple[int, Record]]:
        """Memories with pk > after_pk in pk order, each with its history."""
        ...

    def orphans(self, after: str, limit: int) -> list[Record]:
        """History of deleted memories, by memory id > after: {memory_id, user_id, history}."""
        ...

    def present(self, records: list[Record]) -> set[str]:
        """Ids of records already in the store (same id, or same user/kind/content hash)."""
        ...

    def write(self, user_id: str, records: list[Record]) -> None:
        """Write one user's memory records in one transaction."""
        ...

    def write_orphans(self, records: list[Record]) -> int:
        """Write history of deleted memories not yet present; returns how many were new."""
        ...


def rows_of(store: MemoryStore) -> Rows:
    from engramdb.store.sqlite.store import SQLiteStore

    if isinstance(store, SQLiteStore):
        from engramdb.store.sqlite.transfer import SQLiteRows

        return SQLiteRows(store)
    from engramdb.store.postgres.store import PostgresStore

    if isinstance(store, PostgresStore):
        from engramdb.store.postgres.transfer import PostgresRows

        return PostgresRows(store)
    raise TypeError(f"cannot transfer rows of {type(store).__name__}")


MEMORY_COLUMNS = _MEMORY
HISTORY_COLUMNS = _HISTORY
