"""Stores written by the previous release (schema version 3) open and upgrade in place, nothing
lost: every row, vector and history entry reads back as that release exported it, searches
rank as that release ranked, and the lexical statistics the upgrade counts are those that
writing the same memories afresh gives.

The fixtures were written by that release's code (tests/fixtures/v3/make.py)."""

from __future__ import annotations

import io
import json
import shutil
import uuid
from pathlib import Path

import pytest
from stores import new_schema, pg_connect, schema_dsn

from engramdb import Memory
from engramdb.config import StoreConfig
from engramdb.manage import transfer
from engramdb.store import open_store
from engramdb.store.schema import LATEST

FIXTURES = Path(__file__).parent / "fixtures" / "v3"
STATIC = {"provider": "static"}


def _restore_postgres(pg_base: str) -> str:
    """The v3 dump in a fresh schema (pg_dump's psql-only lines left out; pgvector lives in
    public on the test server)."""
    name = f"v3_{uuid.uuid4().hex[:12]}"
    lines = [
        line
        for line in (FIXTURES / "postgres.sql").read_text().splitlines()
        if not line.startswith("\\") and not line.startswith("SET transaction_timeout")
    ]
    script = "\n".join(lines).replace("v3_fixture.vector", "public.vector")
    with pg_connect(pg_base) as conn:
        conn.execute(script.replace("v3_fixture", name).encode())
    return schema_dsn(pg_base, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str]:
    """The upgraded store, its fixture's name, and an empty store of the same backend."""
    if request.param == "sqlite":
        shutil.copy(FIXTURES / "store.db", tmp_path / "store.db")
        return str(tmp_path / "store.db"), "sqlite", str(tmp_path / "fresh.db")
    pg_base = request.getfixturevalue("pg_base")
    return _restore_postgres(pg_base), "postgres", new_schema(pg_base)


def _stable_lines(text: str) -> list[str]:
    """Record lines without use counts (searches change them); header and trailer left out
    (the trailer's digest covers use counts too)."""
    lines = [x for x in text.splitlines() if json.loads(x)["type"] in ("memory", "history")]
    return sorted(transfer.stable(line) for line in lines)


def _export(target: str) -> str:
    store = open_store(target, StoreConfig())
    try:
        out = io.StringIO()
        transfer.export(store, out)
        return out.getvalue()
    finally:
        store.close()


def _statistics(target: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    store = open_store(target, StoreConfig())
    try:
        with store.d.read("test") as tx:
            stats = tx.all("SELECT user_id, granularity, docs, tokens FROM lex_stats ORDER BY 1, 2")
            terms = tx.all(
                "SELECT user_id, granularity, lexeme, df FROM lex_terms ORDER BY 1, 2, 3"
            )
        return stats, terms
    finally:
        store.close()


def test_a_version_3_store_upgrades_in_place(
    old_store: tuple[str, str, str], tmp_path: Path
) -> None:
    target, name, fresh = old_store
    exported = (FIXTURES / f"export-{name}.jsonl").read_text()
    searches = json.loads((FIXTURES / f"searches-{name}.json").read_text())
    with Memory(target, embedder=STATIC) as mem:  # opening upgrades
        # as that release ranked (later releases show a message and its claim as one hit)
        same = {"one_per_message": False}
        for query, ids in searches.items():
            hits = mem.search(query, user_id="maya-leo", limit=5, options=same)
            assert [h.id for h in hits] == ids, query
        with mem.store.d.read("test") as tx:  # type: ignore[attr-defined]
            versions = [int(r[0]) for r in tx.all("SELECT version FROM schema_migrations")]
        assert max(versions) == LATEST
    # every memory (text, vector, times, graph) and every history entry, as v3 exported them
    again = _export(target)
    assert _stable_lines(again) == _stable_lines(exported)
    header = json.loads(again.splitlines()[0])
    assert header["embedder"] == json.loads(exported.splitlines()[0])["embedder"]
    # the statistics the upgrade counted equal those of writing the same memories afresh
    dump = tmp_path / "dump.jsonl"
    dump.write_text(exported)
    store = open_store(fresh, StoreConfig())
    try:
        assert transfer.import_file(store, dump).written > 0
    finally:
        store.close()
    assert _statistics(target) == _statistics(fresh)


def test_a_store_newer_than_this_code_is_refused(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "store.db", tmp_path / "store.db")
    with Memory(tmp_path / "store.db", embedder=STATIC):
        pass
    import sqlite3

    with sqlite3.connect(tmp_path / "store.db") as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (99, 'from the future', 'now')")
    from engramdb.errors import StoreError

    with pytest.raises(StoreError, match="upgrade engramdb"):
        Memory(tmp_path / "store.db", embedder=STATIC)
