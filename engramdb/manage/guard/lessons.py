"""Lessons: what the user said was wrong. ``Memory.feedback(id, "wrong", reason=...)`` keeps a
lesson as a memory of its own (kind ``summary``, flagged ``lesson`` so it never reaches a
prompt), scoped to the user like every memory; the wrong memory is quarantined (flagged, kept).
Before a later message is trusted, it is held against the user's lessons: one that asserts
the same claim again is flagged. Lessons are read once per user and process and kept here."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from engramdb.encode.text import normalise_name, query_terms

LESSON = "lesson"
COVERAGE = 0.7  # share of a wrong claim's content words a message must repeat to assert it
MIN_TERMS = 2
MAX_LESSONS = 5_000
# what makes a claim this claim: its numbers, addresses and domains
_TELLING = re.compile(
    r"[\w.+-]*\d[\w.+-]*|[\w.+-]+@[\w-]+\.[\w.]+|\b[\w-]+\.(?:com|org|net|example)\b"
)


@dataclass(frozen=True, slots=True)
class Lesson:
    memory_id: str
    text: str
    reason: str | None
    subject: str | None = None  # a wrong fact's subject, attribute and value
    attribute: str | None = None
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "memory_id": self.memory_id,
            "text": self.text,
            "reason": self.reason,
            "subject": self.subject,
            "attribute": self.attribute,
            "value": self.value,
        }

    @staticmethod
    def from_dict(raw: object) -> Lesson | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
            return None
        return Lesson(
            memory_id=str(raw.get("memory_id") or ""),
            text=raw["text"],
            reason=_text(raw.get("reason")),
            subject=_text(raw.get("subject")),
            attribute=_text(raw.get("attribute")),
            value=_text(raw.get("value")),
        )

    def repeated_by(self, text: str) -> bool:
        """Whether ``text`` asserts this wrong claim again: most of its content words, and
        every number, address or domain in it."""
        if normalise_name(text) == normalise_name(self.text):
            return True
        wrong = set(query_terms(self.text, limit=64))
        if len(wrong) < MIN_TERMS:
            return False
        said = set(query_terms(text, limit=256))
        if len(wrong & said) / len(wrong) < COVERAGE:
            return False
        folded = text.casefold()
        telling = (t.strip(".+-").casefold() for t in _TELLING.findall(self.text))
        return all(t in folded for t in telling)

    def matches_fact(self, subject: str, attribute: str, value: str | None) -> bool:
        if not (self.subject and self.attribute and self.value and value):
            return False
        same = normalise_name(self.subject) == normalise_name(subject)
        return same and self.attribute == attribute and _same(self.value, value)


class LessonBook:
    """The lessons of each user, read from the store on first use in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_user: dict[str, list[Lesson]] = {}

    def known(self, user_id: str) -> bool:
        with self._lock:
            return user_id in self._by_user

    def load(self, user_id: str, lessons: list[Lesson]) -> None:
        with self._lock:
            self._by_user.setdefault(user_id, lessons[:MAX_LESSONS])

    def add(self, user_id: str, lesson: Lesson) -> None:
        with self._lock:
            self._by_user.setdefault(user_id, []).append(lesson)

    def forget(self, user_id: str) -> None:
        with self._lock:
            self._by_user.pop(user_id, None)

    def of(self, user_id: str) -> list[Lesson]:
        with self._lock:
            return list(self._by_user.get(user_id, []))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _same(a: str, b: str) -> bool:
    return normalise_name(a) == normalise_name(b)


def lesson_text(wrong: str, reason: str | None) -> str:
    because = f" Reason: {reason}" if reason else ""
    return f"Marked wrong by the user: {wrong}{because}"
