"""Store-level conformance of facts, the entity graph and the lifecycle, on SQLite and
PostgreSQL alike: what consolidation does through a ``FactSession`` inside ``add`` (insert,
close, add_sources, revise, link, mention), what the graph reads return, pinning, expiry, use
counts, forgetting, full deletion, and the rollback of an add whose consolidation fails."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import sqlean as sqlite3  # the store's FTS5 tables need SQLite 3.42+ (secure-delete)
from stores import is_postgres, user_row_counts

from engramdb.config import StoreConfig
from engramdb.encode.text import query_terms
from engramdb.errors import NotFoundError
from engramdb.models import Entity, Relation
from engramdb.retrieve.graph import entity_scores
from engramdb.store import MemoryStore, open_store
from engramdb.store.base import (
    FACT_SESSION,
    ForgetPolicy,
    Granularity,
    Inserted,
    NewMemory,
    ScopeState,
)
from engramdb.store.facts import FactSession

DIM = 16
T2020 = datetime(2020, 1, 1, tzinfo=UTC)
T2023 = datetime(2023, 6, 1, tzinfo=UTC)
_rng = np.random.default_rng(7)


def unit() -> np.ndarray[Any, np.dtype[np.float32]]:
    v = _rng.standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _hash(kind: str, text: str) -> str:
    return hashlib.sha256(f"{kind}\x00{text}".encode()).hexdigest()


def episode(mid: str, text: str, *, session: str = "s1", **extra: Any) -> NewMemory:
    return NewMemory(
        id=mid,
        kind="episode",
        text=text,
        role="user",
        speaker="Ann",
        session_id=session,
        event_time=None,
        sources=[],
        content_hash=_hash("episode", text),
        metadata={},
        embedding=unit(),
        **extra,
    )


def fact(
    mid: str, key: str, value: str, text: str, *, sources: list[str] | None = None, **extra: Any
) -> NewMemory:
    subject, attribute = key.split("|")[:2]
    return NewMemory(
        id=mid,
        kind="fact",
        text=text,
        role=None,
        speaker=None,
        session_id=None,
        event_time=None,
        sources=sources or [],
        content_hash=_hash("fact", f"{key}={value}"),
        metadata={},
        embedding=unit(),
        subject=subject,
        attribute=attribute,
        value=value,
        fact_key=key,
        confidence=0.9,
        **extra,
    )


@pytest.fixture
def store(store_target: str) -> Iterator[MemoryStore]:
    s = open_store(store_target, StoreConfig())
    s.check_embedder("random-test", DIM)
    yield s
    s.close()


def consolidating(
    store: MemoryStore,
    user: str,
    items: list[NewMemory],
    work: Callable[[FactSession, list[Inserted]], Any],
) -> Any:
    """``store.add`` with a consolidation callback; returns what the callback returned."""
    out: list[Any] = []
    store.add(user, None, items, consolidate=lambda s, fresh: out.append(work(s, fresh)))
    return out[0]


def lexical_pks(
    store: MemoryStore, user: str, query: str, granularity: Granularity = "turn"
) -> set[Any]:
    plan = store.lexical_plan(user, query_terms(query))
    return {key for key, _ in store.lexical(user, plan, granularity, 20)} if plan else set()


def user_rows(target: str, user: str) -> dict[str, int]:
    """Rows of ``user`` in every table with a user_id column, counted in SQL."""
    if is_postgres(target):
        return user_row_counts(target, user)
    conn = sqlite3.connect(target)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        out = {}
        for table in tables:
            columns = {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}
            if "user_id" in columns and table != "api_keys":
                out[table] = conn.execute(
                    f'SELECT count(*) FROM "{table}" WHERE user_id = ?', (user,)
                ).fetchone()[0]
        return out
    finally:
        conn.close()


def test_insert_is_idempotent_and_facts_for_finds_every_version_by_key_prefix(
    store: MemoryStore,
) -> None:
    e1 = episode("e1", "I moved to Lisbon last year")

    def work(s: FactSession, fresh: list[Inserted]) -> Any:
        assert [(i.item.id, i.pk > 0) for i in fresh] == [("e1", True)]
        city = fact("f1", "ann|city", "lisbon", "Ann lives in Lisbon", anchor_pk=fresh[0].pk)
        pk, new = s.insert(city, actor="extract", reason="new fact")
        assert s.insert(city, actor="extract", reason="again") == (pk, False)
        pet = s.insert(
            fact("f2", "ann|pet|rex", "dog", "Ann has a dog, Rex"), actor="x", reason="r"
        )
        s.insert(fact("f3", "ann|cityx", "x", "unrelated key"), actor="x", reason="r")
        return pk, new, pet[0], fresh[0].pk, s.facts_for("ann|city"), s.facts_for("ann|pet")

    pk, new, pet_pk, e1_pk, city_facts, pets = consolidating(store, "u", [e1], work)
    assert new is True
    assert [(f.pk, f.id, f.fact_key, f.value, f.version) for f in city_facts] == [
        (pk, "f1", "ann|city", "lisbon", 1)
    ]
    assert [f.pk for f in pets] == [pet_pk]

    stored = store.get("f1", "u")
    assert (stored.kind, stored.subject, stored.attribute, stored.value) == (
        "fact",
        "ann",
        "city",
        "lisbon",
    )
    assert stored.confidence == pytest.approx(0.9) and stored.session_id is None
    assert [(h.event, h.actor, h.reason, h.version) for h in store.history("f1")] == [
        ("ADD", "extract", "new fact", 1)
    ]
    state = store.scope_state("u")
    assert state.rows == 4  # the episode and three facts, counted by the one add
    rows = store.scope_rows("u", 0)
    assert state.max_vec_id == int(rows.vec_id.max())
    at = list(rows.pk).index(pk)
    assert rows.session[at] == FACT_SESSION and rows.kind[at] == "fact"
    assert rows.speaker[at] == "ann"  # a fact speaks for its subject
    assert rows.anchor_pk[at] == e1_pk and rows.anchor_pk[list(rows.pk).index(e1_pk)] == -1
    assert np.isnan(rows.valid_to[at]) and np.isnan(rows.expires_at[at])
    fact_seqs = sorted(int(rows.seq[i]) for i, s in enumerate(rows.session) if s == FACT_SESSION)
    assert fact_seqs == [0, 1, 2]  # numbered apart from the conversation

    # re-adding the episode consolidates nothing again; a new one is handed over
    seen = consolidating(store, "u", [e1, episode("e2", "Rex is a beagle")], lambda s, f: f)
    assert [i.item.id for i in seen] == ["e2"]
    # facts get a turn document only: no window or session documents
    assert lexical_pks(store, "u", "beagle Rex dog") >= {pet_pk}
    assert lexical_pks(store, "u", "unrelated", "window") == set()
    assert lexical_pks(store, "u", "unrelated", "session") == set()


def test_close_add_sources_and_revise_keep_history_and_documents(store: MemoryStore) -> None:
    def first(s: FactSession, fresh: list[Inserted]) -> int:
        city = fact("f1", "ann|city", "lisbon", "Ann lives in Lisbon", valid_from=T2020)
        city.sources = ["e1"]
        return s.insert(city, actor="extract", reason="new")[0]

    old = consolidating(store, "u", [episode("e1", "I live in Lisbon")], first)
    before = store.scope_state("u").max_vec_id

    def second(s: FactSession, fresh: list[Inserted]) -> Any:
        s.close(old, T2023, actor="consolidate", reason="moved")
        new, _ = s.insert(
            fact("f2", "ann|city", "porto", "Ann lives in Porto", valid_from=T2023),
            actor="consolidate",
            reason="moved",
        )
        s.add_sources(old, ["e1", "e2", "e2b"], actor="consolidate", reason="same")
        return new, fresh[0].pk, s.facts_for("ann|city")

    new, e2, versions = consolidating(store, "u", [episode("e2", "We moved to Porto")], second)
    assert [(f.pk, f.valid_from, f.valid_to) for f in versions] == [
        (old, T2020, T2023),
        (new, T2023, None),
    ]
    closed = store.get("f1", "u")
    assert closed.valid_to == T2023 and closed.version == 1 and closed.updated_at is not None
    assert closed.sources == ["e1", "e2", "e2b"]
    assert [(h.event, h.actor, h.reason, h.version, h.text) for h in store.history("f1")] == [
        ("ADD", "extract", "new", 1, "Ann lives in Lisbon"),
        ("INVALIDATE", "consolidate", "moved", 1, "Ann lives in Lisbon"),
        ("NOOP", "consolidate", "same", 1, "Ann lives in Lisbon"),
    ]
    # the closed fact got a new vector id, so caches reload its validity
    reloaded = store.scope_rows("u", before)
    assert old in set(reloaded.pk.tolist())
    at = reloaded.pk.tolist().index(old)
    assert reloaded.valid_to[at] == T2023.timestamp()
    assert reloaded.valid_from[at] == T2020.timestamp()
    assert store.scope_state("u").max_vec_id == int(reloaded.vec_id.max())

    before = store.scope_state("u").max_vec_id
    assert lexical_pks(store, "u", "Porto") == {new, e2}

    def third(s: FactSession, fresh: list[Inserted]) -> None:
        revised = fact("f2x", "ann|city", "braga", "Ann lives in Braga", sources=["e3"])
        s.revise(new, revised, actor="consolidate", reason="corrected")

    consolidating(store, "u", [episode("e3", "Sorry, I meant Braga")], third)
    item = store.get("f2", "u")
    assert (item.text, item.value, item.version) == ("Ann lives in Braga", "braga", 2)
    assert item.valid_from == T2023 and item.sources == ["e3"]
    assert [(h.event, h.version, h.text, h.previous_text) for h in store.history("f2")][-1] == (
        "UPDATE",
        2,
        "Ann lives in Braga",
        "Ann lives in Porto",
    )
    assert new in lexical_pks(store, "u", "Braga")
    assert new not in lexical_pks(store, "u", "Porto")
    assert new in store.scope_rows("u", before).pk.tolist()


def _graph(store: MemoryStore, user: str) -> dict[str, int]:
    """Two episodes and a fact about Ann's city, linked and with their mentions."""

    def work(s: FactSession, fresh: list[Inserted]) -> dict[str, int]:
        e1, e2 = (i.pk for i in fresh)
        city = fact(f"{user}-f1", "ann|city", "Lisbon", "Ann lives in Lisbon")
        f, _ = s.insert(city, actor="x", reason="r")
        s.link(f, e2, "source")
        s.link(f, e2, "source")  # idempotent
        s.link(f, e1, "related")
        s.mention(e1, [("Lisbon", "object"), ("", "subject")])
        s.mention(f, [("Ann", "subject"), ("the lisbon", "object"), ("Ann", "subject")])
        return {"e1": e1, "e2": e2, "f": f}

    items = [episode(f"{user}-e1", "Lisbon is lovely"), episode(f"{user}-e2", "I moved in May")]
    return consolidating(store, user, items, work)  # type: ignore[no-any-return]


