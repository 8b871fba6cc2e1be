"""From a validated ``add`` batch to the consolidation callback: find claims (rules or a
model), turn each into an embedded fact memory, collect the entities each message mentions.
Everything slow (model calls, embedding) happens here, before the store's transaction."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from engramdb.config import ExtractionConfig
from engramdb.encode.claims.drafts import ClaimReader, Said
from engramdb.encode.embedders.base import Vectors
from engramdb.encode.episodes import date_fields
from engramdb.encode.facts import rules
from engramdb.encode.facts.entities import find_entities
from engramdb.encode.facts.model import FactDraft
from engramdb.encode.facts.notes import notes
from engramdb.encode.messages import EpisodeDraft
from engramdb.encode.text import content_hash, normalise_name
from engramdb.encode.timeparse import find_time_ranges
from engramdb.errors import LLMError
from engramdb.llm.base import ChatModel, LLMStats
from engramdb.store.base import NewMemory

logger = logging.getLogger("engramdb.facts")


@dataclass(slots=True)
class Claim:
    """A draft plus the memory that would store it (embedded before the transaction)."""

    draft: FactDraft
    memory: NewMemory
    said_at: datetime | None = None  # when its message was said (a plan's target is later)


@dataclass(slots=True)
class Extraction:
    """What a batch of messages holds: its claims, and the entities each message names."""

    claims: list[Claim]
    mentions: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # message id


Embed = Callable[[Sequence[str]], Vectors]
_NOT_A_PERSON = {"assistant", "system", "tool", "bot", "ai"}


class FactExtractor:
    def __init__(
        self,
        config: ExtractionConfig,
        embed: Embed,
        model: ChatModel | None,
        stats: LLMStats,
        max_tokens: int = 512,
        *,
        notes: bool = True,
    ) -> None:
        self.config = config
        self.notes = notes  # resolved by EngramConfig.notes_enabled
        self.embed = embed
        self.model = model
        self.stats = stats
        self.max_tokens = max_tokens
        self.fallbacks = 0  # batches the model failed on, read by the parser instead
        self.reader = ClaimReader()

    def prepare(
        self, drafts: list[EpisodeDraft], user_id: str, session_id: str | None
    ) -> Extraction:
        # first-hand only: a message of a role not named in fact_roles (the assistant, a
        # tool, the system) is kept as a message but says nothing as fact about anyone
        roles = set(self.config.fact_roles)
        firsthand = [d for d in drafts if (d.role or "user") in roles]
        said_by = {d.message_id: d for d in firsthand}
        messages = [
            rules.Message(_speaker(d), d.content, d.event_time, d.message_id, -1)
            for d in firsthand
            if _speaker(d).lower() not in _NOT_A_PERSON
        ]
        found: list[FactDraft] = []
        mentions: dict[str, list[tuple[str, str]]] = {}
        if self.config.mode == "parse":  # one parse gives the claims and the entities
            own = {d.message_id for d in firsthand}
            said = [
                Said(d.message_id, _speaker(d), d.content, d.event_time, d.message_id in own)
                for d in drafts
                if d.content.strip()
            ]
            said = [s for s in said if not (s.firsthand and s.speaker.lower() in _NOT_A_PERSON)]
            found, named = self.reader.read(said, (user_id, session_id or ""))
            if self.config.link_entities:
                mentions = {m: [(n, "mention") for n, _ in names] for m, names in named.items()}
        else:
            if self.config.mode in ("rules", "llm"):
                found = self._claims(messages)
                if self.notes:
                    found += [note for m in messages for note in notes(m)]
            if self.config.link_entities:  # the parser is not loaded for these modes
                for d in drafts:
                    names = find_entities(d.content)
                    if names:
                        mentions[d.message_id] = [(n, "mention") for n in names]
        found = [f for f in found if f.confidence >= self.config.min_confidence]
        claims = self._embedded(found, user_id, session_id, said_by)
        return Extraction(claims=claims, mentions=mentions)

    def _claims(self, messages: list[rules.Message]) -> list[FactDraft]:
        if self.config.mode == "rules" or self.model is None:
            return [fact for m in messages for fact in rules.extract(m)]
        from engramdb.encode.facts.llm import extract_batch

        found: list[FactDraft] = []
        size = self.config.batch_messages
        for start in range(0, len(messages), size):
            batch = messages[start : start + size]
            ruled = [fact for m in batch for fact in rules.extract(m)]
            try:
                claims = extract_batch(self.model, batch, self.stats, self.max_tokens)
            except LLMError as exc:  # logged and counted; the rules read the batch instead
                self.fallbacks += 1
                logger.warning(
                    "fact extraction by %s failed (%s); used rules", self.model.name, exc
                )
                claims = []
            if self.config.model_first:
                found += claims + _gaps(claims, ruled)
            else:
                found += ruled + _gaps(ruled, claims)
        return found

    def _embedded(
        self,
        found: list[FactDraft],
        user_id: str,
        session_id: str | None,
        said_by: dict[str, EpisodeDraft],
    ) -> list[Claim]:
        if not found:
            return []
        vectors = self.embed([f.statement() for f in found])
        claims = []
        for fact, vector in zip(found, vectors, strict=True):
            source = said_by.get(fact.sources[0])
            memory = fact_memory(fact, vector, user_id, session_id, source)
            claims.append(Claim(fact, memory, source.event_time if source else None))
        return claims


def fact_memory(
    fact: FactDraft,
    vector: npt.NDArray[np.float32],
    user_id: str,
    session_id: str | None,
    source: EpisodeDraft | None = None,
) -> NewMemory:
    """A fact keeps its provenance: who said it, in which role, on which channel (the
    message's metadata ``source``)."""
    text = fact.statement()
    when = fact.event_time
    ranges = find_time_ranges(text, when) if when else []
    stamp = when.isoformat() if when else ""
    return NewMemory(
        id=uuid.uuid4().hex,
        kind="fact",
        text=text,
        role=(source.role or "user") if source else None,
        speaker=source.speaker if source else None,
        session_id=session_id,
        event_time=when,
        sources=list(fact.sources),
        content_hash=content_hash(user_id, fact.key(), normalise_name(fact.value), stamp),
        metadata=_provenance(fact.actor, source)
        | ({"tense": fact.tense} if fact.tense != "current" else {}),
        embedding=vector,
        subject=fact.subject,
        attribute=fact.attribute,
        value=fact.value,
        fact_key=fact.key(),
        confidence=fact.confidence,
        importance=fact.spec.importance,
        **date_fields(ranges, when),
    )


def _provenance(actor: str, source: EpisodeDraft | None) -> dict[str, str]:
    channel = source.metadata.get("source") if source else None
    return {"extractor": actor, **({"source": channel} if isinstance(channel, str) else {})}


def _gaps(first: list[FactDraft], second: list[FactDraft]) -> list[FactDraft]:
    """Claims of ``second`` about what ``first`` said nothing of (same message, subject and
    attribute)."""
    said = {(c.sources[0], normalise_name(c.subject), c.attribute) for c in first}
    return [c for c in second if (c.sources[0], normalise_name(c.subject), c.attribute) not in said]


def _speaker(draft: EpisodeDraft) -> str:
    return draft.speaker or draft.role or "user"
