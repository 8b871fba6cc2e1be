"""The guard's part of the API: feedback (a lesson, the wrong memory quarantined) and counts.
The logic is in engramdb/manage/guard; this wires it to the store and the embedder."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from engramdb.config import EngramConfig
from engramdb.encode.embedders.base import Embedder
from engramdb.encode.episodes import edited_memory
from engramdb.encode.messages import check_reason
from engramdb.encode.text import content_hash, speaker_prefixed
from engramdb.errors import InvalidInputError
from engramdb.manage.guard import Guard, flags_of
from engramdb.manage.guard.lessons import LESSON, Lesson, lesson_text
from engramdb.models import MemoryItem
from engramdb.store.base import NewMemory
from engramdb.store.engine import MemoryStore

QUARANTINED = "quarantined: marked wrong by the user"


class Guarded:
    store: MemoryStore
    config: EngramConfig
    embedder: Embedder
    _guard: Guard

    def get(self, memory_id: str, *, user_id: str | None = None) -> MemoryItem:
        raise NotImplementedError  # Memory.get

    def feedback(
        self,
        memory_id: str,
        verdict: Literal["wrong"] = "wrong",
        *,
        user_id: str | None = None,
        reason: str | None = None,
    ) -> MemoryItem:
        """Say a memory is wrong: it is quarantined (flagged, kept, out of searches, the profile
        and answers unless asked for) and a lesson is kept for its user, so that a later message
        asserting the same claim is flagged. Returns the quarantined memory."""
        if verdict != "wrong":
            raise InvalidInputError("verdict must be 'wrong'")
        reason = check_reason(reason, self.config.limits)
        current = self.get(memory_id, user_id=user_id)
        user = current.user_id
        lesson = Lesson(
            memory_id=current.id,
            text=current.text,
            reason=reason,
            subject=current.subject,
            attribute=current.attribute,
            value=current.value,
        )
        text = lesson_text(current.text, reason)
        vector = self.embedder.embed([text, speaker_prefixed(current.speaker, current.text)])
        guard = {"flags": [f"{LESSON}: {current.text}"], LESSON: lesson.as_dict()}
        note = NewMemory(
            id=_new_id(),
            kind="summary",
            text=text,
            role=None,
            speaker=None,
            session_id=None,
            event_time=datetime.now(UTC),
            sources=[current.id],
            content_hash=content_hash(user, LESSON, current.id, reason or ""),
            metadata={"guard": guard},
            embedding=vector[0],
            importance=0.1,
        )
        self.store.add(user, None, [note])
        self._guard.lessons.add(user, lesson)
        self._guard.counts["lessons"] += 1
        if QUARANTINED in " ".join(flags_of(current)):
            return current
        old = current.metadata.get("guard")
        marks: dict[str, Any] = dict(old) if isinstance(old, dict) else {}
        why = f"{QUARANTINED}" + (f" ({reason})" if reason else "")
        marks["flags"] = [*flags_of(current), why]
        edited = edited_memory(
            text=current.text,
            speaker=current.speaker,
            event_time=current.event_time,
            vector=vector[1],
            metadata={**current.metadata, "guard": marks},
        )
        self._guard.counts["quarantined"] += 1
        return self.store.update(current.id, edited, actor="feedback", reason=why, user_id=user)


def _new_id() -> str:
    import uuid

    return uuid.uuid4().hex
