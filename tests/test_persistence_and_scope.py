"""Durability across close/reopen, rebuildable caches, per-user scoping and full deletion."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlean as sqlite3  # the store's FTS5 tables need SQLite 3.42+ (secure-delete)
from conftest import NO_NOTES, STATIC, cache_of

from engramdb import Memory
from engramdb.errors import ConfigError, InvalidInputError, NotFoundError
from engramdb.store.sqlite.fts import scope_token

CONVERSATION = [
    ("Ann", "I just started working as a pastry chef at a bakery downtown"),
    ("Bob", "That sounds delicious, what do you bake most?"),
    ("Ann", "Mostly croissants and sourdough bread every morning at five"),
    ("Bob", "I have been training for the Berlin marathon in September"),
    ("Ann", "How many kilometres do you run each week?"),
    ("Bob", "About sixty kilometres, with a long run on Sundays"),
    ("Ann", "My cat Pepper knocked a vase off the shelf yesterday"),
    ("Bob", "Cats love gravity experiments"),
    ("Ann", "We are thinking about visiting Iceland to see the northern lights"),
    ("Bob", "Go in winter, the aurora is much stronger then"),
]


def conversation(prefix: str = "c") -> list[dict[str, str]]:
    return [
        {"id": f"{prefix}{i}", "speaker": who, "content": text}
        for i, (who, text) in enumerate(CONVERSATION)
    ]


def top_sources(m: Memory, query: str, user: str, limit: int = 3, **kw) -> list[str]:
    return [h.sources[0] for h in m.search(query, user_id=user, limit=limit, **kw)]


USAGE = {"uses", "last_used_at"}  # what search records (buffered, written at the latest on close)


def stored(items: list) -> list[dict]:
    """Items without their usage statistics, which change when search returns them."""
    return [i.model_dump(exclude=USAGE) for i in items]


def episodes(m: Memory, user: str) -> list:
    """The user's messages (by default ``add`` also stores facts extracted from them)."""
    return m.list(user_id=user, kind="episode", limit=1000)


# --- persistence -------------------------------------------------------------------------------
def test_data_and_search_survive_reopen_and_cache_loss(primed_target: str) -> None:
    """Default embedder: everything survives close/reopen, and deleting the cache folder (the
    derived model) between runs loses nothing: it is rebuilt and search answers the same."""
    primed_path = primed_target
    queries = ["Where does Ann work?", "Which race is Bob preparing for?", "What did Pepper break?"]
    with Memory(primed_path) as m:
        added = m.add(
            conversation(), user_id="u", session_id="s1", timestamp="2023-05-08T10:00Z", wait=True
        )
        before = {q: top_sources(m, q, "u") for q in queries}
        listed = m.list(user_id="u")
        total = m.count(user_id="u")  # the messages and the facts extracted from them
    assert before["Where does Ann work?"][0] == "c0"
    assert "c3" in before["Which race is Bob preparing for?"]
    assert "c6" in before["What did Pepper break?"]
    assert total == len(listed) >= len(CONVERSATION)

    with Memory(primed_path) as m:
        assert m.count(user_id="u") == total
        assert [i.id for i in episodes(m, "u")] == [i.id for i in reversed(added)]
        again = m.list(user_id="u")
        assert stored(again) == stored(listed)
        # the first handle's searches were counted and saved on close: 3 queries x 3 hits
        assert sum(i.uses for i in again) == 3 * len(queries)
        assert stored([m.get(added[0].id, user_id="u")]) == stored([added[0]])
        assert {q: top_sources(m, q, "u") for q in queries} == before
        (late,) = m.add(
            [{"id": "late", "content": "Bob adopted a parrot named Kiwi"}], user_id="u", wait=True
        )
        assert top_sources(m, "Which bird did Bob adopt?", "u")[0] == "late"
        total = m.count(user_id="u")
        assert total >= len(listed) + 1
        # what the store answers now, with "late" (and what was extracted from it) in it
        now = {q: top_sources(m, q, "u") for q in queries}
    assert "c3" in now["Which race is Bob preparing for?"]

    cache = cache_of(primed_path)
    assert cache.is_dir()
    shutil.rmtree(cache)
    with Memory(primed_path) as m:  # derives the model again
        assert m.count(user_id="u") == total
        assert len(episodes(m, "u")) == len(CONVERSATION) + 1
        assert {q: top_sources(m, q, "u") for q in queries} == now
        assert top_sources(m, "Which bird did Bob adopt?", "u")[0] == "late"
        assert m.get(late.id).text == "Bob adopted a parrot named Kiwi"


