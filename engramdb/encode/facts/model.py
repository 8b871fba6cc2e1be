"""What an extractor produces: (subject, attribute, value) claims with a time and sources,
and the fixed attribute vocabulary that makes claims comparable across messages and models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from engramdb.encode.text import normalise_name


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    single: bool  # one current value at a time: a new value ends the old one
    template: str  # the statement: {s} subject, {v} value
    importance: float


NOTE = "note"
CLAIM = "claim"  # open vocabulary (encode/claims): the predicate says what it is about
_ATTRIBUTES = [
    # statements carry the attribute's plain name too, for questions that use it
    Attribute("job", True, "{s} works as {v} (job)", 0.9),
    Attribute("employer", True, "{s} works at {v} (employer)", 0.9),
    Attribute("home", True, "{s} lives in {v} (home)", 0.9),
    Attribute("partner", True, "{s} is in a relationship with {v}", 0.85),
    Attribute("relationship_status", True, "{s} is {v}", 0.7),
    Attribute("school", True, "{s} studies at {v}", 0.7),
    Attribute("age", True, "{s} is {v} years old", 0.6),
    Attribute("diet", True, "{s} eats a {v} diet", 0.6),
    Attribute("car", True, "{s} drives {v}", 0.5),
    Attribute("pet", False, "{s} has a pet: {v}", 0.6),
    Attribute("likes", False, "{s} likes {v}", 0.5),
    Attribute("dislikes", False, "{s} dislikes {v}", 0.5),
    Attribute("hobby", False, "{s} has a hobby: {v}", 0.5),
    Attribute("plan", False, "{s} plans to {v}", 0.6),
    Attribute("other", False, "{s}: {v}", 0.4),
    # a statement in its own words (notes.py): the value is the whole third-person sentence
    Attribute(NOTE, False, "{v}", 0.4),
    # a parsed claim: its text is its third-person statement; one current value per subject
    # and predicate, unless the text says values coexist (then the value is in its key)
    Attribute(CLAIM, True, "{v}", 0.6),
]
ATTRIBUTES = {a.name: a for a in _ATTRIBUTES}
# "favorite_<thing>" attributes are single-valued and built on the fly
FAVORITE = "favorite_"


def attribute_of(name: str) -> Attribute:
    if name in ATTRIBUTES:
        return ATTRIBUTES[name]
    if name.startswith(FAVORITE) and len(name) > len(FAVORITE):
        thing = name[len(FAVORITE) :].replace("_", " ")
        return Attribute(name, True, "{s}'s favorite " + thing + " is {v}", 0.6)
    return ATTRIBUTES["other"]


def canonical_attribute(name: str) -> str:
    """Map a free-form attribute name (from a model) onto the vocabulary."""
    key = "_".join(normalise_name(name.replace("_", " ")).split())
    if key in ATTRIBUTES:
        return key
    if key.startswith(("favorite", "favourite")):
        thing = key.split("_", 1)[1] if "_" in key else ""
        return FAVORITE + thing if thing else "likes"
    return _SYNONYMS.get(key, "other")


_SYNONYMS = {
    "occupation": "job",
    "profession": "job",
    "role": "job",
    "work": "job",
    "title": "job",
    "company": "employer",
    "workplace": "employer",
    "city": "home",
    "residence": "home",
    "location": "home",
    "lives_in": "home",
    "address": "home",
    "spouse": "partner",
    "boyfriend": "partner",
    "girlfriend": "partner",
    "husband": "partner",
    "wife": "partner",
    "relationship": "relationship_status",
    "marital_status": "relationship_status",
    "education": "school",
    "university": "school",
    "college": "school",
    "vehicle": "car",
    "pets": "pet",
    "like": "likes",
    "preference": "likes",
    "preferences": "likes",
    "interest": "likes",
    "dislike": "dislikes",
    "hobbies": "hobby",
    "activity": "hobby",
    "plans": "plan",
    "goal": "plan",
    "intention": "plan",
    "trip": "plan",
}


@dataclass(slots=True)
class FactDraft:
    """One claim. ``op="end"``: the claim stopped being true (value may be empty: "I quit")."""

    subject: str
    attribute: str
    value: str
    event_time: datetime | None
    sources: list[str]  # message ids
    episode_pks: list[int] = field(default_factory=list)
    op: Literal["set", "end"] = "set"
    confidence: float = 0.8
    actor: str = "rules"
    # claims (encode/claims): the statement, the predicate, tense and whether values coexist
    said: str | None = None
    predicate: str = ""
    tense: str = "current"
    coexists: bool = False

    @property
    def spec(self) -> Attribute:
        return attribute_of(self.attribute)

    def key(self) -> str:
        """Versions of one fact share a key: subject and attribute, plus the value where an
        attribute holds several values at once (likes, pets, plans). Notes have keys of
        their own (``#note|subject|text``; a name never holds "#"), so the subject's slot
        facts are read without reading all its notes."""
        if self.attribute == NOTE:  # apart from "subject|…": scans of a subject's facts
            return f"#{NOTE}|{normalise_name(self.subject)}|{normalise_name(self.value)}"
        if self.attribute == CLAIM:  # subject|claim|predicate(|value where values coexist)
            base = f"{normalise_name(self.subject)}|{CLAIM}|{normalise_name(self.predicate)}"
            apart = self.coexists or self.tense == "past"
            return f"{base}|{normalise_name(self.value)}" if apart else base
        base = f"{normalise_name(self.subject)}|{self.attribute}"
        return base if self.spec.single else f"{base}|{normalise_name(self.value)}"

    def statement(self) -> str:
        if self.said is not None:
            return self.said
        if self.op == "end":
            what = f" ({self.value})" if self.value else ""
            return f"{self.subject}: {self.attribute.replace('_', ' ')} ended{what}"
        return self.spec.template.format(s=self.subject, v=self.value)
