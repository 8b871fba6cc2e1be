"""Raw rows for ``engram export`` / ``engram import``: one adapter per backend that reads
memories with everything the public API does not hand out (vector, sequence number, history of
deleted memories) and writes them back exactly (ids, times, versions, history).

Writes reuse each store's own insert path inside one of its transactions, so lexical documents,
vector ids and scope counters are maintained exactly as by ``add``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from engramdb.store.base import MemoryStore, NewMemory

Record = dict[str, Any]
_MEMORY = (
    "pk, id, user_id, agent_id, session_id, kind, text, role, speaker, created_at, updated_at,"
    " event_time, valid_from, valid_to, sources, version, content_hash, metadata, date_words,"
    " time_lo, time_hi, has_time, seq, embedding"
)
_HISTORY = "memory_id, version, event, text, previous_text, actor, reason, at"
TIMES = ("created_at", "updated_at", "event_time", "valid_from", "valid_to")


def iso(value: Any) -> str | None:
    """A timestamp as the export writes it: ISO 8601 in UTC (SQLite already stores that)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return str(value.astimezone(UTC).isoformat())


def memory_record(row: tuple[Any, ...], vector: Any) -> Record:
    keys = [k.strip() for k in _MEMORY.split(",")][1:-1]
    record = dict(zip(keys, row[1:-1], strict=True))
    for key in TIMES:
        record[key] = iso(record[key])
    record["sources"] = json.loads(record["sources"])
    record["metadata"] = json.loads(record["metadata"])
    record["has_time"] = bool(record["has_time"])
    record["embedding"] = np.asarray(vector, np.float32)
    return record


def history_entry(row: tuple[Any, ...]) -> Record:
    keys = [k.strip() for k in _HISTORY.split(",")][1:]
    entry = dict(zip(keys, row[1:], strict=True))
    entry["at"] = iso(entry["at"])
    return entry


def new_memory(record: Record) -> NewMemory:
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