def test_reopening_with_another_embedder_is_refused(primed_target: str) -> None:
    primed_path = primed_target
    with Memory(primed_path, extraction=NO_NOTES) as m:  # one message, one row
        m.add([{"id": "x", "content": "made with MiniLM vectors"}], user_id="u")
    with pytest.raises(ConfigError, match="embedder"):
        Memory(primed_path, embedder=STATIC)
    # the refused open left the store intact and usable with the right embedder
    with Memory(primed_path) as m:
        assert m.count(user_id="u") == 1
        assert top_sources(m, "MiniLM vectors", "u") == ["x"]


def test_ann_index_is_used_persisted_and_rebuildable(store_path: Path) -> None:
    """Scopes at or above ``ann_threshold`` vectors search through an HNSW index that is saved
    in ``<db>.cache/ann`` and verified/rebuilt on load."""
    # notes off: every message is one vector, so the scope sizes below are exact
    options = {"embedder": STATIC, "store_options": {"ann_threshold": 50}, "extraction": NO_NOTES}
    fruits = [
        "apple",
        "banana",
        "cherry",
        "grape",
        "lemon",
        "mango",
        "melon",
        "olive",
        "peach",
        "pear",
        "plum",
    ]
    messages = [
        {"id": f"m{i}", "content": f"note {i} mentions {fruits[i % len(fruits)]} and code{i}x"}
        for i in range(300)
    ]
    with Memory(store_path, **options) as m:
        for start in range(0, 300, 100):
            m.add(messages[start : start + 100], user_id="u")
        assert m.count(user_id="u") == 300
        for i in (0, 137, 299):
            assert top_sources(m, f"code{i}x", "u", limit=1) == [f"m{i}"]
            # dense only: the candidates come from the ANN index alone
            assert top_sources(m, messages[i]["content"], "u", limit=1, preset="dense") == [f"m{i}"]
        victim = m.list(user_id="u", order="asc", limit=6)[5]  # m5
        m.delete(victim.id, user_id="u")
        assert "m5" not in top_sources(m, messages[5]["content"], "u", limit=5, preset="dense")
    ann_files = list((Path(f"{store_path}.cache") / "ann").glob("*"))
    assert len(ann_files) == 2, "closing a large scope should persist its ANN index"

    # reopen (loads the saved index), add more, and search old and new
    with Memory(store_path, **options) as m:
        extra = [
            {"id": f"n{i}", "content": f"fresh entry {i} about zucchini{i}z"} for i in range(20)
        ]
        m.add(extra, user_id="u")
        assert m.count(user_id="u") == 319
        for i in (0, 7, 19):
            assert top_sources(m, f"zucchini{i}z", "u", limit=1) == [f"n{i}"]
            assert top_sources(m, extra[i]["content"], "u", limit=1, preset="dense") == [f"n{i}"]
        assert top_sources(m, messages[42]["content"], "u", limit=1, preset="dense") == ["m42"]
        assert "m5" not in top_sources(m, messages[5]["content"], "u", limit=5, preset="dense")
        before = {i: top_sources(m, messages[i]["content"], "u", limit=3) for i in (1, 100, 250)}

    # the cache folder is disposable
    shutil.rmtree(Path(f"{store_path}.cache"))
    with Memory(store_path, **options) as m:
        assert m.count(user_id="u") == 319
        assert {i: top_sources(m, messages[i]["content"], "u", limit=3) for i in before} == before
        assert top_sources(m, extra[3]["content"], "u", limit=1, preset="dense") == ["n3"]
        counts = m.delete_all(user_id="u")
        assert counts["memories"] == 319
        assert m.search("zucchini3z", user_id="u") == []
    assert not list((Path(f"{store_path}.cache") / "ann").glob("*"))


