"""``engram import --format mem0``: a store written by mem0 itself (mem0ai 2.2.1 ``Memory``, local
Qdrant and its history.db, ``infer=False`` so no LLM is needed; its embedding service replaced
by a bag-of-words double, the one thing that would call a paid API) read into engramdb, then
compared with what mem0 returns for the same ids. Bad sources are one error line and no store."""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# mem0 reads these when imported: no telemetry, and its files in a folder of this run
os.environ["MEM0_TELEMETRY"] = "False"
os.environ.setdefault("MEM0_DIR", tempfile.mkdtemp(prefix="mem0-"))

from cli_runner import engram, one_error_line

from engramdb.compat.mem0 import Memory as Compat

DIMS = 32


def embed(text: str) -> list[float]:
    vector = [0.0] * DIMS
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIMS] += 1.0
    return vector


@pytest.fixture(scope="module")
def mem0_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A mem0 OSS store laid out as mem0's defaults lay it out (history.db in its folder, a
    local Qdrant collection "mem0"), and what mem0 itself returns for each memory."""
    mem0 = pytest.importorskip("mem0")
    from mem0.embeddings.base import EmbeddingBase
    from mem0.utils import spacy_models

    # mem0 would try to download a spaCy model for its BM25 text: offline, it is not needed
    spacy_models._load_failed_full = spacy_models._load_failed_lemma = True

    class Embedder(EmbeddingBase):
        def __init__(self) -> None:
            super().__init__(None)

        def embed(self, text: str, memory_action: str | None = None) -> list[float]:
            return embed(text)

    folder = tmp_path_factory.mktemp("dot-mem0")
    memory = mem0.Memory.from_config(
        {
            "vector_store": {
                "provider": "qdrant",
                "config": {
                    "path": str(folder / "qdrant"),
                    "on_disk": True,
                    "embedding_model_dims": DIMS,
                },
            },
            "embedder": {"provider": "openai", "config": {"api_key": "unused"}},
            "llm": {"provider": "openai", "config": {"api_key": "unused"}},
            "history_db_path": str(folder / "history.db"),
        }
    )
    memory.embedding_model = Embedder()
    tea = memory.add(
        [{"role": "user", "content": "I like black tea", "name": "ann"}],
        user_id="ann",
        metadata={"topic": "drinks", "level": 3},
        infer=False,
    )["results"][0]["id"]
    memory.update(tea, "I like green tea")
    ship = memory.add("Ship on Fridays", agent_id="bot", run_id="r1", infer=False)
    seat = memory.add(
        [{"role": "assistant", "content": "Booked a window seat"}], user_id="bob", infer=False
    )
    gone = memory.add("a passing thought", user_id="ann", infer=False)["results"][0]["id"]
    memory.delete(gone)
    ids = [tea, ship["results"][0]["id"], seat["results"][0]["id"]]
    expected = {i: memory.get(i) for i in ids}
    histories = {i: memory.history(i) for i in ids}
    memory.close()
    yield {"folder": folder, "ids": ids, "expected": expected, "history": histories, "gone": gone}


def test_a_mem0_store_is_imported_with_ids_users_metadata_and_times(
    mem0_store: dict[str, Any], config: Path, tmp_path: Path
) -> None:
    code, out, err = engram(config, "import", "--format", "mem0", str(mem0_store["folder"]))
    assert code == 0, err
    assert ": 3 memories" in out
    assert "imported 3 memories of 3 users/agents/runs" in out
    assert "deleted in mem0 (not imported) 1" in out

    with Compat(
        {"engramdb": {"store": str(tmp_path / "memory.db"), "embedder": {"provider": "static"}}}
    ) as compat:
        for memory_id in mem0_store["ids"]:
            theirs, ours = mem0_store["expected"][memory_id], compat.get(memory_id)
            assert ours is not None, memory_id
            for key in (
                "id",
                "memory",
                "metadata",
                "user_id",
                "agent_id",
                "run_id",
                "actor_id",
                "role",
            ):
                assert ours.get(key) == theirs.get(key), (key, ours, theirs)
            for key in ("created_at", "updated_at"):  # the same instant, whatever the spelling
                assert ours[key][:26] == theirs[key][:26], (key, ours, theirs)
            history = [
                (h["event"], h["old_memory"], h["new_memory"]) for h in compat.history(memory_id)
            ]
            assert history == [
                (h["event"], h["old_memory"], h["new_memory"])
                for h in mem0_store["history"][memory_id]
            ]
        assert compat.get(mem0_store["gone"]) is None
        tea = mem0_store["ids"][0]
        assert [
            m["id"]
            for m in compat.get_all(filters={"user_id": "ann", "level": {"gte": 3}})["results"]
        ] == [tea]
        found = compat.search("which tea do I like", filters={"user_id": "ann"}, top_k=1)
        assert [h["id"] for h in found["results"]] == [tea]
        assert [
            m["memory"]
            for m in compat.get_all(filters={"agent_id": "bot", "run_id": "r1"})["results"]
        ] == ["Ship on Fridays"]

    code, out, err = engram(
        config, "import", "--format", "mem0", str(mem0_store["folder"] / "history.db")
    )
    assert code == 0, err
    assert "imported 0 memories" in out and "already present 3" in out  # nothing twice


def copy_store(mem0_store: dict[str, Any], tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(mem0_store["folder"], target)
    return target


def test_bad_sources_are_one_error_line_and_write_nothing(
    mem0_store: dict[str, Any], config: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cases: list[tuple[list[str], str]] = [
        ([str(tmp_path / "nowhere")], "does not exist"),
        ([str(empty)], "holds no mem0 history.db"),
        ([str(mem0_store["folder"]), "--collection", "other"], "no Qdrant collection 'other'"),
        ([str(mem0_store["folder"]), "--qdrant", str(empty)], "no Qdrant collection 'mem0'"),
    ]
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "history.db").write_text("not a database")
    (garbage / "qdrant" / "collection" / "mem0").mkdir(parents=True)
    (garbage / "qdrant" / "collection" / "mem0" / "storage.sqlite").write_text("nor this")
    cases.append(([str(garbage)], "is not a Qdrant local collection"))

    hostile = copy_store(mem0_store, tmp_path)  # a point whose pickle would run a command
    storage = hostile / "qdrant" / "collection" / "mem0" / "storage.sqlite"

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    with sqlite3.connect(storage) as conn:
        conn.execute("INSERT INTO points VALUES (?, ?)", ("evil", pickle.dumps(Evil())))
    cases.append(([str(hostile)], "cannot be read"))

    textless = copy_store(mem0_store, tmp_path / "t")
    with sqlite3.connect(textless / "history.db") as conn:
        conn.execute("DROP TABLE history")
    cases.append(([str(textless)], "is not a mem0 history database"))

    for args, message in cases:
        code, _, err = engram(config, "import", "--format", "mem0", *args)
        assert message in one_error_line(code, err), (args, err)
        assert not (tmp_path / "memory.db").exists(), args  # nothing written, no store made
    assert not (tmp_path / "pwned").exists()