def test_links_mentions_entities_and_relations(store: MemoryStore) -> None:
    pks = _graph(store, "u")
    fact_id = store.get_many([pks["f"]])[pks["f"]].id
    assert [m.id for m in store.linked(fact_id, "u", "source")] == ["u-e2"]
    assert [m.id for m in store.linked(fact_id, None, "related")] == ["u-e1"]
    assert store.linked(fact_id, "u", "nothing") == []
    with pytest.raises(NotFoundError):
        store.linked(fact_id, "someone-else", "source")

    assert store.entities("u", 10) == [
        Entity(name="Lisbon", memories=2),
        Entity(name="Ann", memories=1),
    ]
    assert store.entities("u", 1) == [Entity(name="Lisbon", memories=2)]
    relation = Relation(
        subject="ann",
        attribute="city",
        object="Lisbon",
        fact_id=fact_id,
        valid_from=None,
        valid_to=None,
    )
    assert store.relations("u", None, 10) == [relation]
    assert store.relations("u", "The Ann", 10) == [relation]
    assert store.relations("u", "Bob", 10) == []
    # each entity counts by its rarity among the user's memories (log(1 + N/df) / log(1 + N));
    # a fact's source episode gets half of the fact's score
    total = store.scope_state("u").rows
    lisbon, ann = (math.log1p(total / df) / math.log1p(total) for df in (2, 1))
    assert ann > lisbon  # named once says more than named twice
    assert entity_scores(store.entity_memories("u", ["lisbon"])) == pytest.approx(
        {pks["e1"]: lisbon, pks["f"]: lisbon, pks["e2"]: 0.5 * lisbon}
    )
    assert entity_scores(store.entity_memories("u", ["lisbon", "ann"])) == pytest.approx(
        {pks["e1"]: lisbon, pks["f"]: lisbon + ann, pks["e2"]: 0.5 * (lisbon + ann)}
    )
    assert entity_scores(store.entity_memories("u", [])) == {}
    assert entity_scores(store.entity_memories("other", ["lisbon"])) == {}


