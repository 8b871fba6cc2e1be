"""Episode drafts (validated messages) plus vectors become store-ready memories."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import numpy as np

from engramdb.encode.messages import EpisodeDraft
from engramdb.encode.timeparse import TimeRange, find_time_ranges
from engramdb.store.base import NewMemory


def date_fields(ranges: list[TimeRange], said_at: datetime | None) -> dict[str, Any]:
    """Searchable date words and the time hull of what a text mentions."""
    parts = [TimeRange("", said_at, said_at).words()] if said_at else []
    parts += [r.words() for r in ranges]
    return {
        "date_words": " ".join(dict.fromkeys(parts)),
        "time_lo": min((r.start.timestamp() for r in ranges), default=None),
        "time_hi": max((r.end.timestamp() for r in ranges), default=None),
        "has_time": bool(ranges),
    }


def episode_memory(
    draft: EpisodeDraft,
    vector: np.ndarray[Any, np.dtype[np.float32]],
    *,
    user_id: str,
    session_id: str | None,
    metadata: dict[str, Any],
) -> NewMemory:
    return NewMemory(
        id=uuid.uuid4().hex,
        kind="episode",
        text=draft.content,
        role=draft.role,
        speaker=draft.speaker,
        session_id=session_id,
        event_time=draft.event_time,
        sources=[draft.message_id],
        content_hash=draft.hash(user_id, session_id),
        metadata={**metadata, **draft.metadata},
        embedding=vector,
        **date_fields(draft.time_ranges, draft.event_time),
    )


def edited_memory(
    *,
    text: str,
    speaker: str | None,
    event_time: datetime | None,
    vector: np.ndarray[Any, np.dtype[np.float32]],
    metadata: dict[str, Any],
) -> NewMemory:
    """The new version of a memory whose text a user (or a consolidation step) changed. The
    content hash stays the original's, so re-adding the original message remains a no-op."""
    ranges = find_time_ranges(text, event_time) if event_time else []
    return NewMemory(
        id="",
        kind="episode",
        text=text,
        role=None,
        speaker=speaker,
        session_id=None,
        event_time=event_time,
        sources=[],
        content_hash="",
        metadata=metadata,
        embedding=vector,
        **date_fields(ranges, event_time),
    )
