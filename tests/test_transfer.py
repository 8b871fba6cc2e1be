"""`engram export` / `engram import --format engram` between SQLite and PostgreSQL: everything
survives the trip (ids, times, versions, history, vectors, search), counts and digests are
printed and checked, and an interrupted import resumes without duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import STATIC
from stores import new_schema
from typer.testing import CliRunner

from engramdb import Memory
from engramdb.cli.main import app
from engramdb.config import StoreConfig
from engramdb.errors import InvalidInputError
from engramdb.manage import transfer
from engramdb.store import open_store

TEXTS = [
    "I adopted a beagle puppy named Biscuit last spring",
    "My sister Lena moved to Lisbon for a design job",
    "We hiked the Dolomites in August and the weather was perfect",
    "I am learning to play the cello on Tuesday evenings",
    "The bakery on Elm street sells the best rye bread",
    "Biscuit chewed my running shoes again yesterday",
]
QUERIES = ["what is the dog called", "where does Lena live", "which instrument", "rye bread"]


def fill(target: str) -> None:
    with Memory(target, embedder=STATIC) as m:
        for user in ("ann", "bob"):
            items = m.add(
                [{"id": f"{user}{i}", "speaker": user, "content": t} for i, t in enumerate(TEXTS)],
                user_id=user,
                session_id="s1",
                timestamp="2024-03-01T09:30:00Z",
                metadata={"source": "test", "n": 3},
            )
            m.add([{"content": "a loose note about tulips"}], user_id=user, agent_id="agent-7")
            m.update(items[1].id, "My sister Lena moved to Porto", user_id=user, reason="moved")
            m.delete(items[4].id, user_id=user)


def snapshot(target: str) -> dict[str, object]:
    """What a user can observe: every memory, its history, and search results."""
    with Memory(target, embedder=STATIC) as m:
        out: dict[str, object] = {}
        for user in m.users():
            items = m.list(user_id=user, order="asc", limit=1000)
            out[user] = [i.model_dump(mode="json") for i in items]
            out[f"{user}/history"] = [
                [h.model_dump(mode="json") for h in m.history(i.id)] for i in items
            ]
            out[f"{user}/search"] = [
                [h.id for h in m.search(q, user_id=user, limit=5)] for q in QUERIES
            ]
        return out


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("direction", ["sqlite-to-postgresql", "postgresql-to-sqlite"])
def test_export_import_round_trip(tmp_path: Path, pg_base: str, direction: str) -> None:
    sqlite_store, pg_store = str(tmp_path / "source.db"), new_schema(pg_base)
    source, target = (
        (sqlite_store, pg_store)
        if direction == "sqlite-to-postgresql"
        else (pg_store, sqlite_store)
    )
    fill(source)
    dump = tmp_path / "dump.jsonl"
    out = run("export", str(dump), "--store", source)
    assert "12 memories, 2 histories of deleted memories" in out
    lines = dump.read_text().splitlines()
    assert json.loads(lines[0])["embedder"]["name"].startswith("tokenlearn-static")
    trailer = json.loads(lines[-1])
    assert trailer["type"] == "end" and trailer["memories"] == 12

    out = run("import", str(dump), "--format", "engram", "--store", target)
    assert "written 14, already present 0" in out and "verified" in out
    assert snapshot(target) == snapshot(source)

    # the deleted memories' history came along
    deleted = json.loads(next(line for line in lines if '"type":"history"' in line))
    with Memory(target, embedder=STATIC) as m:
        events = [h.event for h in m.history(deleted["memory_id"])]
    assert events == ["ADD", "DELETE"]

    # the target exports to the same records (same digest)
    again = tmp_path / "again.jsonl"
    run("export", str(again), "--store", target)
    assert json.loads(again.read_text().splitlines()[-1])["digest"] == trailer["digest"]

    # importing again adds nothing
    out = run("import", str(dump), "--format", "engram", "--store", target)
    assert "written 0, already present 12" in out


def test_interrupted_import_resumes_without_duplicates(tmp_path: Path, pg_base: str) -> None:
    source = str(tmp_path / "big.db")
    with Memory(source, embedder=STATIC) as m:
        for user in ("u1", "u2", "u3"):
            m.add(
                [
                    {"id": f"{user}-{i}", "content": f"note {i} about topic {i % 7}"}
                    for i in range(40)
                ],
                user_id=user,
                session_id="s",
            )
    dump = tmp_path / "dump.jsonl"
    store = open_store(source, StoreConfig())
    with dump.open("w") as out:
        transfer.export(store, out)
    store.close()
    target = new_schema(pg_base)
    checkpoint = tmp_path / "dump.checkpoint"
    store = open_store(target, StoreConfig())
    try:
        # the process "dies" after the third batch: a batch writer that raises
        from engramdb.manage import transfer_rows

        real = transfer_rows.rows_of(store)
        calls = {"n": 0}

        def failing_write(user_id: str, records: list) -> None:  # type: ignore[type-arg]
            calls["n"] += 1
            if calls["n"] > 3:
                raise KeyboardInterrupt
            type(real).write(real, user_id, records)

        real.write = failing_write  # type: ignore[method-assign]
        original = transfer.rows_of
        transfer.rows_of = lambda _store: real  # type: ignore[assignment]
        try:
            with pytest.raises(KeyboardInterrupt):
                transfer.import_file(store, dump, checkpoint=checkpoint, batch=25)
        finally:
            transfer.rows_of = original
        assert checkpoint.exists()
        done = store.count()
        assert 0 < done < 120
        summary = transfer.import_file(store, dump, checkpoint=checkpoint, batch=25)
        assert summary.verified and store.count() == 120
        assert summary.written == 120 - done and summary.present == 0  # resumed, not redone
        assert not checkpoint.exists()
    finally:
        store.close()
    with Memory(target, embedder=STATIC) as m:
        assert sorted(m.users()) == ["u1", "u2", "u3"]
        assert all(m.count(user_id=u) == 40 for u in ("u1", "u2", "u3"))


def test_damaged_or_foreign_files_are_refused(tmp_path: Path, pg_base: str) -> None:
    source = str(tmp_path / "s.db")
    fill(source)
    dump = tmp_path / "dump.jsonl"
    run("export", str(dump), "--store", source)
    lines = dump.read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-1]) + "\n")
    store = open_store(new_schema(pg_base), StoreConfig())
    try:
        with pytest.raises(InvalidInputError, match="ends early"):
            transfer.import_file(store, cut)
        tampered = tmp_path / "tampered.jsonl"
        assert "Biscuit" in lines[1]
        tampered.write_text(
            "\n".join([lines[0], lines[1].replace("Biscuit", "Cookie"), *lines[2:]])
        )
        with pytest.raises(InvalidInputError, match="does not match"):
            transfer.import_file(store, tampered)
        foreign = tmp_path / "foreign.jsonl"
        foreign.write_text('{"user_id": "x", "content": "hello"}\n')
        with pytest.raises(InvalidInputError, match="not an engramdb export"):
            transfer.import_file(store, foreign)
        assert store.count() == 0, "a refused file writes nothing"
    finally:
        store.close()
