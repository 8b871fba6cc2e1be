"""``Memory``: mem0 2.2.1's OSS ``Memory`` methods, arguments and return shapes, on engramdb."""

from __future__ import annotations

import builtins
import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

from engramdb.api.memory import Memory as EngramMemory
from engramdb.compat.mem0.shapes import (
    IDS,
    MARK,
    ValidationError,
    check_filters,
    check_id,
    engram_options,
    expiry_of,
    history_dicts,
    is_hidden,
    matches,
    memory_dict,
    scope_of,
)
from engramdb.errors import NotFoundError
from engramdb.models import MemoryItem

logger = logging.getLogger("engramdb.compat.mem0")
_UNSET: Any = object()
M = TypeVar("M", bound=MemoryItem)
# mem0 maps its ADD/UPDATE/DELETE vocabulary onto what engramdb's consolidation decided
_EVENTS = {"ADD": "ADD", "UPDATE": "UPDATE", "INVALIDATE": "DELETE"}


class Memory:
    """``Memory(config)`` / ``Memory.from_config(dict)`` as in mem0, or ``Memory(engram=m)``
    over an existing :class:`engramdb.Memory`. See docs/integrations.md for what maps how."""

    def __init__(
        self, config: dict[str, Any] | None = None, *, engram: EngramMemory | None = None
    ) -> None:
        if engram is not None:
            self.engram, self._owns = engram, False
        else:
            self.engram, self._owns = EngramMemory(**engram_options(config or {})), True
        self.config = config or {}
        self._raw: EngramMemory | None = None
        self._lock = threading.Lock()  # one messages-only Memory, however many threads ask

    # the REST service reuses these methods for each tenant (ScopedMemory): these three hooks
    # are where a mem0 scope meets the store's user ids, so the walls are written once
    _walled = False

    def _inside(self, scope: str) -> str:
        """The store user_id holding a mem0 scope (``scope_of``)."""
        return scope

    def _shown(self, item: M) -> M:
        """A stored memory as the caller names it."""
        return item

    def _messages_only(self) -> EngramMemory:
        """A second engramdb Memory on the same store, with extraction off, for ``infer=False``
        (engramdb chooses extraction per Memory, not per add). Opened on first use."""
        if self.engram.config.extraction.mode == "off":
            return self.engram
        with self._lock:
            if self._raw is None:
                self._raw = EngramMemory(
                    config=self.engram.config, extraction={"mode": "off", "link_entities": False}
                )
            return self._raw

    @classmethod
    def from_config(cls, config_dict: dict[str, Any]) -> Memory:
        return cls(config_dict)

    # --- writing -------------------------------------------------------------------------
    def add(
        self,
        messages: Any,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        timestamp: Any = None,
        expiration_date: Any = None,
        infer: bool = True,
        memory_type: str | None = None,
        prompt: str | None = None,
    ) -> dict[str, Any]:
        """Remember messages. ``infer=False`` stores each (non-system) message as a memory;
        ``infer=True`` stores what engramdb extracts from them (rules, or the configured
        LLM) and returns its decisions; the messages are kept as hidden sources."""
        if timestamp is not None or memory_type is not None or prompt is not None:
            raise ValueError(
                "timestamp, memory_type and prompt are not supported by engramdb's mem0 layer"
            )
        ids = {
            "user_id": check_id(user_id, "user_id"),
            "agent_id": check_id(agent_id, "agent_id"),
            "run_id": check_id(run_id, "run_id"),
        }
        scope = self._inside(scope_of(ids))
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        elif isinstance(messages, dict):
            messages = [messages]
        elif not isinstance(messages, list):
            raise ValidationError("messages must be str, dict, or list[dict]", "VALIDATION_003")
        extra = {k: v for k, v in (metadata or {}).items() if k not in (*IDS, "actor_id")}
        batch = []
        for message in messages:
            if (
                not isinstance(message, dict)
                or message.get("role") is None
                or message.get("content") is None
            ):
                logger.warning("Skipping invalid message format: %s", message)
                continue
            if message["role"] == "system":
                continue
            mark = {**ids, "actor_id": message.get("name"), "raw": infer}
            batch.append(
                {
                    "id": uuid.uuid4().hex,
                    "content": message["content"],
                    "role": message["role"],
                    "name": message.get("name"),
                    MARK: mark,
                }
            )
        if not batch:
            return {"results": []}
        expires = expiry_of(expiration_date)
        ttl = (expires - datetime.now(UTC)).total_seconds() if expires else None
        writer = self.engram if infer else self._messages_only()
        result = writer.ingest(
            batch,
            user_id=scope,
            agent_id=ids["agent_id"],
            session_id=ids["run_id"],
            metadata=extra or None,
            ttl=ttl if ttl is not None and ttl > 0 else None,
            wait=infer,  # mem0 returns the memories it extracted
        )
        if expires is not None and (ttl is None or ttl <= 0):
            # a day already past: stored, and hidden at once, as mem0 does (a TTL cannot be
            # negative, so the expiry is set to that day itself)
            for stored in [*result.episodes, *result.facts]:
                writer.expire(stored.id, expires, user_id=scope)
        if not infer:
            return {
                "results": [
                    {
                        "id": e.id,
                        "memory": e.text,
                        "event": "ADD",
                        "actor_id": e.metadata[MARK]["actor_id"],
                        "role": e.role,
                    }
                    for e in result.episodes
                ]
            }
        out: list[dict[str, Any]] = []
        for decision in result.decisions:
            event = _EVENTS.get(decision.event)
            if event is None or decision.fact_id is None:
                continue  # NOOP/SKIP: mem0 reports changes only
            out.append({"id": decision.fact_id, "memory": decision.text, "event": event})
            for closed in decision.closed:  # the fact it ended is gone from mem0's view
                out.append(
                    {"id": closed, "memory": self.engram.get(closed).text, "event": "DELETE"}
                )
        return {"results": out}

    def update(
        self,
        memory_id: str,
        text: str | None = None,
        metadata: dict[str, Any] | None = None,
        expiration_date: Any = _UNSET,
        data: str | None = None,
    ) -> dict[str, str]:
        if text is None:
            text = data
        if text is None and metadata is None and expiration_date is _UNSET:
            raise ValueError("At least one of text, metadata, or expiration_date must be provided.")
        if metadata is not None:
            # engramdb's public API changes a memory's text, never its metadata
            raise NotImplementedError(
                "engramdb cannot change a memory's metadata after it is added"
            )
        current = self._get(memory_id)
        if current is None:
            raise ValueError(
                f"Memory with id {memory_id} not found. Please provide a valid 'memory_id'"
            )
        owner = current.user_id
        if text is not None and text != current.text:
            self.engram.update(memory_id, text, user_id=owner)
        if expiration_date is not _UNSET:
            self.engram.expire(memory_id, expiry_of(expiration_date), user_id=owner)
        return {"message": "Memory updated successfully!"}

    def delete(self, memory_id: str) -> dict[str, str]:
        current = self._get(memory_id)
        try:
            if current is None:
                raise NotFoundError(memory_id)
            self.engram.delete(memory_id, user_id=current.user_id)
        except NotFoundError:
            raise ValueError(f"Memory with id {memory_id} not found") from None
        return {"message": "Memory deleted successfully!"}

    def delete_all(
        self, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> dict[str, str]:
        ids = {
            "user_id": check_id(user_id, "user_id"),
            "agent_id": check_id(agent_id, "agent_id"),
            "run_id": check_id(run_id, "run_id"),
        }
        if not any(ids.values()):
            raise ValueError(
                "At least one filter is required to delete all memories. If you want to delete"
                " all memories, use the `reset()` method."
            )
        scope = self._inside(scope_of(ids))
        narrower = {k: v for k, v in ids.items() if v is not None and k != self._scope_key(ids)}
        if not narrower:
            self.engram.delete_all(user_id=scope)  # the whole scope: one engramdb call
        else:
            for item in [i for i in self._scan(scope) if matches(i, narrower)]:
                with contextlib.suppress(NotFoundError):  # a fact gone with its last source
                    self.engram.delete(item.id, user_id=scope)
        return {"message": "Memories deleted successfully!"}

    def reset(self) -> None:
        """Delete everything in the store (every scope)."""
        for user in self.engram.users():
            self.engram.delete_all(user_id=user)

    # --- reading -------------------------------------------------------------------------
    def get(self, memory_id: str) -> dict[str, Any] | None:
        item = self._get(memory_id)
        return memory_dict(self._shown(item)) if item is not None else None

    def get_all(
        self,
        *,
        filters: dict[str, Any] | None = None,
        top_k: int = 20,
        show_expired: bool = False,
        **kwargs: Any,
    ) -> dict[str, list[dict[str, Any]]]:
        scope, rest = self._read_scope(filters, kwargs, "get_all", top_k)
        now = datetime.now(UTC)
        found = []
        for item in self._scan(scope):
            if not is_hidden(item, now, show_expired) and matches(item, rest):
                found.append(memory_dict(item, with_score=False))
                if len(found) >= top_k:
                    break
        return {"results": found}

    def search(
        self,
        query: str,
        *,
        top_k: int = 20,
        filters: dict[str, Any] | None = None,
        threshold: float | None = None,
        rerank: bool = False,
        explain: bool = False,
        reference_date: Any = None,
        show_expired: bool = False,
        **kwargs: Any,
    ) -> dict[str, list[dict[str, Any]]]:
        """engramdb's hybrid search in the scope ``filters`` names. Scores are engramdb's fused
        scores (relative to the other candidates), so no threshold applies unless given."""
        if reference_date is not None:
            raise ValueError("reference_date is a mem0 Platform feature")
        if not isinstance(query, str) or not query.strip():
            raise ValueError("Invalid query: must be a non-empty string.")
        if threshold is not None and not 0 <= threshold <= 1:
            raise ValueError(
                f"Invalid threshold: {threshold}. Must be between 0 and 1 (inclusive)."
            )
        scope, rest = self._read_scope(filters, kwargs, "search", top_k)
        if top_k == 0:
            return {"results": []}
        now = datetime.now(UTC)
        pool = min(max(top_k * 4, 60), self.engram.config.limits.max_search_limit)
        hits = self.engram.search(query.strip(), user_id=scope, limit=pool)
        found = []
        for hit in map(self._shown, hits):
            if is_hidden(hit, now, show_expired) or not matches(hit, rest):
                continue
            if threshold is not None and hit.score < threshold:
                continue
            shaped = memory_dict(hit, hit.score)
            if explain:
                shaped["score_details"] = dict(hit.signals)
            found.append(shaped)
            if len(found) >= top_k:
                break
        return {"results": found}

    def history(self, memory_id: str) -> builtins.list[dict[str, Any]]:
        item = self._get(memory_id)
        if item is None and self._walled:
            return []  # a deleted memory's owner is unknown here: it may not be the caller's
        try:
            entries = self.engram.history(
                memory_id, user_id=item.user_id if item is not None else None
            )
        except NotFoundError:
            return []
        return history_dicts(self._shown(item) if item is not None else None, entries)

    # --- helpers -------------------------------------------------------------------------
    def _get(self, memory_id: str) -> MemoryItem | None:
        try:
            return self.engram.get(memory_id)
        except NotFoundError:
            return None

    @staticmethod
    def _scope_key(ids: dict[str, str | None]) -> str:
        return next(k for k in IDS if ids.get(k))

    def _read_scope(
        self, filters: dict[str, Any] | None, kwargs: dict[str, Any], method: str, top_k: int
    ) -> tuple[str, dict[str, Any]]:
        """The scope a read names, and the conditions left to check on each memory."""
        if set(kwargs) & set(IDS):
            raise ValueError(
                f"Top-level entity parameters {set(kwargs) & set(IDS)} are not supported in"
                f" {method}(). Use filters={{'user_id': '...'}} instead."
            )
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
            raise ValueError(f"Invalid top_k: {top_k}. Must be a non-negative integer.")
        conditions = dict(filters or {})
        check_filters(conditions)
        ids = {k: check_id(conditions.get(k), k) for k in IDS}
        if not any(ids.values()):
            raise ValueError(
                "filters must contain at least one of: user_id, agent_id, run_id. "
                "Example: filters={'user_id': 'u1'}"
            )
        scope = self._inside(scope_of(ids))
        conditions.pop(self._scope_key(ids))
        for key in IDS:
            if ids[key] is not None and key in conditions:
                conditions[key] = ids[key]
        return scope, conditions

    def _scan(self, scope: str) -> Iterator[MemoryItem]:
        cursor: str | None = None
        while True:
            page, cursor = self.engram.list_page(user_id=scope, limit=1000, cursor=cursor)
            yield from map(self._shown, page)
            if cursor is None:
                return

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
        if self._owns:
            self.engram.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["Memory"]
