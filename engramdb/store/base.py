"""The store protocol: every backend (SQLite now, PostgreSQL next) implements these operations.

Records crossing this boundary are plain dataclasses and numpy arrays, never SQL rows.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from engramdb.models import Entity, HistoryEntry, Kind, MemoryItem, Relation

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
    # facts (see engramdb.encode.facts): ``fact_key`` groups the versions of one attribute
    subject: str | None = None
    attribute: str | None = None
    value: str | None = None
    fact_key: str | None = None
    confidence: float | None = None
    anchor_pk: int | None = None  # the source episode a fact borrows context signals from
    importance: float = 0.5
    pinned: bool = False
    expires_at: datetime | None = None


FACT_SESSION = "\x1ffacts"  # session key of facts: apart from every conversation's turn order


@dataclass(slots=True)
class StoredFact:
    """A fact as consolidation sees it: its timeline position and value."""

    pk: int
    id: str
    fact_key: str
    value: str
    text: str
    valid_from: datetime | None
    valid_to: datetime | None
    sources: list[str]
    version: int


@dataclass(slots=True)
class Inserted:
    """A memory of the batch that was new (re-added messages are not consolidated again)."""

    pk: int
    item: NewMemory


class FactSession(Protocol):
    """Operations consolidation performs inside the ``add`` transaction, under the user's
    write lock: what it reads cannot change before it writes."""

    def facts_for(self, prefix: str) -> list[StoredFact]:
        """Every version (current and closed) of the facts whose key is ``prefix`` or starts
        with ``prefix + "|"`` ("maya|pet" finds "maya|pet|rex" and "maya|pet|tom")."""
        ...

    def insert(self, item: NewMemory, *, actor: str, reason: str) -> tuple[int, bool]:
        """Store a fact; returns its pk and False if one with its content hash existed."""
        ...

    def close(self, pk: int, valid_to: datetime | None, *, actor: str, reason: str) -> None:
        """End a fact's validity at ``valid_to``; None makes it current again (a successor
        that was called off before its day)."""
        ...

    def add_sources(self, pk: int, sources: list[str], *, actor: str, reason: str) -> None: ...

    def revise(self, pk: int, item: NewMemory, *, actor: str, reason: str) -> None:
        """A new version of a fact: text, value, embedding; validity unchanged."""
        ...

    def link(self, src_pk: int, dst_pk: int, kind: str) -> None: ...

    def mention(self, pk: int, names: list[tuple[str, str]]) -> None:
        """Record the entities (name, role) a memory mentions."""
        ...


Consolidator = Callable[[FactSession, list[Inserted]], None]


@dataclass(slots=True)
class ForgetPolicy:
    now: datetime
    decay_before: datetime | None = None  # unused memories created before this may decay
    decay_below_importance: float = 0.0


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
    # validity and expiry as epoch seconds (NaN: open), and each fact's anchor episode (-1)
    valid_from: npt.NDArray[np.float64]
    valid_to: npt.NDArray[np.float64]
    expires_at: npt.NDArray[np.float64]
    anchor_pk: npt.NDArray[np.int64]
    attribute: list[str] = field(default_factory=list)  # a fact's attribute ("" otherwise)
    extra: dict[str, Any] = field(default_factory=dict)


class MemoryStore(Protocol):
    """One implementation per backend. Every read and write is scoped in the query itself."""

    def check_embedder(self, name: str, dim: int) -> None: ...

    def add(
        self,
        user_id: str,
        agent_id: str | None,
        items: list[NewMemory],
        consolidate: Consolidator | None = None,
    ) -> list[MemoryItem]:
        """Write a batch in one transaction; an item whose content hash exists is skipped and
        the stored memory returned instead (idempotent re-adds). ``consolidate`` runs inside
        the same transaction with the episodes that were new."""
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

    def set_lifecycle(
        self,
        memory_id: str,
        user_id: str | None,
        *,
        pinned: bool | None = None,
        importance: float | None = None,
        expires_at: datetime | Literal["keep"] | None = "keep",
    ) -> MemoryItem: ...

    def record_uses(self, uses: dict[int, int], at: datetime) -> None:
        """Count search results (pk → times returned) for decay."""
        ...

    def forget(self, user_id: str | None, policy: ForgetPolicy) -> dict[str, int]:
        """Delete expired memories (and decayed ones if the policy says so)."""
        ...

    def linked(self, memory_id: str, user_id: str | None, kind: str) -> builtins.list[MemoryItem]:
        """Memories a memory links to (kind "source": the episodes a fact came from)."""
        ...

    def current_facts(self, user_id: str, at: datetime, limit: int) -> builtins.list[MemoryItem]:
        """Facts valid at ``at``, pinned first, then by importance. Notes (a statement in
        its own words, never closed by a later one) only when pinned."""
        ...

    def entities(self, user_id: str, limit: int) -> builtins.list[Entity]: ...

    def relations(
        self, user_id: str, entity: str | None, limit: int
    ) -> builtins.list[Relation]: ...

    def entity_memories(self, user_id: str, norms: builtins.list[str]) -> dict[int, float]:
        """Memories linked to these entities (pk → strength): mentions and, one hop on,
        the source episodes of facts about them."""
        ...

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


HOP = 0.5  # a fact's source turn gets this share of the fact's entity score


def entity_scores(
    mentions: list[tuple[int, int, int]], total: int, hops: list[tuple[int, int]]
) -> dict[int, float]:
    """Graph scores from (memory, entity, memories mentioning that entity) rows: each entity
    counts by its rarity in the scope (a name in every turn says nothing), normalised to
    [0, 1]; then one hop from facts to their source turns (``hops``: fact, turn)."""
    import math

    scale = math.log1p(max(total, 1))
    scores: dict[int, float] = {}
    for memory, _, df in mentions:
        weight = math.log1p(max(total, 1) / max(df, 1)) / scale
        scores[memory] = scores.get(memory, 0.0) + weight
    first = dict(scores)
    for src, dst in hops:
        if src in first:
            scores[dst] = max(scores.get(dst, 0.0), HOP * first[src])
    return scores
