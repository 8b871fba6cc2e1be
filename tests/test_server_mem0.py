"""mem0's own ``MemoryClient`` (mem0ai 2.2.1), unchanged, against a real engramdb service:
uvicorn on a loopback port (tests/service_helpers.py), API keys of two tenants. The client is
the real one: its paths, bodies, ``Token KEY`` header, ping and error handling are mem0's."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# mem0 reads these when imported: no telemetry, and its config file in a folder of this run
os.environ["MEM0_TELEMETRY"] = "False"
os.environ.setdefault("MEM0_DIR", tempfile.mkdtemp(prefix="mem0-"))

mem0_client = pytest.importorskip("mem0.client.main")
mem0_exceptions = pytest.importorskip("mem0.exceptions")
from mem0.memory import telemetry  # noqa: E402
from service_helpers import LiveServer  # noqa: E402

MemoryClient = mem0_client.MemoryClient


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("mem0") / "memory.db").start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Any:
    return MemoryClient(api_key=server.new_key("acme", "write"), host=server.url)


def test_telemetry_is_off() -> None:
    assert telemetry.MEM0_TELEMETRY is False


def test_the_round_trip_of_mem0s_client(client: Any) -> None:
    added = client.add(
        [{"role": "user", "content": "I keep the spare key under the blue flower pot"}],
        user_id="ann",
        metadata={"topic": "home"},
        infer=False,
    )
    assert [r["event"] for r in added["results"]] == ["ADD"]
    key_id = added["results"][0]["id"]
    client.add("Book me a window seat to Lisbon", user_id="ann", infer=False)
    client.add("Bob has a cat", user_id="bob", infer=False)

    found = client.search("where is the spare key", filters={"user_id": "ann"}, top_k=1)
    assert [h["id"] for h in found["results"]] == [key_id]
    hit = found["results"][0]
    assert hit["user_id"] == "ann" and hit["metadata"] == {"topic": "home"}
    assert isinstance(hit["score"], float)

    listed = client.get_all(filters={"user_id": "ann"})
    assert listed["count"] == 2 and len(listed["results"]) == 2
    assert {m["user_id"] for m in listed["results"]} == {"ann"}
    topic = client.get_all(filters={"AND": [{"user_id": "ann"}, {"topic": "home"}]})
    assert [m["id"] for m in topic["results"]] == [key_id]
    first = client.get_all(filters={"user_id": "ann"}, page=1, page_size=1)
    second = client.get_all(filters={"user_id": "ann"}, page=2, page_size=1)
    assert first["count"] == 2 and first["next"] and first["previous"] is None
    assert second["next"] is None and second["previous"]
    assert {first["results"][0]["id"], second["results"][0]["id"]} == {
        m["id"] for m in listed["results"]
    }

    one = client.get(key_id)
    assert one["memory"] == "I keep the spare key under the blue flower pot"
    assert set(one) >= {"id", "memory", "hash", "metadata", "created_at", "updated_at"}

    client.update(key_id, text="I keep the spare key in the garage")
    assert client.get(key_id)["memory"] == "I keep the spare key in the garage"
    events = client.history(key_id)
    assert [e["event"] for e in events] == ["ADD", "UPDATE"]
    assert events[1]["old_memory"] == "I keep the spare key under the blue flower pot"
    assert events[1]["new_memory"] == "I keep the spare key in the garage"

    entities = client.users()
    assert {(e["type"], e["name"]) for e in entities["results"]} == {
        ("user", "ann"),
        ("user", "bob"),
    }

    assert client.delete(key_id) == {"message": "Memory deleted successfully!"}
    with pytest.raises(mem0_exceptions.MemoryNotFoundError):
        client.get(key_id)
    assert client.delete_all(user_id="ann") == {"message": "Memories deleted successfully!"}
    assert client.get_all(filters={"user_id": "ann"})["results"] == []
    assert client.get_all(filters={"user_id": "bob"})["count"] == 1  # bob's stay


def test_infer_true_stores_what_engramdb_extracts(client: Any) -> None:
    result = client.add("I live in Porto", user_id="cleo")
    assert result["results"] and all(r["event"] == "ADD" for r in result["results"])
    listed = client.get_all(filters={"user_id": "cleo"})["results"]
    assert any("Porto" in m["memory"] for m in listed)
    assert all(m["user_id"] == "cleo" for m in listed)  # the tenant prefix never shows


def test_agent_scope_and_bearer_key(server: LiveServer) -> None:
    key = server.new_key("agents", "write")
    client = MemoryClient(api_key=key, host=server.url)
    client.add("Always answer in French", agent_id="helper", infer=False)
    listed = client.get_all(filters={"agent_id": "helper"})["results"]
    assert [m["agent_id"] for m in listed] == ["helper"] and "user_id" not in listed[0]
    assert client.users()["results"][0]["type"] == "agent"
    with server.client(key) as plain:  # the same routes with engramdb's own Bearer header
        assert plain.get("/v1/ping/").json()["tenant"] == "agents"


def test_tenants_are_walls(server: LiveServer) -> None:
    alpha = MemoryClient(api_key=server.new_key("alpha", "write"), host=server.url)
    beta = MemoryClient(api_key=server.new_key("beta", "write"), host=server.url)
    mine = alpha.add("My locker code is 4711", user_id="dana", infer=False)["results"][0]["id"]
    beta.add("Something else entirely", user_id="dana", infer=False)

    assert [m["id"] for m in alpha.get_all(filters={"user_id": "dana"})["results"]] == [mine]
    assert mine not in [m["id"] for m in beta.get_all(filters={"user_id": "dana"})["results"]]
    assert all(
        h["id"] != mine for h in beta.search("locker code", filters={"user_id": "dana"})["results"]
    )
    for attempt in (
        lambda: beta.get(mine),
        lambda: beta.update(mine, text="hijacked"),
        lambda: beta.delete(mine),
        lambda: beta.history(mine),
    ):
        with pytest.raises(mem0_exceptions.MemoryNotFoundError):
            attempt()
    beta.delete_all(user_id="dana")  # beta's dana only
    assert alpha.get(mine)["memory"] == "My locker code is 4711"
    assert alpha.history(mine)[0]["event"] == "ADD"
    assert {e["name"] for e in beta.users()["results"]} == set()


def test_bound_and_read_only_keys(server: LiveServer) -> None:
    bound = MemoryClient(api_key=server.new_key("gamma", "write", user_id="eve"), host=server.url)
    assert bound.add("Eve likes tea", infer=False)["results"][0]["event"] == "ADD"  # scope implied
    with pytest.raises(mem0_exceptions.AuthenticationError) as refused:  # 403
        bound.get_all(filters={"user_id": "mallory"})
    assert "bound to another user" in str(refused.value)
    reader = MemoryClient(api_key=server.new_key("gamma", "read"), host=server.url)
    assert reader.get_all(filters={"user_id": "eve"})["count"] == 1
    with pytest.raises(mem0_exceptions.MemoryError, match="read-only"):
        reader.add("no", user_id="eve", infer=False)


def test_a_wrong_key_is_refused_at_ping(server: LiveServer) -> None:
    with pytest.raises(ValueError, match="invalid or revoked API key"):
        MemoryClient(api_key="egk_not_a_key", host=server.url)
    with pytest.raises(ValueError, match="manages API keys"):
        MemoryClient(api_key=server.admin, host=server.url)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.get_all(filters={"topic": "x"}), "at least one of: user_id"),
        (lambda c: c.search("q", filters={"user_id": "a", "n": {"gt": "x"}}), "takes a number"),
        (lambda c: c.search("q", filters={"user_id": "a b"}), "cannot contain whitespace"),
        (lambda c: c.add("x", user_id="a", app_id="app", infer=False), "app_id"),
        (lambda c: c.add("x", user_id="a", expiration_date="soon"), "YYYY-MM-DD"),
        (lambda c: c.delete_all(), "At least one filter"),
        (lambda c: c.search("q", filters={"user_id": "a"}, top_k=-1), "top_k"),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(client: Any, call: Any, message: str) -> None:
    with pytest.raises(mem0_exceptions.ValidationError) as refused:
        call(client)
    assert message in str(refused.value)
    status = refused.value.debug_info["status_code"]
    assert 400 <= status < 500


def test_bad_update_and_unknown_ids(client: Any) -> None:
    memory_id = client.add("Fern waters the plants", user_id="fern", infer=False)["results"][0][
        "id"
    ]
    with pytest.raises(mem0_exceptions.MemoryError, match="metadata"):
        client.update(memory_id, metadata={"a": 1})
    with pytest.raises(mem0_exceptions.MemoryError, match="timestamp"):
        client.update(memory_id, timestamp=5)
    client.update(memory_id, expiration_date="2000-01-01")  # a day past: hidden at once
    assert client.get_all(filters={"user_id": "fern"})["results"] == []
    client.update(memory_id, expiration_date=None)  # an explicit null clears it
    assert [m["id"] for m in client.get_all(filters={"user_id": "fern"})["results"]] == [memory_id]
    with pytest.raises(mem0_exceptions.MemoryNotFoundError):
        client.history("no-such-id")
    with pytest.raises(mem0_exceptions.MemoryNotFoundError):
        client.delete("no-such-id")


def test_openapi_lists_the_mem0_paths(server: LiveServer, tmp_path: Path) -> None:
    with server.client() as anon:
        paths = anon.get("/openapi.json").json()["paths"]
    assert {"/v1/ping/", "/v3/memories/add/", "/v3/memories/", "/v3/memories/search/"} <= set(paths)
    assert {"get", "put", "delete"} <= set(paths["/v1/memories/{memory_id}/"])


def test_the_async_client_too(server: LiveServer) -> None:
    import asyncio

    async def run() -> None:
        key = server.new_key("asyncs", "write")
        async with mem0_client.AsyncMemoryClient(api_key=key, host=server.url) as client:
            added = await client.add("Gil plays the cello", user_id="gil", infer=False)
            memory_id = added["results"][0]["id"]
            found = await client.search("who plays an instrument", filters={"user_id": "gil"})
            assert [h["id"] for h in found["results"]] == [memory_id]
            await client.delete(memory_id)
            assert (await client.get_all(filters={"user_id": "gil"}))["count"] == 0

    asyncio.run(run())
