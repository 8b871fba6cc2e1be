"""Trust from provenance: who said a thing, whether first-hand, through which channel, how long
ago. A small product of documented factors, chosen by reasoning about who can know what (never
fitted to a benchmark):

* **who** — the person (the user's own speaker) is the authority on themselves (1.0); someone
  else in the conversation speaking of themselves is too, a little less sure to be who they
  say (0.8); a bulk import repeats a record someone once made (0.6); the assistant and tools
  only repeat or look up (0.5): they cannot know more about the person than the person said;
* **first-hand or reported** — hearsay ("my sister says…", someone else telling what the person
  is, an assistant recap) is worth ``REPORTED`` (0.7) of the speaker's own word;
* **channel** — what the person types in chat is theirs; a pasted or forwarded email carries
  someone else's words (0.8), a web page anyone's (0.6);
* **age** — a statement loses a little (5% a year, to at most ``AGE_FLOOR``): old records drift.

``trust = WHO × REPORTED? × CHANNEL × age``, in (0, 1]. Levels: high ≥ 0.75, low < 0.5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Who = Literal["person", "other", "assistant", "tool", "import", "system"]
CHANNELS = ("chat", "email", "web", "tool", "import")
WHO: dict[str, float] = {
    "person": 1.0,
    "other": 0.9,
    "import": 0.6,
    "assistant": 0.5,
    "tool": 0.5,
    "system": 0.5,
}
REPORTED = 0.7
CHANNEL: dict[str, float] = {"chat": 1.0, "tool": 1.0, "import": 1.0, "email": 0.8, "web": 0.6}
UNKNOWN_CHANNEL = 0.9
AGE_PER_YEAR = 0.05
AGE_FLOOR = 0.8
HIGH, LOW = 0.75, 0.5
_TOOL_ROLES = {"tool", "function", "ipython"}
# a verb of saying whose subject is someone else: "my sister says", "Dan told me", "according to"
_REPORT = re.compile(
    r"\b(?!i\b)[a-z]+\s+(?:says|said|told me|tells me|claims|claimed|thinks|reckons|"
    r"mentioned|insists|swears)\b|\baccording to\b|\bi (?:heard|was told|read)\b|\bapparently\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a memory came from, as the guard judges it."""

    who: Who
    firsthand: bool
    channel: str
    speaker: str | None
    person: str | None  # the user's own speaker when this was written

    def as_dict(self) -> dict[str, Any]:
        # every search annotates each hit with it: no dataclasses.asdict (a deep copy)
        return {
            "who": self.who,
            "firsthand": self.firsthand,
            "channel": self.channel,
            "speaker": self.speaker,
            "person": self.person,
        }

    @staticmethod
    def from_dict(raw: object) -> Provenance | None:
        if not isinstance(raw, dict):
            return None
        who = raw.get("who")
        if who not in WHO:
            return None
        return Provenance(
            who=who,
            firsthand=bool(raw.get("firsthand")),
            channel=str(raw.get("channel") or "unknown"),
            speaker=raw.get("speaker") if isinstance(raw.get("speaker"), str) else None,
            person=raw.get("person") if isinstance(raw.get("person"), str) else None,
        )


def channel_of(role: str | None, metadata: dict[str, Any]) -> str:
    source = metadata.get("source")
    if isinstance(source, str) and source.lower() in CHANNELS:
        return source.lower()
    return "tool" if (role or "").lower() in _TOOL_ROLES else "chat"


def who_of(
    role: str | None, speaker: str | None, channel: str, person: str | None, person_roles: set[str]
) -> Who:
    role = (role or "user").lower()
    if channel == "import":
        return "import"
    if role in _TOOL_ROLES:
        return "tool"
    if role == "assistant":
        return "assistant"
    if role == "system":
        return "system"
    if role in person_roles and (speaker is None or person is None or same_name(speaker, person)):
        return "person"
    return "other"


def provenance(
    text: str,
    role: str | None,
    speaker: str | None,
    metadata: dict[str, Any],
    person: str | None,
    person_roles: set[str],
) -> Provenance:
    channel = channel_of(role, metadata)
    who = who_of(role, speaker, channel, person, person_roles)
    if who == "person":
        firsthand = not _REPORT.search(text)
    elif who == "other":  # someone else speaking of themselves, not of the person
        firsthand = not (_REPORT.search(text) or (person is not None and names(text, person)))
    else:
        firsthand = False
    return Provenance(who, firsthand, channel, speaker, person)


# The person's own first-hand word in chat, with nothing flagged: the common case, so it is not
# written into the message's metadata (which stays the caller's own); a memory without the
# guard's marks reads as this (also one written before the guard: facts came from the user
# role only then)
PLAIN: dict[str, Any] = {
    "trust": 1.0,
    "provenance": {"who": "person", "firsthand": True, "channel": "chat", "speaker": None},
    "flags": [],
}


def is_plain(p: Provenance, trust: float) -> bool:
    return p.who == "person" and p.firsthand and p.channel == "chat" and trust >= 1.0


def base_trust(p: Provenance) -> float:
    trust = WHO[p.who] * CHANNEL.get(p.channel, UNKNOWN_CHANNEL)
    if not p.firsthand and p.who in ("person", "other"):
        trust *= REPORTED
    return round(trust, 4)


def aged(trust: float, said: datetime | None, now: datetime | None = None) -> float:
    if said is None:
        return trust
    now = now or datetime.now(UTC)
    said = said if said.tzinfo else said.replace(tzinfo=UTC)
    years = max(0.0, (now - said).total_seconds() / (365.25 * 86_400))
    return round(trust * max(AGE_FLOOR, 1.0 - AGE_PER_YEAR * years), 4)


def same_name(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def names(text: str, person: str) -> bool:
    """Whether ``text`` speaks *of* the person (their first name, not as a greeting: "Hey
    Priya, I moved" speaks to her, "Priya's allergy is gone" of her)."""
    first = person.strip().split()[0] if person.strip() else ""
    if not first:
        return False
    for m in re.finditer(rf"\b{re.escape(first)}\b", text, re.IGNORECASE):
        before = text[: m.start()].rstrip().casefold()
        after = text[m.end() :].lstrip()[:1]
        greeted = not before or before.endswith(_GREETINGS) or before[-1] in ",.!?:;"
        if not (greeted and (not after or after in ",!.?:;")):
            return True
    return False


_GREETINGS = ("hey", "hi", "hello", "thanks", "thank you", "dear", "morning", "bye", "oh", "yo")
