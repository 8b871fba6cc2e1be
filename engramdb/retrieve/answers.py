"""Whether a fact can answer the question at all, from its words alone.

Two checks, both cheap and both on the fact's text:

* **something new**: for a wh-question, a fact that only repeats the question ("Marcus is in
  a relationship with Nina" for "What is Marcus's relationship with Nina?", "Yuki is married"
  for "Who is Yuki married to?") tells nothing; a yes/no question is answered by repeating.
  Words of the slot templates ("lives in", "(home)") do not count as new; the value is what
  a slot fact adds.
* **the kind of answer asked for**: "who …?" and "what is … called?" want a name the question
  does not already hold; "how many …?" wants a number; "where …?" a name, a place in lower
  case ("in a tiny flat") or a word that there is none ("retired"). "Lily has a pet: dog"
  names no dog; "Same firm, bigger projects." says where nobody works.

A fact that fails is not removed; search lowers its score (``SearchConfig.unanswered``), so it
still ranks when nothing better is there.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from engramdb.encode.facts.model import ATTRIBUTES, FAVORITE
from engramdb.encode.text import query_terms, words
from engramdb.encode.timeparse import MONTHS, WEEKDAYS

AnswerKind = Literal["name", "count", "place"]

_LEAD = r"^\W*(?:(?:and|so|but|ok|okay|also|then|now)\W+)?"  # "And where does he work?"
_WHO = re.compile(_LEAD + r"(?:who|whom|whose)\b", re.I)
_NAMED = re.compile(_LEAD + r"what\b.*\b(?:called|named|name)\b", re.I)
_OPEN = re.compile(_LEAD + r"(?:what|who|whom|whose|where|which|how|when|why)\b", re.I)
_COUNT = re.compile(_LEAD + r"how\s+many\b", re.I)
_WHERE = re.compile(
    _LEAD + r"(?:where|(?:in\s+)?(?:which|what)\s+(?:city|cities|town|towns|country|countries"
    r"|state|neighbou?rhoods?|area|company|companies|firm|place|street))\b",
    re.I,
)
# "at the bakery", "in a tiny flat", "to Amara's parents' backyard": a place in lower case
_LOCATIVE = re.compile(
    r"\b(?:(?:at|in|on|near|from|above|below|behind|outside|inside|into)\s+(?:(?:the|a|an|my|his"
    r"|her|their|our|[\w-]+['’]s)\s+)?|to\s+(?:the|a|an|my|his|her|their|our|[\w-]+['’]s)\s+)"
    r"(?!(?:the|a|an|it|its|him|her|them|you|this|that|which|night|morning|evening|afternoon"
    r"|noon|midnight|time|first|end|weekends?|moment|least|all|once|last|fact|general|love"
    r"|charge|touch)\b)(?-i:[a-z]{3,})",
    re.I,
)
# "Where does he work?" "He retired." has no place and answers all the same
_NO_PLACE = re.compile(
    r"\b(?:retir\w*|unemployed|jobless|quit|laid off|fired|between jobs|remote(?:ly)?"
    r"|from home|freelanc\w*|self-employed|homeless|moved out|travel(?:l?ing)|nomad)\b",
    re.I,
)
_NUMBER = re.compile(
    r"\b(?:\d+|zero|no|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?"
    r"|both|a couple|a few|several|first|second|third|fourth|fifth|twins?|triplets)\b",
    re.I,
)
_NOT_NAMES = frozenset({"i", *MONTHS, *WEEKDAYS})
_CAPITALISED = re.compile(r"(?<![\w'’])[^\W\d_][\w'’-]*")  # kept where it opens in upper case
_SHOUTED = frozenset({"ok", "okay", "lol", "omg", "no", "yes", "btw", "wtf", "asap", "fyi"})
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|[\"“(]\s*)$")


@dataclass(frozen=True, slots=True)
class Question:
    """What the checks need of a question, computed once per search."""

    roots: frozenset[str]
    folded: frozenset[str]  # every word, lower case, for telling new names from asked ones
    kind: AnswerKind | None
    open: bool  # a wh-question: its answer says something the question does not


def read_question(text: str) -> Question:
    kind: AnswerKind | None = None
    if _WHO.match(text) or _NAMED.match(text):
        kind = "name"
    elif _COUNT.match(text):
        kind = "count"
    elif _WHERE.match(text):
        kind = "place"
    folded = frozenset(fold(w) for w in words(text))
    roots = _roots(text)
    return Question(roots, folded, kind, _OPEN.match(text) is not None)


def answers(question: Question, fact: str, known_names: Collection[str]) -> bool:
    """Whether ``fact`` says something the question does not and, where the question asks
    for a name, a number or a place, holds one. ``known_names`` (lower case): names that
    count as names even at the start of a sentence, where any word is capitalised."""
    if not question.open:  # "Is Yuki married?": "Yuki is married" answers by repeating it
        return True
    new = _roots(fact) - question.roots - _TEMPLATE_ROOTS
    if not new:
        return False
    if question.kind == "count":
        return _NUMBER.search(fact) is not None
    if question.kind == "place" and (_LOCATIVE.search(fact) or _NO_PLACE.search(fact)):
        return True
    if question.kind in ("name", "place"):
        return any(n not in question.folded for n in names(fact, known_names))
    return True


def names(text: str, known_names: Collection[str]) -> set[str]:
    """The capitalised words of ``text`` (lower case) that are names: not "I", not a month or
    a weekday, and at the start of a sentence only if ``known_names`` holds them."""
    return {name for name, starts in _capitalised(text) if not starts or name in known_names}


@lru_cache(maxsize=8192)
def _capitalised(text: str) -> tuple[tuple[str, bool], ...]:
    """The name-like words of a text and whether each opens a sentence (a fact's text is
    read by every search that ranks it: worked out once)."""
    found = []
    for m in _CAPITALISED.finditer(text):
        if not m.group()[0].isupper():
            continue
        name = fold(m.group())
        starts = _SENTENCE_START.search(text[: m.start()]) is not None
        # "BOOKED.", "OMG" are no names; "IBM", "NYC" are
        shouted = m.group().isupper() and (len(m.group()) > 4 or name in _SHOUTED)
        if name not in _NOT_NAMES and not shouted:
            found.append((name, starts))
    return tuple(found)


@lru_cache(maxsize=8192)
def _roots(text: str) -> frozenset[str]:
    return frozenset(_root(t) for t in query_terms(text))


def fold(word: str) -> str:
    """Lower case, without a possessive "'s": how names are compared."""
    return re.sub(r"['’]s$", "", word.casefold())


def _root(term: str) -> str:
    """A crude stem, enough to match "cats" with "cat" and "lives" with "live"."""
    for suffix in ("ing", "ed", "es", "s"):
        if term.endswith(suffix) and len(term) - len(suffix) >= 3:
            return term[: -len(suffix)]
    return term


_TEMPLATE_ROOTS = frozenset(
    _root(word)
    for attribute in ATTRIBUTES.values()
    for word in [*words(attribute.template.format(s="", v="")), *attribute.name.split("_")]
) | {FAVORITE.strip("_")}
