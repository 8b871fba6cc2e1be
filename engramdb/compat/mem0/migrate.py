"""``engram import --format mem0``: a mem0 OSS store (2.2.1 layout) into engramdb, keeping each
memory's id, its user_id/agent_id/run_id, actor and role, metadata, created_at/updated_at,
expiration date and its ADD/UPDATE history, so ``engramdb.compat.mem0`` and the mem0 REST
routes return the same memories under the same ids.

mem0 OSS keeps a memory in two places: the vector store (its default, local Qdrant at a path:
``<path>/collection/<name>/storage.sqlite``, one pickled ``PointStruct`` per row whose payload
holds the text, ids, times and metadata) and the history database (``history.db``: table
``history``, one row per ADD/UPDATE/DELETE). mem0's vectors come from mem0's embedder, of no use
to engramdb's, so each memory is embedded again.

The whole source is read and checked before anything is written. The memories are first
written to a scratch engramdb store (engramdb's own insert path: documents, hashes, vectors),
then copied with their mem0 times and history into the target through the export/import rows
(``store/transfer.py``), which write ids, times and history exactly as given. Re-running the
import adds nothing twice (the same ids are present).
"""

from __future__ import annotations

import io
import pickle
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engramdb.api.memory import Memory
from engramdb.compat.mem0.shapes import IDS, MARK, expiry_of, scope_of
from engramdb.errors import InvalidInputError
from engramdb.manage.transfer import from_file, to_file

HISTORY_FILE = "history.db"
DEFAULT_QDRANT = Path("/tmp/qdrant")  # mem0's QdrantConfig.path default
DEFAULT_COLLECTION = "mem0"
# payload keys that are not metadata (mem0's own ``core_and_promoted_keys``)
CORE_KEYS = {"data", "hash", "created_at", "updated_at", "id", "text_lemmatized", "attributed_to"}
PROMOTED = (*IDS, "actor_id", "role", "expiration_date")
ACTOR = "mem0"  # the actor of imported history rows: mem0 recorded no engramdb actor


@dataclass
class Mem0Memory:
    id: str
    text: str
    ids: dict[str, str | None]
    actor_id: str | None
    role: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    expiration_date: str | None
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Mem0Source:
    history: Path
    qdrant: Path
    collection: str
    memories: list[Mem0Memory]
    deleted: int  # memories mem0 deleted: history only, no owner known, not imported


@dataclass
class Mem0Summary:
    read: int = 0
    written: int = 0
    present: int = 0
    deleted: int = 0
    scopes: set[str] = field(default_factory=set)


# --- reading ---------------------------------------------------------------------------------
def locate(path: Path, qdrant: Path | None) -> tuple[Path, Path]:
    """The history file and the Qdrant folder of a mem0 store: ``path`` is its folder
    (``~/.mem0``) or its history file; Qdrant is ``--qdrant``, else ``<folder>/qdrant``, else
    mem0's default ``/tmp/qdrant``."""
    history = path / HISTORY_FILE if path.is_dir() else path
    if not history.is_file():
        raise InvalidInputError(f"{path} holds no mem0 {HISTORY_FILE}")
    if qdrant is None:
        beside = history.parent / "qdrant"
        qdrant = beside if beside.is_dir() else DEFAULT_QDRANT
    return history, qdrant


def read_source(
    path: Path, qdrant: Path | None = None, collection: str | None = None
) -> Mem0Source:
    history, folder = locate(path, qdrant)
    name = collection or DEFAULT_COLLECTION
    points = _points(folder / "collection" / name / "storage.sqlite", folder, name)
    events = _history(history)
    memories = [_memory(pid, payload, events.get(pid, [])) for pid, payload in points.items()]
    deleted = sum(1 for pid, rows in events.items() if pid not in points and _was_deleted(rows))
    return Mem0Source(history, folder, name, memories, deleted)


