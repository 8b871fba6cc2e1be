"""Erasure that erases: after ``delete_all`` and after a single delete, no byte of the deleted
text, of its words or of their index terms remains in any file of the store (the database,
its WAL, the index, caches, history), on both backends. History keeps tombstones."""

from __future__ import annotations

from pathlib import Path

import pytest
from stores import is_postgres, pg_connect

from engramdb import Memory
from engramdb.store.lexical import normalise

STATIC = {"provider": "static"}
GONE = [
    "My locker code is zqxcanary and the vet called Vexlington about my quokka.",
    "Vexlington said the quokka needs plumbagoish drops twice a day.",
]
KEPT = ["I like tea in the morning.", "The weather was fine for a walk."]


def _needles(texts: list[str]) -> list[bytes]:
    """The texts, their distinctive words lower-cased and the index terms Porter makes."""
    words = {w for t in texts for w in normalise(t).split() if len(w) > 7}
    stems = {w[:-1] for w in words}  # "zqxcanary" is indexed as "zqxcanari"
    return [t.encode() for t in texts] + [w.encode() for w in words | stems]


def _files(target: str, tmp_path: Path) -> list[Path]:
    if not is_postgres(target):
        return [p for p in tmp_path.rglob("*") if p.is_file()]
    with pg_connect(target) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    return [p for p in Path(str(row[0])).rglob("*") if p.is_file()]


def _found(files: list[Path], needles: list[bytes]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:  # a file that went away while we looked
            continue
        hits = [n for n in needles if n in data or n in data.lower()]
        if hits:
            out[str(path)] = hits
    return out


@pytest.fixture
def erasing_target(store_target: str) -> str:
    """PostgreSQL erases with ``postgres_erase = "full"`` on a server that removes old WAL
    segments (``wal_recycle = off``): set here on the private test server."""
    if is_postgres(store_target):
        with pg_connect(store_target) as conn:
            row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            if row.fetchone() != (True,):
                pytest.skip("needs a server whose settings the test may change")
            conn.execute("ALTER SYSTEM SET wal_recycle = off")
            conn.execute("SELECT pg_reload_conf()")
    return store_target


def _options(target: str) -> dict[str, object]:
    return {"postgres_erase": "full"} if is_postgres(target) else {}


def test_delete_all_leaves_no_byte_of_the_users_text(erasing_target: str, tmp_path: Path) -> None:
    with Memory(erasing_target, embedder=STATIC, store_options=_options(erasing_target)) as mem:
        mem.add([{"content": t, "speaker": "Maya"} for t in GONE], user_id="gone", session_id="s")
        mem.add([{"content": t, "speaker": "Leo"} for t in KEPT], user_id="kept", session_id="s")
        assert mem.search("zqxcanary locker", user_id="gone")
        assert _found(_files(erasing_target, tmp_path), _needles(GONE))  # it was there
        mem.delete_all(user_id="gone")
        assert mem.search("tea", user_id="kept")  # the other user is untouched
    assert _found(_files(erasing_target, tmp_path), _needles(GONE)) == {}


def test_a_single_delete_leaves_a_tombstone_and_no_byte_of_the_text(
    erasing_target: str, tmp_path: Path
) -> None:
    with Memory(erasing_target, embedder=STATIC, store_options=_options(erasing_target)) as mem:
        batch = [{"content": t, "speaker": "Maya"} for t in [*KEPT, *GONE[:1], *KEPT]]
        items = mem.add(batch, user_id="u", session_id="s")
        secret = items[2]
        mem.update(secret.id, GONE[1])  # its history holds both versions now
        assert _found(_files(erasing_target, tmp_path), _needles(GONE))
        mem.delete(secret.id)
        history = mem.history(secret.id)
        assert [h.event for h in history] == ["ADD", "UPDATE", "DELETE"]
        assert all(h.text is None and h.previous_text is None for h in history)
        assert mem.search("tea morning", user_id="u")  # the rest of the scope still answers
    assert _found(_files(erasing_target, tmp_path), _needles(GONE)) == {}


def test_an_audit_store_keeps_the_deleted_text_in_history(tmp_path: Path) -> None:
    with Memory(
        tmp_path / "m.db", embedder=STATIC, store_options={"keep_deleted_text": True}
    ) as mem:
        (item,) = mem.add([{"content": GONE[0]}], user_id="u")
        mem.delete(item.id)
        assert [h.text for h in mem.history(item.id)] == [GONE[0], GONE[0]]
