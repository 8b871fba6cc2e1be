"""BM25 in process (retrieve/postings.py) gives the store's own top k and scores, on SQLite as
on PostgreSQL, kept current through adds to old and new sessions, updates and deletes."""

from __future__ import annotations

from typing import Any

import pytest

from engramdb import Memory
from engramdb.encode.text import query_terms
from engramdb.retrieve.postings import lexicon_for
from engramdb.store.base import Granularity

STATIC = {"provider": "static"}
GRANULARITIES: tuple[Granularity, ...] = ("turn", "window", "session")
QUERIES = ["kayak lemon", "piano teacher zebra", "the lemon kayak zoo morning", "nothing"]


def _same(mem: Memory, user: str) -> None:
    with mem._searcher.scopes.open(user) as index:
        lexicon = lexicon_for(mem.store, index)
        for query in QUERIES:
            plan = mem.store.lexical_plan(user, query_terms(query))
            for granularity in GRANULARITIES:
                expected = mem.store.lexical(user, plan, granularity, 5)
                q = plan.queries.get(granularity) if plan else None
                got: list[Any] = lexicon.search(granularity, q, 5) or [] if q else []
                assert [k for k, _ in got] == [k for k, _ in expected], (query, granularity)
                for (_, a), (_, b) in zip(got, expected, strict=True):
                    assert a == pytest.approx(b, rel=1e-9)


def test_in_process_bm25_follows_the_store(store_target: str) -> None:
    talk = [
        "the kayak trip was long and the kayak leaked",
        "we bought a piano",
        "my piano teacher said the kayak is fine",
        "sunny morning today",
        "the zebra at the zoo ate a lemon",
        "lemon cake with lemon icing and more lemon",
    ]
    with Memory(store_target, embedder=STATIC, enrichment={"worker": False}) as mem:
        user = "u1"
        mem.add([{"role": "user", "content": t} for t in talk[:3]], user_id=user, session_id="s1")
        _same(mem, user)
        mem.add([{"role": "user", "content": t} for t in talk[3:]], user_id=user, session_id="s2")
        mem.add([{"role": "user", "content": "nothing much, kayak"}], user_id=user, session_id="s1")
        _same(mem, user)
        first = mem.list(user_id=user, limit=100)
        episode = next(m for m in first if m.text.startswith("we bought"))
        mem.update(episode.id, "we sold the piano and a lemon", user_id=user)
        _same(mem, user)
        mem.delete(next(m for m in first if m.text.startswith("sunny")).id, user_id=user)
        _same(mem, user)
        mem.add([{"role": "user", "content": "a zebra kayak"}], user_id=user, session_id="s2")
        _same(mem, user)


def test_in_process_plan_is_the_store_plan(store_target: str) -> None:
    with Memory(store_target, embedder=STATIC, enrichment={"worker": False}) as mem:
        talk = ["kayak lemon zebra", "the piano and the kayak", "", "?!", "lemon, lemon, lemon"]
        mem.add([{"role": "user", "content": t or "…"} for t in talk], user_id="u", session_id="a")
        mem.add([{"role": "user", "content": "zebra piano"}], user_id="u", session_id="b")
        with mem._searcher.scopes.open("u") as index:
            lexicon = lexicon_for(mem.store, index)
            for query in [*QUERIES, "nothing here", "zebras' pianos"]:
                terms = query_terms(query)
                assert lexicon.plan(mem.store, index, terms) == mem.store.lexical_plan("u", terms)
