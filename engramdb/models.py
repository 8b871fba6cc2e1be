"""The memory unit (MemOS sense): text plus scope, time, provenance, version and lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["episode", "fact", "summary"]
KINDS: tuple[Kind, ...] = ("episode", "fact", "summary")


class MemoryItem(BaseModel):
    """One stored memory. ``episode`` = a message kept verbatim; ``fact``/``summary`` derived."""

    model_config = ConfigDict(frozen=True)

    id: str
    user_id: str
    agent_id: str | None = None
    session_id: str | None = None
    kind: Kind
    text: str
    role: str | None = None
    speaker: str | None = None
    created_at: datetime = Field(description="when engramdb learned it")
    updated_at: datetime | None = None
    event_time: datetime | None = Field(None, description="when it was said or happened")
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    sources: list[str] = Field(default_factory=list, description="ids of the source messages")
    version: int = 1
    content_hash: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    # facts: what the statement is about, in a form consolidation can compare
    subject: str | None = None
    attribute: str | None = None
    value: str | None = None
    confidence: float | None = None
    # lifecycle: importance and pinning steer decay; an expired memory is never returned
    importance: float = 0.5
    pinned: bool = False
    expires_at: datetime | None = None
    uses: int = Field(0, description="how often search returned it")
    last_used_at: datetime | None = None

    def is_valid_at(self, when: datetime) -> bool:
        """Whether a fact held at ``when`` (episodes are always valid)."""
        if self.valid_from is not None and when < self.valid_from:
            return False
        return self.valid_to is None or when < self.valid_to


class Hit(MemoryItem):
    """A search result: a memory with its fused score and the per-signal scores behind it."""

    score: float
    signals: dict[str, float] = Field(default_factory=dict)
    # still true? current; superseded (a fact closed, or a message whose every claim was);
    # past (a claim about an earlier state); None: a message from which no claim was drawn
    status: Literal["current", "superseded", "past"] | None = None
    superseded_by: list[str] = Field(
        default_factory=list, description="ids of the facts that replaced it (or its claims)"
    )
    # the guard (docs/guard.md): how far it is trusted (0-1; None: written without the guard),
    # who said it and how, and why it was flagged (a flagged memory is left out by default)
    trust: float | None = None
    provenance: dict[str, Any] | None = None
    flags: list[str] = Field(default_factory=list)
    flagged: bool = False


class HistoryEntry(BaseModel):
    """One change to a memory: what happened, to which text, when, by whom and why."""

    model_config = ConfigDict(frozen=True)

    memory_id: str
    version: int
    event: Literal["ADD", "UPDATE", "DELETE", "NOOP", "INVALIDATE"]
    text: str | None
    previous_text: str | None = None
    actor: str
    reason: str | None = None
    at: datetime


class Entity(BaseModel):
    """A named thing the memories of one user mention (a node of the graph)."""

    model_config = ConfigDict(frozen=True)

    name: str
    memories: int = Field(description="how many memories mention it")


class Relation(BaseModel):
    """An edge of the graph: a fact whose value is another entity."""

    model_config = ConfigDict(frozen=True)

    subject: str
    attribute: str
    object: str
    fact_id: str
    valid_from: datetime | None
    valid_to: datetime | None


class Profile(BaseModel):
    """The core memory of a user: the most important current facts, ready for a prompt."""

    user_id: str
    facts: list[MemoryItem]
    text: str


class Answer(BaseModel):
    """What ``Memory.answer`` returns: the model's answer and the memories it was shown."""

    answer: str
    memories: list[Hit]
    model: str


DecisionEvent = Literal["ADD", "NOOP", "UPDATE", "INVALIDATE", "SKIP"]


class Decision(BaseModel):
    """What consolidation did with one extracted fact, and why."""

    event: DecisionEvent
    fact_id: str | None
    text: str
    reason: str
    actor: str
    closed: list[str] = Field(default_factory=list, description="ids of facts it ended")


class AddResult(BaseModel):
    """The full outcome of an add: stored episodes, facts touched and every decision."""

    episodes: list[MemoryItem]
    facts: list[MemoryItem]
    decisions: list[Decision]
    pending: int = Field(0, description="messages whose claims the work queue still owes")
