"""``engramdb.compat.mem0`` against mem0 itself (mem0ai 2.2.1): one script of calls runs on both
and the shapes of what they return (keys, nesting, types, events, messages, errors) must be
the same. mem0 runs offline here: its vector store is local Qdrant, its embedding service is
replaced by a bag-of-words double and its LLM (for ``infer=True``) by a scripted double, the
two things that would call a paid service. The compat layer needs neither."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# mem0 reads these when imported: no telemetry, and its files in a folder of this run
os.environ.setdefault("MEM0_TELEMETRY", "False")
os.environ.setdefault("MEM0_DIR", tempfile.mkdtemp(prefix="mem0-"))

from engramdb.compat.mem0 import AsyncMemory, Memory

STATIC = {"provider": "static"}


def embed(text: str) -> list[float]:
    vector = [0.0] * 64
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % 64] += 1.0
    return vector


@pytest.fixture
def real_mem0(tmp_path: Path) -> Iterator[Any]:
    mem0 = pytest.importorskip("mem0")
    from mem0.embeddings.base import EmbeddingBase

    class Embedder(EmbeddingBase):  # the embedding service's double
        def __init__(self) -> None:
            super().__init__(None)

        def embed(self, text: str, memory_action: str | None = None) -> list[float]:
            return embed(text)

    class LLM:  # the chat model's double: extracts one fact per user message
        def generate_response(self, messages: list[dict[str, str]], **kwargs: Any) -> str:
            said = re.findall(r"user: (.+)", messages[-1]["content"])
            return json.dumps({"memory": [{"text": s.strip()} for s in said[-1:]]})

    memory = mem0.Memory.from_config(
        {
            "vector_store": {
                "provider": "qdrant",
                "config": {
                    "path": str(tmp_path / "qdrant"),
                    "on_disk": True,
                    "embedding_model_dims": 64,
                    "collection_name": "t",
                },
            },
            "embedder": {
                "provider": "openai",
                "config": {"api_key": "unused", "embedding_dims": 64},
            },
            "llm": {"provider": "openai", "config": {"api_key": "unused"}},
            "history_db_path": str(tmp_path / "history.db"),
        }
    )
    memory.embedding_model = Embedder()
    memory.llm = LLM()
    yield memory
    memory.close()


@pytest.fixture
def compat(tmp_path: Path) -> Iterator[Memory]:
    memory = Memory.from_config({"engramdb": {"store": str(tmp_path / "e.db"), "embedder": STATIC}})
    yield memory
    memory.close()


def shape(value: Any) -> Any:
    """Keys and types, not values: what code written against mem0 depends on."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return sorted({json.dumps(shape(v), sort_keys=True) for v in value})
    return type(value).__name__


def outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:  # the error a caller sees is part of the contract
        return f"raises {type(exc).__name__}"


