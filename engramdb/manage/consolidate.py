"""Consolidation: each extracted claim against the timeline of its fact, inside the add
transaction. Deterministic: the model (if any) only extracts; this code decides.

- same value as the version current at the claim's time: NOOP (the claim's source is added);
- a more specific value the same day ("nurse" → "nurse at St. Mary's"): UPDATE, a new
  version (later, it is a change: a promotion has its own start);
- a different value: ADD the new fact and INVALIDATE the old one at the new one's event time
  (valid_to is set, the row and its history stay); a claim older than the current version is
  slotted into the past (closed at the next version's start) instead of replacing it;
- an "end" claim ("I quit", "we broke up"): INVALIDATE the matching current facts, and keep
  a zero-length end marker on the timeline for claims older than it that arrive later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engramdb.encode.facts.extractor import Claim, Extraction
from engramdb.encode.facts.model import CLAIM, NOTE, FactDraft
from engramdb.encode.text import normalise_name, query_terms
from engramdb.models import Decision, DecisionEvent
from engramdb.store.base import Inserted, StoredFact
from engramdb.store.facts import FactSession

if TYPE_CHECKING:
    from engramdb.manage.guard.consensus import ConsensusPolicy

_FAR_PAST = datetime.min.replace(tzinfo=None)


@dataclass
class Consolidation:
    """The callback ``store.add`` runs in its transaction; collects every decision."""

    claims: list[Claim]
    mentions: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # message id
    decisions: list[Decision] = field(default_factory=list)
    fact_pks: list[int] = field(default_factory=list)
    guard: ConsensusPolicy | None = None  # manage/guard: who may close a fact

    @classmethod
    def of(cls, extraction: Extraction) -> Consolidation:
        return cls(claims=list(extraction.claims), mentions=dict(extraction.mentions))

    def __call__(self, session: FactSession, fresh: list[Inserted]) -> None:
        """Inside ``store.add``: the batch's new messages are ``fresh``."""
        if self.guard is not None:
            self.guard.begin({i.item.sources[0]: i.item.metadata for i in fresh if i.item.sources})
        self.apply(session, {i.item.sources[0]: i.pk for i in fresh if i.item.sources})

    def apply(self, session: FactSession, episodes: dict[str, int]) -> None:
        """Consolidate the claims of the messages ``episodes`` (message id → pk)."""
        for message_id, names in self.mentions.items():
            if message_id in episodes:
                session.mention(episodes[message_id], names)
        for claim in sorted(self.claims, key=_claim_order):
            pks = [episodes[s] for s in claim.draft.sources if s in episodes]
            if not pks:
                continue  # its message was stored before: consolidated then (idempotent add)
            if claim.draft.op == "end":
                self._end(session, claim, pks)
            else:
                self._set(session, claim, pks)

    # --- decisions -------------------------------------------------------------------------
    def _set(self, session: FactSession, claim: Claim, episode_pks: list[int]) -> None:
        draft, when = claim.draft, claim.draft.event_time
        if self.guard is not None:
            self.guard.stamp(claim)
        value = normalise_name(draft.value)
        versions = [f for f in session.facts_for(draft.key()) if not _is_end(f)]
        ends = [f for f in session.facts_for(_prefix(draft)) if _is_end(f) and _ends(f, value)]
        before = [f for f in _timeline(versions) if _start(f) <= _naive(when)]
        after = [f for f in _timeline(versions + ends) if _start(f) > _naive(when)]
        prev = before[-1] if before else None
        nxt = after[0] if after else None
        if prev is not None and _open_at(prev, when):
            old = normalise_name(prev.value)
            if value == old or _tokens(value) <= _tokens(old):
                why = "the current fact already says this"
                return self._noop(session, prev, claim, episode_pks, why)
            if _tokens(old) < _tokens(value) and _same_day(prev.valid_from, when):
                return self._update(session, prev, claim, episode_pks)  # detail, not a change
        if nxt is not None and not _is_end(nxt) and normalise_name(nxt.value) == value:
            why = "a later version already says this"
            return self._noop(session, nxt, claim, episode_pks, why)
        memory = claim.memory
        memory.valid_from = when
        memory.valid_to = nxt.valid_from if nxt is not None else None
        memory.anchor_pk = episode_pks[-1]
        reason = "new fact" if prev is None else f"replaces: {prev.text}"
        if nxt is not None:
            reason = f"earlier than the current version ({nxt.text}): kept as history"
        opened = prev is not None and _open_at(prev, when) and draft.spec.single
        disputed = self._blocked(session, claim, prev) if opened and prev else None
        if self.guard is not None and not disputed:  # beside a first-hand fact on its topic
            rivals = [f for f in session.facts_for(_prefix(draft)) if f.valid_to is None]
            rivals = [f for f in rivals if not _is_end(f) and normalise_name(f.value) != value]
            disputed = next(filter(None, (self._blocked(session, claim, f) for f in rivals)), None)
        reason = disputed or reason
        pk, added = session.insert(memory, actor=draft.actor, reason=reason)
        for episode in episode_pks:
            session.link(pk, episode, "source")
        session.mention(pk, _fact_entities(draft))
        if added and draft.attribute not in (NOTE, CLAIM):  # many, linked by their sources
            self._relate(session, pk, draft)
        closed = []
        if added and prev is not None and opened and not disputed:
            assert when is not None
            session.close(prev.pk, when, actor=draft.actor, reason=f"superseded by: {memory.text}")
            session.link(pk, prev.pk, "supersedes")
            closed.append(prev.id)
        self.fact_pks.append(pk)
        event: DecisionEvent = "INVALIDATE" if closed else "ADD"
        self._decide(event, memory.id, memory.text, reason, draft.actor, closed)

    def _blocked(self, session: FactSession, claim: Claim, fact: StoredFact) -> str | None:
        """Why the guard keeps ``claim`` from closing ``fact`` (manage/guard/consensus.py)."""
        if self.guard is None:
            return None
        why = self.guard.blocks(session, claim, fact)
        if why:
            self.guard.dispute(claim, why)
        return why

    @staticmethod
    def _relate(session: FactSession, pk: int, draft: FactDraft) -> None:
        """Link a new fact to the current facts about the same subject (A-MEM's linked
        notes): from any fact, what else is known about that person is one hop away."""
        subject = normalise_name(draft.subject)
        current = [
            f
            for f in session.facts_for(subject)
            if f.pk != pk and f.valid_to is None and not _is_end(f)
        ]
        for other in current[-MAX_RELATED:]:
            session.link(pk, other.pk, "related")
            session.link(other.pk, pk, "related")

    def _end(self, session: FactSession, claim: Claim, episode_pks: list[int]) -> None:
        draft, when = claim.draft, claim.draft.event_time
        if self.guard is not None:
            self.guard.stamp(claim)
        prefix = _prefix(draft)
        if draft.attribute == CLAIM:
            return self._end_claims(session, claim, episode_pks)
        words = _tokens(normalise_name(draft.value))
        closed = []
        for fact in _timeline(session.facts_for(prefix)):
            if _is_end(fact) or not _open_at(fact, when) or _start(fact) > _naive(when):
                continue
            if words and not (words & _tokens(normalise_name(fact.value))):
                continue  # "I left Google" does not end a job at Acme
            if when is None or self._blocked(session, claim, fact):
                continue
            session.close(fact.pk, when, actor=draft.actor, reason=f"ended: {draft.value or ''}")
            closed.append(fact.id)
            closed += self._call_off(session, draft, fact, when)
        marker = self._mark_end(session, claim, prefix)
        if closed:
            text = f"{draft.subject} {draft.attribute} ended"
            self._decide("INVALIDATE", marker, text, "an end claim", draft.actor, closed)
        else:
            text = f"{draft.subject} {draft.attribute} ended ({draft.value})"
            why = "no current fact matches; kept to end an older one that arrives later"
            self._decide("SKIP", marker, text, why, draft.actor, [])

    def _end_claims(self, session: FactSession, claim: Claim, episode_pks: list[int]) -> None:
        """ "I quit", "I don't eat meat anymore", "the Austin move fell through": the open
        claims about the subject that share a content word with it end now; one that had not
        begun (a plan) never holds, and what it was to replace holds again. The end is kept
        as a claim of its own (what the person said)."""
        draft, when = claim.draft, claim.draft.event_time
        subject = _tokens(normalise_name(draft.subject))
        words = _tokens(normalise_name(draft.statement())) - subject
        closed: list[str] = []
        ended: list[int] = []
        facts = _timeline(session.facts_for(_prefix(draft)))
        for fact in facts:
            if _is_end(fact) or when is None or not _open_at(fact, when):
                continue
            if not words & (_tokens(normalise_name(fact.text)) - subject):
                continue  # "I left Google" does not end a job at Acme
            if self._blocked(session, claim, fact):
                continue
            if _start(fact) > _naive(when):  # a plan called off before its day
                assert fact.valid_from is not None
                session.close(fact.pk, fact.valid_from, actor=draft.actor, reason="called off")
                for before in facts:
                    if before.valid_to is not None and _naive(before.valid_to) == _start(fact):
                        why = "what was to replace it was called off"
                        session.close(before.pk, None, actor=draft.actor, reason=why)
            else:
                reason = f"ended: {draft.statement()}"
                session.close(fact.pk, when, actor=draft.actor, reason=reason)
            closed.append(fact.id)
            ended.append(fact.pk)
        stored = len(self.fact_pks)
        self._set(session, claim, episode_pks)  # its own timeline (drafts.py: it coexists)
        if len(self.fact_pks) > stored:  # what ended them, as hits' superseded_by says
            for pk in ended:
                session.link(self.fact_pks[-1], pk, "supersedes")
        if closed and self.decisions:
            self.decisions[-1].closed.extend(closed)

    @staticmethod
    def _call_off(
        session: FactSession, draft: FactDraft, plan: StoredFact, when: datetime
    ) -> list[str]:
        """A plan called off before its day takes what it announced with it: the home of a
        move ("moving to Austin next month", then "the move fell through") never becomes
        true. It is closed where it would have begun (never shown as current, kept in
        history), and the home it was to replace is current again."""
        if draft.attribute != "plan":
            return []
        homes = session.facts_for(f"{normalise_name(draft.subject)}|home")
        called_off = []
        for fact in homes:
            announced = set(fact.sources) & set(plan.sources)
            if not announced or fact.valid_to is not None or _start(fact) <= _naive(when):
                continue
            assert fact.valid_from is not None
            session.close(fact.pk, fact.valid_from, actor=draft.actor, reason="called off")
            called_off.append(fact.id)
            for before in homes:  # the home it closed on its first day
                if _is_end(before) or before.valid_to is None:
                    continue
                if _naive(before.valid_to) == _start(fact):
                    why = "the move that was to end it was called off"
                    session.close(before.pk, None, actor=draft.actor, reason=why)
        return called_off

    @staticmethod
    def _mark_end(session: FactSession, claim: Claim, prefix: str) -> str | None:
        """Keep the end on the timeline, valid for no time at all (never shown as true): a
        claim dated before it that arrives later ("we're moving to Austin", imported after
        "the Austin thing fell through") is closed at it."""
        when = claim.draft.event_time
        if when is None:
            return None
        memory = claim.memory
        memory.fact_key = f"{prefix}|{END}"
        memory.valid_from = memory.valid_to = when
        memory.importance = 0.1
        session.insert(memory, actor=claim.draft.actor, reason="an end claim")
        return memory.id

    def _noop(
        self,
        session: FactSession,
        fact: StoredFact,
        claim: Claim,
        episode_pks: list[int],
        why: str,
    ) -> None:
        session.add_sources(fact.pk, claim.draft.sources, actor=claim.draft.actor, reason=why)
        for episode in episode_pks:
            session.link(fact.pk, episode, "source")
        self.fact_pks.append(fact.pk)
        self._decide("NOOP", fact.id, fact.text, why, claim.draft.actor, [])

    def _update(
        self, session: FactSession, fact: StoredFact, claim: Claim, episode_pks: list[int]
    ) -> None:
        why = f"more specific than: {fact.text}"
        session.revise(fact.pk, claim.memory, actor=claim.draft.actor, reason=why)
        for episode in episode_pks:
            session.link(fact.pk, episode, "source")
        self.fact_pks.append(fact.pk)
        self._decide("UPDATE", fact.id, claim.memory.text, why, claim.draft.actor, [])

    def _decide(
        self,
        event: DecisionEvent,
        fact_id: str | None,
        text: str,
        reason: str,
        actor: str,
        closed: list[str],
    ) -> None:
        self.decisions.append(
            Decision(
                event=event,
                fact_id=fact_id,
                text=text,
                reason=reason,
                actor=actor,
                closed=closed,
            )
        )


