"""What ``EngramStore`` does beyond ``InMemoryStore``: it persists, shares one file between
stores and processes, keeps TTLs, ranks with engramdb's own embedder when given no ``embed``,
and its items are ordinary engramdb memories."""

from __future__ import annotations

import runpy
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("langgraph.store.base")

from langgraph.store.memory import InMemoryStore

from engramdb import Memory
from engramdb.errors import ConfigError
from engramdb.integrations.langgraph import EngramStore
from engramdb.integrations.langgraph.records import (
    FIELD,
    FORMAT,
    namespace_of,
    scope_id,
)

STATIC = {"provider": "static"}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


def test_persists_across_reopen(db: Path) -> None:
    with EngramStore(db, embedder=STATIC) as store:
        store.put(("users", "ann"), "a", {"text": "first"})
        store.put(("users", "ann"), "b", {"text": "second"})
        store.put(("users", "ann"), "a", {"text": "first, edited"})
        before = store.get(("users", "ann"), "a")
    with EngramStore(db, embedder=STATIC) as store:
        after = store.get(("users", "ann"), "a")
        assert after == before  # value, key, namespace and both timestamps
        assert [i.key for i in store.search(("users",))] == ["a", "b"]
        assert store.list_namespaces() == [("users", "ann")]


def test_items_are_engramdb_memories(db: Path) -> None:
    memory = Memory(db, embedder=STATIC, extraction={"mode": "off"})
    store = EngramStore(memory, index={"fields": ["text"]})  # the memory's text: that field
    store.put(("prefs", "ann"), "food", {"text": "Ann loves spicy ramen", "stars": 5})
    user = scope_id(("prefs", "ann"))
    assert user == "lg:prefs.ann" and namespace_of(user) == ("prefs", "ann")
    [episode] = memory.list(user_id=user)
    assert episode.text == "Ann loves spicy ramen"
    assert episode.metadata[FIELD]["value"] == {"text": "Ann loves spicy ramen", "stars": 5}
    hits = memory.search("what food does Ann like", user_id=user)  # engramdb's own search
    assert hits[0].id == episode.id
    store.put(("prefs", "ann"), "food", {"text": "Ann now prefers sushi"})
    history = memory.history(episode.id)  # the replaced version stays in engramdb's history
    assert [h.event for h in history] == ["ADD", "DELETE"]
    memory.delete_all(user_id=user)  # engramdb's scope delete empties the namespace
    assert store.get(("prefs", "ann"), "food") is None
    assert store.list_namespaces() == []
    store.close()  # does not close a Memory it was given
    assert memory.count(user_id=user) == 0
    memory.close()


def test_writes_of_another_store_on_the_same_file_are_seen(db: Path) -> None:
    one, two = EngramStore(db, embedder=STATIC), EngramStore(db, embedder=STATIC)
    ns = ("shared",)
    assert one.get(ns, "k") is None  # caches the empty namespace
    two.put(ns, "k", {"text": "from two"})
    got = one.get(ns, "k")
    assert got is not None and got.value == {"text": "from two"}
    one.put(ns, "k", {"text": "from one"})
    got = two.get(ns, "k")
    assert got is not None and got.value == {"text": "from one"}
    two.delete(ns, "k")
    two.put(ns, "j", {"text": "j"})  # same count as before, a different newest memory
    assert one.get(ns, "k") is None
    assert [i.key for i in one.search(ns)] == ["j"]
    one.close()
    two.close()


def test_newest_duplicate_wins_and_the_next_write_removes_the_older(db: Path) -> None:
    # a crash between the add of a new version and the delete of the old one leaves both
    memory = Memory(db, embedder=STATIC, extraction={"mode": "off"})
    store = EngramStore(memory)
    store.put(("d",), "k", {"text": "old"})
    [old] = memory.list(user_id="lg:d")
    newer = dict(old.metadata[FIELD], value={"text": "new"}, rev=old.metadata[FIELD]["rev"] + 1)
    memory.add([{"id": uuid.uuid4().hex, "content": "new", FIELD: newer}], user_id="lg:d")
    got = store.get(("d",), "k")
    assert got is not None and got.value == {"text": "new"}
    store.put(("d",), "other", {"text": "x"})
    assert old.id not in {m.id for m in memory.list(user_id="lg:d")}
    assert memory.count(user_id="lg:d") == 2
    memory.close()


def test_ttl(db: Path) -> None:
    store = EngramStore(db, embedder=STATIC)
    assert store.supports_ttl
    store.put(("t",), "short", {"text": "x"}, ttl=10)  # minutes
    store.put(("t",), "forever", {"text": "y"})
    user = scope_id(("t",))
    by_key = {m.metadata[FIELD]["key"]: m for m in store.memory.list(user_id=user)}
    expires = by_key["short"].expires_at
    assert by_key["forever"].expires_at is None
    assert expires is not None
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)
    store.memory.expire(by_key["short"].id, datetime.now(UTC) + timedelta(minutes=1))
    assert store.get(("t",), "short", refresh_ttl=False) is not None
    assert store.memory.get(by_key["short"].id).expires_at < expires  # type: ignore[operator]
    store.get(("t",), "short")  # a read refreshes the TTL by default
    assert store.memory.get(by_key["short"].id).expires_at > expires  # type: ignore[operator]
    store.memory.expire(by_key["short"].id, datetime.now(UTC) - timedelta(seconds=1))
    assert store.get(("t",), "short") is None  # expired: never returned
    assert [i.key for i in store.search(("t",))] == ["forever"]
    assert store.sweep_ttl() == 1
    assert store.memory.count(user_id=user) == 1
    store.close()


