"""PostgreSQL bulk loads: the HNSW index is gone during the load and back after it (also when
the load fails), overlapping loads leave the build to the last one out, searches give the same
results as after a normal load, and an interrupted load is reported when the store opens."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import NO_NOTES, STATIC
from stores import new_schema, pg_connect

from engramdb import Memory
from engramdb.bench.scale import Corpus
from engramdb.store import MemoryStore
from engramdb.store.postgres.bulk import INDEX, index_state
from engramdb.store.postgres.dialect import PostgresDialect
from engramdb.store.sqlite.dialect import SQLiteDialect

# every scope searches through pgvector's index (not the exact in-process scan); notes off:
# one row per message, so the loads below hold exactly the rows they count
OPTIONS = {"embedder": STATIC, "store_options": {"ann_threshold": 50}, "extraction": NO_NOTES}
ROWS = 400


def _messages() -> list[dict[str, str]]:
    corpus = Corpus(seed=3)
    return [{"id": f"m{i}", "content": corpus.sentence()} for i in range(ROWS)]


def _load(m: Memory, messages: list[dict[str, str]]) -> None:
    for start in range(0, len(messages), 100):
        m.add(messages[start : start + 100], user_id="u", session_id=f"s{start // 100}")
    m.add(messages[:50], user_id="other")  # another user's rows share the index


def _index(target: str) -> bool | None:
    """None: no vector index in the store's schema; else whether it is valid."""
    with pg_connect(target) as conn:
        return index_state(conn)


def _store(m: Memory) -> MemoryStore:
    assert isinstance(m.store.d, PostgresDialect)
    return m.store


def _nearest_sources(m: Memory, queries: list[str]) -> list[list[str]]:
    vectors = m.embedder.embed(queries)
    found = []
    for vector in vectors:
        pks = _store(m).nearest("u", vector, 10, 200)
        items = _store(m).get_many(pks)
        found.append([items[pk].sources[0] for pk in pks])
    return found


def _search(m: Memory, queries: list[str]) -> list[list[tuple[str, float]]]:
    return [
        [(h.sources[0], round(h.score, 6)) for h in m.search(q, user_id="u", limit=10)]
        for q in queries
    ]


def test_bulk_load_defers_the_index_and_searches_match_a_normal_load(pg_base: str) -> None:
    messages = _messages()
    queries = [Corpus(seed=5).question_about(messages[i]["content"]) for i in (0, 77, 210, 399)]
    normal, bulk = new_schema(pg_base), new_schema(pg_base)
    with Memory(normal, **OPTIONS) as m:
        _load(m, messages)
        expected = _search(m, queries)
        expected_nearest = _nearest_sources(m, queries)
    assert _index(normal) is True

    with Memory(bulk, **OPTIONS) as m:
        assert _index(bulk) is True  # created with the embedder
        with _store(m).bulk_load() as loaded:
            assert _index(bulk) is None
            _load(m, messages)
            # searches during the load are exact scans: still right
            assert _nearest_sources(m, queries[:1])[0][0] == expected_nearest[0][0]
            assert loaded.build_s is None
        assert loaded.dropped and loaded.built and loaded.build_s is not None
        assert loaded.workers >= 0 and loaded.memory_mb >= 64
        assert _index(bulk) is True
        assert _nearest_sources(m, queries) == expected_nearest
        assert _search(m, queries) == expected
        # the store's nearest-neighbour query can use the rebuilt index, iterative scan on (at
        # this size the planner rather sorts the user's rows: no sort, then)
        with pg_connect(bulk) as conn, conn.transaction():
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                conn.execute(f"SET LOCAL {setting} = off".encode())
            conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            vector = "[" + ",".join(["0.1"] * m.embedder.dim) + "]"
            plan = conn.execute(
                "EXPLAIN SELECT pk FROM memories WHERE user_id = %s"
                " ORDER BY embedding <=> %s::vector LIMIT 10",
                ("u", vector),
            ).fetchall()
        assert any(INDEX in line[0] for line in plan), plan


def test_the_index_is_rebuilt_when_the_load_fails(pg_target: str) -> None:
    with Memory(pg_target, **OPTIONS) as m:
        with pytest.raises(RuntimeError, match="boom"), _store(m).bulk_load() as loaded:
            _load(m, _messages()[:100])
            assert _index(pg_target) is None
            raise RuntimeError("boom")
        assert loaded.built
        assert _index(pg_target) is True
        assert m.count(user_id="u") == 100


def test_overlapping_bulk_loads_build_once_at_the_end(pg_target: str) -> None:
    with Memory(pg_target, **OPTIONS) as a, Memory(pg_target, **OPTIONS) as b:
        with _store(a).bulk_load() as outer:
            with _store(b).bulk_load() as inner:
                _load(b, _messages()[:100])
            assert not inner.dropped and not inner.built  # the outer load is still running
            assert _index(pg_target) is None
        assert outer.dropped and outer.built
        assert _index(pg_target) is True


def test_an_interrupted_bulk_load_is_reported_and_an_empty_one_repairs_it(
    pg_target: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Memory(pg_target, **OPTIONS) as m:
        _load(m, _messages()[:100])
    with pg_connect(pg_target) as conn:  # what a loader killed inside its load leaves
        conn.execute(f"DROP INDEX {INDEX}".encode())
    with caplog.at_level(logging.WARNING, logger="engramdb.store"):
        m = Memory(pg_target, **OPTIONS)
    try:
        assert any("vector index is missing" in r.getMessage() for r in caplog.records)
        vector = m.embedder.embed(["anything"])[0]
        assert len(_store(m).nearest("u", vector, 5)) == 5  # exact scan meanwhile
        with _store(m).bulk_load() as loaded:
            pass
        assert not loaded.dropped and loaded.built
        assert _index(pg_target) is True
    finally:
        m.close()


def test_sqlite_bulk_load_is_a_no_op(tmp_path: Path) -> None:
    with Memory(tmp_path / "m.db", embedder=STATIC) as m:
        assert isinstance(m.store.d, SQLiteDialect)
        with m.store.bulk_load() as loaded:
            m.add([{"content": "a note"}], user_id="u")
        assert loaded is None
        assert m.count(user_id="u") == 1
        assert np.isfinite(m.search("note", user_id="u")[0].score)