def test_current_facts_at_a_time(store: MemoryStore) -> None:
    def work(s: FactSession, fresh: list[Inserted]) -> None:
        lisbon, _ = s.insert(
            fact("f1", "ann|city", "lisbon", "Ann lives in Lisbon", valid_from=T2020),
            actor="x",
            reason="r",
        )
        s.close(lisbon, T2023, actor="x", reason="r")
        s.insert(
            fact("f2", "ann|city", "porto", "Ann lives in Porto", valid_from=T2023),
            actor="x",
            reason="r",
        )
        s.insert(
            fact("f3", "ann|pet", "cat", "Ann has a cat", importance=0.2, pinned=True),
            actor="x",
            reason="r",
        )
        s.insert(
            fact("f4", "ann|job", "chef", "Ann is a chef", importance=0.9), actor="x", reason="r"
        )
        gone = datetime.now(UTC) - timedelta(days=1)
        s.insert(
            fact("f5", "ann|mood", "tired", "Ann is tired", expires_at=gone), actor="x", reason="r"
        )

    consolidating(store, "u", [episode("e1", "hello")], work)
    now = datetime.now(UTC)
    assert [f.id for f in store.current_facts("u", now, 10)] == ["f3", "f4", "f2"]
    assert [f.id for f in store.current_facts("u", datetime(2021, 1, 1, tzinfo=UTC), 10)] == [
        "f3",
        "f4",
        "f5",  # not expired yet then (and learned now: the newest)
        "f1",
    ]
    assert [f.id for f in store.current_facts("u", now, 1)] == ["f3"]
    assert store.current_facts("other", now, 10) == []


