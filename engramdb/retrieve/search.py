"""Hybrid search: gather candidates from every signal, score each candidate on every signal,
normalise per query, fuse with the preset's weights."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from engramdb.encode.text import query_terms
from engramdb.encode.timeparse import asks_for_time, find_time_ranges
from engramdb.models import Hit
from engramdb.retrieve.config import SearchConfig
from engramdb.retrieve.fusion import fuse
from engramdb.retrieve.graph import graph_scores, inherit_context
from engramdb.retrieve.intent import attribute_scores
from engramdb.retrieve.laps import Laps
from engramdb.retrieve.postings import lexicon_for
from engramdb.retrieve.present import present_first, status_of
from engramdb.retrieve.query import QueryAnalysis
from engramdb.retrieve.redundancy import one_per_message
from engramdb.retrieve.scope_index import FloatArray, IntArray, ScopeIndex
from engramdb.retrieve.scopes import ScopeCache
from engramdb.retrieve.signals import (
    DenseView,
    Scores,
    lexical_scores,
    session_lexical_scores,
    speaker_scores,
    time_scores,
)
from engramdb.retrieve.succession import QueryFacts, reorder_facts
from engramdb.store.base import Granularity
from engramdb.store.engine import MemoryStore
from engramdb.store.lexical import FULL_OR_MAX_ROWS, LexicalPlan

# shared by every Searcher of the process; a store's connections are per thread (SQLite) or
# pooled (PostgreSQL), so worker threads can query it
_LEXICAL_POOL = ThreadPoolExecutor(max_workers=3, thread_name_prefix="engramdb-lexical")
PREFETCH_FACTS = 2_000  # a scope with at most this many facts reads their texts at once
_PREFETCHED = -1  # the key that says they were (no row has it)
DENSE_SIGNALS = ("dense", "dense_context", "dense_window", "session_dense")
LEXICAL_SIGNALS: dict[str, Granularity] = {
    "turn_bm25": "turn",
    "window_bm25": "window",
    "session_bm25": "session",
}


class Searcher:
    def __init__(
        self, store: MemoryStore, scopes: ScopeCache, embed_query: Callable[[str], FloatArray]
    ) -> None:
        self.store = store
        self.scopes = scopes
        self.embed_query = embed_query
        self.laps = Laps()  # the benchmark's stage table

    def search(
        self,
        query: str,
        user_id: str,
        limit: int,
        config: SearchConfig,
        now: datetime,
        as_of: datetime | None = None,
    ) -> list[Hit]:
        """``as_of``: rank facts valid at that time (default: ``now``)."""
        return self.search_keyed(query, user_id, limit, config, now, as_of)[0]

    def search_keyed(
        self,
        query: str,
        user_id: str,
        limit: int,
        config: SearchConfig,
        now: datetime,
        as_of: datetime | None = None,
    ) -> tuple[list[Hit], list[int]]:
        """The hits and their store keys."""
        weights = config.weights.model_dump()
        active = {name for name, weight in weights.items() if weight > 0}
        lexical = {s: g for s, g in LEXICAL_SIGNALS.items() if s in active}
        laps = self.laps
        laps.start()
        vector = self.embed_query(query) if active & set(DENSE_SIGNALS) else None
        laps.lap("query embedding")
        info = QueryAnalysis(
            text=query,
            now=now,
            match=None,  # planned with the scope's cache (in process for small scopes)
            vector=vector,
            asks_time=asks_for_time(query),
            ranges=find_time_ranges(query, now) if "time" in active else [],
            as_of=as_of,
        )
        laps.lap("query analysis")
        window = (now.timestamp(), as_of.timestamp() if as_of else None)
        with self.scopes.open(user_id) as index:
            laps.lap("cache sync")
            if not index.position:
                return [], []
            if lexical and (terms := query_terms(query)):
                info.lexical = self._lexical(index, terms, info, lexical, config)
            laps.lap("lexical candidates")
            positions = self._candidates(index, info, config, window)
            laps.lap("dense candidates")
            if len(positions) == 0:
                return [], []
            signals = self._signals(index, info, config, positions, active)
            if "graph" in active:
                signals["graph"] = graph_scores(self.store, index, user_id, query, positions)
            if "attribute" in active:
                signals["attribute"] = attribute_scores(index, query, positions)
            laps.lap("signals")
            scores = fuse(signals, weights, config)
            laps.lap("fusion")
            reorder_facts(
                index,
                positions,
                scores,
                QueryFacts(
                    query,
                    info.vector,
                    signals.get("attribute"),
                    as_of is not None,
                    texts=lambda pks: self._read(index, pks),
                ),
                config,
            )
            if config.present_first:
                present_first(index, positions, scores, info, config)
            if config.kinds is not None:
                scores[~_of_kinds(index, positions, config.kinds)] = -np.inf
            order = np.argsort(-scores, kind="stable")
            order = order[np.isfinite(scores[order])]
            if config.one_per_message:
                top = one_per_message(index, positions, order, limit)
            else:
                top = order[:limit]
            status = status_of(index, positions[top], info.at)
            chosen = [
                (int(index.pks[positions[i]]), float(scores[i]), i, int(s))
                for i, s in zip(top, status, strict=True)
            ]
            closed = _closed_claims(index, positions[top], status)
            laps.lap("reranking")
        found = self._hits(chosen, signals, closed)
        laps.lap("reading hits")
        return found

    def _read(self, index: ScopeIndex, pks: list[int]) -> dict[int, str]:
        """Texts for reranking, kept in the scope's cache until their rows are synced again;
        the first time, every fact's of a scope of up to ``PREFETCH_FACTS`` (one read)."""
        missing = [pk for pk in pks if pk not in index.texts]
        if missing and _PREFETCHED not in index.texts:
            facts = index.pks[index.alive & ~index.is_episode].tolist()
            index.texts[_PREFETCHED] = ""
            if len(facts) <= PREFETCH_FACTS:
                missing = list(dict.fromkeys([*missing, *facts]))
        if missing:
            index.texts.update({pk: m.text for pk, m in self.store.get_many(missing).items()})
        return {pk: index.texts[pk] for pk in pks if pk in index.texts}

    def _hits(
        self,
        chosen: list[tuple[int, float, int, int]],
        signals: dict[str, Scores],
        closed: dict[int, list[int]],
    ) -> tuple[list[Hit], list[int]]:
        items = self.store.get_many([pk for pk, _, _, _ in chosen])
        wanted = sorted({f for facts in closed.values() for f in facts})
        successors = self.store.successors(wanted) if wanted else {}
        rows = [i for _, _, i, _ in chosen]  # each signal's values rounded in one pass
        shown = {
            name: [round(v, 4) for v in values[rows].tolist()] for name, values in signals.items()
        }
        hits, pks = [], []
        for j, (pk, score, _, status) in enumerate(chosen):
            item = items.get(pk)
            if item is None:  # deleted by another process since the cache was synced
                continue
            said = dict.fromkeys(s for f in closed.get(pk, []) for s in successors.get(f, []))
            found = {
                **item.__dict__,  # the item was validated as it was read
                "score": round(score, 6),
                "signals": {name: values[j] for name, values in shown.items()},
                "status": _STATUS[status] if item.metadata.get("tense") != "past" else "past",
                "superseded_by": list(said),
                **_UNREVIEWED,
                "flags": [],
            }
            hits.append(_HIT.model_copy(update=found))
            pks.append(pk)
        return hits, pks

    def _lexical(
        self,
        index: ScopeIndex,
        terms: list[str],
        info: QueryAnalysis,
        signals: dict[str, Granularity],
        config: SearchConfig,
    ) -> dict[str, list[tuple[Any, float]]]:
        """BM25 top-k per granularity: planned and scored in process for small scopes
        (retrieve/postings.py: the store's plan and scores), else by the store's index; on
        PostgreSQL side by side (each one waits on the server reading postings, so three in
        parallel cost about one)."""
        user_id, lexicon = index.user_id, None
        if config.memory_lexical and len(index.position) <= config.memory_lexical_rows:
            lexicon = lexicon_for(self.store, index)
        else:  # grown past it, or switched off: not kept current for nothing
            index.lexicon, index.written = None, []
        if lexicon is not None and index.state.rows <= FULL_OR_MAX_ROWS:
            info.match = lexicon.plan(self.store, index, terms)
        else:  # a large scope's plan is bounded by the store (store/lexical.py)
            info.match = self.store.lexical_plan(user_id, terms)
        plan: LexicalPlan | None = info.match
        if plan is None:
            return {}

        def run(granularity: Granularity) -> list[tuple[Any, float]]:
            size = config.session_candidates if granularity == "session" else config.candidates
            query = plan.queries.get(granularity) if plan.user_id == user_id else None
            if query is None or size <= 0:
                return []
            found = lexicon.search(granularity, query, size) if lexicon is not None else None
            return self.store.lexical(user_id, plan, granularity, size) if found is None else found

        if (
            lexicon is not None
            or len(signals) == 1
            or not self.store.capabilities.concurrent_lexical
        ):
            return {signal: run(g) for signal, g in signals.items()}
        futures = {signal: _LEXICAL_POOL.submit(run, g) for signal, g in signals.items()}
        return {signal: future.result() for signal, future in futures.items()}

    def _candidates(
        self,
        index: ScopeIndex,
        info: QueryAnalysis,
        config: SearchConfig,
        window: tuple[float, float | None],
    ) -> IntArray:
        found: list[IntArray] = []
        for signal, hits in info.lexical.items():
            if signal == "session_bm25":
                codes = [index.sessions[key] for key, _ in hits if key in index.sessions]
                if codes:
                    found.append(index.session_members(codes))
            else:
                found.append(
                    np.array(
                        [index.position[pk] for pk, _ in hits if pk in index.position], np.int64
                    )
                )
        if info.vector is not None:
            near = index.nearest(info.vector, config.candidates, config.ann_expansion)
            prev, nxt = index.neighbours()
            found.extend([near, prev[near], nxt[near]])
        if not found:
            return np.empty(0, np.int64)
        positions = np.unique(np.concatenate(found))
        positions = positions[positions >= 0]
        anchors = index.anchors(positions)  # a fact's source turn scores its context
        positions = np.unique(np.concatenate([positions, anchors[anchors >= 0]]))
        positions = positions[index.alive[positions]]
        return positions[index.visible(positions, *window)]

    def _signals(
        self,
        index: ScopeIndex,
        info: QueryAnalysis,
        config: SearchConfig,
        positions: IntArray,
        active: set[str],
    ) -> dict[str, Scores]:
        out: dict[str, Scores] = {}
        for signal in ("turn_bm25", "window_bm25"):
            if signal in active:
                out[signal] = lexical_scores(index, info.lexical.get(signal, []), positions)
        if "session_bm25" in active:
            out["session_bm25"] = session_lexical_scores(
                index, info.lexical.get("session_bm25", []), positions
            )
        if info.vector is not None:
            view = DenseView(index, info.vector, positions)
            dense = {
                "dense": view.own,
                "dense_context": view.context(config.context_alpha),
                "dense_window": view.window(),
                "session_dense": view.session,
            }
            out.update({k: v for k, v in dense.items() if k in active})
        if "speaker" in active:
            out["speaker"] = speaker_scores(index, info.text, positions)
        if "time" in active:
            out["time"] = time_scores(index, info, positions)
        inherit_context(index, positions, out, config.fact_context)
        return out


