"""What a question asks about, in the fact vocabulary: "where does she work" asks for a job or
an employer. Facts of those attributes get the ``attribute`` signal."""

from __future__ import annotations

import numpy as np

from engramdb.encode.facts.model import FAVORITE, NOTE
from engramdb.encode.text import words
from engramdb.retrieve.scope_index import IntArray, ScopeIndex
from engramdb.retrieve.signals import Scores

# question word (lower case) → the attributes it asks about
_CUES: dict[str, tuple[str, ...]] = {}
for _words, _attributes in [
    (
        "work works working job jobs employer employed company career profession occupation"
        " office hired role title boss colleagues",
        ("job", "employer"),
    ),
    (
        "live lives living home city town move moved moving neighbourhood neighborhood apartment"
        " flat house address based reside country",
        ("home",),
    ),
    (
        "dating date dates partner girlfriend boyfriend married marry wife husband spouse engaged"
        " fiance fiancee relationship single divorced together seeing marital",
        ("partner", "relationship_status"),
    ),
    ("pet pets dog dogs cat cats puppy kitten animal", ("pet",)),
    ("car cars drive drives driving vehicle", ("car",)),
    ("school study studies studying university college degree major class student", ("school",)),
    ("hobby hobbies pastime free spare weekends", ("hobby", "likes")),
    (
        "favorite favourite prefer prefers preference like likes love loves enjoy drink eat food",
        ("likes", "dislikes", "diet", FAVORITE),
    ),
    ("diet vegetarian vegan eat eats meat", ("diet",)),
    ("plan plans planning trip travel vacation visit going upcoming future", ("plan",)),
    ("old age birthday", ("age",)),
]:
    for _word in _words.split():
        _CUES[_word] = _CUES.get(_word, ()) + _attributes


def asked_attributes(query: str) -> set[str]:
    found: set[str] = set()
    for word in words(query):
        found.update(_CUES.get(word, ()))
    return found


def attribute_scores(index: ScopeIndex, query: str, positions: IntArray) -> Scores:
    """1 for facts whose attribute the question asks about (favorites by prefix), -1 for
    facts of another attribute ("lives in" does not answer "where does she work"), 0 for
    episodes and for facts of no fixed attribute (notes)."""
    asked = asked_attributes(query)
    if not asked:
        return np.zeros(len(positions))
    codes = index.attribute_codes(positions)
    matching: list[int] = []
    other: list[int] = []
    for name, code in index.attributes.items():
        if name in _OPEN:
            continue
        fits = name in asked or (FAVORITE in asked and name.startswith(FAVORITE))
        (matching if fits else other).append(code)
    return np.isin(codes, matching).astype(np.float64) - np.isin(codes, other)


_OPEN = {"", NOTE, "other"}  # no attribute (episodes), or one that says nothing of the topic