def test_ann_index_follows_updates(store_target: str) -> None:
    options = {"embedder": STATIC, "store_options": {"ann_threshold": 20}}
    with Memory(store_target, **options) as m:
        items = m.add(
            [{"id": f"m{i}", "content": f"entry number {i}"} for i in range(40)], user_id="u"
        )
        m.search("entry", user_id="u")  # builds the index
        m.update(items[10].id, "a zeppelin floated over the harbour", user_id="u")
        hits = m.search("a zeppelin floated over the harbour", user_id="u", limit=1, preset="dense")
        assert [h.id for h in hits] == [items[10].id]
        assert hits[0].version == 2


# --- scope isolation ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_users(static_memory: Memory) -> tuple[Memory, dict[str, list]]:
    """Two users who said exactly the same things (same message ids too)."""
    items = {
        user: static_memory.add(conversation(), user_id=user, session_id="s1")
        for user in ("alice", "bob")
    }
    return static_memory, items


@pytest.mark.parametrize("user", ["alice", "bob"])
@pytest.mark.parametrize(
    "query", ["pastry chef bakery", "marathon training", "cat Pepper vase", "northern lights"]
)
@pytest.mark.parametrize("preset", ["hybrid", "lexical", "dense"])
def test_search_never_returns_another_users_memories(two_users, user, query, preset) -> None:
    m, items = two_users
    own = {i.id for i in items[user]}
    hits = m.search(query, user_id=user, limit=50, preset=preset)
    assert hits
    assert all(h.user_id == user for h in hits)
    assert {h.id for h in hits} <= own


def test_same_messages_for_two_users_are_distinct_memories(two_users) -> None:
    m, items = two_users
    assert not {i.id for i in items["alice"]} & {i.id for i in items["bob"]}
    assert m.count(user_id="alice") == m.count(user_id="bob") == len(CONVERSATION)
    assert {i.user_id for i in m.list(user_id="alice")} == {"alice"}
    assert {i.id for i in m.list(user_id="bob")} == {i.id for i in items["bob"]}


def test_wrong_user_cannot_read_change_or_delete(two_users) -> None:
    m, items = two_users
    target = items["alice"][0]
    with pytest.raises(NotFoundError):
        m.get(target.id, user_id="bob")
    with pytest.raises(NotFoundError):
        m.update(target.id, "hijacked by bob", user_id="bob")
    with pytest.raises(NotFoundError):
        m.delete(target.id, user_id="bob")
    with pytest.raises(NotFoundError):
        m.history(target.id, user_id="bob")
    with pytest.raises(NotFoundError):
        m.get(target.id, user_id="nobody")
    still = m.get(target.id, user_id="alice")
    assert still.text == target.text and still.version == 1
    assert [h.event for h in m.history(target.id, user_id="alice")] == ["ADD"]