class _Point:
    """What a pickled qdrant ``PointStruct`` becomes here: its state, nothing run."""

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _PointUnpickler(pickle.Unpickler):
    # qdrant-client pickles its points; unpickling runs whatever a file names, so only
    # qdrant's model classes are accepted, each as an inert _Point (no qdrant-client needed)
    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("qdrant_client.") and name.isidentifier():
            return _Point
        raise pickle.UnpicklingError(f"unexpected {module}.{name}")


def _points(storage: Path, folder: Path, name: str) -> dict[str, dict[str, Any]]:
    if not storage.is_file():
        raise InvalidInputError(
            f"no Qdrant collection {name!r} at {folder} (give --qdrant and --collection)"
        )
    try:
        with sqlite3.connect(f"file:{storage}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT point FROM points ORDER BY rowid").fetchall()
    except sqlite3.Error as exc:
        raise InvalidInputError(f"{storage} is not a Qdrant local collection: {exc}") from exc
    points: dict[str, dict[str, Any]] = {}
    for (blob,) in rows:  # a later row of the same point replaces an earlier one
        try:
            point = _PointUnpickler(io.BytesIO(blob)).load()
            state = point.state["__dict__"]
            pid, payload = str(state["id"]), state["payload"]
        except Exception as exc:  # any damage of the blob: one message, not a traceback
            raise InvalidInputError(f"{storage} holds a point that cannot be read: {exc}") from exc
        if not isinstance(payload, dict):
            raise InvalidInputError(f"{storage}: point {pid} has no payload")
        points[pid] = payload
    return points


def _history(path: Path) -> dict[str, list[dict[str, Any]]]:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            rows = conn.execute(
                "SELECT memory_id, old_memory, new_memory, event, created_at, updated_at"
                " FROM history ORDER BY updated_at, rowid"
            ).fetchall()
    except sqlite3.Error as exc:
        raise InvalidInputError(f"{path} is not a mem0 history database: {exc}") from exc
    events: dict[str, list[dict[str, Any]]] = {}
    for memory_id, old, new, event, created, updated in rows:
        row = {"old": old, "new": new, "event": event, "created": created, "updated": updated}
        events.setdefault(str(memory_id), []).append(row)
    return events


def _was_deleted(rows: list[dict[str, Any]]) -> bool:
    return any(r["event"] == "DELETE" for r in rows)


def _time(value: Any, what: str) -> datetime:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidInputError(f"{what}: {value!r} is not an ISO 8601 time") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _memory(pid: str, payload: dict[str, Any], events: list[dict[str, Any]]) -> Mem0Memory:
    text = payload.get("data")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"mem0 memory {pid} has no text (payload 'data')")
    ids = {k: None if payload.get(k) is None else str(payload[k]) for k in IDS}
    if not any(ids.values()):
        raise InvalidInputError(f"mem0 memory {pid} has no user_id, agent_id or run_id")
    created = _time(payload.get("created_at"), f"mem0 memory {pid} created_at")
    updated = payload.get("updated_at")
    metadata = {k: v for k, v in payload.items() if k not in CORE_KEYS and k not in PROMOTED}
    expiry = payload.get("expiration_date")
    if expiry is not None:
        expiry_of(expiry)  # a bad date is the source's fault: refuse it before writing
    return Mem0Memory(
        id=pid,
        text=text,
        ids=ids,
        actor_id=payload.get("actor_id"),
        role=payload.get("role"),
        metadata=metadata,
        created_at=created,
        updated_at=_time(updated, f"mem0 memory {pid} updated_at") if updated else created,
        expiration_date=None if expiry is None else str(expiry),
        history=_entries(pid, text, created, events),
    )


