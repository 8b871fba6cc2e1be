"""The records of each namespace, read from engramdb through its public API and cached.

A LangGraph ``get`` names a key, but engramdb finds memories by their own (random) ids, so
the key → memory map of a scope is built by listing the scope once and then kept. Before each
use the cache is checked against a cheap signature of the scope, (number of memories, id of
the newest), so writes by another process or another ``Memory`` are seen: an add always makes
a new newest memory (ids are new and listing is in insertion order) and a delete alone lowers
the count, so any change of the set of memories changes the signature.

Writes go add-first: a put adds the new version, then deletes the old one. A crash between the
two leaves two memories for one key; readers keep the newer (``rev``), and the next write to
that namespace deletes the older, so a value is never lost half-way.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engramdb.api.memory import Memory
from engramdb.errors import InvalidInputError, NotFoundError
from engramdb.integrations.langgraph.records import (
    FIELD,
    Namespace,
    Record,
    decode_record,
    is_store_scope,
    namespace_of,
)

Signature = tuple[int, str | None]
_PAGE = 10_000  # engramdb's largest list page


@dataclass(slots=True)
class Scope:
    user_id: str
    signature: Signature | None  # None: must be read again before the next use
    records: dict[str, Record]
    stale: list[str] = field(default_factory=list)  # superseded duplicates to delete

    def namespace(self) -> Namespace | None:
        for record in self.records.values():
            return record.namespace
        return namespace_of(self.user_id)

    def first_order(self) -> int:
        return min((r.order for r in self.records.values()), default=0)


@dataclass(slots=True)
class Write:
    """A new version of one key: its record (without a memory id yet) and its text."""

    record: Record
    text: str
    metadata: dict[str, Any]


class Scopes:
    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self._cache: dict[str, Scope] = {}

    # --- reading ---------------------------------------------------------------------------
    def signature(self, user_id: str) -> Signature:
        count = self.memory.count(user_id=user_id)
        if count == 0:
            return (0, None)
        newest = self.memory.list(user_id=user_id, limit=1)
        return (count, newest[0].id if newest else None)

    def load(self, user_id: str) -> Scope:
        signature = self.signature(user_id)
        cached = self._cache.get(user_id)
        if cached is not None and cached.signature == signature:
            return cached
        records: dict[str, Record] = {}
        stale: list[str] = []
        for item in self._episodes(user_id) if signature[0] else ():
            record = decode_record(item)
            if record is None:
                continue  # a memory of this scope that this store did not write
            other = records.get(record.key)
            if other is not None and other.rev > record.rev:
                stale.append(record.memory_id)
                continue
            if other is not None:
                stale.append(other.memory_id)
            records[record.key] = record
        scope = Scope(user_id, signature, records, stale)
        self._cache[user_id] = scope
        return scope

    def _episodes(self, user_id: str) -> Iterator[Any]:
        cursor: str | None = None
        while True:
            items, cursor = self.memory.list_page(
                user_id=user_id, kind="episode", limit=_PAGE, cursor=cursor, order="asc"
            )
            yield from items
            if cursor is None:
                return

    def user_ids(self) -> list[str]:
        return [u for u in self.memory.users() if is_store_scope(u)]

    def live(self, scope: Scope, key: str, now: datetime) -> Record | None:
        """The record of a key unless it has expired. An expiry is read again each time:
        changing it (a refresh, ``Memory.expire``) does not change the scope's signature."""
        record = scope.records.get(key)
        if record is None or record.expires_at is None:
            return record
        try:
            item = self.memory.get(record.memory_id, user_id=scope.user_id)
        except NotFoundError:
            return None
        record.expires_at = item.expires_at
        return None if record.expired(now) else record

    def refresh(self, scope: Scope, record: Record, now: datetime) -> None:
        """Push a record's expiry ``ttl`` minutes past now (LangGraph's refresh on read)."""
        if record.ttl is None:
            return
        try:
            item = self.memory.expire(
                record.memory_id, now + timedelta(minutes=record.ttl), user_id=scope.user_id
            )
        except NotFoundError:
            scope.signature = None
            return
        record.expires_at = item.expires_at

    # --- writing ---------------------------------------------------------------------------
    def write(self, scope: Scope, writes: list[Write], removed: list[str]) -> None:
        """Store new versions of keys, then delete the versions they replace and the keys in
        ``removed``. Writes with the same TTL go in one engramdb transaction."""
        before = scope.signature
        replaced = [scope.records[w.record.key] for w in writes if w.record.key in scope.records]
        replaced += [scope.records[k] for k in removed if k in scope.records]
        added: list[str] = []
        clean = True  # whether the signature after the writes can be predicted
        for ttl, group in itertools.groupby(writes, key=lambda w: w.record.ttl):
            batch = list(group)
            messages = [
                {"id": uuid.uuid4().hex, "content": w.text, FIELD: w.metadata} for w in batch
            ]
            try:
                result = self.memory.ingest(
                    messages,
                    user_id=scope.user_id,
                    ttl=ttl * 60 if ttl is not None else None,
                    wait=True,  # a store's writes are done when batch returns
                )
            except InvalidInputError as exc:
                scope.signature = None
                raise ValueError(
                    f"engramdb refused the value: {exc} (a value and its vectors live in the"
                    " memory's metadata: raise limits.max_metadata_bytes for larger ones)"
                ) from exc
            clean = clean and not result.facts  # facts extracted by the Memory's own config
            for w, episode in zip(batch, result.episodes, strict=True):
                w.record.memory_id = episode.id
                w.record.expires_at = episode.expires_at
                scope.records[w.record.key] = w.record
                added.append(episode.id)
        for key in removed:
            scope.records.pop(key, None)
        doomed = [r.memory_id for r in replaced] + scope.stale
        scope.stale = []
        for memory_id in doomed:
            try:
                self.memory.delete(memory_id, user_id=scope.user_id)
            except NotFoundError:
                clean = False  # someone else deleted it: the count is not ours to predict
        scope.signature = self._expected(scope, before, added, doomed) if clean else None

    def _expected(
        self, scope: Scope, before: Signature | None, added: list[str], deleted: list[str]
    ) -> Signature | None:
        """The signature after our writes if nobody else wrote meanwhile; else None (the
        scope is read again before its next use)."""
        if before is None:
            return None
        count = before[0] + len(added) - len(deleted)
        if added:
            newest: str | None = added[-1]
        elif before[1] not in deleted:
            newest = before[1] if count else None
        else:
            return None
        actual = self.signature(scope.user_id)
        return actual if actual == (count, newest) else None

    def sweep(self, now: datetime) -> int:
        """Delete every expired record of every namespace; returns how many."""
        removed = 0
        for user_id in self.user_ids():
            scope = self.load(user_id)
            for key in [k for k in scope.records if self.live(scope, k, now) is None]:
                record = scope.records.pop(key)
                try:
                    self.memory.delete(record.memory_id, user_id=user_id)
                    removed += 1
                except NotFoundError:
                    pass
                scope.signature = None
        return removed
