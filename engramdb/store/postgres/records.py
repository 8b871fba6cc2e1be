"""Memory rows of the PostgreSQL store as the driver takes them, and the values it refuses."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from engramdb.errors import InvalidInputError
from engramdb.store.base import NewMemory

INSERT = """INSERT INTO memories (id, user_id, agent_id, session_id, session_key, seq, kind,
    text, role, speaker, created_at, event_time, valid_from, valid_to, sources, content_hash,
    metadata, date_words, time_lo, time_hi, has_time, vec_id, embedding, subject, attribute,
    value, fact_key, confidence, anchor_pk, importance, pinned, expires_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
            %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (user_id, kind, content_hash) DO NOTHING RETURNING pk"""

_TEXT_FIELDS = ("id", "text", "role", "speaker", "session_id", "subject", "attribute", "value")


def check_storable(items: list[NewMemory]) -> None:
    """PostgreSQL text cannot hold NUL characters (SQLite can): refuse them before anything is
    written, naming the message, rather than fail inside the transaction."""
    for index, item in enumerate(items):
        fields = (*(getattr(item, name) for name in _TEXT_FIELDS), item.fact_key, *item.sources)
        if any(value and "\x00" in value for value in fields):
            raise InvalidInputError(
                f"messages[{index}] holds a NUL character, which PostgreSQL cannot store"
            )


def storable(item: NewMemory) -> NewMemory:
    """A derived memory (a fact written by consolidation) without NUL characters: dropped
    rather than failing the whole add on PostgreSQL only."""
    changes: dict[str, Any] = {}
    for name in (*_TEXT_FIELDS, "fact_key"):
        value = getattr(item, name)
        if value and "\x00" in value:
            changes[name] = value.replace("\x00", "")
    if any("\x00" in s for s in item.sources):
        changes["sources"] = [s.replace("\x00", "") for s in item.sources]
    return dataclasses.replace(item, **changes) if changes else item


def memory_row(
    user_id: str,
    agent_id: str | None,
    item: NewMemory,
    key: str,
    seq: int,
    vec_id: int,
    now: datetime,
) -> tuple[Any, ...]:
    return (
        item.id,
        user_id,
        agent_id,
        item.session_id,
        key,
        seq,
        item.kind,
        item.text,
        item.role,
        item.speaker,
        now,
        item.event_time,
        item.valid_from,
        item.valid_to,
        json.dumps(item.sources),
        item.content_hash,
        json.dumps(item.metadata, ensure_ascii=False),
        item.date_words,
        item.time_lo,
        item.time_hi,
        item.has_time,
        vec_id,
        item.embedding,
        item.subject,
        item.attribute,
        item.value,
        item.fact_key,
        item.confidence,
        item.anchor_pk,
        item.importance,
        item.pinned,
        item.expires_at,
    )