@pytest.mark.parametrize("operation", ["get", "history", "update", "delete"])
def test_empty_user_id_does_not_bypass_the_scope(static_memory: Memory, operation: str) -> None:
    """``user_id=""`` is an invalid scope, not "no scope": it must not reach carol's memory."""
    m = static_memory
    (target,) = m.add(
        [{"id": f"secret-{operation}", "content": f"carol's private note for {operation}"}],
        user_id="carol",
    )
    call = {
        "get": lambda: m.get(target.id, user_id=""),
        "history": lambda: m.history(target.id, user_id=""),
        "update": lambda: m.update(target.id, "changed through an empty scope", user_id=""),
        "delete": lambda: m.delete(target.id, user_id=""),
    }[operation]
    try:
        outcome: object = call()
    except InvalidInputError as exc:
        outcome = exc
    remaining = {i.id: i for i in m.list(user_id="carol", limit=1000)}
    assert isinstance(outcome, InvalidInputError), (
        f"{operation}(user_id='') was not rejected; it returned {outcome!r}"
    )
    # carol's memory is untouched
    assert target.id in remaining
    assert remaining[target.id].text == target.text and remaining[target.id].version == 1


# --- delete_all ----------------------------------------------------------------------------------
# every table with rows of one user: memories, their history, session documents, the scope's
# state, and the entity graph that fact extraction builds (entities, mentions, links)
USER_TABLES = (
    "memories",
    "history",
    "session_docs",
    "scope_state",
    "entities",
    "memory_entities",
    "memory_links",
)


def _user_rows(db: Path, user: str, pks: set[int], docs: set[int]) -> dict[str, int]:
    """Rows in every table that belong to ``user`` (FTS rows by rowid and by scope token)."""
    conn = sqlite3.connect(db)
    try:
        rows = {
            table: conn.execute(
                f"SELECT count(*) FROM {table} WHERE user_id = ?", (user,)
            ).fetchone()[0]
            for table in USER_TABLES
        }
        for table, keys in (("fts_turn", pks), ("fts_window", pks), ("fts_session", docs)):
            marks = ",".join("?" * len(keys)) or "NULL"
            rows[table] = conn.execute(
                f"SELECT count(*) FROM {table} WHERE rowid IN ({marks})", sorted(keys)
            ).fetchone()[0]
            rows[f"{table}_scope"] = conn.execute(
                f"SELECT count(*) FROM {table} WHERE {table} MATCH ?",
                (f'scope : "{scope_token(user)}"',),
            ).fetchone()[0]
        return rows
    finally:
        conn.close()


def _keys(db: Path, user: str) -> tuple[set[int], set[int]]:
    conn = sqlite3.connect(db)
    try:
        pks = {r[0] for r in conn.execute("SELECT pk FROM memories WHERE user_id = ?", (user,))}
        docs = {
            r[0] for r in conn.execute("SELECT doc_id FROM session_docs WHERE user_id = ?", (user,))
        }
        return pks, docs
    finally:
        conn.close()


