"""What a user's memories add up to: the profile (core memory), where a fact came from, the
entity graph, and answers from the configured model."""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from engramdb.config import EngramConfig
from engramdb.encode.timeparse import parse_timestamp
from engramdb.errors import InvalidInputError
from engramdb.llm.base import ChatModel
from engramdb.manage.guard import Guard
from engramdb.manage.guard.prompt import PREAMBLE, context_line
from engramdb.models import Answer, Entity, Hit, Kind, MemoryItem, Profile, Relation
from engramdb.store.engine import MemoryStore

PROFILE_CHARS = 2000  # a profile sits in every prompt: keep it small
ANSWER_PROMPT = (
    "You answer questions about a user from their memories. Use only the memories below; "
    "prefer current facts over older messages, and what the user said first-hand over what "
    "others reported; if they do not hold the answer, say you do not know. Answer in one or "
    f"two short sentences. {PREAMBLE}"
)


class Knowledge:
    store: MemoryStore
    config: EngramConfig
    _guard: Guard

    def get(self, memory_id: str, *, user_id: str | None = None) -> MemoryItem:
        raise NotImplementedError  # Memory.get

    def search(
        self,
        query: str,
        *,
        user_id: str,
        limit: int = 10,
        now: str | datetime | None = None,
        as_of: str | datetime | None = None,
        kinds: Sequence[Kind] | None = None,
        include_flagged: bool = False,
    ) -> builtins.list[Hit]:
        raise NotImplementedError  # Memory.search

    def llm(self) -> ChatModel:
        raise NotImplementedError  # Memory.llm

    def profile(
        self, user_id: str, *, limit: int = 20, now: str | datetime | None = None
    ) -> Profile:
        """The most important facts true now (pinned first), as items and as prompt text.
        Read from the current facts on every call, so it is never out of date. Notes stay
        out unless pinned: nothing closes an outdated note, only search ranks past it."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
            raise InvalidInputError("limit must be between 1 and 200")
        at = parse_timestamp(now, field="now") if now is not None else datetime.now(UTC)
        user = self._user_id(user_id)
        # flagged facts (disputed, quarantined, from flagged messages) never enter it
        facts = self._guard.keep(self.store.current_facts(user, at, limit + 50))[:limit]
        lines, size = [], 0
        for fact in facts:
            said = [f"since {fact.valid_from:%Y-%m-%d}"] if fact.valid_from else []
            said += [f"said by {fact.speaker}"] if fact.speaker else []  # its source
            since = f" ({'; '.join(said)})" if said else ""
            # quoted: a fact's text is data and must stay one line of the prompt
            line = f"- {json.dumps(fact.text, ensure_ascii=False)}{since}"
            if size + len(line) > PROFILE_CHARS:
                break
            lines.append(line)
            size += len(line) + 1
        return Profile(user_id=user, facts=facts[: len(lines)], text="\n".join(lines))

    def sources(self, memory_id: str, *, user_id: str | None = None) -> builtins.list[MemoryItem]:
        """The messages a fact was extracted from (empty for a message itself)."""
        current = self.get(memory_id, user_id=user_id)
        return self.store.linked(current.id, current.user_id, "source")

    def related(self, memory_id: str, *, user_id: str | None = None) -> builtins.list[MemoryItem]:
        """Facts linked to a fact: what else was current about the same person when either
        was learned (links are kept when a fact is later closed)."""
        current = self.get(memory_id, user_id=user_id)
        return self.store.linked(current.id, current.user_id, "related")

    def entities(self, user_id: str, *, limit: int = 100) -> builtins.list[Entity]:
        """The entities a user's memories mention, most mentioned first."""
        return self.store.entities(self._user_id(user_id), _bounded(limit))

    def relations(
        self, user_id: str, *, entity: str | None = None, limit: int = 100
    ) -> builtins.list[Relation]:
        """Edges of the user's graph (facts linking two entities), newest first."""
        if entity is not None and (not isinstance(entity, str) or not entity.strip()):
            raise InvalidInputError("entity must be a non-empty string")
        return self.store.relations(self._user_id(user_id), entity, _bounded(limit))

    def answer(
        self,
        question: str,
        *,
        user_id: str,
        limit: int = 10,
        as_of: str | datetime | None = None,
    ) -> Answer:
        """Retrieve, build a compact dated context and ask the configured model."""
        hits = self.search(question, user_id=user_id, limit=limit, as_of=as_of)
        model = self.llm()
        context = "\n".join(context_line(hit) for hit in hits) or "(no memories)"
        prompt = [
            {"role": "system", "content": ANSWER_PROMPT},
            {"role": "user", "content": f"Memories:\n{context}\n\nQuestion: {question}"},
        ]
        reply = model.chat(
            prompt, max_tokens=self.config.llm.max_tokens if self.config.llm else 256
        )
        return Answer(answer=reply.strip(), memories=hits, model=model.name)

    def _user_id(self, user_id: object) -> str:
        from engramdb.encode.messages import check_scope_id

        value = check_scope_id(user_id, "user_id", required=True)
        assert value is not None
        return value


def _bounded(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise InvalidInputError("limit must be between 1 and 10000")
    return limit


_context_line = context_line  # the name earlier releases had (tests/test_provenance.py)
