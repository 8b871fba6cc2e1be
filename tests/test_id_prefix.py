"""Memory ids by a unique prefix of 8 or more characters, resolved once in the API (scoped to
the user): in Python, the CLI (whose tables show 12 characters), REST; an ambiguous or unknown
prefix is one clear error."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import engram, one_error_line
from conftest import NO_NOTES
from service_helpers import LiveServer, add

from engramdb import Memory
from engramdb.errors import InvalidInputError, NotFoundError


def rename(memory: Memory, old: str, new: str) -> None:
    """Give a memory a chosen id (and its history rows), to make prefixes collide."""
    with memory.store.d.write("test: rename an id", None) as tx:
        tx.run("UPDATE memories SET id = ? WHERE id = ?", (new, old))
        tx.run("UPDATE history SET memory_id = ? WHERE memory_id = ?", (new, old))


def test_a_unique_prefix_names_the_memory_within_the_user(static_memory: Memory, uid: str) -> None:
    m = static_memory
    mine = m.add(["my bike is blue", "my car is red"], user_id=uid)
    [theirs] = m.add("their boat is green", user_id=f"{uid}-other")
    base = "feedc0de" + uid.encode().hex()[-8:]
    rename(m, mine[0].id, base + "0" * 16)
    rename(m, mine[1].id, base + "1" * 16)
    rename(m, theirs.id, base[:10] + "f" * 22)  # shares 10 characters with both of mine
    first, second = base + "0" * 16, base + "1" * 16

    # ids: 16 shared characters, then 0s or 1s (and the other user's: 10 shared, then fs)
    assert m.get(first[:17], user_id=uid).text == "my bike is blue"
    assert m.get(second[:20]).text == "my car is red"  # unique in the whole store too
    # the other user's memory shares the prefix but is never matched within this user
    assert m.resolve_id(base[:10], user_id=f"{uid}-other") == base[:10] + "f" * 22
    with pytest.raises(InvalidInputError, match="ambiguous"):
        m.get(base[:10], user_id=uid)
    with pytest.raises(InvalidInputError, match="ambiguous"):
        m.history(base[:10])  # without a user: the whole store, three matches
    with pytest.raises(NotFoundError):
        m.get(first[:17], user_id=f"{uid}-other")  # another user's prefix: not found
    with pytest.raises(NotFoundError):
        m.get(first[:7], user_id=uid)  # shorter than 8: only a whole id
    with pytest.raises(NotFoundError):
        m.get("0123456789ab", user_id=uid)

    # every by-id operation takes the prefix; history of a deleted memory too
    m.update(second[:17], "my car is black", user_id=uid)
    assert m.pin(second[:17], user_id=uid).pinned
    m.delete(first[:17], user_id=uid)
    assert [e.event for e in m.history(first[:17], user_id=uid)] == ["ADD", "DELETE"]
    assert m.get(second, user_id=uid).text == "my car is black"


# --- the CLI -----------------------------------------------------------------------------------
def test_the_cli_takes_the_ids_its_tables_show(config: Path, tmp_path: Path) -> None:
    for text in ("I moved to Lisbon", "I play the cello", "I drink green tea"):
        assert engram(config, "add", text, "-u", "ann")[0] == 0
    code, out, _ = engram(config, "list", "-u", "ann")
    assert code == 0
    with sqlite3.connect(tmp_path / "memory.db") as db:
        ids = {t: i for i, t in db.execute("SELECT id, text FROM memories WHERE kind='episode'")}
    shown = {ids[t][:12] for t in ids}
    assert all(short in out for short in shown)  # the table's 12 characters

    cello = ids["I play the cello"]
    code, out, err = engram(config, "history", cello[:12])
    assert code == 0, err
    assert "I play the cello" in out
    code, out, err = engram(config, "pin", cello[:8])
    assert code == 0, err
    assert out.startswith(f"{cello} pinned=True")
    code, out, err = engram(config, "delete", cello[:12], "-u", "ann")
    assert code == 0, err
    assert out.strip() == f"deleted {cello}"

    assert "no memory with id 'ffffffffffff'" in one_error_line(
        *engram(config, "delete", "ffffffffffff")[::2]
    )
    with sqlite3.connect(tmp_path / "memory.db") as db:  # two ids that share 12 characters
        for n, memory_id in enumerate((ids["I moved to Lisbon"], ids["I drink green tea"])):
            db.execute(
                "UPDATE memories SET id = ? WHERE id = ?", (f"abcdabcdabcd{n:020d}", memory_id)
            )
    line = one_error_line(*engram(config, "delete", "abcdabcdabcd", "-u", "ann")[::2])
    assert "ambiguous" in line and "abcdabcdabcd" in line


# --- REST ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("prefix") / "memory.db", extraction=NO_NOTES)
    yield live.start()
    live.stop()


def test_rest_takes_a_prefix_where_the_user_is_known(server: LiveServer) -> None:
    key = server.new_key("pfx", "write")
    with server.client(key) as api:
        [memory_id] = add(api, "bo", "Bo keeps bees")
        short = memory_id[:12]
        got = api.get(f"/v1/memories/{short}", params={"user_id": "bo"})
        assert got.status_code == 200 and got.json()["id"] == memory_id
        # without a user the owner is looked up by the whole id: a prefix is not found
        assert api.get(f"/v1/memories/{short}").status_code == 404
        other = server.new_key("pfx-other", "write")
        with server.client(other) as stranger:  # another tenant's "bo" is someone else
            assert (
                stranger.get(f"/v1/memories/{short}", params={"user_id": "bo"}).status_code == 404
            )
        gone = api.delete(f"/v1/memories/{short}", params={"user_id": "bo"})
        assert gone.status_code == 200 and gone.json()["id"] == memory_id
