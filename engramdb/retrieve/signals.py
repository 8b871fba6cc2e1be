"""Per-candidate retrieval signals: each a function of the query and the scope's arrays.

Every signal returns one float per candidate position; fusion normalises and weighs them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from engramdb.encode.text import words
from engramdb.retrieve.query import QueryAnalysis
from engramdb.retrieve.scope_index import FloatArray, IntArray, ScopeIndex

Scores = npt.NDArray[np.float64]


def lexical_scores(index: ScopeIndex, hits: list[tuple[Any, float]], positions: IntArray) -> Scores:
    found = np.array([index.position.get(pk, -1) for pk, _ in hits], np.int64)
    return _scattered(positions, found, np.array([score for _, score in hits], np.float64))


def session_lexical_scores(
    index: ScopeIndex, hits: list[tuple[Any, float]], positions: IntArray
) -> Scores:
    by_code = np.zeros(len(index.sessions), np.float64)
    for key, score in hits:
        if key in index.sessions:
            by_code[index.sessions[key]] = score
    found: Scores = by_code[index.session_code[positions]]
    return found


def place_of(positions: IntArray, found: IntArray) -> IntArray:
    """Where each of ``found`` (positions of the scope) is in ``positions`` (-1: not there)."""
    if len(positions) == 0:
        return np.full(len(found), -1, np.int64)
    order = np.argsort(positions, kind="stable")
    at = order[np.minimum(np.searchsorted(positions[order], found), len(positions) - 1)]
    where: IntArray = np.where(positions[at] == found, at, -1)
    return where


def _scattered(positions: IntArray, found: IntArray, values: Scores) -> Scores:
    """``values`` at the places of ``found`` among ``positions``, 0 elsewhere."""
    out = np.zeros(len(positions), np.float64)
    where = place_of(positions, found)
    out[where[where >= 0]] = values[where >= 0]
    return out


class DenseView:
    """Cosine similarities for a set of positions, their neighbours and their sessions."""

    def __init__(self, index: ScopeIndex, query: FloatArray, positions: IntArray) -> None:
        prev, nxt = index.neighbours()
        self.prev = prev[positions]
        self.next = nxt[positions]
        self.own = (index.vectors[positions] @ query).astype(np.float64)
        self.before = self._sims(index, query, self.prev, self.own)
        self.after = self._sims(index, query, self.next, self.own)
        means = index.session_means()
        norms = np.linalg.norm(means, axis=1)
        norms[norms == 0] = 1.0
        session_sims = (means @ query) / norms
        self.session = session_sims[index.session_code[positions]].astype(np.float64)

    @staticmethod
    def _sims(index: ScopeIndex, query: FloatArray, where: IntArray, fallback: Scores) -> Scores:
        out = fallback.copy()
        has = where >= 0
        out[has] = index.vectors[where[has]] @ query
        return out

    def context(self, alpha: float) -> Scores:
        return (self.own + alpha * (self.before + self.after)) / (1 + 2 * alpha)

    def window(self) -> Scores:
        return (self.before + self.own + self.after) / 3


def speaker_scores(index: ScopeIndex, query: str, positions: IntArray) -> Scores:
    """1 where the question names the speaker of the turn (full name or first name)."""
    query_words = set(words(query))
    named = set()
    for name, code in index.speakers.items():
        parts = words(name)
        if parts and (parts[0] in query_words or set(parts) <= query_words):
            named.add(code)
    if not named:
        return np.zeros(len(positions))
    return np.isin(index.speaker_code[positions], list(named)).astype(np.float64)


def time_scores(index: ScopeIndex, info: QueryAnalysis, positions: IntArray) -> Scores:
    """A "when" question favours turns that say when; a dated question favours overlap."""
    scores = np.zeros(len(positions))
    if info.asks_time:
        scores += index.has_time[positions]
    if info.ranges:
        lo, hi = index.time_lo[positions], index.time_hi[positions]
        for rng in info.ranges:
            start, end = rng.start.timestamp(), rng.end.timestamp()
            with np.errstate(invalid="ignore"):
                scores += (lo < end) & (hi > start)
    return scores