def script(m: Any) -> dict[str, Any]:
    """The same calls, in the same order, on either implementation."""
    out: dict[str, Any] = {}
    turns = [
        {"role": "system", "content": "You are helpful."},  # skipped by add
        {"role": "user", "content": "I love spicy ramen"},
        {"role": "assistant", "content": "Noted, ramen it is"},
    ]
    out["add"] = m.add(turns, user_id="ann", metadata={"src": "chat"}, infer=False)
    ramen, reply = (r["id"] for r in out["add"]["results"])
    out["add_named"] = m.add(
        [{"role": "user", "content": "Call me Annie", "name": "ann"}], user_id="ann", infer=False
    )
    out["add_scoped"] = m.add(
        "My dog is Biscuit", user_id="ann", agent_id="bot", run_id="r1", infer=False
    )
    out["get"] = m.get(ramen)
    out["get_missing"] = m.get("00000000-0000-0000-0000-000000000000")
    out["get_all"] = m.get_all(filters={"user_id": "ann"})
    out["get_all_agent"] = m.get_all(filters={"user_id": "ann", "agent_id": "bot"})
    out["get_all_meta"] = m.get_all(filters={"user_id": "ann", "src": "chat"})
    out["get_all_top"] = len(m.get_all(filters={"user_id": "ann"}, top_k=1)["results"])
    out["search"] = m.search("spicy ramen", filters={"user_id": "ann"}, top_k=1)
    out["search_other_user"] = m.search("ramen", filters={"user_id": "bob"})
    out["update"] = m.update(ramen, text="I love mild ramen")
    out["get_updated"] = m.get(ramen)
    out["history"] = m.history(ramen)
    out["delete"] = m.delete(reply)
    out["history_deleted"] = m.history(reply)
    out["history_missing"] = m.history("00000000-0000-0000-0000-000000000000")
    out["errors"] = {
        "delete_missing": outcome(lambda: m.delete("00000000-0000-0000-0000-000000000000")),
        "update_missing": outcome(
            lambda: m.update("00000000-0000-0000-0000-000000000000", text="x")
        ),
        "update_nothing": outcome(lambda: m.update(ramen)),
        "search_top_level": outcome(lambda: m.search("x", user_id="ann")),
        "search_no_scope": outcome(lambda: m.search("x", filters={"src": "chat"})),
        "search_empty": outcome(lambda: m.search("  ", filters={"user_id": "ann"})),
        "get_all_no_scope": outcome(lambda: m.get_all()),
        "get_all_bad_top_k": outcome(lambda: m.get_all(filters={"user_id": "ann"}, top_k=-1)),
        "add_no_scope": outcome(lambda: m.add("x", infer=False)),
        "add_bad_id": outcome(lambda: m.add("x", user_id="a b", infer=False)),
        "add_bad_messages": outcome(lambda: m.add(42, user_id="ann", infer=False)),
        "delete_all_no_scope": outcome(lambda: m.delete_all()),
    }
    out["infer"] = m.add("I moved to Porto last week", user_id="cat", infer=True)
    out["delete_all"] = m.delete_all(user_id="ann")
    out["get_all_after"] = m.get_all(filters={"user_id": "ann"})
    out["reset"] = m.reset()
    out["get_all_reset"] = m.get_all(filters={"user_id": "cat"})
    return out


def test_same_shapes_as_mem0(real_mem0: Any, compat: Memory) -> None:
    theirs, ours = script(real_mem0), script(compat)
    assert list(theirs) == list(ours)
    # differences kept: engramdb's history has no role, so a deleted memory's rows have None;
    # and a deleted memory's history is a tombstone (its text is erased, as mem0's is not)
    for row in theirs["history_deleted"]:
        row["role"] = None
        row["old_memory"] = row["new_memory"] = None
    assert all(r["old_memory"] is None for r in ours["history_deleted"])
    for step in theirs:
        assert shape(ours[step]) == shape(theirs[step]), step
    # values that code reads, beyond the shapes
    for out in (theirs, ours):
        assert [r["memory"] for r in out["add"]["results"]] == [
            "I love spicy ramen",
            "Noted, ramen it is",
        ]
        assert [(r["event"], r["role"]) for r in out["add"]["results"]] == [
            ("ADD", "user"),
            ("ADD", "assistant"),
        ]
        assert out["add_named"]["results"][0]["actor_id"] == "ann"
        assert out["get"]["metadata"] == {"src": "chat"} and out["get"]["user_id"] == "ann"
        assert out["get"]["score"] is None
        assert len(out["get_all"]["results"]) == 4 and out["get_all_top"] == 1
        assert [r["memory"] for r in out["get_all_agent"]["results"]] == ["My dog is Biscuit"]
        assert {r["memory"] for r in out["get_all_meta"]["results"]} == {
            "I love spicy ramen",
            "Noted, ramen it is",
        }
        assert out["search"]["results"][0]["memory"] == "I love spicy ramen"
        assert out["search_other_user"] == {"results": []}
        assert out["get_updated"]["memory"] == "I love mild ramen"
        assert out["get_updated"]["created_at"] == out["get"]["created_at"]
        assert [(h["event"], h["old_memory"], h["new_memory"]) for h in out["history"]] == [
            ("ADD", None, "I love spicy ramen"),
            ("UPDATE", "I love spicy ramen", "I love mild ramen"),
        ]
        assert out["history_deleted"][-1]["is_deleted"] is True
        assert out["history_missing"] == []
        assert {r["event"] for r in out["infer"]["results"]} == {"ADD"}
        assert out["get_all_after"] == {"results": []} and out["get_all_reset"] == {"results": []}
        assert out["reset"] is None
    assert theirs["errors"] == ours["errors"]  # the same exception types for the same mistakes
    assert ours["update"] == theirs["update"] and ours["delete"] == theirs["delete"]
    assert ours["delete_all"] == theirs["delete_all"]