def test_lifecycle_pinning_expiry_and_use_counts(store: MemoryStore) -> None:
    (item,) = store.add("u", None, [episode("e1", "remember the milk")])
    assert (item.pinned, item.importance, item.expires_at, item.uses) == (False, 0.5, None, 0)
    before = store.scope_state("u").max_vec_id
    changed = store.set_lifecycle("e1", "u", pinned=True, importance=0.8)
    assert (changed.pinned, changed.importance, changed.expires_at) == (True, 0.8, None)
    assert store.scope_state("u").max_vec_id == before  # nothing the cache holds changed
    soon = datetime(2030, 1, 1, tzinfo=UTC)
    assert store.set_lifecycle("e1", None, expires_at=soon).expires_at == soon
    rows = store.scope_rows("u", before)
    assert len(rows.pk) == 1 and rows.expires_at[0] == soon.timestamp()
    assert store.scope_state("u").max_vec_id == int(rows.vec_id[0]) > before
    kept = store.set_lifecycle("e1", "u", importance=0.3)
    assert (kept.expires_at, kept.pinned, kept.importance) == (soon, True, 0.3)
    assert store.set_lifecycle("e1", "u", expires_at=None).expires_at is None
    with pytest.raises(NotFoundError):
        store.set_lifecycle("e1", "someone-else", pinned=False)

    pk = int(store.scope_rows("u", 0).pk[0])
    at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    store.record_uses({pk: 2}, at)
    store.record_uses({pk: 1}, at + timedelta(hours=1))
    store.record_uses({}, at)
    used = store.get("e1", "u")
    assert (used.uses, used.last_used_at) == (3, at + timedelta(hours=1))


