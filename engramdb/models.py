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


class Hit(MemoryItem):
    """A search result: a memory with its fused score and the per-signal scores behind it."""

    score: float
    signals: dict[str, float] = Field(default_factory=dict)


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