def test_infer_extracts_facts_without_an_llm(compat: Memory) -> None:
    added = compat.add(
        [{"role": "user", "content": "I live in Lisbon and I work as a nurse."}], user_id="ann"
    )
    facts = [r["memory"] for r in added["results"]]
    assert "Ann lives in Lisbon (home)" in facts or any("Lisbon" in f for f in facts)
    listed = [r["memory"] for r in compat.get_all(filters={"user_id": "ann"})["results"]]
    assert "I live in Lisbon and I work as a nurse." not in listed  # the raw turn is a source only
    moved = compat.add("I moved to Porto.", user_id="ann")
    assert any("Porto" in r["memory"] for r in moved["results"])
    hits = compat.search("where does the user live", filters={"user_id": "ann"})["results"]
    assert any("Porto" in h["memory"] for h in hits)


def test_filters_and_expiry(compat: Memory) -> None:
    for i, (topic, stars) in enumerate([("food", 5), ("food", 2), ("work", 4)]):
        compat.add(
            f"note {i} about {topic}",
            user_id="u",
            metadata={"topic": topic, "stars": stars},
            infer=False,
        )

    def texts(**filters: Any) -> set[str]:
        return {r["memory"] for r in compat.get_all(filters={"user_id": "u", **filters})["results"]}

    assert texts(topic="food") == {"note 0 about food", "note 1 about food"}
    assert texts(stars={"gte": 4}) == {"note 0 about food", "note 2 about work"}
    assert texts(topic={"in": ["work"]}) == {"note 2 about work"}
    assert texts(OR=[{"stars": 2}, {"topic": "work"}]) == {"note 1 about food", "note 2 about work"}
    assert texts(NOT=[{"topic": "food"}]) == {"note 2 about work"}
    assert texts(topic={"icontains": "WO"}) == {"note 2 about work"}
    old = compat.add("stale", user_id="u", expiration_date="2000-01-01", infer=False)["results"][0]
    assert "stale" not in texts()
    shown = compat.get_all(filters={"user_id": "u"}, show_expired=True)["results"]
    assert any(r["id"] == old["id"] and r["expiration_date"] == "2000-01-01" for r in shown)


def test_async_memory(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with AsyncMemory.from_config(
            {"engramdb": {"store": str(tmp_path / "a.db"), "embedder": STATIC}}
        ) as m:
            added = await m.add("I prefer window seats", user_id="ann", infer=False)
            mid = added["results"][0]["id"]
            assert (await m.get(mid))["memory"] == "I prefer window seats"  # type: ignore[index]
            hits = await m.search("seat", filters={"user_id": "ann"})
            assert hits["results"][0]["id"] == mid
            await m.update(mid, text="I prefer aisle seats")
            assert [h["event"] for h in await m.history(mid)] == ["ADD", "UPDATE"]
            await m.delete_all(user_id="ann")
            assert await m.get_all(filters={"user_id": "ann"}) == {"results": []}

    asyncio.run(scenario())


def test_config_mapping(tmp_path: Path) -> None:
    from engramdb.compat.mem0.shapes import engram_options
    from engramdb.errors import ConfigError

    options = engram_options(
        {
            "vector_store": {"provider": "qdrant", "config": {"path": str(tmp_path)}},
            "llm": {"provider": "ollama", "config": {"model": "qwen2.5:7b"}},
            "embedder": {
                "provider": "openai",
                "config": {"model": "text-embedding-3-small", "embedding_dims": 256},
            },
        }
    )
    assert options["store"] == str(tmp_path / "engramdb.db")
    assert options["llm"] == {
        "provider": "openai",
        "model": "qwen2.5:7b",
        "base_url": "http://localhost:11434/v1",
    }
    assert options["extraction"] == {"mode": "llm"}
    assert options["embedder"] == {
        "provider": "openai",
        "model": "text-embedding-3-small",
        "dimensions": 256,
    }
    with pytest.raises(ConfigError):
        engram_options({"llm": {"provider": "anthropic", "config": {}}})
