"""The deterministic extractor: no model, microseconds per message. It reads clauses of the
form SUBJECT + PREDICATE ("I moved to Denver", "my brother works at Acme") for a fixed set of
life facts; anything it does not recognise stays a raw episode, which remains searchable."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from engramdb.encode.facts.model import FAVORITE, FactDraft
from engramdb.encode.facts.patterns import (
    ABBREVIATION,
    CLAUSES,
    CONTRACTIONS,
    HEDGED,
    JOB_NOUNS,
    NOT_NAMES,
    OCCUPATION,
    PART_OF,
    PARTNER_WORD,
    PAST_ONLY,
    RULES,
    SPOUSE_WORD,
    STATUS,
    SUBJECT,
    VERBISH,
)
from engramdb.encode.text import query_terms
from engramdb.encode.timeparse import find_time_ranges


@dataclass(slots=True)
class Message:
    speaker: str
    text: str
    said_at: datetime | None
    message_id: str
    episode_pk: int


def extract(message: Message) -> list[FactDraft]:
    """Every claim the rules find in one message, in order."""
    text = expand_contractions(message.text)
    found: list[FactDraft] = []
    other: str | None = None  # whom "he" / "she" refers to: the last person named
    for clause in clauses(text):
        facts = list(_clause_facts(clause, message, other))
        found.extend(facts)
        other = next((f.subject for f in facts if f.subject != message.speaker), other)
        named = clause_subject(clause, message.speaker, other)[0]
        if named and named != message.speaker:
            other = named
    return _merge_homes(_dedupe([f for f in found if _a_value(f.value)]))


# a value that addresses the listener ("likes you all had fun") or is the tail of a clause cut
# at its conjunction ("likes and family") is no value: chat, not knowledge
_LISTENER = frozenset({"you", "your", "yours", "yourself", "u", "ur", "ya"})
_JOINERS = frozenset({"and", "or", "but", "nor", "so", "yet", "for"})


def _a_value(value: str) -> bool:
    words = [w.strip(".,!?;:\"'()").lower() for w in value.split()]
    if not words:
        return True  # an end ("I quit") has no value
    return words[0] not in _JOINERS and not _LISTENER.intersection(words)


def expand_contractions(text: str) -> str:
    """ "I'm" → "I am", "doesn't" → "does not": one form for the patterns to read."""
    for pattern, repl in CONTRACTIONS:
        text = re.sub(pattern, repl, text, flags=re.I)
    return text


def clauses(text: str) -> list[str]:
    """Clauses, without breaking after "St." or "Dr."."""
    return split_at(CLAUSES, text)


def split_at(boundary: re.Pattern[str], text: str) -> list[str]:
    """The non-empty pieces of ``text`` between ``boundary`` matches, a piece that ends in an
    abbreviation ("St.", "Dr.") joined to the next."""
    out: list[str] = []
    for part in boundary.split(text):
        if out and ABBREVIATION.search(out[-1]):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return [c.strip() for c in out if c.strip()]


def _clause_facts(clause: str, message: Message, other: str | None) -> Iterator[FactDraft]:
    if not clause or PAST_ONLY.search(clause):
        return
    subject, rest = clause_subject(clause, message.speaker, other)
    if subject is None:
        return
    when = event_time_of(clause, message.said_at)
    for m in PARTNER_WORD.finditer(clause):  # "my husband Tom": about the speaker
        speaker = message.speaker
        yield _draft(message, speaker, "partner", m["v"], "set", when)
        status = STATUS.get(m["r"].lower().replace("é", "e"))
        if status:
            yield _draft(message, speaker, "relationship_status", status, "set", when)
    for m in SPOUSE_WORD.finditer(clause):  # "the husband is asleep by the pool": married
        status = STATUS[m["r"].lower().replace("é", "e")]
        yield _draft(message, message.speaker, "relationship_status", status, "set", when)
    claimed: dict[str, list[tuple[int, int]]] = {}
    for pattern, attribute, op in RULES:
        spans = claimed.setdefault(attribute, [])
        for m in pattern.finditer(rest):
            if any(a < m.end() and m.start() < b for a, b in spans):
                continue  # an earlier, more specific rule read this span
            found = list(_from_match(m, attribute, op, subject, message, when, rest))
            yield from found
            spans.append(m.span())


def _from_match(
    m: re.Match[str],
    attribute: str,
    op: str,
    subject: str,
    message: Message,
    when: datetime | None,
    clause: str,
) -> Iterator[FactDraft]:
    groups = m.groupdict()
    value = _clean(groups.get("v") or "")
    if op == "title":  # "I'm officially a senior architect now": only an occupation noun
        if OCCUPATION.search(value):
            yield _draft(message, subject, "job", value, "set", when)
        return
    if attribute == "plan":
        said = message.said_at  # a plan dates from when it was made, not from its target
        if op == "end":  # which plan: the words of the clause (matched by overlap)
            yield _draft(message, subject, "plan", clause, "end", said)
        elif op == "move":  # "we're moving to Portland at the end of the month"
            yield _draft(message, subject, "plan", f"move to {value}", "set", said)
            moves_on = _move_time(clause, said)
            if moves_on is not None and not HEDGED.search(clause):
                yield _draft(message, subject, "home", value, "set", moves_on)
        else:
            yield _draft(message, subject, "plan", value, "set", said)
        return
    if attribute == FAVORITE:
        attribute = FAVORITE + "_".join(groups["c"].lower().split())
    if groups.get("e"):
        employer = _clean(groups["e"])
        if PART_OF.match(m.string[m.end("e") :]):  # "Tesla's battery team": Tesla
            employer = re.sub(r"['’]s$", "", employer)
        yield _draft(message, subject, "employer", employer, op, when)
        if op == "end":
            yield _draft(message, subject, "job", "", "end", when)
    if attribute == "job" and op == "end":
        yield _draft(message, subject, "job", "", "end", when)
        yield _draft(message, subject, "employer", "", "end", when)
        return
    if attribute == "employer" or (attribute == "job" and JOB_NOUNS.search(value)):
        return
    if attribute == "partner" and op == "end":
        yield _draft(message, subject, "partner", value, "end", when)
        status = "divorced" if "divorc" in m.group(0).lower() else "single"
        yield _draft(message, subject, "relationship_status", status, "set", when)
        return
    if op == "end" or query_terms(value):  # "love it", "like that": no fact in a pronoun
        yield _draft(message, subject, attribute, value, op, when)


def _move_time(clause: str, said_at: datetime | None) -> datetime | None:
    """When a planned move makes a new home: the first time ahead the clause names ("at the
    end of the month", "next week"); None without one ("in the spring", "one day"), as the
    home would then date from before the move."""
    if said_at is None:
        return None
    # "at the end of the month" said on the 27th: from now
    ahead = [max(r.start, said_at) for r in find_time_ranges(clause, said_at) if r.end > said_at]
    return ahead[0] if ahead else None


def _merge_homes(found: list[FactDraft]) -> list[FactDraft]:
    """One home per subject and time in a message: "here in Toronto. I live in the Annex" is
    one home at two scales ("Toronto, Annex"), not a move from Toronto to the Annex."""
    homes: dict[tuple[str, datetime | None], FactDraft] = {}
    out: list[FactDraft] = []
    for fact in found:
        key = (fact.subject, fact.event_time)
        first = homes.get(key)
        if fact.attribute != "home" or fact.op != "set":
            out.append(fact)
        elif first is None:
            homes[key] = fact
            out.append(fact)
        elif fact.value.lower() not in first.value.lower():
            merged = dataclasses.replace(first, value=f"{first.value}, {fact.value}")
            out[out.index(first)] = homes[key] = merged
    return out


def relative_subject(clause: str, speaker: str) -> str | None:
    """ "my brother Tom works…" → "Tom"; "my sister lives…" → "Maya's sister"; else None."""
    m = SUBJECT.match(clause)
    if m is None or not m["kin"]:
        return None
    return m["kname"] or f"{speaker}'s {m['kin'].lower()}"


PRONOUN = re.compile(r"^(?:\W*\w+\W+){0,2}?(?:he|she|they)\b(?:'s|'ll| is| was| has)?", re.I)
_ABOUT_YOU = re.compile(r"^\W*(?:you|your|can you|could you|would you|do you|did you)\b", re.I)


def clause_subject(clause: str, speaker: str, other: str | None = None) -> tuple[str | None, str]:
    """Who a clause is about, and the rest of it. No subject ("Moved to Munich", "Got a
    place in Neukölln") is the speaker, as chat drops "I"; "he"/"she" is ``other``."""
    pronoun = PRONOUN.match(clause)
    if pronoun:
        return other, clause[pronoun.end() :]
    m = SUBJECT.match(clause)
    if m is None or (m["name"] and not VERBISH.match(clause[m.end() :])):
        if _ABOUT_YOU.match(clause):
            return None, clause
        return speaker, clause
    rest = clause[m.end() :]
    if m["pair"]:  # "Sam and I broke up": about the speaker, Sam as the other party
        return speaker, f"{rest} with {m['pair']}"
    if m["rname"]:
        return m["rname"], rest
    if m["kin"]:
        return (m["kname"] or f"{speaker}'s {m['kin'].lower()}"), rest
    if m["name"]:
        name = m["name"]
        first_person = re.search(r"\b(?:I|my)\b", rest)
        head = re.sub(r"['’]s$", "", name.split()[0].lower())
        if first_person or name.lower() in NOT_NAMES or head in NOT_NAMES:
            return speaker, clause
        return name, rest
    return speaker, rest


def _clean(value: str) -> str:
    return value.strip().strip("'\"").rstrip(".,").strip()


def event_time_of(clause: str, said_at: datetime | None) -> datetime | None:
    """When the claim became true: a past date the clause names, else when it was said."""
    if said_at is None:
        return None
    ranges = [r for r in find_time_ranges(clause, said_at) if r.start <= said_at]
    return ranges[0].start if ranges else said_at


def _draft(
    message: Message, subject: str, attribute: str, value: str, op: str, when: datetime | None
) -> FactDraft:
    return FactDraft(
        subject=subject.strip(),
        attribute=attribute,
        value=value.strip(),
        event_time=when,
        sources=[message.message_id],
        episode_pks=[message.episode_pk],
        op="end" if op == "end" else "set",
        confidence=0.8,
        actor="rules",
    )


def _dedupe(found: list[FactDraft]) -> list[FactDraft]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for fact in found:
        mark = (fact.key(), fact.op, fact.value.lower())
        if mark not in seen:
            seen.add(mark)
            out.append(fact)
    return out