def test_delete_all_removes_every_row_of_the_user_only(store_path: Path) -> None:
    with Memory(store_path, embedder=STATIC) as m:  # default extraction: facts too
        facts: dict[str, set[str]] = {"gone": set(), "kept": set()}
        for user in ("gone", "kept"):
            for batch in (
                m.ingest(conversation("a"), user_id=user, session_id="s1", wait=True),
                m.ingest(conversation("b"), user_id=user, session_id="s2", wait=True),
                m.ingest(
                    [{"id": "loose", "content": "a note without a session"}],
                    user_id=user,
                    wait=True,
                ),
            ):
                facts[user] |= {f.id for f in batch.facts}
        assert facts["gone"] and facts["kept"], "the conversation should yield facts"
        victim = m.list(user_id="gone", kind="episode", limit=3)
        m.update(victim[0].id, "an edited note", user_id="gone")
        m.delete(victim[1].id, user_id="gone")
        gone_ids = [i.id for i in m.list(user_id="gone", limit=1000)]
        assert {i for i in gone_ids if i not in facts["gone"]} == {
            i.id for i in m.list(user_id="gone", kind="episode", limit=1000)
        }

        gone_keys = _keys(store_path, "gone")
        kept_keys = _keys(store_path, "kept")
        before_gone = _user_rows(store_path, "gone", *gone_keys)
        before_kept = _user_rows(store_path, "kept", *kept_keys)
        # 21 messages added, 1 deleted, plus the facts
        assert before_gone["memories"] == 2 * len(CONVERSATION) + len(facts["gone"])
        fact_history = sum(len(m.history(f, user_id="gone")) for f in facts["gone"])
        # the messages' ADDs + UPDATE + DELETE, and every event of the facts
        assert before_gone["history"] == (2 * len(CONVERSATION) + 1) + 2 + fact_history
        assert before_gone["session_docs"] == 3
        assert before_gone["fts_turn"] == before_gone["memories"]
        # window documents belong to messages (a turn and its neighbours), not to facts
        assert before_gone["fts_window"] == before_gone["memories"] - len(facts["gone"])
        assert before_gone["entities"] and before_gone["memory_entities"]
        assert before_gone["memory_links"]  # each fact is linked to its source messages

        counts = m.delete_all(user_id="gone")
        for table in (*USER_TABLES, "fts_turn", "fts_window", "fts_session"):
            assert counts[table] == before_gone[table], table

        after_gone = _user_rows(store_path, "gone", *gone_keys)
        assert after_gone == dict.fromkeys(after_gone, 0)
        assert _user_rows(store_path, "kept", *kept_keys) == before_kept

        assert m.count(user_id="gone") == 0
        assert m.list(user_id="gone") == []
        assert m.search("pastry chef", user_id="gone") == []
        for memory_id in gone_ids:
            with pytest.raises(NotFoundError):
                m.get(memory_id)
            with pytest.raises(NotFoundError):
                m.history(memory_id)
        assert m.count(user_id="kept") == 2 * len(CONVERSATION) + 1 + len(facts["kept"])
        assert len(m.list(user_id="kept", kind="episode", limit=1000)) == 2 * len(CONVERSATION) + 1
        assert {i.id for i in m.list(user_id="kept", kind="fact", limit=1000)} == facts["kept"]
        assert top_sources(m, "pastry chef bakery", "kept", limit=1, preset="lexical")[0] in {
            "a0",
            "b0",
        }
        assert "gone" not in m.users() and "kept" in m.users()

        # the user can start again from nothing
        again = m.ingest(conversation("a"), user_id="gone", session_id="s1")
        assert len(m.list(user_id="gone", kind="episode", limit=1000)) == len(CONVERSATION)
        assert m.count(user_id="gone") == len(CONVERSATION) + len({f.id for f in again.facts})
        assert not {f.id for f in again.facts} & set(gone_ids)  # new facts, not old ones
        for decision in again.decisions:  # consolidation found nothing of the old user
            assert decision.fact_id not in gone_ids and not set(decision.closed) & set(gone_ids)
        assert top_sources(m, "northern lights Iceland", "gone", limit=1, preset="lexical") == [
            "a8"
        ]

    conn = sqlite3.connect(store_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_another_handle_sees_delete_all_and_new_memories(store_target: str) -> None:
    """Two handles on one store (as two processes would be): after one of them deletes a user
    and the user adds new memories, the other must find the new memories, not stale ones."""
    with (
        Memory(store_target, embedder=STATIC, extraction=NO_NOTES) as a,
        Memory(store_target, embedder=STATIC, extraction=NO_NOTES) as b,
    ):
        old = [
            {"id": f"old{i}", "content": f"old note {i} about gardening tomatoes"} for i in range(5)
        ]
        a.add(old, user_id="u")
        assert len(a.search("gardening tomatoes", user_id="u", limit=5)) == 5  # a caches the scope

        b.delete_all(user_id="u")
        new = [
            {"id": f"new{i}", "content": f"new note {i} about gardening tomatoes"} for i in range(5)
        ]
        b.add(new, user_id="u")

        seen_by_b = sorted(top_sources(b, "gardening tomatoes", "u", limit=5))
        a_hits = sorted(top_sources(a, "gardening tomatoes", "u", limit=5))
        assert seen_by_b == [f"new{i}" for i in range(5)]
        assert a_hits == seen_by_b
