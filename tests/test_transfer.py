"""`engram export` / `engram import --format engram` between SQLite and PostgreSQL: everything
survives the trip (ids, times, versions, history, vectors, search), counts and digests are
printed and checked, and an interrupted import resumes without duplicates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import NO_NOTES, STATIC
from stores import new_schema
from typer.testing import CliRunner

from engramdb import Memory
from engramdb.cli.main import app
from engramdb.config import StoreConfig
from engramdb.errors import InvalidInputError
from engramdb.manage import transfer
from engramdb.store import open_store
from engramdb.store.base import Inserted
from engramdb.store.facts import FactSession

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
    """Two users' messages and the slot facts the rules extract from them. Notes are off, so
    deleting one message per user leaves exactly one history of a deleted memory per user."""
    with Memory(target, embedder=STATIC, extraction=NO_NOTES) as m:
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
    with Memory(source, embedder=STATIC) as m:
        n = m.count()  # episodes and the facts extracted from them
    assert n >= 12
    dump = tmp_path / "dump.jsonl"
    out = run("export", str(dump), "--store", source)
    assert f"{n} memories, 2 histories of deleted memories" in out
    lines = dump.read_text().splitlines()
    assert json.loads(lines[0])["embedder"]["name"].startswith("tokenlearn-static")
    trailer = json.loads(lines[-1])
    assert trailer["type"] == "end" and trailer["memories"] == n

    out = run("import", str(dump), "--format", "engram", "--store", target)
    assert f"written {n + 2}, already present 0" in out and "verified" in out

    # the target exports to the same records (same digest; before searches count uses)
    again = tmp_path / "again.jsonl"
    run("export", str(again), "--store", target)
    assert json.loads(again.read_text().splitlines()[-1])["digest"] == trailer["digest"]
    # importing again adds nothing (and still verifies: searches have not counted uses yet)
    out = run("import", str(dump), "--format", "engram", "--store", target)
    assert f"written 0, already present {n}" in out
    assert snapshot(target) == snapshot(source)

    # the deleted memories' history came along
    deleted = json.loads(next(line for line in lines if '"type":"history"' in line))
    with Memory(target, embedder=STATIC) as m:
        events = [h.event for h in m.history(deleted["memory_id"])]
    assert events == ["ADD", "DELETE"]


def test_interrupted_import_resumes_without_duplicates(tmp_path: Path, pg_base: str) -> None:
    source = str(tmp_path / "big.db")
    with Memory(source, embedder=STATIC, extraction=NO_NOTES) as m:  # one row per message
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
        real = store.transfer_rows()
        calls = {"n": 0}

        def failing_write(user_id: str, records: list) -> None:  # type: ignore[type-arg]
            calls["n"] += 1
            if calls["n"] > 3:
                raise KeyboardInterrupt
            type(real).write(real, user_id, records)

        real.write = failing_write  # type: ignore[method-assign]
        store.transfer_rows = lambda: real  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            transfer.import_file(store, dump, checkpoint=checkpoint, batch=25)
        del store.transfer_rows  # type: ignore[method-assign]
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


def _graph_store(target: str) -> None:
    """Facts with validity, versions, anchors, links both ways, entities and lifecycle fields,
    written through the store protocol (independent of what extraction finds)."""
    from test_store_facts import DIM, T2020, T2023, episode, fact

    store = open_store(target, StoreConfig())
    store.check_embedder("random-test", DIM)

    def work(s: FactSession, fresh: list[Inserted]) -> None:
        e1, e2, _ = (i.pk for i in fresh)
        old, _ = s.insert(
            fact("f1", "ann|city", "Lisbon", "Ann lives in Lisbon", valid_from=T2020, anchor_pk=e1),
            actor="extract",
            reason="new",
        )
        s.close(old, T2023, actor="consolidate", reason="moved")
        new, _ = s.insert(
            fact("f2", "ann|city", "Porto", "Ann lives in Porto", valid_from=T2023, anchor_pk=e2),
            actor="consolidate",
            reason="moved",
        )
        s.revise(new, fact("f2b", "ann|city", "Braga", "Ann lives in Braga"), actor="c", reason="r")
        s.add_sources(new, ["e3"], actor="c", reason="same")
        s.link(old, e1, "source")
        s.link(new, e2, "source")
        s.link(e1, new, "followed_by")  # towards a later memory: restored by its second end
        s.mention(e1, [("Lisbon", "object")])
        s.mention(new, [("Ann", "subject"), ("Braga", "object")])

    try:
        store.add(
            "ann",
            None,
            [
                episode("e1", "I live in Lisbon"),
                episode("e2", "We moved to Porto", importance=0.9),
                episode("e3", "Porto, I mean Braga", pinned=True),
            ],
            consolidate=work,
        )
        store.add("bob", None, [episode("b1", "a note of Bob's", session="s9")])
        store.set_lifecycle("e1", "ann", expires_at=datetime(2031, 1, 1, tzinfo=UTC))
        ids = {m.id: pk for pk, m in store.get_many(store.scope_rows("ann", 0).pk.tolist()).items()}
        e2 = ids["e2"]
        store.record_uses({e2: 3}, datetime(2024, 2, 2, tzinfo=UTC))
    finally:
        store.close()


def _graph_view(target: str) -> dict[str, Any]:
    """Everything the store says about the memories of _graph_store, keyed by memory ids."""
    store = open_store(target, StoreConfig())
    try:
        out: dict[str, Any] = {}
        for user in ("ann", "bob"):
            rows = store.scope_rows(user, 0)
            items = store.get_many(rows.pk.tolist())
            ids = {pk: m.id for pk, m in items.items()}
            out[user] = {
                items[pk].id: (
                    items[pk].model_dump(mode="json"),
                    [h.model_dump(mode="json") for h in store.history(items[pk].id)],
                    rows.session[i],
                    int(rows.seq[i]),
                    ids.get(int(rows.anchor_pk[i])),
                    [m.id for m in store.linked(items[pk].id, user, "source")],
                    [m.id for m in store.linked(items[pk].id, user, "followed_by")],
                )
                for i, pk in enumerate(rows.pk.tolist())
            }
            out[f"{user}/entities"] = store.entities(user, 10)
            out[f"{user}/relations"] = store.relations(user, None, 10)
            out[f"{user}/current"] = [
                m.id for m in store.current_facts(user, datetime(2024, 1, 1, tzinfo=UTC), 10)
            ]
            out[f"{user}/braga"] = sorted(
                ids.get(pk)
                for pk, _ in store.lexical(user, store.lexical_plan(user, ["braga"]), "turn", 10)
            )
        return out
    finally:
        store.close()


@pytest.mark.parametrize("direction", ["sqlite-to-postgresql", "postgresql-to-sqlite"])
def test_facts_graph_and_lifecycle_survive_the_trip(
    tmp_path: Path, pg_base: str, direction: str
) -> None:
    sqlite_store, pg_store = str(tmp_path / "source.db"), new_schema(pg_base)
    source, target = (
        (sqlite_store, pg_store)
        if direction == "sqlite-to-postgresql"
        else (pg_store, sqlite_store)
    )
    _graph_store(source)
    dump = tmp_path / "dump.jsonl"
    store = open_store(source, StoreConfig())
    try:
        with dump.open("w") as out:
            exported = transfer.export(store, out)
    finally:
        store.close()
    records = {r["id"]: r for r in map(json.loads, dump.read_text().splitlines()[1:-1])}
    assert records["f1"]["anchor"] == "e1" and records["f1"]["fact_key"] == "ann|city"
    assert records["e1"]["links"] == [["followed_by", "f2"]]
    assert records["f2"]["linked_from"] == [["followed_by", "e1"]]
    assert "importance" not in records["e1"] and "session_key" not in records["e1"]
    assert records["b1"].keys() <= records["e1"].keys() | {"session_id"}  # defaults left out

    store = open_store(target, StoreConfig())
    try:
        summary = transfer.import_file(store, dump, batch=2)  # links cross batches
    finally:
        store.close()
    assert summary.verified and summary.written == exported.memories == 6
    view = _graph_view(target)
    assert view == _graph_view(source)
    assert view["ann/current"] == ["f2"]
    assert view["ann"]["f1"][4] == "e1" and view["ann"]["f2"][5] == ["e2"]
    assert view["ann/braga"] == ["e3", "f2"]
    assert [e.name for e in view["ann/entities"]] == ["Ann", "Braga", "Lisbon"]
