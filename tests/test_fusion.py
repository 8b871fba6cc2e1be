"""Fusion of signal scores: normalisation edge cases that decide what a caller sees as a score."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engramdb import Memory
from engramdb.retrieve.fusion import minmax


def test_minmax_spreads_scores_and_flattens_noise() -> None:
    assert minmax(np.array([1.0, 3.0, 2.0])).tolist() == [0.0, 1.0, 0.5]
    # a constant signal ranks nothing, but counts where it fired and not where it did not
    assert minmax(np.array([0.7, 0.7])).tolist() == [1.0, 1.0]
    assert minmax(np.array([0.0, 0.0])).tolist() == [0.0, 0.0]
    assert minmax(np.array([1e-6, 1e-6 + 1e-13])).tolist() == [1.0, 1.0]


def test_a_lone_matching_memory_gets_a_positive_score(tmp_path: Path) -> None:
    """One candidate: every signal is constant over the candidates, so normalisation must not
    flatten it to 0. Extraction is off so that the message really is the only memory (with
    rules on, a fact "Ana has a pet: puppy named Biscuit" would be a second candidate)."""
    raw = {"mode": "off", "link_entities": False}
    with Memory(tmp_path / "m.db", embedder={"provider": "static"}, extraction=raw) as mem:
        mem.add([{"content": "I adopted a puppy named Biscuit", "speaker": "Ana"}], user_id="u")
        assert mem.count(user_id="u") == 1
        hits = mem.search("What is the name of Ana's puppy?", user_id="u")
        assert len(hits) == 1 and hits[0].score > 0.5
    # by default the message and what was extracted from it compete; the best still scores
    # well (a fact borrows only half of its turn's context, so neither reaches the lone 1.0)
    with Memory(tmp_path / "rules.db", embedder={"provider": "static"}) as mem:
        (said,) = mem.add(
            [{"content": "I adopted a puppy named Biscuit", "speaker": "Ana"}], user_id="u"
        )
        mem.flush()  # the fact is the work queue's: without it, a fast search may come first
        both = {"one_per_message": False}  # both compete (by default they take one hit)
        hits = mem.search("What is the name of Ana's puppy?", user_id="u", options=both)
        assert len(hits) == mem.count(user_id="u") >= 1
        assert all(h.sources == said.sources for h in hits)
        assert hits[0].score > 0.4
