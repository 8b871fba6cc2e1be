"""The store protocol: every backend (SQLite now, PostgreSQL next) implements these operations.

Records crossing this boundary are plain dataclasses and numpy arrays, never SQL rows.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from engramdb.models import HistoryEntry, Kind, MemoryItem

Granularity = Literal["turn", "window", "session"]
SESSION_SEGMENT = 64  # turns per session-level document: bounds the cost of each rewrite


@dataclass(slots=True)
class NewMemory:
    """A memory ready to be written: validated text plus everything derived from it."""

    id: str
    kind: Kind
    text: str
    role: str | None
    speaker: str | None
    session_id: str | None
    event_time: datetime | None
    sources: list[str]
    content_hash: str
    metadata: dict[str, Any]
    embedding: npt.NDArray[np.float32]
    date_words: str = ""  # searchable words for the dates the text mentions or was said on
    time_lo: float | None = None
    time_hi: float | None = None
    has_time: bool = False
    valid_from: datetime | None = None
    valid_to: datetime | None = None


@dataclass(slots=True)
class ScopeState:
    """Counters that tell a vector cache whether it is current (cheap to read per search)."""

    max_vec_id: int = 0
    deletes: int = 0
    rows: int = 0
    epoch: int = 0  # changes when a scope is deleted and created again
    segments: int = 0  # session-segment documents (lexical statistics)


@dataclass(slots=True)
class ScopeRows:
    """Rows of one scope newer than a vec_id, as arrays, for the in-memory vector cache."""

    pk: npt.NDArray[np.int64]
    vec_id: npt.NDArray[np.int64]
    session: list[str]
    seq: npt.NDArray[np.int64]
    speaker: list[str]
    kind: list[str]
    has_time: npt.NDArray[np.bool_]
    time_lo: npt.NDArray[np.float64]
    time_hi: npt.NDArray[np.float64]
    vectors: npt.NDArray[np.float32]
    extra: dict[str, Any] = field(default_factory=dict)


class MemoryStore(Protocol):
    """One implementation per backend. Every read and write is scoped in the query itself."""

    def check_embedder(self, name: str, dim: int) -> None: ...

    def add(self, user_id: str, agent_id: str | None, items: list[NewMemory]) -> list[MemoryItem]:
        """Write a batch in one transaction; an item whose content hash exists is skipped and
        the stored memory returned instead (idempotent re-adds)."""
        ...

    def get(self, memory_id: str, user_id: str | None = None) -> MemoryItem: ...

    def get_many(self, pks: list[int]) -> dict[int, MemoryItem]: ...

    def list(
        self,
        user_id: str,
        *,
        kind: Kind | None = None,
        limit: int = 100,
        cursor: str | None = None,
        order: Literal["asc", "desc"] = "desc",
    ) -> tuple[builtins.list[MemoryItem], str | None]: ...

    def update(
        self,
        memory_id: str,
        item: NewMemory,
        *,
        actor: str,
        reason: str | None,
        user_id: str | None = None,
    ) -> MemoryItem: ...

    def delete(self, memory_id: str, *, actor: str, user_id: str | None = None) -> int:
        """Delete one memory; returns its internal key."""
        ...

    def delete_all(self, user_id: str) -> dict[str, int]: ...

    def history(
        self, memory_id: str, user_id: str | None = None
    ) -> builtins.list[HistoryEntry]: ...

    def lexical_plan(self, user_id: str, terms: builtins.list[str]) -> Any:
        """A backend-specific lexical query for the user's scope (None: nothing to match)."""
        ...

    def lexical(
        self, user_id: str, plan: Any, granularity: Granularity, limit: int
    ) -> builtins.list[tuple[Any, float]]:
        """BM25 (higher is better) of documents matching a plan: keys are memory pks for
        turn/window, (session_key, segment) for session."""
        ...

    def scope_state(self, user_id: str) -> ScopeState: ...

    def scope_rows(self, user_id: str, after_vec_id: int) -> ScopeRows: ...

    def users(self) -> builtins.list[str]: ...

    def count(self, user_id: str | None = None) -> int: ...

    def close(self) -> None: ...


def parse_cursor(cursor: str | None) -> int | None:
    """The pk a list page continues after; a store's cursors are pks as text."""
    if not cursor:
        return None
    try:
        after = int(cursor)
    except ValueError:
        after = None
    if after is None or not -(2**63) <= after < 2**63:
        from engramdb.errors import InvalidInputError

        raise InvalidInputError("cursor is not one this store handed out")
    return after
