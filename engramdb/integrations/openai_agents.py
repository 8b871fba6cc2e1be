"""OpenAI Agents SDK on engramdb: ``EngramSession`` (the SDK's ``Session`` protocol) keeps a
conversation's items as messages of an engramdb user, and ``recall_tool`` gives an agent a
``recall`` function tool that searches that user's long-term memory.

    from agents import Agent, Runner
    from engramdb import Memory
    from engramdb.integrations.openai_agents import EngramSession, recall_tool

    memory = Memory("agent.db")
    session = EngramSession("chat-42", memory, user_id="ann")
    agent = Agent(name="helper", tools=[recall_tool(memory, user_id="ann")])
    await Runner.run(agent, "Where did I say I keep the spare key?", session=session)

Each item becomes one engramdb message (text: what the item says, for search and fact
extraction; metadata: the item's exact JSON, so ``get_items`` returns what ``add_items`` got).
Messages of one session carry its id as engramdb's ``session_id``; several sessions of one
``user_id`` share that user's long-term memory, which ``recall`` searches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from agents import FunctionTool, function_tool
from agents.memory import SessionSettings
from agents.memory.session_settings import resolve_session_limit

from engramdb.api.memory import Memory
from engramdb.errors import InvalidInputError, NotFoundError
from engramdb.integrations.common import memory_of
from engramdb.models import Kind, MemoryItem

if TYPE_CHECKING:
    from agents.items import TResponseInputItem

FIELD = "openai_agents"  # the metadata key that holds an item's JSON
_PAGE = 500


def _item_text(item: dict[str, Any]) -> str:
    """What an item says, as plain text: message content, a tool call and its arguments, a
    tool's output. Anything else is summarised by its type (its JSON is in the metadata)."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") or p.get("refusal") for p in content if isinstance(p, dict)]
        text = "\n".join(p for p in parts if isinstance(p, str))
        if text.strip():
            return text
    if item.get("type") == "function_call":
        return f"called {item.get('name')}({item.get('arguments', '')})"
    output = item.get("output")
    if isinstance(output, str) and output.strip():
        return output
    if isinstance(item.get("summary"), list):  # reasoning items
        text = "\n".join(s.get("text", "") for s in item["summary"] if isinstance(s, dict))
        if text.strip():
            return text
    return f"[{item.get('type') or item.get('role') or 'item'}]"


def _as_json(item: Any) -> dict[str, Any]:
    # the SDK hands dicts (TypedDicts); a pydantic model is dumped as the SDK itself does
    if hasattr(item, "model_dump"):
        item = item.model_dump(mode="json", exclude_unset=True)
    try:
        data: dict[str, Any] = json.loads(json.dumps(item, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"session items must be JSON-serialisable: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("session items must be JSON objects")
    return data


class EngramSession:
    """The Agents SDK ``Session`` protocol on an engramdb store.

    ``memory`` is a :class:`engramdb.Memory` or a store path (opened with ``options``, which
    are :class:`engramdb.EngramConfig` fields). ``user_id`` is the engramdb scope of the
    session's messages; by default the session id itself, so each session is its own scope.
    """

    session_settings: SessionSettings | None

    def __init__(
        self,
        session_id: str,
        memory: Memory | str | os.PathLike[str],
        *,
        user_id: str | None = None,
        session_settings: SessionSettings | None = None,
        **options: Any,
    ) -> None:
        self.memory, self._owns_memory = memory_of(memory, **options)
        self.session_id = session_id
        self.user_id = user_id if user_id is not None else session_id
        self.session_settings = session_settings
        # one writer at a time per session object: pop_item reads then deletes
        self._lock = threading.Lock()

    # --- the Session protocol -------------------------------------------------------------
    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The session's items, oldest first; with ``limit``, the latest ``limit`` of them."""
        wanted = resolve_session_limit(limit, self.session_settings)
        return await asyncio.to_thread(self._get_items, wanted)

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append items, all in one engramdb transaction (all stored or none)."""
        await asyncio.to_thread(self._add_items, [_as_json(i) for i in items])

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove and return the newest item (None if the session is empty)."""
        return await asyncio.to_thread(self._pop_item)

    async def clear_session(self) -> None:
        """Delete every item of this session (facts extracted only from them go too)."""
        await asyncio.to_thread(self._clear)

    def close(self) -> None:
        """Close the engramdb store if this session opened it."""
        if self._owns_memory:
            self.memory.close()

    # --- the engramdb side ----------------------------------------------------------------
    def _mine(self, order: str) -> Iterator[MemoryItem]:
        """This session's item memories, newest first ("desc") or oldest first ("asc")."""
        cursor: str | None = None
        kind: Kind = "episode"
        while True:
            page, cursor = self.memory.list_page(
                user_id=self.user_id,
                kind=kind,
                limit=_PAGE,
                cursor=cursor,
                order="desc" if order == "desc" else "asc",
            )
            for memory in page:
                if memory.session_id == self.session_id and FIELD in memory.metadata:
                    yield memory
            if cursor is None:
                return

    def _get_items(self, limit: int | None) -> list[Any]:
        if limit is None or limit < 0:  # SQLiteSession: no limit, or a negative one, is all
            return [m.metadata[FIELD] for m in self._mine("asc")]
        newest: list[Any] = []
        if limit == 0:
            return newest
        for memory in self._mine("desc"):
            newest.append(memory.metadata[FIELD])
            if len(newest) == limit:
                break
        return newest[::-1]

    def _add_items(self, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        messages = [
            {
                "id": uuid.uuid4().hex,  # two equal items are two turns, not one
                "content": _item_text(item)[: self.memory.config.limits.max_message_chars],
                "role": item["role"] if isinstance(item.get("role"), str) else None,
                FIELD: item,
            }
            for item in items
        ]
        with self._lock:
            try:
                self.memory.add(messages, user_id=self.user_id, session_id=self.session_id)
            except InvalidInputError as exc:
                raise ValueError(
                    f"engramdb refused the items: {exc} (an item's JSON is kept in its"
                    " memory's metadata: raise limits.max_metadata_bytes for larger ones)"
                ) from exc

    def _pop_item(self) -> Any:
        with self._lock:
            for memory in self._mine("desc"):
                try:
                    self.memory.delete(memory.id, user_id=self.user_id)
                except NotFoundError:
                    continue  # popped by someone else meanwhile: take the next newest
                return memory.metadata[FIELD]
            return None

    def _clear(self) -> None:
        with self._lock:
            for memory in list(self._mine("asc")):
                with contextlib.suppress(NotFoundError):  # deleted meanwhile: as good
                    self.memory.delete(memory.id, user_id=self.user_id)


def recall_tool(
    memory: Memory,
    *,
    user_id: str,
    limit: int = 5,
    kinds: list[Kind] | None = None,
) -> FunctionTool:
    """A function tool named ``recall`` that searches ``user_id``'s engramdb memory (messages
    of every session and the facts extracted from them) and returns the best matches, one a
    line, with when each was said."""

    @function_tool(name_override="recall")
    async def recall(query: str) -> str:
        """Search long-term memory for what is known about something.

        Args:
            query: What to look for, in plain words (e.g. "where does the user work").
        """
        hits = await asyncio.to_thread(
            memory.search, query, user_id=user_id, limit=limit, kinds=kinds
        )
        if not hits:
            return "No memories found."
        lines = []
        for hit in hits:
            when = hit.event_time.date().isoformat() if hit.event_time else "unknown date"
            lines.append(f"- {hit.text} ({hit.kind}, {when})")
        return "\n".join(lines)

    return recall