def test_forget_expired_and_decayed_memories_never_pinned(store: MemoryStore) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    future = datetime.now(UTC) + timedelta(days=30)
    for user in ("u", "v"):
        store.add(
            user,
            None,
            [
                episode(f"{user}-expired", "a passing remark about tulips", expires_at=past),
                episode(f"{user}-later", "expires next month", expires_at=future),
                episode(f"{user}-dull", "the weather was grey", importance=0.1),
                episode(f"{user}-used", "my locker code is 4812", importance=0.1),
                episode(
                    f"{user}-pinned", "my blood type is O negative", importance=0.1, pinned=True
                ),
                episode(f"{user}-vital", "I am allergic to peanuts", importance=0.9),
            ],
        )
        store.record_uses({int(store.scope_rows(user, 0).pk[3]): 1}, past)  # the "used" one
    _graph(store, "u")
    now = datetime.now(UTC)
    assert store.forget("u", ForgetPolicy(now=now)) == {"expired": 1, "decayed": 0}
    with pytest.raises(NotFoundError):
        store.get("u-expired")
    assert [(h.event, h.actor, h.reason) for h in store.history("u-expired")][-1] == (
        "DELETE",
        "forget",
        "expired",
    )
    assert "u-expired" not in {m.id for m in store.list("u", limit=100)[0]}
    assert lexical_pks(store, "u", "tulips") == set()

    policy = ForgetPolicy(now=now, decay_before=now + timedelta(days=1), decay_below_importance=0.3)
    assert store.forget("u", policy) == {"expired": 0, "decayed": 1}
    left = {m.id for m in store.list("u", limit=100)[0]}
    assert {"u-later", "u-used", "u-pinned", "u-vital"} <= left and "u-dull" not in left
    assert store.history("u-dull")[-1].reason == "decayed"
    assert {"v-expired", "v-dull"} <= {m.id for m in store.list("v", limit=100)[0]}
    # without a user: every user's expired memories
    assert store.forget(None, ForgetPolicy(now=now)) == {"expired": 1, "decayed": 0}
    assert store.count("v") == 5
    assert (store.scope_state("v").rows, store.scope_state("v").deletes) == (5, 1)
    assert store.forget(None, ForgetPolicy(now=now)) == {"expired": 0, "decayed": 0}


def test_delete_all_leaves_no_row_of_the_user_in_any_table(
    store: MemoryStore, store_target: str
) -> None:
    for user in ("gone", "kept"):
        _graph(store, user)
        store.add(user, None, [episode(f"{user}-x", "one more note", session="s2")])
    store.delete("gone-e1", actor="test", user_id="gone")
    before = user_rows(store_target, "gone")
    kept = user_rows(store_target, "kept")
    tables = {"memories", "history", "entities", "memory_entities", "memory_links", "scope_state"}
    assert tables <= set(before)
    assert (before["entities"], before["memory_entities"], before["memory_links"]) == (2, 2, 1)

    counts = store.delete_all("gone")
    for table in ("memories", "history", "entities", "memory_entities", "memory_links"):
        assert counts[table] == before[table], table
    assert counts["vectors"] == counts["memories"] == 3
    assert user_rows(store_target, "gone") == dict.fromkeys(before, 0)
    assert user_rows(store_target, "kept") == kept
    assert store.entities("gone", 10) == [] and store.relations("gone", None, 10) == []
    assert store.entities("kept", 10) != []


def test_a_failing_consolidation_rolls_back_the_whole_add(
    store: MemoryStore, store_target: str
) -> None:
    store.add("u", None, [episode("kept", "an earlier note about violins")])
    before = user_rows(store_target, "u")
    state = store.scope_state("u")

    def work(s: FactSession, fresh: list[Inserted]) -> None:
        f, _ = s.insert(
            fact("f1", "ann|city", "lisbon", "Ann lives in Lisbon"), actor="x", reason="r"
        )
        s.link(f, fresh[0].pk, "source")
        s.mention(f, [("Lisbon", "object")])
        raise RuntimeError("the model went away")

    with pytest.raises(RuntimeError, match="went away"):
        store.add("u", None, [episode("e1", "I moved to Lisbon")], consolidate=work)
    assert user_rows(store_target, "u") == before
    assert store.scope_state("u") == state
    assert store.count("u") == 1
    for memory_id in ("e1", "f1"):
        with pytest.raises(NotFoundError):
            store.history(memory_id)
    assert lexical_pks(store, "u", "Lisbon") == set()
    assert store.entities("u", 10) == []
    # and the same add goes through afterwards
    assert [m.id for m in store.add("u", None, [episode("e1", "I moved to Lisbon")])] == ["e1"]
    assert store.scope_state("u") != ScopeState()
