"""Records that cross the store's boundary (dataclasses and numpy arrays, never SQL rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from engramdb.models import Kind

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


@dataclass(slots=True)
class EntityMentions:
    """What the graph holds about some entities in one scope: (memory, entity, memories that
    mention the entity) rows, the scope's size, and (fact, source turn) links of those memories."""

    mentions: list[tuple[int, int, int]]
    total: int
    hops: list[tuple[int, int]]


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
    # when it was said (a fact: its claim's time), epoch seconds (NaN: unknown)
    said_at: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0, np.float64))