def _closed_claims(
    index: ScopeIndex, rows: IntArray, status: npt.NDArray[np.int8]
) -> dict[int, list[int]]:
    """For each superseded row (by pk): the closed facts whose successors it names (itself,
    or the claims drawn from a message)."""
    out: dict[int, list[int]] = {}
    for pos, state in zip(rows.tolist(), status.tolist(), strict=True):
        if state == -1:
            facts = [pos] if not index.is_episode[pos] else index.drawn.get(pos, [])
            out[int(index.pks[pos])] = [int(index.pks[f]) for f in facts]
    return out


# every hit is a copy of one with every field set: pydantic's model_construct fills defaults
# field by field (a default_factory costs it a signature() each), model_copy only updates
_EMPTY: dict[str, Any] = dict.fromkeys(Hit.model_fields)
_HIT = Hit.model_construct(**_EMPTY)
_UNREVIEWED = {"trust": None, "provenance": None, "flagged": False}  # the guard's, at review
_STATUS: dict[int, Literal["current", "superseded"] | None] = {
    1: "current",
    -1: "superseded",
    0: None,
}


def _of_kinds(
    index: ScopeIndex, positions: IntArray, kinds: Sequence[str]
) -> npt.NDArray[np.bool_]:
    episodes = index.is_episode[positions]
    keep = np.zeros(len(positions), np.bool_)
    if "episode" in kinds:
        keep |= episodes
    if "fact" in kinds or "summary" in kinds:
        keep |= ~episodes
    return keep