def test_ttl_config_default(db: Path) -> None:
    store = EngramStore(db, embedder=STATIC, ttl={"default_ttl": 5, "refresh_on_read": False})
    store.put(("t",), "k", {"text": "x"})
    [memory] = store.memory.list(user_id=scope_id(("t",)))
    assert memory.expires_at is not None
    assert memory.expires_at - datetime.now(UTC) <= timedelta(minutes=5)
    store.close()


def test_inmemory_store_refuses_ttl() -> None:
    with pytest.raises(NotImplementedError):
        InMemoryStore().put(("t",), "k", {"text": "x"}, ttl=5)


def test_query_without_index_uses_engramdbs_embedder(db: Path, primed_path: Path) -> None:
    # a difference on purpose: InMemoryStore without an index ignores the query
    plain = InMemoryStore()
    store = EngramStore(primed_path)  # the default MiniLM embedder
    for target in (plain, store):
        target.put(("docs",), "pets", {"text": "My dog Biscuit loves the beach"})
        target.put(("docs",), "work", {"text": "Quarterly revenue grew by ten percent"})
    assert [h.score for h in plain.search(("docs",), query="puppy at the seaside")] == [None, None]
    hits = store.search(("docs",), query="puppy at the seaside")
    assert hits[0].key == "pets" and hits[0].score is not None
    assert hits[0].score > hits[1].score  # type: ignore[operator]
    store.close()


def test_index_fields_without_embed(db: Path) -> None:
    store = EngramStore(db, embedder=STATIC, index={"fields": ["title"]})
    store.put(("t",), "a", {"title": "rocket engines", "body": "cats"})
    store.put(("t",), "b", {"title": "cats", "body": "rocket engines"})
    assert store.search(("t",), query="rocket engines")[0].key == "a"
    store.close()
    with pytest.raises(ConfigError):
        EngramStore(db, embedder=STATIC, index={"dims": 3, "fields": ["title"]})


def test_values_must_be_json(db: Path) -> None:
    # a difference on purpose: InMemoryStore keeps any Python object, EngramStore stores JSON
    store = EngramStore(db, embedder=STATIC)
    with pytest.raises(ValueError, match="JSON"):
        store.put(("t",), "k", {"when": datetime.now(UTC)})
    store.put(("t",), "k", {"pair": (1, 2)})
    got = store.get(("t",), "k")
    assert got is not None and got.value == {"pair": [1, 2]}
    store.close()


def test_a_value_too_large_for_metadata_is_refused(db: Path) -> None:
    store = EngramStore(db, embedder=STATIC, limits={"max_metadata_bytes": 2_000})
    with pytest.raises(ValueError, match="max_metadata_bytes"):
        store.put(("t",), "k", {"text": "x" * 3_000})
    assert store.get(("t",), "k") is None
    store.close()


def test_long_namespaces_are_hashed_and_round_trip(db: Path) -> None:
    store = EngramStore(db, embedder=STATIC)
    long = ("deep", "x" * 200, "y" * 200)
    store.put(long, "k", {"text": "deep value"})
    assert scope_id(long).startswith("lg#") and namespace_of(scope_id(long)) is None
    got = store.get(long, "k")
    assert got is not None and got.namespace == long
    assert store.list_namespaces(prefix=("deep",)) == [long]
    assert [i.key for i in store.search(("deep", "x" * 200))] == ["k"]
    store.close()


def test_a_memory_that_extracts_facts_still_works(db: Path) -> None:
    memory = Memory(db, embedder=STATIC)  # rules extraction on: facts join the scope
    store = EngramStore(memory)
    store.put(("me",), "bio", {"text": "I live in Lisbon and I work as a nurse."})
    store.put(("me",), "pet", {"text": "I have a cat named Miso."})
    store.put(("me",), "bio", {"text": "I moved to Porto."})
    got = store.get(("me",), "bio")
    assert got is not None and got.value == {"text": "I moved to Porto."}
    assert [i.key for i in store.search(("me",))] == ["bio", "pet"]
    memory.close()


def test_foreign_memories_in_a_store_scope_are_ignored(db: Path) -> None:
    memory = Memory(db, embedder=STATIC, extraction={"mode": "off"})
    memory.add("a plain message", user_id="lg:mixed")
    memory.add([{"content": "wrong format", FIELD: {"format": FORMAT + 1}}], user_id="lg:mixed")
    store = EngramStore(memory)
    assert store.search(("mixed",)) == []
    store.put(("mixed",), "k", {"text": "mine"})
    assert [i.key for i in store.search(("mixed",))] == ["k"]
    memory.close()


def test_example_agent_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = sys.argv
    sys.argv = ["langgraph_agent.py", str(tmp_path / "agent.db"), "--fast"]
    try:
        runpy.run_path(str(ROOT / "examples" / "langgraph_agent.py"), run_name="__main__")
    finally:
        sys.argv = saved
    out = capsys.readouterr().out
    assert "thread-2 recalled: favourite colour is teal" in out
