"""The present ranks first: for a question about what holds now (or at ``as_of``), the newest
statement on the question's topic, by or about the person asked for, is read first.

The question itself is the topic. Of the best ``head`` candidates, those about as close to the
question as the closest one (cosine within ``slack``) and about the person it asks for are
on its topic; among them the newest — a message or a fact, by the time it was said — takes the
first place, the next newest the second, and so on, in the places they already held. Two
memories that answer the same question are two versions of one answer, whatever words they
use ("drives a Tesla" after "traded in the Civic"), so no list of attributes is needed.

Superseded knowledge (a fact closed by a newer claim; a message whose every claim was closed)
goes below all current knowledge of the head first (``superseded_last``). A question about
the past ("before", "used to", "in 2022") is left as it is.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engramdb.retrieve.config import SearchConfig
from engramdb.retrieve.query import QueryAnalysis
from engramdb.retrieve.scope_index import IntArray, ScopeIndex
from engramdb.retrieve.signals import Scores


def present_first(
    index: ScopeIndex,
    positions: IntArray,
    scores: Scores,
    query: QueryAnalysis,
    config: SearchConfig,
) -> None:
    """Reorder ``scores`` in place (``config.present_first`` switches it on)."""
    if query.vector is None or query.past:
        return
    live = np.flatnonzero(np.isfinite(scores))
    if len(live) < 2:
        return
    head = live[np.argsort(-scores[live], kind="stable")[: config.present_head]]
    rows = positions[head]
    closeness = index.vectors[rows] @ query.vector
    on_topic = closeness >= closeness.max() - config.present_slack
    at = query.at
    status = status_of(index, rows, at)
    if config.superseded_last and (status < 0).any() and (status >= 0).any():
        # what is no longer true goes below all that is, in its own order
        floor = scores[head[status >= 0]].min()
        superseded = head[status < 0]
        top = scores[superseded].max()
        scores[superseded] = floor - (top - scores[superseded]) - 1e-6 * abs(floor) - 1e-9
        on_topic &= status >= 0
    asked = query.subject(index)
    about = _about(index, rows, asked) if asked is not None else np.ones(len(rows), np.bool_)
    said = index.said_at[rows]
    chosen = np.flatnonzero(on_topic & about & ~np.isnan(said))
    old = scores[head].copy()
    if len(chosen) >= 2:
        places = np.sort(chosen)  # the places they hold, best first
        newest_first = chosen[np.argsort(-said[chosen], kind="stable")]
        for place, member in zip(places.tolist(), newest_first.tolist(), strict=True):
            scores[head[member]] = old[place]
    first = int(np.argmax(scores[head]))
    theirs = np.flatnonzero(about & (status >= 0))
    if not about[first] and len(theirs):
        # the first place is for the person asked about: "my mom takes her cat to Dr. Patel"
        # is not the answer to "which vet does Noah take his dog to?" (the rest keep their
        # places, so what is recalled in the top k stays)
        best = head[theirs[np.argmax(scores[head[theirs]])]]
        scores[best] = np.nextafter(scores[head].max(), np.inf)


def status_of(index: ScopeIndex, positions: IntArray, at: float) -> npt.NDArray[np.int8]:
    """Per row: 1 current, -1 superseded (a fact closed by ``at``; a message whose every
    claim was), 0 a message from which no claim was drawn."""
    out = np.zeros(len(positions), np.int8)
    episode, alive, valid_to = index.is_episode, index.alive, index.valid_to
    for i, pos in enumerate(positions.tolist()):
        facts = index.drawn.get(pos, []) if episode[pos] else [pos]
        ends = valid_to[facts][alive[facts]] if facts else valid_to[:0]
        if len(ends):  # closed by ``at`` (an open end, NaN, is not <= at)
            out[i] = -1 if bool(np.all(ends <= at)) else 1
    return out


def _drawn_subjects(index: ScopeIndex, pos: int) -> set[int]:
    """The subject codes of the claims drawn from a message (empty: none)."""
    return {int(index.speaker_code[f]) for f in index.drawn.get(pos, []) if index.alive[f]}


def _about(index: ScopeIndex, rows: IntArray, subject: int) -> npt.NDArray[np.bool_]:
    """Whether each row is about the subject: a fact about them; a message whose claims
    are about them, or by them when no claim was drawn from it ("my mom takes her cat to
    Dr. Patel" is about the mom)."""
    out = np.zeros(len(rows), np.bool_)
    for i, pos in enumerate(rows.tolist()):
        drawn = _drawn_subjects(index, pos) if index.is_episode[pos] else set()
        out[i] = subject in drawn if drawn else index.speaker_code[pos] == subject
    return out
