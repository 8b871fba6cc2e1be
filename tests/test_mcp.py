"""MCP with the official client: over stdio against `engram mcp` (a subprocess) and over
streamable HTTP against `/mcp` of the service; every tool is called and its effect checked in
the store."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx
import pytest
from conftest import NO_NOTES
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from service_helpers import STATIC, LiveServer, add

from engramdb import Memory

TOOLS = {"add", "search", "list", "delete", "profile"}
# The stores here keep rule-based slot facts but no notes: a note restates a message in the third
# person and would outrank the message itself for "dog Biscuit"; these tests check the tools.


def payload(result: Any) -> dict[str, Any]:
    """The JSON a tool returned (structured content, or its text block)."""
    assert not result.is_error, result.content
    if result.structured_content is not None:
        data: dict[str, Any] = result.structured_content
        return data.get("result", data) if set(data) == {"result"} else data
    parsed: dict[str, Any] = json.loads(result.content[0].text)
    return parsed


async def exercise(session: ClientSession, user: str) -> dict[str, Any]:
    """List the tools and call each one; return what the calls answered."""
    await session.initialize()
    tools = await session.list_tools()
    assert {t.name for t in tools.tools} >= TOOLS
    added = payload(
        await session.call_tool(
            "add",
            {
                "messages": [
                    {"content": "I adopted a golden retriever called Biscuit", "speaker": "Ann"},
                    {"content": "My sister lives in Kyoto", "speaker": "Ann"},
                ],
                "user_id": user,
                "timestamp": "2024-05-08T10:00:00Z",
            },
        )
    )
    ids = [item["id"] for item in added["results"]]
    found = payload(await session.call_tool("search", {"query": "dog Biscuit", "user_id": user}))
    listed = payload(await session.call_tool("list", {"user_id": user, "limit": 10}))
    profile = payload(await session.call_tool("profile", {"user_id": user}))
    deleted = payload(await session.call_tool("delete", {"memory_id": ids[1], "user_id": user}))
    missing = await session.call_tool("delete", {"memory_id": "nope", "user_id": user})
    return {
        "ids": ids,
        "added": added["results"],
        "found": found,
        "listed": listed,
        "profile": profile,
        "deleted": deleted,
        "missing": missing,
    }


def check(outcome: dict[str, Any], user: str) -> None:
    ids = outcome["ids"]
    assert len(ids) == 2
    assert outcome["found"]["results"][0]["id"] == ids[0]
    assert all(hit["user_id"] == user for hit in outcome["found"]["results"])
    # the list holds the two messages and the facts extracted from them (rules, by default)
    listed = outcome["listed"]["results"]
    said = {s for item in outcome["added"] for s in item["sources"]}
    assert all(i["user_id"] == user for i in listed)
    assert {i["id"] for i in listed if i["kind"] == "episode"} == set(ids)
    facts = [i for i in listed if i["kind"] != "episode"]
    assert all(f["kind"] == "fact" and f["sources"] and set(f["sources"]) <= said for f in facts)
    # the profile: the user's current facts (all of them here), as items and as prompt text
    profile = outcome["profile"]
    assert profile["user_id"] == user
    assert {f["id"] for f in profile["facts"]} == {f["id"] for f in facts}
    assert all(f["text"] in profile["text"] for f in profile["facts"])
    assert outcome["deleted"] == {"id": ids[1], "deleted": True}
    assert outcome["missing"].is_error and "not_found" in outcome["missing"].content[0].text


# --- stdio ---------------------------------------------------------------------------------
def test_mcp_over_stdio(tmp_path: Path) -> None:
    store = tmp_path / "memory.db"
    config = tmp_path / "engram.json"
    config.write_text(json.dumps({"store": str(store), "embedder": STATIC, "extraction": NO_NOTES}))
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "engramdb.cli.main", "mcp", "--config", str(config)],
        cwd=str(tmp_path),
    )

    async def main() -> dict[str, Any]:
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write) as session,
        ):
            return await exercise(session, "ann")

    outcome = anyio.run(main)
    check(outcome, "ann")
    with Memory(store, embedder=STATIC) as memory:  # the effect, read from the store itself
        items = memory.list(user_id="ann", kind="episode")
        assert [i.id for i in items] == [outcome["ids"][0]]
        assert items[0].speaker == "Ann" and items[0].event_time is not None
        assert items[0].event_time.isoformat().startswith("2024-05-08T10:00")


# --- streamable HTTP on the service ----------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    store = tmp_path_factory.mktemp("mcp-http") / "memory.db"
    live = LiveServer(store, extraction=NO_NOTES).start()
    yield live
    live.stop()


async def http_session(url: str, key: str | None, user: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as client,
        streamable_http_client(f"{url}/mcp", http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        return await exercise(session, user)


def test_mcp_over_streamable_http(server: LiveServer) -> None:
    key = server.new_key("mcp-t", "write")
    outcome = anyio.run(http_session, server.url, key, "ann")
    check(outcome, "ann")
    with server.client(key) as api:  # the effect, seen through the REST API and the store
        params = {"user_id": "ann", "kind": "episode"}
        items = api.get("/v1/memories", params=params).json()["results"]
        assert [i["id"] for i in items] == [outcome["ids"][0]]
    memory = server.memory.memory
    episodes = memory.list(user_id="mcp-t::ann", kind="episode")
    assert [i.id for i in episodes] == [outcome["ids"][0]]
    assert memory.count(user_id="ann") == 0  # namespaced by the key's tenant


def test_mcp_http_needs_a_key_and_respects_scope(server: LiveServer) -> None:
    with server.client() as anon:
        response = anon.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    owner = server.new_key("mcp-a", "write")
    with server.client(owner) as api:
        [secret] = add(api, "alice", "Alice's locker code is 1234")
    reader = server.new_key("mcp-a", "read")
    other = server.new_key("mcp-b", "write")

    async def attempts() -> list[Any]:
        results = []
        for key in (reader, other):
            async with (
                httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as client,
                streamable_http_client(f"{server.url}/mcp", http_client=client) as (r, w),
                ClientSession(r, w) as session,
            ):
                await session.initialize()
                results.append(
                    await session.call_tool("delete", {"memory_id": secret, "user_id": "alice"})
                )
                results.append(await session.call_tool("add", {"messages": "x", "user_id": "a"}))
                search = await session.call_tool(
                    "search", {"query": "locker code", "user_id": "alice"}
                )
                results.append(search)
        return results

    delete_ro, add_ro, search_ro, delete_b, _, search_b = anyio.run(attempts)
    assert delete_ro.is_error and "forbidden" in delete_ro.content[0].text
    assert add_ro.is_error and "forbidden" in add_ro.content[0].text
    assert payload(search_ro)["results"][0]["id"] == secret  # same tenant may read
    assert delete_b.is_error and "not_found" in delete_b.content[0].text
    assert payload(search_b)["results"] == []  # tenant B's "alice" is someone else
    with server.client(owner) as api:
        assert api.get(f"/v1/memories/{secret}").status_code == 200
