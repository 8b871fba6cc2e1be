"""PostgreSQL-only checks, the counterparts of the tests that read the SQLite file directly:
full deletion counted in SQL, nearest neighbours through pgvector, a killed writer, concurrent
migrations, driver errors as engramdb errors, the key store, and the same results as SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import NO_NOTES, STATIC, cache_of
from stores import pg_connect, row_counts, user_row_counts
from test_crash_safety import CHILD, check_all_or_nothing, run_and_kill
from test_persistence_and_scope import conversation, top_sources

from engramdb import EngramConfig, Memory
from engramdb.config import StoreConfig
from engramdb.errors import InvalidInputError, StoreError
from engramdb.server.keys import issue_key, open_key_store, verify_key
from engramdb.store import MemoryStore, open_store
from engramdb.store.postgres.dialect import PostgresDialect
from engramdb.store.schema import LATEST

FRUITS = ["apple", "banana", "cherry", "grape", "lemon", "mango", "melon", "olive", "peach",
          "pear", "plum"]  # fmt: skip


def test_delete_all_leaves_no_row_of_the_user_in_any_table(pg_target: str) -> None:
    with Memory(pg_target, embedder=STATIC, extraction=NO_NOTES) as m:
        for user in ("gone", "kept"):
            m.add(conversation("a"), user_id=user, session_id="s1")
            m.add(conversation("b"), user_id=user, session_id="s2")
            m.add([{"id": "loose", "content": "a note without a session"}], user_id=user)
        m.flush()
        victim = m.list(user_id="gone", kind="episode", limit=3)
        m.update(victim[0].id, "an edited note", user_id="gone")
        m.delete(victim[1].id, user_id="gone")
        before_gone = user_row_counts(pg_target, "gone")
        before_kept = user_row_counts(pg_target, "kept")
        tables = (
            "memories",
            "history",
            "lex_turn",
            "lex_window",
            "session_docs",
            "lex_session",
            "lex_stats",
        )
        assert set(before_gone) >= {*tables, "lex_terms", "scope_state"}
        episodes = len(m.list(user_id="gone", kind="episode", limit=1000))
        facts = len(m.list(user_id="gone", kind="fact", limit=1000))
        assert episodes == 20 and facts > 0  # 21 messages, one deleted; facts on top
        assert before_gone["memories"] == episodes + facts
        assert before_gone["history"] > before_gone["memories"]  # an update and a delete too
        assert before_gone["lex_turn"] == episodes + facts  # facts are searchable documents
        assert before_gone["lex_window"] == episodes  # windows are made of messages only
        assert before_gone["session_docs"] == 3
        for table in ("entities", "memory_entities", "memory_links"):
            assert before_gone[table] > 0, table

        counts = m.delete_all(user_id="gone")
        for table, rows in before_gone.items():
            assert counts[table] == rows, table
        assert user_row_counts(pg_target, "gone") == dict.fromkeys(before_gone, 0)
        assert user_row_counts(pg_target, "kept") == before_kept
        assert m.search("pastry chef", user_id="gone") == []
        assert top_sources(m, "pastry chef bakery", "kept", limit=1, preset="lexical")[0] in {
            "a0",
            "b0",
        }
        m.add(conversation("a"), user_id="gone", session_id="s1")  # starting again works
        assert top_sources(m, "northern lights Iceland", "gone", limit=1, preset="lexical") == [
            "a8"
        ]
    assert consistency_of(pg_target, "gone")


def consistency_of(dsn: str, user: str) -> bool:
    """Document frequencies and document counts equal those recomputed from the documents."""
    with pg_connect(dsn) as conn:
        stored = conn.execute(
            "SELECT granularity, lexeme, df FROM lex_terms WHERE user_id = %s", (user,)
        ).fetchall()
        recomputed = conn.execute(
            """SELECT g, lexeme, count(*) FROM (
                 SELECT 1 AS g, tsv FROM lex_turn WHERE user_id = %(u)s UNION ALL
                 SELECT 2, tsv FROM lex_window WHERE user_id = %(u)s UNION ALL
                 SELECT 3, tsv FROM lex_session WHERE user_id = %(u)s) d,
               unnest(tsvector_to_array(d.tsv)) AS lexeme GROUP BY g, lexeme""",
            {"u": user},
        ).fetchall()
        docs = conn.execute(
            """SELECT s.granularity, s.docs, s.tokens, x.docs, x.tokens FROM lex_stats s JOIN (
                 SELECT 1 AS g, count(*) AS docs, sum(len) AS tokens FROM lex_turn
                   WHERE user_id = %(u)s UNION ALL
                 SELECT 2, count(*), sum(len) FROM lex_window WHERE user_id = %(u)s UNION ALL
                 SELECT 3, count(*), sum(len) FROM lex_session WHERE user_id = %(u)s) x
               ON x.g = s.granularity WHERE s.user_id = %(u)s""",
            {"u": user},
        ).fetchall()
    same_docs = all(r[1] == r[3] and r[2] == r[4] for r in docs) and len(docs) == 3
    return sorted(map(tuple, stored)) == sorted(map(tuple, recomputed)) and same_docs


def test_updates_and_deletes_keep_the_bm25_statistics_exact(pg_target: str) -> None:
    with Memory(pg_target, embedder=STATIC) as m:
        items = m.add(conversation(), user_id="u", session_id="s1")
        m.add(conversation("x"), user_id="u", session_id="s2")
        m.update(items[3].id, "Bob trains for the Boston marathon in April", user_id="u")
        m.delete(items[0].id, user_id="u")
        m.delete(items[9].id, user_id="u")
        assert consistency_of(pg_target, "u")
        assert top_sources(m, "Boston marathon April", "u", limit=1, preset="lexical") == ["c3"]


def test_large_scopes_use_pgvector_for_nearest_neighbours(pg_target: str) -> None:
    """At or above ``ann_threshold`` the dense candidates come from the HNSW index in the
    database (no in-process index, no cache file); updates and deletes are seen at once."""
    # notes off: one vector per message, so the scope sizes are what the test says
    options = {"embedder": STATIC, "store_options": {"ann_threshold": 50}, "extraction": NO_NOTES}
    messages = [
        {"id": f"m{i}", "content": f"note {i} mentions {FRUITS[i % len(FRUITS)]} and code{i}x"}
        for i in range(300)
    ]
    with Memory(pg_target, **options) as m:
        for start in range(0, 300, 100):
            m.add(messages[start : start + 100], user_id="u")
        m.add(messages[:60], user_id="other")  # another user's rows share the index
        store = m.store
        assert isinstance(store.d, PostgresDialect)
        vector = m.embedder.embed([messages[137]["content"]])[0]
        nearest = store.nearest("u", vector, 5)
        assert m.store.get_many(nearest[:1])[nearest[0]].sources == ["m137"]
        assert all(m.get(i.id).user_id == "u" for i in store.get_many(nearest).values())
        for i in (0, 137, 299):
            assert top_sources(m, messages[i]["content"], "u", limit=1, preset="dense") == [f"m{i}"]
        victim = m.list(user_id="u", order="asc", limit=6)[5]
        m.delete(victim.id, user_id="u")
        assert "m5" not in top_sources(m, messages[5]["content"], "u", limit=5, preset="dense")
        with m._scopes.open("u") as index:
            assert index.ann is None, "no in-process HNSW index for a PostgreSQL store"
    assert not (cache_of(pg_target) / "ann").exists() or not any(
        (cache_of(pg_target) / "ann").iterdir()
    )


def test_same_results_as_sqlite(tmp_path: Path, pg_target: str) -> None:
    """Same data, same config, one user: SQLite and PostgreSQL return the same hits in the
    same order while search is exact. With HNSW on both sides (usearch in process, pgvector in
    the database) the dense candidates are approximate: the tolerance is 90% of the top 10 in
    common on average, and the same first hit for 90% of the queries."""
    texts = [f"{who} {verb} the {fruit} near the {place}"
             for who in ("Ann", "Bob", "Cleo") for verb in ("bought", "painted", "dropped")
             for fruit in FRUITS for place in ("harbour", "station")]  # fmt: skip
    messages = [{"id": f"t{i}", "content": text} for i, text in enumerate(texts)]
    queries = ["who painted the mango", "Cleo dropped something", "plum at the station",
               "what did Bob buy near the harbour", "olive", "Ann and the lemon"]  # fmt: skip
    for threshold, exact in ((100_000, True), (50, False)):
        results = {}
        for target in (str(tmp_path / f"s{threshold}.db"), f"{pg_target}"):
            options = {
                "embedder": STATIC,
                "store_options": {"ann_threshold": threshold},
                "extraction": NO_NOTES,  # messages only: the data the tolerance was set for
            }
            with Memory(target, **options) as m:
                if m.count(user_id="u") == 0:
                    for start in range(0, len(messages), 50):
                        m.add(messages[start : start + 50], user_id="u", session_id="s")
                results[target] = {
                    (q, p): top_sources(m, q, "u", limit=10, preset=p)
                    for q in queries
                    for p in ("hybrid", "lexical", "dense", "fast")
                }
        sqlite_hits, pg_hits = results.values()
        if exact:
            assert sqlite_hits == pg_hits
        else:
            common = [len(set(sqlite_hits[k]) & set(pg_hits[k])) / 10 for k in sqlite_hits]
            first = [sqlite_hits[k][:1] == pg_hits[k][:1] for k in sqlite_hits]
            assert np.mean(common) >= 0.9 and np.mean(first) >= 0.9, (common, first)


def test_killed_writer_leaves_a_consistent_database(pg_target: str) -> None:
    """SIGKILL mid-write: PostgreSQL rolls the open transaction back; every acknowledged batch
    is there whole, and the derived rows agree with the memories."""
    assert "Memory(path" in CHILD
    acked = run_and_kill(pg_target, first_batch=0, acks_before_kill=4)  # type: ignore[arg-type]
    acked += run_and_kill(pg_target, first_batch=100, acks_before_kill=2)  # type: ignore[arg-type]
    with pg_connect(pg_target) as conn:
        found: dict[int, set[str]] = {}
        for (sources,) in conn.execute("SELECT sources FROM memories WHERE user_id = 'crash'"):
            source = sources.strip('[]"')
            found.setdefault(int(source[1:].split("-")[0]), set()).add(source)
        memories = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM lex_turn").fetchone()[0] == memories
        assert conn.execute("SELECT count(*) FROM lex_window").fetchone()[0] == memories
        rows = conn.execute("SELECT rows FROM scope_state WHERE user_id = 'crash'").fetchone()
        assert rows is not None and rows[0] == memories
    check_all_or_nothing(found, acked)
    assert consistency_of(pg_target, "crash")


def test_concurrent_first_opens_migrate_once(pg_target: str) -> None:
    stores: list[MemoryStore] = []
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(open_store(pg_target, StoreConfig()))
        except BaseException as exc:  # collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for store in stores:
        store.close()
    assert not failures and len(stores) == 4
    with pg_connect(pg_target) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        assert versions == [LATEST]  # created once, at the latest version, by one of them
        conn.execute("INSERT INTO schema_migrations VALUES (99, 'from the future', now())")
    with pytest.raises(StoreError, match="upgrade engramdb"):
        open_store(pg_target, StoreConfig())


def test_values_postgresql_cannot_hold_are_refused_and_roll_back(pg_target: str) -> None:
    with Memory(pg_target, embedder=STATIC, extraction=NO_NOTES) as m:
        m.add([{"id": "ok", "content": "a fine message"}], user_id="u")
        before = row_counts(pg_target)
        batch = [{"id": f"g{i}", "content": f"good message {i}"} for i in range(5)]
        batch.append({"id": "nul", "content": "text with a \x00 NUL"})
        with pytest.raises(InvalidInputError, match=r"messages\[5\].*NUL"):
            m.add(batch, user_id="u")
        assert row_counts(pg_target) == before
        assert m.count(user_id="u") == 1
        with pytest.raises(InvalidInputError, match="NUL"):
            m.update(m.list(user_id="u")[0].id, "edited \x00", user_id="u")
        assert row_counts(pg_target) == before


def test_unreachable_server_is_a_store_error(tmp_path: Path) -> None:
    dsn = f"postgresql://nobody@/nothing?host={tmp_path}&connect_timeout=2"
    with pytest.raises(StoreError, match="cannot connect"):
        Memory(dsn, embedder=STATIC)


def test_key_store_lives_in_the_database(pg_target: str) -> None:
    config = EngramConfig.build(store=pg_target)
    keys, again = open_key_store(config), open_key_store(config)
    try:
        issued = issue_key(keys, "t", "alice", "write")
        assert verify_key(again, issued.key) == issued.record  # another process sees it
        assert [k.key_id for k in again.list("t")] == [issued.record.key_id]
        revoked = keys.revoke(issued.record.key_id)
        assert revoked.revoked_at is not None and keys.revoke(issued.record.key_id) == revoked
        assert verify_key(again, issued.key) is None
        again.ping()
    finally:
        keys.close()
        again.close()


def test_engram_pgserver_prints_a_working_dsn(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    run = [sys.executable, "-m", "engramdb.cli.main", "pgserver", "--data", str(data)]
    env = {**os.environ, "COLUMNS": "200"}
    started = time.monotonic()
    out = subprocess.run([*run, "--database", "trial"], capture_output=True, text=True, env=env)
    try:
        assert out.returncode == 0, out.stderr
        dsn = out.stdout.strip().splitlines()[-1]
        assert dsn.startswith("postgresql://") and "/trial?" in dsn
        with Memory(dsn, embedder=STATIC, extraction=NO_NOTES) as m:
            m.add("hello from a fresh database", user_id="u")
            assert m.count() == 1
        assert time.monotonic() - started < 60
    finally:
        stop = subprocess.run([*run, "--stop"], capture_output=True, text=True, env=env)
        assert stop.returncode == 0, stop.stderr