def _entries(
    pid: str, text: str, created: datetime, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """engramdb history entries (export format) from mem0's ADD/UPDATE rows; one ADD of the
    current text if mem0 kept none."""
    out: list[dict[str, Any]] = []
    for row in events:
        if row["event"] not in ("ADD", "UPDATE") or row["new"] is None:
            continue
        at = _time(row["updated"] or row["created"], f"mem0 history of {pid}")
        out.append(
            {
                "version": len(out) + 1,
                "event": "ADD" if not out else "UPDATE",
                "text": row["new"],
                "previous_text": out[-1]["text"] if out else None,
                "actor": ACTOR,
                "reason": "imported from mem0",
                "at": at.astimezone(UTC).isoformat(),
            }
        )
    if not out:
        out.append(
            {
                "version": 1,
                "event": "ADD",
                "text": text,
                "previous_text": None,
                "actor": ACTOR,
                "reason": "imported from mem0",
                "at": created.astimezone(UTC).isoformat(),
            }
        )
    return out


# --- writing ---------------------------------------------------------------------------------
def import_mem0(
    target: Memory, source: Mem0Source, progress: Callable[[str, int, int], None] | None = None
) -> Mem0Summary:
    summary = Mem0Summary(read=len(source.memories), deleted=source.deleted)
    if not source.memories:
        return summary
    by_id = {m.id: m for m in source.memories}
    with tempfile.TemporaryDirectory(prefix="engram-mem0-") as scratch_dir:
        # the target's cache folder: its embedder's model files are there already (derived
        # once); the scratch store never searches, so it writes no index files into it
        cache = target.config.cache_dir or f"{Path(target.config.store).expanduser()}.cache"
        scratch = Memory(
            Path(scratch_dir) / "scratch.db",
            config=target.config,
            cache_dir=cache,
            extraction={"mode": "off", "link_entities": False},
        )
        try:
            for done, memory in enumerate(source.memories, 1):
                _stage(scratch, memory)
                summary.scopes.add(scope_of(memory.ids))
                if progress:
                    progress("read", done, summary.read)
            records = _records(scratch, by_id)
        finally:
            scratch.close()
    rows = target.store.transfer_rows()
    present = rows.present(records)
    summary.present = len(present)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record["id"] not in present:
            grouped.setdefault(record["user_id"], []).append(record)
    for user_id, batch in grouped.items():
        rows.write(user_id, batch)  # one transaction per scope
        summary.written += len(batch)
        if progress:
            progress("write", summary.written, summary.read - summary.present)
    return summary


def _stage(scratch: Memory, memory: Mem0Memory) -> None:
    """One mem0 memory in the scratch store, as ``engramdb.compat.mem0`` stores an
    ``infer=False`` message (the same metadata mark, so that layer reads it back the same)."""
    scope = scope_of(memory.ids)
    message = {
        "id": memory.id,
        "content": memory.text,
        "role": memory.role,
        "name": memory.actor_id,
        MARK: {**memory.ids, "actor_id": memory.actor_id, "raw": False},
    }
    scratch.ingest(
        [{k: v for k, v in message.items() if v is not None}],
        user_id=scope,
        agent_id=memory.ids["agent_id"],
        session_id=memory.ids["run_id"],
        timestamp=memory.created_at,
        metadata=memory.metadata or None,
        wait=True,
    )
    if memory.expiration_date is not None:
        scratch.expire(memory.id, expiry_of(memory.expiration_date), user_id=scope)


def _records(scratch: Memory, by_id: dict[str, Mem0Memory]) -> list[dict[str, Any]]:
    """The scratch rows as export records, with mem0's times and history put back."""
    rows, out, after = scratch.store.transfer_rows(), [], 0
    while page := rows.memories(after, 500):
        for pk, record in page:
            after = pk
            # engramdb names a new memory itself; the message's id (mem0's) is its source:
            # give the memory mem0's id back (extraction is off: no links name the old one)
            memory = by_id[record["sources"][0]]
            line = to_file(record)  # mem0's values are in the export file's format
            line["id"] = memory.id
            line["created_at"] = memory.created_at.astimezone(UTC).isoformat()
            line["updated_at"] = memory.updated_at.astimezone(UTC).isoformat()
            line["history"] = memory.history
            line["version"] = len(memory.history)
            out.append(from_file(line))
    return out
