"""Which fact answers now: the person the question is about, a fact that answers at all, and
the newest word on a topic.

Three reorderings of the fused scores, all on facts only (episodes are the raw record):

* **subject**: a question that names a person ("Where does Maya's brother Sam work?") asks
  about the last person it names, not counting names after a preposition; facts about
  anyone else drop by ``other_subject``.
* **an answer at all** (answers.py): the best facts that cannot answer ("Yuki is married" for
  "who is Yuki married to?") drop by ``unanswered``; such a fact may link two that answer in
  a succession chain, never replace one.
* **succession**: a newer fact about the same subject and topic (its vector close to the older
  one's, or naming the same place, firm or event) that answers the question nearly as well
  (its cosine to the question at most ``SLACK`` lower, or its fused score at least ``RATIO``
  of the older one's) is ranked just above the older one. "Monday standup at Shopify" follows
  "teaching at Lincoln Middle School" for "where does Daniel work now?". Under ``as_of`` only
  facts valid then are candidates, so the newest word *as of then* wins. A question in the
  past tense without ``as_of`` ("when did she move?") asks about an event: no succession.

Thresholds were fitted on the dev half of ``engram bench updates`` and checked on its held-out
half (docs/facts.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from engramdb.encode.facts.model import NOTE
from engramdb.encode.text import words
from engramdb.retrieve.answers import answers, names, read_question
from engramdb.retrieve.config import SearchConfig
from engramdb.retrieve.scope_index import FloatArray, IntArray, ScopeIndex
from engramdb.retrieve.signals import Scores

TOPIC = 0.5  # cosine between two facts above which they are about the same thing
SLACK = 0.2  # how much less a newer fact may match the question and still replace the older
RATIO = 0.75  # ... or how much lower its fused score may be (a fact of the kind asked)
HEAD = 10  # facts, best first, whose successors are looked for
CHECKED = 20  # facts, best first, checked for whether they answer the question at all
_SELF = {"i", "my", "me", "mine", "myself"}
_OBJECT_AFTER = {
    *("with", "to", "for", "from", "about", "by", "at", "of", "than", "in", "on", "after"),
    *("before", "since", "like", "without", "between", "among"),
}


@dataclass(frozen=True, slots=True)
class QueryFacts:
    """What the reordering needs to know of the query."""

    text: str
    vector: FloatArray | None
    fit: Scores | None  # the attribute signal: 1 a fact of the kind asked, -1 of another kind
    at_a_time: bool  # the search reads facts as of a given time (``as_of``)
    texts: Callable[[list[int]], dict[int, str]] | None = None  # store keys → fact texts


def reorder_facts(
    index: ScopeIndex,
    positions: IntArray,
    scores: Scores,
    query: QueryFacts,
    config: SearchConfig,
) -> None:
    """Apply the three reorderings to ``scores`` in place (``config.other_subject`` < 1,
    ``config.unanswered`` < 1 and ``config.succession`` switch them on)."""
    facts = np.flatnonzero(~index.is_episode[positions] & np.isfinite(scores))
    if len(facts) == 0:
        return
    subjects = index.speaker_code[positions[facts]]
    if config.other_subject < 1:
        asked = query_subject(index, query.text, subjects)
        if asked is not None:
            scores[facts[subjects != asked]] *= config.other_subject
    checking = config.unanswered < 1 and query.texts is not None
    succeeding = config.succession and query.vector is not None and succession_applies(query)
    if not (checking or succeeding):
        return
    fits = query.fit[facts] if query.fit is not None else np.zeros(len(facts))
    people = index.speaker_words()
    read = _read_best(index, positions, scores, facts, query)
    # a word opening a sentence is a name where another fact capitalises it mid-sentence
    known = people.union(*(names(text, people) for text in read.values()))
    answering = np.ones(len(facts), np.bool_)
    if checking:
        # a slot fact of another kind than the one asked ("is married" for "where does he
        # work?") does not answer either
        answering = fits >= 0
        question = read_question(query.text)
        for i, text in read.items():
            answering[i] = answering[i] and answers(question, text, known)
        scores[facts[~answering]] *= config.unanswered
    if succeeding:
        assert query.vector is not None
        named = [
            frozenset(names(read[i], known) - people) if i in read else _NONE
            for i in range(len(facts))
        ]
        was_read = np.isin(np.arange(len(facts)), list(read))
        _succeed(index, positions, scores, facts, query.vector, fits, answering, named, was_read)


_NONE: frozenset[str] = frozenset()


def _read_best(
    index: ScopeIndex, positions: IntArray, scores: Scores, facts: IntArray, query: QueryFacts
) -> dict[int, str]:
    """The texts of the best ``CHECKED`` facts, by their place in ``facts`` (none without a
    way to read them)."""
    if query.texts is None:
        return {}
    head = np.argsort(-scores[facts], kind="stable")[:CHECKED].tolist()
    keys = index.pks[positions[facts[head]]].tolist()
    texts = query.texts(keys)
    return {i: texts[key] for i, key in zip(head, keys, strict=True) if key in texts}


def succession_applies(query: QueryFacts) -> bool:
    """Whether the question asks for the one value that holds (now, or at ``as_of``)."""
    if query.at_a_time:
        return True
    return not (asks_about_the_past(query.text) or asks_for_a_list(query.text))


def asks_about_the_past(query: str) -> bool:
    """ "When did she go to…", "What was he reading?", "Where has she camped?": an event,
    not what holds now; the newest fact on the topic is not the answer. (With ``as_of`` the
    question names its time and succession runs up to it.) "Does Sam have children?" has
    "have" as its verb, not a perfect."""
    if _PAST.search(query):
        return True
    return _PERFECT.search(query) is not None and not _DO.search(query)


def asks_for_a_list(query: str) -> bool:
    """ "What books has she read?", "Which causes does he support?": many values, all of
    them answers; the newest does not replace the others."""
    return _LIST.match(query) is not None


_PAST = re.compile(r"\b(?:did|was|were|had|used to|ago)\b", re.I)
# "has camped", "have done": the present perfect asks about events too ("has been" is a state)
_PERFECT = re.compile(
    r"\b(?:has|have)\s+(?:\w+\s+){0,2}?(?!been\b)\w+(?:ed|en|ne|wn|ade|ught)\b", re.I
)
_DO = re.compile(r"\b(?:do|does)\b", re.I)
# a plural noun right after "what"/"which" (not "bus", "class", "address", "campus")
_LIST = re.compile(
    r"^\W*(?:what|which)\s+(?:\S+\s+){0,2}?\w+s(?<![su]s)(?<!is)"
    r"\s+(?:do|does|did|has|have|is|are|was|were)\b",
    re.I,
)


def query_subject(index: ScopeIndex, query: str, subjects: npt.NDArray[np.int32]) -> int | None:
    """The code of the person a question is about: the last subject of these facts it names
    ("Hannah's husband Mark" → Mark), not counting names after a preposition ("Marcus's
    relationship with Nina" → Marcus); "I"/"my" is whoever most facts are about."""
    tokens = [w.removesuffix("'s") for w in words(query.replace("’", "'"))]
    present = set(subjects.tolist())
    best: tuple[int, int, int] | None = None  # (end position, name length, code)
    for name, code in index.speakers.items():
        parts = [w.removesuffix("'s") for w in words(name)]
        if code not in present or not parts:
            continue
        for end in _ends_of(parts, tokens):
            before = tokens[end - len(parts) - 1] if end > len(parts) else ""
            if before == "and":
                return None  # "Where do Maya and Sam live?": both, so neither first
            if before in _OBJECT_AFTER:
                continue  # "Marcus's relationship with Nina": about Marcus
            if best is None or (end, len(parts)) > best[:2]:
                best = (end, len(parts), code)
    if best is not None:
        return best[2]
    if _SELF & set(tokens):
        return int(np.bincount(subjects).argmax())
    return None


def _ends_of(parts: list[str], tokens: list[str]) -> list[int]:
    n = len(parts)
    return [i + n for i in range(len(tokens) - n + 1) if tokens[i : i + n] == parts]


@dataclass(frozen=True, slots=True)
class _Facts:
    """The candidate facts of one search, as arrays (one entry per fact)."""

    vectors: FloatArray
    asked: Scores  # cosine to the question
    fused: Scores
    since: Scores  # valid_from, epoch seconds
    subjects: npt.NDArray[np.int32]
    kinds: npt.NDArray[np.int32]  # attribute codes
    note: int  # the attribute code of notes
    fits: Scores
    answering: npt.NDArray[np.bool_]  # answers.py
    named: list[frozenset[str]]  # names (not of people) in each fact read, else empty
    read: npt.NDArray[np.bool_]  # whose text was read (answering is known only for those)
    sources: IntArray  # the position of the message each fact came from (-1: none)
    found: dict[int, int | None] = field(default_factory=dict)  # successors worked out

    def successor(self, i: int) -> int | None:
        """The earliest newer fact that replaces fact ``i`` as the answer, if any (chains
        from several of the best facts meet: each is worked out once)."""
        if i not in self.found:
            self.found[i] = self._successor(i)
        return self.found[i]

    def _successor(self, i: int) -> int | None:
        # slot facts of different attributes are different things ("works at" is not
        # replaced by "is married to"); a note may replace or be replaced by anything
        kinds = self.kinds
        same_kind = (kinds == kinds[i]) | (kinds == self.note) | (kinds[i] == self.note)
        later = np.flatnonzero(
            same_kind
            & (self.subjects == self.subjects[i])
            & (self.since > self.since[i])
            & ((self.vectors @ self.vectors[i] >= TOPIC) | self._sharing_a_name(i))
            & ((self.asked >= self.asked[i] - SLACK) | (self.fused >= self.fused[i] * RATIO))
            & (self.fits >= min(self.fits[i], 0.0))
        )
        if not len(later):
            return None
        # the earliest that answers (answers.py), else the earliest: a fact that does not
        # answer ("Lily has a pet: dog") may still link two that do
        return int(later[np.lexsort((self.since[later], ~self.answering[later]))[0]])

    def _sharing_a_name(self, i: int) -> npt.NDArray[np.bool_]:
        """Facts that name a place, firm or event fact ``i`` names: "booked Portugal instead"
        after "flights to Japan doubled" follows "two weeks in Japan" at a cosine of 0.35."""
        mine = self.named[i]
        if not mine:
            return np.zeros(len(self.named), np.bool_)
        return np.array([bool(mine & theirs) for theirs in self.named], np.bool_)

    def said_with(self, i: int) -> IntArray:
        """Facts read and found to answer that came from the message fact ``i`` came from,
        about the same subject: the note beside a slot fact ("three cats" beside "has a pet:
        cat")."""
        if self.sources[i] < 0:
            return np.empty(0, np.int64)
        return np.flatnonzero(
            self.answering
            & self.read
            & (self.sources == self.sources[i])
            & (self.subjects == self.subjects[i])
        )


def _answering_link(found: _Facts, links: list[int]) -> int | None:
    """The newest of ``links`` that answers the question, or that was said with a fact that
    does; None if none: a fact that does not answer replaces none that does."""
    for link in reversed(links):
        if found.answering[link]:
            return link
        beside = found.said_with(link)
        if len(beside):
            return int(beside[np.argmax(found.fused[beside])])
    return None


def _succeed(
    index: ScopeIndex,
    positions: IntArray,
    scores: Scores,
    facts: IntArray,
    query_vector: FloatArray,
    fits: Scores,
    answering: npt.NDArray[np.bool_],
    named: list[frozenset[str]],
    was_read: npt.NDArray[np.bool_],
) -> None:
    """Lift the newest successor of each of the best ``HEAD`` facts just above it."""
    rows = positions[facts]
    vectors = index.vectors[rows]
    found = _Facts(
        vectors=vectors,
        asked=(vectors @ query_vector).astype(np.float64),
        fused=scores[facts].copy(),
        since=index.valid_from[rows],
        subjects=index.speaker_code[rows],
        kinds=index.attribute_codes(rows),
        note=index.attributes.get(NOTE, -1),
        fits=fits,
        answering=answering,
        named=named,
        read=was_read,
        sources=index.anchors(rows),
    )
    lifts: list[tuple[int, float]] = []
    for start in np.argsort(-found.fused, kind="stable")[:HEAD].tolist():
        chain, nxt = [start], found.successor(start)
        while nxt is not None:  # a chain of replacements, oldest to newest; times rise
            chain.append(nxt)
            nxt = found.successor(nxt)
        newest = _answering_link(found, chain[1:]) if found.answering[start] else chain[-1]
        if newest is not None and newest != start:
            lifts.append((int(facts[newest]), float(found.fused[start])))
    for i, above in lifts:
        scores[i] = max(scores[i], np.nextafter(above, np.inf))
