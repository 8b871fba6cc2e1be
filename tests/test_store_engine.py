"""The store engine over its dialects: the rules that had drifted between the two backends
hold on both, the memory record is declared once, capabilities are declared, and the store
package imports nothing from the layers above it."""

from __future__ import annotations

import ast
import math
from dataclasses import fields
from pathlib import Path

import pytest
import sqlean as sqlite3  # the store's FTS5 tables need SQLite 3.42+ (secure-delete)
from stores import is_postgres, pg_connect
from test_store_facts import consolidating, episode, fact, store  # noqa: F401  (fixture)

import engramdb
from engramdb.errors import InvalidInputError, NotFoundError
from engramdb.models import Hit, MemoryItem
from engramdb.server.schemas import MemoryOut
from engramdb.store import MemoryStore, lexical
from engramdb.store.base import Inserted, NewMemory
from engramdb.store.facts import FactSession
from engramdb.store.record import EXPORT_DEFAULTS, ITEM, MEMORY, SQL_TYPES

PACKAGE = Path(engramdb.__file__).parent


# --- drifts -----------------------------------------------------------------------------------
def test_closing_another_users_fact_is_refused_and_changes_nothing(store: MemoryStore) -> None:  # noqa: F811
    """FactSession.close filtered by user on PostgreSQL only; SQLite closed any pk."""
    theirs = store.add("bob", None, [fact("b1", "bob|city", "oslo", "Bob lives in Oslo")])[0]
    bob_pk = int(store.scope_rows("bob", 0).pk[0])

    def work(s: FactSession, fresh: list[Inserted]) -> None:
        s.close(bob_pk, None, actor="test", reason="not ours")

    with pytest.raises(NotFoundError):
        consolidating(store, "alice", [episode("a1", "hello there")], work)
    assert store.get("b1").valid_to is None and store.get("b1").version == theirs.version
    assert [h.event for h in store.history("b1")] == ["ADD"]
    with pytest.raises(NotFoundError):
        store.get("a1")  # the whole add rolled back


def test_idf_is_guarded_when_statistics_lag_a_writer() -> None:
    """A plan may count more hits than documents (a writer added some since): the idf stays
    finite and positive on every backend (it was unguarded on PostgreSQL)."""
    assert lexical.idf(3, 5) == lexical.IDF_FLOOR
    assert lexical.idf(10, 10) == lexical.IDF_FLOOR
    assert lexical.idf(100, 1) == pytest.approx(math.log(99.5 / 1.5))


def test_deleting_the_last_source_deletes_the_fact_on_every_path(store: MemoryStore) -> None:  # noqa: F811
    """The orphan-fact rule, once: a fact goes with the last message it was drawn from."""

    def work(s: FactSession, fresh: list[Inserted]) -> None:
        pk, _ = s.insert(fact("f", "ann|pet", "rex", "Ann has a dog, Rex"), actor="x", reason="r")
        for source in fresh:
            s.link(pk, source.pk, "source")

    consolidating(store, "u", [episode("e1", "our dog Rex"), episode("e2", "Rex barked")], work)
    store.delete("e1", actor="test")
    assert store.get("f").text == "Ann has a dog, Rex"  # e2 still holds it
    store.delete("e2", actor="test")
    with pytest.raises(NotFoundError):
        store.get("f")
    assert [h.event for h in store.history("f")][-1] == "DELETE"


def test_nul_characters_are_refused_alike_on_both_backends(store: MemoryStore) -> None:  # noqa: F811
    from engramdb.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="NUL"):
        store.add("u", None, [episode("e1", "a\x00b")])
    assert store.count("u") == 0


