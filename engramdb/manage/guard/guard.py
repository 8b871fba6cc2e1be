"""The guard in one object: ``screen`` at write (trust, flags, secrets, lessons), ``policy`` for
consolidation, ``review`` at read (trust on each hit, flagged ones out, reported ones lower),
``feedback`` (lessons and quarantine). Held by ``Memory``; switched by ``EngramConfig.guard``."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from engramdb.config import GuardConfig
from engramdb.encode.messages import EpisodeDraft
from engramdb.errors import InvalidInputError
from engramdb.manage.guard.consensus import ConsensusPolicy
from engramdb.manage.guard.consistency import disputes
from engramdb.manage.guard.directives import directives
from engramdb.manage.guard.lessons import LESSON, Lesson, LessonBook
from engramdb.manage.guard.screen import invisible, structure
from engramdb.manage.guard.secrets import find_secrets, kinds, redact
from engramdb.manage.guard.trust import (
    HIGH,
    PLAIN,
    Provenance,
    aged,
    base_trust,
    is_plain,
    provenance,
)
from engramdb.models import Hit, MemoryItem
from engramdb.store.engine import MemoryStore

# search ranks a memory of high trust (≥ HIGH: anyone's first-hand word in chat or email) at its
# score, any other at score × (RANK_FLOOR + (1 − RANK_FLOOR) × trust): an assistant recap
# (trust 0.5) keeps 75% of it, a web page relayed by a tool (0.3) 65%. Enough to put the
# person's statement above a relayed one about as relevant; not enough to bury the only memory
# that holds an answer.
RANK_FLOOR = 0.5
OWED = "parse_owed"  # a message whose parse the work queue still owes (screen(deep=False))
PERSON_SAMPLE = 500  # earlier messages read to tell who the person is, once per user
Embed = Callable[[Sequence[str]], Any]


class Guard:
    def __init__(self, config: GuardConfig, store: MemoryStore) -> None:
        self.config = config
        self.store = store
        self.lessons = LessonBook()
        self.counts: Counter[str] = Counter()
        self._speakers: dict[str, Counter[str]] = {}
        self._lock = threading.Lock()

    @property
    def on(self) -> bool:
        return self.config.enabled

    # --- write ---------------------------------------------------------------------------
    def screen(
        self, drafts: list[EpisodeDraft], user_id: str, *, deep: bool = True
    ) -> list[EpisodeDraft]:
        """Secrets (redact or refuse the batch), then each message's provenance, trust and
        flags into ``metadata["guard"]``. Raises before anything is written. ``deep``: also
        read what the parser finds addressed to the agent (else ``deepen`` does it after the
        add, in the work queue, so that add costs no parse)."""
        if not self.on:
            return drafts
        self._secrets(drafts)
        lessons = self._lessons(user_id) if self.config.lessons else []
        roles = set(self.config.person_roles)
        provs: list[Provenance] = []
        for d in drafts:
            person = self._person(user_id, d, roles)
            provs.append(provenance(d.content, d.role, d.speaker, d.metadata, person, roles))
        shown = [invisible(d.content) for d in drafts]
        carriers = [i for i, p in enumerate(provs) if not _own_words(p)]
        said: dict[int, list[str]] = {}
        if self.config.screening and carriers:
            texts = [shown[i][1] for i in carriers]
            person = provs[carriers[0]].person
            parsed = directives(texts, person) if deep else [[] for _ in texts]
            for i, found in zip(carriers, parsed, strict=True):
                said[i] = structure(shown[i][1]) + found
        for i, (d, p) in enumerate(zip(drafts, provs, strict=True)):
            flags = list(shown[i][0]) if self.config.screening else []
            flags += said.get(i, [])
            repeats = [x for x in lessons if x.repeated_by(d.content)]
            flags += [f"lesson: marked wrong before ({x.text})" for x in repeats[:1]]
            trust = base_trust(p)
            if flags or not is_plain(p, trust):  # the plain case is not written (PLAIN)
                guard = {"trust": trust, "provenance": p.as_dict(), "flags": flags}
                if i in said and not deep:
                    guard[OWED] = True  # its parse: deepen()
                d.metadata = {**d.metadata, "guard": guard}
            self.counts["screened"] += 1
            self.counts["flagged"] += bool(flags)
        return drafts

    def deepen(self, items: list[MemoryItem]) -> dict[str, dict[str, Any]]:
        """In the work queue: the parse ``screen(deep=False)`` left owed. Message id → its new
        metadata (the flags found added), for each message screened."""
        owed = [m for m in items if m.sources and _guard(m).get(OWED)]
        if not owed:
            return {}
        shown = [invisible(m.text)[1] for m in owed]
        person = Provenance.from_dict(_guard(owed[0]).get("provenance"))
        found = directives(shown, person.person if person else None)
        out: dict[str, dict[str, Any]] = {}
        for item, flags in zip(owed, found, strict=True):
            guard = {k: v for k, v in _guard(item).items() if k != OWED}
            guard["flags"] = list(dict.fromkeys([*guard.get("flags", []), *flags]))
            self.counts["flagged"] += bool(flags) and not _guard(item).get("flags")
            out[item.sources[0]] = {**item.metadata, "guard": guard}
        return out

    def _secrets(self, drafts: list[EpisodeDraft]) -> None:
        mode = self.config.secrets
        found = [find_secrets(d.content) for d in drafts]
        for i, secrets in enumerate(found):
            if secrets and mode == "refuse":
                self.counts["secrets_refused"] += len(secrets)
                what = ", ".join(sorted(kinds(secrets)))
                raise InvalidInputError(
                    f"messages[{i}] holds a secret ({what}); guard.secrets is 'refuse':"
                    " nothing of this batch was written"
                )
        for d, secrets in zip(drafts, found, strict=True):
            if not secrets:
                continue
            for kind, n in kinds(secrets).items():
                self.counts[f"secrets_found:{kind}"] += n
            if mode == "redact":
                d.content = redact(d.content, secrets)
                self.counts["secrets_redacted"] += len(secrets)

    def _person(self, user_id: str, draft: EpisodeDraft, roles: set[str]) -> str | None:
        """The user's own speaker: who said most of their person-role messages so far (the
        first such speaker on a tie). Learnt from the store once, then message by message."""
        with self._lock:
            counts = self._speakers.get(user_id)
        if counts is None:
            counts = Counter()
            page, _ = self.store.list(user_id, kind="episode", limit=PERSON_SAMPLE, order="asc")
            for item in page:
                if (item.role or "user") in roles and item.speaker and _own_channel(item):
                    counts[item.speaker.strip()] += 1
            with self._lock:
                counts = self._speakers.setdefault(user_id, counts)
        with self._lock:
            if (draft.role or "user") in roles and draft.speaker and _own_channel(draft):
                counts[draft.speaker.strip()] += 1
            top = counts.most_common(1)
        return top[0][0] if top else None

    def _lessons(self, user_id: str) -> list[Lesson]:
        if not self.lessons.known(user_id):
            page, _ = self.store.list(user_id, kind="summary", limit=5_000)
            found = [Lesson.from_dict(_guard(m).get(LESSON)) for m in page]
            self.lessons.load(user_id, [x for x in found if x is not None])
        return self.lessons.of(user_id)

    def policy(self, user_id: str) -> ConsensusPolicy | None:
        """What consolidation asks before a claim closes a fact (None: the guard is off)."""
        if not self.on:
            return None
        lessons = self._lessons(user_id) if self.config.lessons else []
        return ConsensusPolicy(self.config.consensus, lessons, counts=self.counts)

    def forget_user(self, user_id: str) -> None:
        self.lessons.forget(user_id)
        with self._lock:
            self._speakers.pop(user_id, None)

    # --- read ----------------------------------------------------------------------------
    def review(
        self, hits: list[Hit], *, include_flagged: bool, now: datetime | None = None
    ) -> list[Hit]:
        """Each hit with its trust, provenance and flags; flagged ones left out unless asked
        for; with ``ranking``, reordered by score × trust factor (stable)."""
        now = now or datetime.now(UTC)
        out = [annotate(h, now) for h in hits]
        if self.on and self.config.consensus:  # relays contradicting the person's own word
            held = disputes(out)
            out = [_held(h, held[h.id]) if h.id in held else h for h in out]
        if self.on and not include_flagged:
            out = [h for h in out if not h.flagged]
        if self.on and self.config.ranking:  # by the trust it was written with, not aged
            out.sort(key=lambda h: -h.score * rank_factor(_written_trust(h)))
        return out

    def keep(self, items: list[MemoryItem]) -> list[MemoryItem]:
        """The unflagged memories (the profile, a prompt's context)."""
        return [m for m in items if not flags_of(m)] if self.on else items

    def stats(self) -> dict[str, Any]:
        counts = dict(sorted(self.counts.items()))
        return {"enabled": self.on, "secrets_mode": self.config.secrets, **counts}


def annotate(hit: Hit, now: datetime) -> Hit:
    guard = _guard(hit) or (PLAIN if _plain_item(hit) else {})
    prov = Provenance.from_dict(guard.get("provenance"))
    raw = guard.get("trust")
    said = hit.event_time or hit.created_at
    trust = aged(float(raw), said, now) if isinstance(raw, int | float) else None
    flags = flags_of(hit)
    return hit.model_copy(
        update={
            "trust": trust,
            "provenance": prov.as_dict() if prov else None,
            "flags": flags,
            "flagged": bool(flags),
        }
    )


def _held(hit: Hit, why: str) -> Hit:
    return hit.model_copy(update={"flags": [*hit.flags, why], "flagged": True})


def rank_factor(trust: float | None) -> float:
    if trust is None or trust >= HIGH:
        return 1.0
    return RANK_FLOOR + (1.0 - RANK_FLOOR) * trust


def flags_of(item: MemoryItem) -> list[str]:
    flags = _guard(item).get("flags")
    return [str(f) for f in flags] if isinstance(flags, list) else []


def _written_trust(item: MemoryItem) -> float | None:
    raw = _guard(item).get("trust")
    return float(raw) if isinstance(raw, int | float) else None


def _guard(item: MemoryItem) -> dict[str, Any]:
    guard = item.metadata.get("guard")
    return guard if isinstance(guard, dict) else {}


def _plain_item(item: MemoryItem) -> bool:
    """Written without the guard's marks because it was the plain case (trust.PLAIN): the
    user role in chat (a fact drawn from such a message too)."""
    return (item.role or "user") == "user" and _own_channel(item)


def _own_words(p: Provenance) -> bool:
    """The person typing to their own agent: it is theirs to instruct, so only hidden
    characters are flagged in it; whatever else arrives (a pasted page or email, a tool's
    result, another speaker, the assistant, an import) is screened in full."""
    return p.who == "person" and p.channel == "chat"


def _own_channel(item: MemoryItem | EpisodeDraft) -> bool:
    source = item.metadata.get("source")
    return source is None or source == "chat"
