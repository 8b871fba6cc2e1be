"""Signals that follow links: entities the query names (graph expansion over the entity
table), and the context a fact borrows from the turn it was extracted from."""

from __future__ import annotations

import math

import numpy as np

from engramdb.encode.text import normalise_name, words
from engramdb.retrieve.scope_index import IntArray, ScopeIndex
from engramdb.retrieve.signals import Scores, place_of
from engramdb.store.base import EntityMentions
from engramdb.store.engine import MemoryStore

# signals that describe a turn's surroundings; a fact has none of its own
CONTEXT_SIGNALS = ("window_bm25", "session_bm25", "session_dense", "time")
_MAX_NGRAM = 3


def query_entities(query: str) -> list[str]:
    """Candidate entity names in a query: its word n-grams, normalised like entity names."""
    tokens = words(query)
    grams = {
        normalise_name(" ".join(tokens[i : i + n]))
        for n in range(1, _MAX_NGRAM + 1)
        for i in range(len(tokens) - n + 1)
    }
    return sorted(g for g in grams if len(g) >= 2)


HOP = 0.5  # a fact's source turn gets this share of the fact's entity score


def entity_scores(found: EntityMentions) -> dict[int, float]:
    """Graph scores of memories: each entity they mention counts by its rarity in the scope
    (a name in every turn says nothing), normalised to [0, 1]; then one hop from facts to their
    source turns."""
    total = max(found.total, 1)
    scale = math.log1p(total)
    scores: dict[int, float] = {}
    for memory, _, df in found.mentions:
        scores[memory] = scores.get(memory, 0.0) + math.log1p(total / max(df, 1)) / scale
    first = dict(scores)
    for src, dst in found.hops:
        if src in first:
            scores[dst] = max(scores.get(dst, 0.0), HOP * first[src])
    return scores


def graph_scores(
    store: MemoryStore, index: ScopeIndex, user_id: str, query: str, positions: IntArray
) -> Scores:
    linked = entity_scores(store.entity_memories(user_id, query_entities(query)))
    pks = index.pks[positions].tolist()
    return np.fromiter((linked.get(pk, 0.0) for pk in pks), np.float64, len(pks))


def inherit_context(
    index: ScopeIndex, positions: IntArray, signals: dict[str, Scores], share: float
) -> None:
    """Give each fact ``share`` of its anchor turn's context signals where that is higher."""
    if share <= 0:
        return
    anchors = index.anchors(positions)
    facts = np.flatnonzero(anchors >= 0)
    if len(facts) == 0:
        return
    source = place_of(positions, anchors[facts])
    found = source >= 0
    facts, source = facts[found], source[found]
    for name in CONTEXT_SIGNALS:
        if name in signals:
            values = signals[name]
            values[facts] = np.maximum(values[facts], share * values[source])