# --- the record, declared once ------------------------------------------------------------
def test_memory_item_new_memory_and_the_api_model_follow_the_record() -> None:
    item_fields = set(MemoryItem.model_fields)
    assert item_fields == {c.name for c in ITEM}
    assert {f.name for f in fields(NewMemory)} <= {c.name for c in MEMORY}
    api = set(MemoryOut.model_fields)
    hit_only = {
        *("score", "signals", "status", "superseded_by"),
        *("trust", "provenance", "flags", "flagged"),  # the guard
    }
    assert set(Hit.model_fields) - item_fields == hit_only
    assert api - hit_only == item_fields - {"content_hash"}
    for name, default in EXPORT_DEFAULTS.items():
        if name in MemoryItem.model_fields:
            assert MemoryItem.model_fields[name].default == default, name


def _columns(target: str) -> dict[str, str]:
    if is_postgres(target):
        with pg_connect(target) as conn:
            rows = conn.execute(
                "SELECT column_name, udt_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = 'memories'"
            ).fetchall()
        return {str(name): str(kind) for name, kind in rows}
    with sqlite3.connect(target) as conn:
        return {r[1]: r[2] for r in conn.execute("PRAGMA table_info(memories)")}


# how information_schema names the types record.py declares for PostgreSQL
PG_UDT = {
    "text": "text",
    "bigint": "int8",
    "double precision": "float8",
    "boolean": "bool",
    "timestamptz": "timestamptz",
    "vector": "vector",
}


def test_the_memories_table_of_both_backends_is_the_record(store_target: str) -> None:
    with engramdb.Memory(store_target, embedder={"provider": "static"}):
        pass  # opening creates the schema
    found = _columns(store_target)
    assert set(found) == {c.name for c in MEMORY}
    for column in MEMORY:
        sqlite_type, pg_type = SQL_TYPES[column.codec]
        if is_postgres(store_target):
            assert found[column.name] == PG_UDT[pg_type.split(" GENERATED")[0]], column.name
        else:
            assert found[column.name] == sqlite_type.split()[0], column.name


# --- capabilities and layers ---------------------------------------------------------------
def test_capabilities_are_declared(store: MemoryStore, store_target: str) -> None:  # noqa: F811
    caps = store.capabilities
    assert caps.nearest == caps.bulk_load == caps.concurrent_lexical == is_postgres(store_target)
    store.add("u", None, [episode("e1", "near"), episode("e2", "far")])
    if caps.nearest:
        vector = store.scope_rows("u", 0).vectors[0]
        assert store.nearest("u", vector, 1) == [int(store.scope_rows("u", 0).pk[0])]
    else:
        with pytest.raises(NotImplementedError):
            store.nearest("u", store.scope_rows("u", 0).vectors[0], 1)
    with store.bulk_load():
        store.add("u", None, [episode("e3", "loaded in bulk")])
    assert store.count("u") == 3


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_store_imports_nothing_from_the_layers_above() -> None:
    upward = (
        "engramdb.manage",
        "engramdb.server",
        "engramdb.api",
        "engramdb.retrieve",
        "engramdb.cli",
        "engramdb.mcp",
        "engramdb.integrations",
        "engramdb.bench",
    )
    for path in sorted((PACKAGE / "store").rglob("*.py")):
        bad = [m for m in _imports(path) if m.startswith(upward)]
        assert not bad, (path, bad)
    # and the dialects never import each other
    for own, other in (("sqlite", "postgres"), ("postgres", "sqlite")):
        for path in (PACKAGE / "store" / own).rglob("*.py"):
            assert not [m for m in _imports(path) if f"engramdb.store.{other}" in m], path


@pytest.mark.parametrize(
    ("layer", "above"),
    [
        ("encode", ("retrieve", "manage", "api", "server", "cli", "mcp", "bench")),
        ("retrieve", ("manage", "api", "server", "cli", "mcp", "integrations", "bench")),
        ("manage", ("api", "server", "cli", "mcp", "integrations", "bench")),
    ],
)
def test_each_layer_imports_only_the_layers_below(layer: str, above: tuple[str, ...]) -> None:
    upward = tuple(f"engramdb.{name}" for name in above)
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        bad = [m for m in _imports(path) if m.startswith(upward)]
        assert not bad, (path, bad)