END = "~end"  # the fact-key suffix of end markers
MAX_RELATED = 8  # links from a new fact to the latest current facts about its subject


def _prefix(draft: FactDraft) -> str:
    return f"{normalise_name(draft.subject)}|{draft.attribute}"


def _is_end(fact: StoredFact) -> bool:
    return fact.fact_key.endswith(f"|{END}")


def _ends(marker: StoredFact, value: str) -> bool:
    """Whether an end marker is about this value ("left Google" ends Google, not Acme)."""
    words = _tokens(normalise_name(marker.value))
    return not words or bool(words & _tokens(value))


def _claim_order(claim: Claim) -> tuple[datetime, datetime, int]:
    """In the order they were said (a batch holds "we're moving next month" and "the move
    fell through": the plan's target date comes after the call-off, its saying before); then
    by time; at one time, what ended before what began ("I left X for Y")."""
    when = _naive(claim.draft.event_time)
    said = _naive(claim.said_at) if claim.said_at is not None else when
    return said, when, 0 if claim.draft.op == "end" else 1


def _naive(when: datetime | None) -> datetime:
    """Comparable times: UTC without a zone; no time sorts first."""
    if when is None:
        return _FAR_PAST
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


def _start(fact: StoredFact) -> datetime:
    return _naive(fact.valid_from)


def _open_at(fact: StoredFact, when: datetime | None) -> bool:
    return fact.valid_to is None or (when is not None and fact.valid_to > when)


def _timeline(facts: list[StoredFact]) -> list[StoredFact]:
    return sorted(facts, key=lambda f: (_start(f), f.pk))


def _same_day(start: datetime | None, when: datetime | None) -> bool:
    """A more specific value soon after is detail ("nurse" → "nurse at St. Mary's"); weeks
    later it is a change with its own start ("nurse" → "charge nurse")."""
    if start is None or when is None:
        return True
    return abs((when - start).total_seconds()) < 86_400


def _tokens(text: str) -> set[str]:
    return set(query_terms(text)) or set(text.split())


def _fact_entities(draft: FactDraft) -> list[tuple[str, str]]:
    names = [(draft.subject, "subject")]
    if draft.attribute in ("employer", "home", "partner", "school") and draft.value:
        names.append((draft.value, "object"))
    return names
