"""Consensus at read: a relayed memory (an assistant's recap, a tool's or an import's record, a
forwarded page or email, someone else speaking of the person) that is about the same thing as
what the person said first-hand, among the same search's candidates, and brings values the
person never gave — a number, an address, a name, a negation — contradicts them: it is held
back as ``disputed`` (shown with include_flagged). A relay that only repeats what the person
said keeps its place: a correct recap, an import that agrees."""

from __future__ import annotations

import re
from functools import lru_cache

from engramdb.encode.text import query_terms
from engramdb.models import Hit

# the values a claim turns on: numbers and codes, e-mail addresses and domains, names (a
# capitalised word inside a sentence), and negations
_NUMBER = re.compile(r"\d[\d\-./:]*\d|\d")
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b")
_NAME = re.compile(r"(?<=[a-z,;] )[A-Z][\w'-]+")
_NEGATION = re.compile(r"\b(?:no|not|never|none|nothing|without|neither|nor)\b|n't\b", re.I)
RELAYED = ("assistant", "tool", "import", "system")


@lru_cache(maxsize=8192)  # a hit's text is read by every search it is found by
def values(text: str) -> frozenset[str]:
    found = {m.casefold() for m in _NUMBER.findall(text)}
    found |= {m.casefold() for m in _ADDRESS.findall(text)}
    found |= {m.casefold() for m in _NAME.findall(text)}
    if _NEGATION.search(text):
        found.add("¬")
    return frozenset(found)


def relayed(hit: Hit) -> bool:
    prov = hit.provenance or {}
    who = prov.get("who")
    if who in RELAYED:
        return True
    if who == "person":
        return prov.get("channel") in ("web", "email") and not prov.get("firsthand")
    return who == "other" and not prov.get("firsthand")


def disputes(hits: list[Hit]) -> dict[str, str]:
    """Memory id → why it is disputed, for the relayed hits that contradict first-hand ones."""
    own = [
        h
        for h in hits
        if (h.provenance or {}).get("who") == "person" and (h.provenance or {}).get("firsthand")
    ]
    if not own:
        return {}
    person = str((own[0].provenance or {}).get("person") or "").casefold()
    said_terms = [_stems(h.text, person) for h in own]
    said_values = set().union(*(values(h.text) for h in own))
    out: dict[str, str] = {}
    for hit in hits:
        if hit.flagged or not relayed(hit):
            continue
        terms = _stems(hit.text, person)
        same = [h for h, t in zip(own, said_terms, strict=True) if terms & t]
        new = values(hit.text) - said_values - {person}
        if same and new:
            shown = ", ".join(sorted("a negation" if v == "¬" else v for v in new)[:3])
            out[hit.id] = f"disputed: {shown} not in what the person said ({same[0].text[:80]})"
    return out


@lru_cache(maxsize=8192)
def _stems(text: str, person: str) -> frozenset[str]:
    """Content words cut to their first five letters ("allergy", "allergies", "allergic")."""
    return frozenset(t[:5] for t in query_terms(text, limit=64) if t != person and len(t) > 2)