def test_list_cursors_say_nothing_of_other_tenants_and_bind_to_their_user(
    store_target: str,
) -> None:
    """A cursor was the page's last pk: a tenant watching it saw every other tenant's writes."""
    with engramdb.Memory(store_target, embedder={"provider": "static"}) as m:
        said = m.add([f"note {i}" for i in range(6)], user_id="u")
        first, cursor = m.list_page(user_id="u", kind="episode", limit=3, order="asc")
        assert cursor is not None and len(first) == 3
        pks = {str(pk) for pk in m.store.scope_rows("u", 0).pk.tolist()}
        assert cursor not in pks and not cursor.isdigit()
        m.add([f"other {i}" for i in range(50)], user_id="v")  # another tenant
        again = m.list_page(user_id="u", kind="episode", limit=3, order="asc")
        assert again[1] == cursor  # unmoved by their writes
        rest, end = m.list_page(user_id="u", kind="episode", limit=3, order="asc", cursor=cursor)
        assert [i.id for i in rest] == [i.id for i in said[3:]] and end is None
        with pytest.raises(InvalidInputError, match="cursor"):
            m.list_page(user_id="v", limit=3, cursor=cursor)  # not v's
        tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
        with pytest.raises(InvalidInputError, match="cursor"):
            m.list_page(user_id="u", limit=3, cursor=tampered)


def test_memory_ids_are_unique_and_indexed(store_target: str) -> None:
    with engramdb.Memory(store_target, embedder={"provider": "static"}):
        pass
    if is_postgres(store_target):
        with pg_connect(store_target) as conn:
            defs = [r[0] for r in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                " AND tablename = 'memories'"
            )]  # fmt: skip
        assert any("UNIQUE" in d and d.endswith("(id)") for d in defs), defs
    else:
        with sqlite3.connect(store_target) as conn:
            plan = conn.execute("EXPLAIN QUERY PLAN SELECT pk FROM memories WHERE id = 'x'")
            assert "USING" in " ".join(str(r) for r in plan.fetchall())  # no table scan


def test_links_and_mentions_never_cross_scopes(store: MemoryStore) -> None:  # noqa: F811
    store.add("bob", None, [episode("b1", "Bob's own note")])
    bob_pk = int(store.scope_rows("bob", 0).pk[0])

    def work(s: FactSession, fresh: list[Inserted]) -> None:
        s.link(fresh[0].pk, bob_pk, "source")  # a consolidator's mistake: bob's memory
        s.mention(bob_pk, [("Lisbon", "object")])

    consolidating(store, "alice", [episode("a1", "Alice in Lisbon")], work)
    assert store.linked("a1", "alice", "source") == []
    assert store.entities("bob", 10) == []


def test_postgres_many_row_inserts_take_any_column_types(store_target: str) -> None:
    """Many rows run as one INSERT over arrays where the column types are plain; columns of
    None only, of mixed or numpy types go row by row: the same rows either way."""
    if not is_postgres(store_target):
        pytest.skip("PostgreSQL's array path")
    import numpy as np

    from engramdb.config import StoreConfig
    from engramdb.store import dialect_for

    d = dialect_for(store_target, StoreConfig())
    try:
        with d.write("test", None) as tx:
            tx.run("CREATE TABLE t (a bigint, b double precision, c timestamptz, d text)")
            sql = "INSERT INTO t (a, b, c, d) VALUES (?, ?, ?, ?)"
            tx.many(sql, [(1, 1.5, None, "x"), (2, 2.5, None, None)])  # None-only column
            tx.many(sql, [(3, 1, None, "y"), (4, 2.5, None, "z")])  # int and float mixed
            tx.many(sql, [(np.int64(5), 0.5, None, "w"), (np.int64(6), 0.5, None, "v")])
            rows = tx.all("SELECT a, b, d FROM t ORDER BY a")
        assert [tuple(r) for r in rows] == [
            (1, 1.5, "x"), (2, 2.5, None), (3, 1.0, "y"), (4, 2.5, "z"), (5, 0.5, "w"),
            (6, 0.5, "v"),
        ]  # fmt: skip
    finally:
        d.close()
