"""Reading memories by id and in pages: one memory (by id or a unique prefix of it), a
user's memories newest first with an enciphered cursor, a memory's history, users, counts."""

from __future__ import annotations

import builtins
from typing import Literal

from engramdb.api.cursors import Cursors
from engramdb.encode.messages import check_scope_id, check_text
from engramdb.errors import InvalidInputError
from engramdb.models import KINDS, HistoryEntry, Kind, MemoryItem
from engramdb.store.engine import MemoryStore

MIN_ID_PREFIX = 8  # the shortest prefix of a memory id that commands accept
FULL_ID_CHARS = 32  # memory ids are uuid4 hex


class Listing:
    store: MemoryStore
    _cursors: Cursors | None

    def get(self, memory_id: str, *, user_id: str | None = None, exact: bool = False) -> MemoryItem:
        """One memory by id, or by a unique prefix of at least 8 characters of its id (unless
        ``exact``); with ``user_id``, only that user's memories are looked at."""
        user = user_of(user_id) if user_id is not None else None
        found = _memory_id(memory_id) if exact else self.resolve_id(memory_id, user_id=user)
        return self.store.get(found, user_id=user)

    def resolve_id(self, memory_id: str, *, user_id: str | None = None) -> str:
        """The full id a memory id or a unique prefix of it (at least ``MIN_ID_PREFIX``
        characters) names, among ``user_id``'s memories (and deleted memories that left
        history), or the whole store's without ``user_id``. An id that matches nothing is
        returned as given (the operation then says it is not found); a prefix of more than one
        id is an ``InvalidInputError``."""
        memory_id = _memory_id(memory_id)
        if len(memory_id) < MIN_ID_PREFIX or len(memory_id) >= FULL_ID_CHARS:
            return memory_id
        user = user_of(user_id) if user_id is not None else None
        matches = self.store.ids_with_prefix(memory_id, user, limit=2)
        if memory_id in matches or not matches:
            return memory_id
        if len(matches) > 1:
            raise InvalidInputError(
                f"memory id {memory_id!r} is ambiguous: it begins more than one memory's id;"
                " give more characters"
            )
        return matches[0]

    def list(
        self,
        *,
        user_id: str,
        kind: Kind | None = None,
        limit: int = 100,
        cursor: str | None = None,
        order: Literal["asc", "desc"] = "desc",
    ) -> builtins.list[MemoryItem]:
        """A user's memories, newest first by default (see ``list_page`` for the cursor)."""
        return self.list_page(user_id=user_id, kind=kind, limit=limit, cursor=cursor, order=order)[
            0
        ]

    def list_page(
        self,
        *,
        user_id: str,
        kind: Kind | None = None,
        limit: int = 100,
        cursor: str | None = None,
        order: Literal["asc", "desc"] = "desc",
    ) -> tuple[builtins.list[MemoryItem], str | None]:
        if kind is not None and kind not in KINDS:
            raise InvalidInputError(f"kind must be one of {', '.join(KINDS)}")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 10_000:
            raise InvalidInputError("limit must be between 1 and 10000")
        if order not in ("asc", "desc"):
            raise InvalidInputError("order must be 'asc' or 'desc'")
        uid = user_of(user_id)
        if self._cursors is None:
            self._cursors = Cursors(self.store.cursor_secret())
        after = self._cursors.parse(uid, cursor)
        page, last = self.store.list(uid, kind=kind, limit=limit, after=after, order=order)
        return page, None if last is None else self._cursors.make(uid, last)

    def history(self, memory_id: str, *, user_id: str | None = None) -> builtins.list[HistoryEntry]:
        user = user_of(user_id) if user_id is not None else None
        return self.store.history(self.resolve_id(memory_id, user_id=user), user_id=user)

    def users(self) -> builtins.list[str]:
        return self.store.users()

    def count(self, *, user_id: str | None = None) -> int:
        return self.store.count(user_of(user_id) if user_id is not None else None)


def user_of(user_id: object) -> str:
    value = check_scope_id(user_id, "user_id", required=True)
    assert value is not None
    return value


def _memory_id(memory_id: object) -> str:
    if not isinstance(memory_id, str) or not memory_id.strip():
        raise InvalidInputError("memory id must be a non-empty string")
    check_text(memory_id, "memory id")
    return memory_id
