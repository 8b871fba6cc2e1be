"""Memory rows of the PostgreSQL store as the driver takes them, and the values it refuses."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from engramdb.errors import InvalidInputError
from engramdb.store.base import NewMemory

INSERT = """INSERT INTO memories (id, user_id, agent_id, session_id, session_key, seq, kind,
    text, role, speaker, created_at, event_time, valid_from, valid_to, sources, content_hash,
    metadata, date_words, time_lo, time_hi, has_time, vec_id, embedding)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
            %s, %s, %s)
    ON CONFLICT (user_id, kind, content_hash) DO NOTHING RETURNING pk"""


def check_storable(items: list[NewMemory]) -> None:
    """PostgreSQL text cannot hold NUL characters (SQLite can): refuse them before anything is
    written, naming the message, rather than fail inside the transaction."""
    for index, item in enumerate(items):
        fields = (item.id, item.text, item.role, item.speaker, item.session_id, *item.sources)
        if any(value and "\x00" in value for value in fields):
            raise InvalidInputError(
                f"messages[{index}] holds a NUL character, which PostgreSQL cannot store"
            )


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
    )
