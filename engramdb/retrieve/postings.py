"""BM25 in process for small scopes: each granularity's documents of one scope (their terms'
tf and |D|, as the store's index counts them) held beside the vector cache, so a search reads
no postings from the store. Scores are the store's own: idf, N and avgdl come from its plan
(store/lexical.py), contributions are added term by term in the order the SQLite index adds
them, ties go by the same key, so the top k and their scores are the same as the store's.

Kept current from the rows the vector cache syncs: a written row rewrites its turn document,
the windows of it and its neighbours and its session segment; a delete reloads everything."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from engramdb.store.base import Granularity
from engramdb.store.dialect import LexicalQuery, QueryTerm
from engramdb.store.lexical import K1, B, LexicalPlan, idf, normalise

if TYPE_CHECKING:
    from engramdb.retrieve.scope_index import ScopeIndex
    from engramdb.store.engine import MemoryStore

_Doc = tuple[Any, int, int, Counter[str]]  # key, tie-break key, |D|, tf of each term


class Postings:
    """One granularity's documents: per term the documents holding it and its tf."""

    def __init__(self) -> None:
        self.keys: list[Any] = []  # slot → key (pk, or (session_key, segment))
        self.slot: dict[Any, int] = {}
        self.order: list[int] = []  # slot → the key ties are broken by
        self.length: list[int] = []
        self.held: list[Counter[str]] = []  # slot → its terms (to take out when rewritten)
        self.terms: dict[str, dict[int, int]] = {}  # term → slot → tf
        self._arrays: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
        self._columns: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]] | None = None

    def put(self, docs: list[_Doc]) -> None:
        for key, order, length, terms in docs:
            slot = self.slot.get(key)
            if slot is None:
                slot = self.slot[key] = len(self.keys)
                self.keys.append(key)
                self.order.append(order)
                self.length.append(length)
                self.held.append(Counter())
            for term in self.held[slot]:
                self.terms[term].pop(slot, None)
                self._arrays.pop(term, None)
            for term, tf in terms.items():
                self.terms.setdefault(term, {})[slot] = tf
                self._arrays.pop(term, None)
            self.order[slot], self.length[slot], self.held[slot] = order, length, terms
        if docs:
            self._columns = None

    def _postings(self, term: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        found = self._arrays.get(term)
        if found is None:
            held = self.terms.get(term, {})
            found = (
                np.fromiter(held.keys(), np.int64, len(held)),
                np.fromiter(held.values(), np.float64, len(held)),
            )
            self._arrays[term] = found
        return found

    def search(self, query: LexicalQuery, limit: int) -> list[tuple[Any, float]] | None:
        """The best ``limit`` documents, as the store's ``lexical`` ranks them (None: a term
        this index cannot look up, a phrase of several tokens)."""
        if any(" " in t.lexeme for t in query.terms):
            return None
        if self._columns is None:
            self._columns = (np.array(self.length, np.float64), np.array(self.order, np.int64))
        length, order = self._columns
        base, per_token = K1 * (1 - B), K1 * B / query.avgdl
        scores = np.zeros(len(self.keys), np.float64)
        bound = [t.repeats * t.idf * (K1 + 1) for t in query.terms]
        for i in sorted(range(len(bound)), key=lambda i: (-bound[i], query.terms[i].word)):
            slots, tf = self._postings(query.terms[i].lexeme)
            scores[slots] += bound[i] / (1 + (base + per_token * length[slots]) / tf)
        found = np.flatnonzero(scores > 0)
        best = found[np.lexsort((order[found], -scores[found]))[:limit]]
        return [(self.keys[s], float(scores[s])) for s in best.tolist()]


class ScopeLexicon:
    """The three granularities of one scope, held by its ``ScopeIndex`` (dropped with it)."""

    def __init__(self, store: MemoryStore, user_id: str) -> None:
        self.granularities: dict[str, Postings] = {}
        for granularity in ("turn", "window", "session"):
            self.granularities[granularity] = postings = Postings()
            postings.put(store.lexical_documents(user_id, granularity))

    def search(
        self, granularity: str, query: LexicalQuery, limit: int
    ) -> list[tuple[Any, float]] | None:
        return self.granularities[granularity].search(query, limit)

    def plan(self, store: MemoryStore, index: ScopeIndex, terms: list[str]) -> LexicalPlan | None:
        """The store's plan (store/lexical.py ``plan``) of a scope it takes every term in, with
        N, the mean length and each term's df counted in the documents held."""
        words = [w for t in terms for w in normalise(t).split()]
        lexemes = store.lexemes(words)
        grouped: dict[str, list[str]] = {}
        for word in words:
            if lexemes.get(word):  # a word of separators only has no index term
                grouped.setdefault(lexemes[word], []).append(word)
        queries: dict[str, LexicalQuery] = {}
        for granularity, postings in self.granularities.items():
            docs = len(postings.keys)
            found = [
                QueryTerm(same[0], lexeme, len(same), n, idf(docs, n))
                for lexeme, same in grouped.items()
                if (n := len(postings.terms.get(lexeme, ()))) > 0
            ]
            if found:  # |D| held with the scope column's token: (tokens + N) / N
                queries[granularity] = LexicalQuery(tuple(found), docs, sum(postings.length) / docs)
        return LexicalPlan(index.user_id, queries) if queries else None

    def refresh(self, store: MemoryStore, index: ScopeIndex, pks: list[int]) -> None:
        """Reread the documents the rows ``pks`` (written since the last sync) changed."""
        positions = np.array([index.position[pk] for pk in pks if pk in index.position], np.int64)
        if len(positions) == 0:
            return
        user = index.user_id
        self._put(store, user, "turn", [int(index.pks[p]) for p in positions])
        episodes = positions[index.is_episode[positions]]
        if len(episodes) == 0:
            return
        names = {code: key for key, code in index.sessions.items()}
        segments = {names[int(c)] for c in index.session_code[episodes]}
        self._put(store, user, "session", sorted(segments))
        self._put(store, user, "window", _windows(index, episodes, names, {k for k, _ in segments}))

    def _put(
        self, store: MemoryStore, user_id: str, granularity: Granularity, keys: list[Any]
    ) -> None:
        if keys:
            self.granularities[granularity].put(store.lexical_documents(user_id, granularity, keys))


def _windows(
    index: ScopeIndex,
    episodes: npt.NDArray[np.int64],
    names: dict[int, tuple[str, int]],
    sessions: set[str],
) -> list[int]:
    """The pks whose ±1 windows the written ``episodes`` are in: each and its neighbours in
    its session (across segments)."""
    codes = np.array([c for c, (key, _) in names.items() if key in sessions], np.int32)
    members = np.flatnonzero(np.isin(index.session_code, codes) & index.alive & index.is_episode)
    session_of = np.array([names[int(c)][0] for c in index.session_code[members]], dtype=object)
    out: set[int] = set()
    for key in sessions:
        group = members[session_of == key]
        group = group[np.argsort(index.seq[group], kind="stable")]
        ranks = np.flatnonzero(np.isin(group, episodes))
        near = np.unique(np.concatenate([ranks - 1, ranks, ranks + 1]))
        near = near[(near >= 0) & (near < len(group))]
        out.update(int(pk) for pk in index.pks[group[near]])
    return sorted(out)


def lexicon_for(store: MemoryStore, index: ScopeIndex) -> ScopeLexicon:
    """The scope's in-process lexical index, built or brought up to date with the cache."""
    if index.lexicon is None:
        index.lexicon = ScopeLexicon(store, index.user_id)
    elif index.written:
        index.lexicon.refresh(store, index, index.written)
    index.written = []
    lexicon: ScopeLexicon = index.lexicon
    return lexicon
