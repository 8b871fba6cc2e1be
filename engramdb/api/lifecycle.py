"""Lifecycle of memories: pinning, importance, expiry (TTL), use counts and forgetting."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from engramdb.config import EngramConfig
from engramdb.encode.timeparse import parse_timestamp
from engramdb.errors import InvalidInputError
from engramdb.models import MemoryItem
from engramdb.store.base import ForgetPolicy
from engramdb.store.engine import MemoryStore

logger = logging.getLogger("engramdb")
_FLUSH_EVERY = 512  # distinct memories counted before the counts are written


def expiry(ttl: float | timedelta | None, now: datetime | None = None) -> datetime | None:
    """When something added now with this time-to-live (seconds) expires."""
    if ttl is None:
        return None
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else ttl
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise InvalidInputError("ttl must be a positive number of seconds")
    start = now or datetime.now(UTC)
    try:  # float() of a huge int, and a sum past year 9999, both overflow
        return start + timedelta(seconds=float(seconds))
    except OverflowError:
        raise InvalidInputError("ttl reaches past the year 9999") from None


class UseCounter:
    """How often search returned each memory, buffered so a search never waits on a write."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self._counts: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None

    def saw(self, pks: Sequence[int]) -> None:
        if not pks:
            return
        with self._lock:
            self._counts.update(pks)
            full = len(self._counts) >= _FLUSH_EVERY and self._writer is None
            if full:  # written beside the searches, so no search waits for it
                self._writer = threading.Thread(target=self._flush_in_background, daemon=True)
                self._writer.start()

    def _flush_in_background(self) -> None:
        try:
            self.flush()
        except Exception:  # counts are advisory: a failed write must not surface in a search
            logger.warning("could not record use counts", exc_info=True)
        finally:
            with self._lock:
                self._writer = None

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        if counts:
            self.store.record_uses(counts, datetime.now(UTC))

    def join(self) -> None:
        """Wait for a background write (before close)."""
        writer = self._writer
        if writer is not None:
            writer.join()


class Lifecycle:
    store: MemoryStore
    config: EngramConfig
    _uses: UseCounter

    def get(self, memory_id: str, *, user_id: str | None = None) -> MemoryItem:
        raise NotImplementedError  # Memory.get

    def pin(self, memory_id: str, *, user_id: str | None = None, pinned: bool = True) -> MemoryItem:
        """A pinned memory never decays and leads the profile."""
        current = self.get(memory_id, user_id=user_id)
        return self.store.set_lifecycle(current.id, current.user_id, pinned=bool(pinned))

    def set_importance(
        self, memory_id: str, importance: float, *, user_id: str | None = None
    ) -> MemoryItem:
        if isinstance(importance, bool) or not isinstance(importance, int | float):
            raise InvalidInputError("importance must be a number between 0 and 1")
        if not 0 <= importance <= 1:
            raise InvalidInputError("importance must be between 0 and 1")
        current = self.get(memory_id, user_id=user_id)
        return self.store.set_lifecycle(current.id, current.user_id, importance=float(importance))

    def expire(
        self,
        memory_id: str,
        at: str | datetime | float | None,
        *,
        user_id: str | None = None,
    ) -> MemoryItem:
        """Set (or with None clear) when a memory expires; an expired memory is never
        returned and ``forget`` deletes it."""
        when = parse_timestamp(at, field="at") if at is not None else None
        current = self.get(memory_id, user_id=user_id)
        return self.store.set_lifecycle(current.id, current.user_id, expires_at=when)

    def forget(
        self, *, user_id: str | None = None, now: str | datetime | None = None
    ) -> dict[str, int]:
        """Delete expired memories and, if decay is configured, never-used low-importance
        unpinned ones older than ``decay_after_days``. Deletions are recorded in history."""
        at = parse_timestamp(now, field="now") if now is not None else datetime.now(UTC)
        self._uses.join()
        self._uses.flush()
        rules = self.config.forgetting
        policy = ForgetPolicy(
            now=at,
            decay_before=at - timedelta(days=rules.decay_after_days) if rules.decay else None,
            decay_below_importance=rules.decay_below_importance,
        )
        return self.store.forget(user_id, policy)
