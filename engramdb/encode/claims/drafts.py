"""From a batch of messages to fact drafts: one parse of every message, the claims of the
first-hand ones, the entities of all of them. Pronouns resolve across adds through a small
per-conversation memory of the last person named."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from engramdb.encode.claims.extract import ClaimDraft, Conversation, claims_of, entities
from engramdb.encode.claims.parser import parse
from engramdb.encode.facts.model import CLAIM, FactDraft
from engramdb.encode.timeparse import find_time_ranges

_CONVERSATIONS = 4096  # conversations whose last-named person is remembered


@dataclass(frozen=True, slots=True)
class Said:
    """One message as the claim parser reads it."""

    message_id: str
    speaker: str
    text: str
    said_at: datetime | None
    firsthand: bool  # a role whose statements are facts (ExtractionConfig.fact_roles)


class ClaimReader:
    def __init__(self) -> None:
        self._conversations: OrderedDict[tuple[str, str], Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def read(
        self, messages: list[Said], conversation: tuple[str, str]
    ) -> tuple[list[FactDraft], dict[str, list[tuple[str, str]]]]:
        """The claims of the first-hand messages and the (name, label) entities of each."""
        docs = parse([m.text for m in messages])
        context = self._context(conversation)
        found: list[FactDraft] = []
        mentions: dict[str, list[tuple[str, str]]] = {}
        context.speakers.update(m.speaker for m in messages if m.speaker)
        for message, doc in zip(messages, docs, strict=True):
            sentences = list(doc.sents)
            named = [(context.person(n) if label == "PERSON" else n, label)
                     for n, label in entities(sentences)]  # fmt: skip
            if named:
                mentions[message.message_id] = named
            if message.firsthand:
                for claim in claims_of(sentences, message.speaker, message.said_at, context):
                    found.append(_draft(claim, message))
        return found, mentions

    def _context(self, key: tuple[str, str]) -> Conversation:
        with self._lock:
            context = self._conversations.pop(key, None) or Conversation()
            self._conversations[key] = context
            while len(self._conversations) > _CONVERSATIONS:
                self._conversations.popitem(last=False)
            return context


def _draft(claim: ClaimDraft, message: Said) -> FactDraft:
    when = message.said_at
    tense = claim.tense
    if when is not None:  # "moving to Denver next month": planned, true from then
        ahead = [r for r in find_time_ranges(claim.statement, when) if r.start > when]
        if ahead and tense == "current":
            tense = "planned"
        if ahead and tense == "planned":
            when = ahead[0].start
    return FactDraft(
        subject=claim.subject,
        attribute=CLAIM,
        value=claim.value,
        event_time=when,
        sources=[message.message_id],
        op="end" if tense == "ended" else "set",
        said=claim.statement,
        predicate=claim.predicate,
        tense=tense,
        # an end is kept beside what it ended (its own timeline), never replacing a claim
        coexists=claim.coexists or tense == "ended",
    )
