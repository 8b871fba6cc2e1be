"""Consensus at consolidation: who may close a fact. Consolidation (manage/consolidate.py) asks
this policy before a claim supersedes or ends a fact:

* a claim the subject makes about themselves, first-hand, always may (people change: a new
  address from the person closes the old one);
* a claim anyone else makes — an assistant's recap, a tool, an import, a third party, hearsay
  — does not close a fact its subject stated first-hand with at least as much trust, nor one
  that several independent sources (``CONSENSUS`` messages) agree on; it is kept, marked
  ``disputed`` (flagged: out of the profile and of answers, findable with include_flagged).

Each fact carries its trust in ``metadata["guard"]``: its message's trust, times ``REPORTED``
when the message speaks of someone other than its speaker."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engramdb.encode.text import normalise_name
from engramdb.manage.guard.lessons import Lesson
from engramdb.manage.guard.trust import HIGH, PLAIN, REPORTED, Provenance, same_name

if TYPE_CHECKING:
    from engramdb.encode.facts.extractor import Claim
    from engramdb.store.base import StoredFact
    from engramdb.store.facts import FactSession

CONSENSUS = 2  # independent messages behind a fact that make it a consensus
DISPUTED = "disputed"


@dataclass
class ConsensusPolicy:
    consensus: bool = True
    lessons: list[Lesson] = field(default_factory=list)
    said: dict[str, dict[str, Any]] = field(default_factory=dict)  # message id → its guard
    counts: Counter[str] = field(default_factory=Counter)  # the guard's, for stats()
    _stamped: set[str] = field(default_factory=set)

    def begin(self, metadata: dict[str, dict[str, Any]]) -> None:
        """The messages being consolidated: message id → its metadata (the guard's marks)."""
        for message_id, meta in metadata.items():
            guard = meta.get("guard")
            if isinstance(guard, dict):
                self.said[message_id] = guard

    def stamp(self, claim: Claim) -> None:
        """Give a claim's memory its trust and provenance (and its message's flags)."""
        draft, memory = claim.draft, claim.memory
        if memory.id in self._stamped:
            return
        self._stamped.add(memory.id)
        said = self.said.get(draft.sources[0]) if draft.sources else None
        flags: list[str] = []
        if said is not None:
            prov = Provenance.from_dict(said.get("provenance"))
            trust = float(said.get("trust") or 0.0)
            flags = [str(f) for f in said.get("flags", [])]
            if prov is not None:
                own = prov.speaker is None or same_name(draft.subject, prov.speaker)
                firsthand = prov.firsthand and own
                if prov.firsthand and not own:
                    trust = round(trust * REPORTED, 4)
                info = prov.as_dict() | {"firsthand": firsthand}
                memory.metadata["guard"] = {"trust": trust, "provenance": info, "flags": flags}
        for lesson in self.lessons:
            if lesson.matches_fact(draft.subject, draft.attribute, draft.value):
                guard = memory.metadata.setdefault("guard", {"flags": []})
                guard.setdefault("flags", []).append(f"lesson: marked wrong before ({lesson.text})")
                break

    def blocks(self, session: FactSession, claim: Claim, fact: StoredFact) -> str | None:
        """Why ``claim`` may not close ``fact`` (None: it may)."""
        if not self.consensus:
            return None
        new = claim.memory.metadata.get("guard")
        if not isinstance(new, dict) or "trust" not in new:
            return None
        prov = Provenance.from_dict(new.get("provenance"))
        if prov is not None and prov.firsthand and prov.who in ("person", "other"):
            return None  # the subject speaking of themselves
        old = _guard_of(session, fact.pk)
        if not old or "trust" not in old:
            return None  # written before the guard: nothing to weigh it by
        new_trust, old_trust = float(new["trust"]), float(old["trust"])
        old_prov = Provenance.from_dict(old.get("provenance"))
        who = prov.who if prov else "an unknown source"
        if old_prov is not None and old_prov.firsthand and old_trust >= max(HIGH, new_trust):
            subject = normalise_name(claim.draft.subject) or "its subject"
            return f"{DISPUTED}: {who} contradicts what {subject} said first-hand ({fact.text})"
        if len(set(fact.sources)) >= CONSENSUS and new_trust < old_trust:
            return f"{DISPUTED}: {who} contradicts {len(set(fact.sources))} sources ({fact.text})"
        return None

    def dispute(self, claim: Claim, why: str) -> None:
        guard = claim.memory.metadata.setdefault("guard", {})
        if guard.get("status") == DISPUTED:
            return
        guard.setdefault("flags", []).append(why)
        guard["status"] = DISPUTED
        self.counts["disputed"] += 1


def _guard_of(session: FactSession, pk: int) -> dict[str, Any] | None:
    row = session.tx.one(
        "SELECT metadata FROM memories WHERE pk = ? AND user_id = ?", (pk, session.user_id)
    )
    meta = session.d.decode("json", row[0]) if row else None
    guard = meta.get("guard") if isinstance(meta, dict) else None
    return guard if isinstance(guard, dict) else PLAIN
