"""MCP with the official client: over stdio against `engram mcp` (a subprocess) and over
streamable HTTP against `/mcp` of the service; every tool is called and its effect checked in
the store. What a tool answers is measured: it lands in an agent's context."""

from __future__ import annotations

import json
import os
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
from mcp_conversation import CONVERSATION, messages
from service_helpers import STATIC, LiveServer, add

from engramdb import Memory

TOOLS = {"add", "search", "list", "delete", "profile", "get", "history", "sources"}
SEARCH_BUDGET = 2_500  # characters of a 10-hit search, all of the result (text and structure)
# The stores here keep rule-based slot facts but no notes: a note restates a message in the third
# person and would outrank the message itself for "dog Biscuit"; these tests check the tools.


def payload(result: Any) -> dict[str, Any]:
    """The JSON a tool returned: one text block, nothing else (no structured duplicate)."""
    assert not result.is_error, result.content
    assert result.structured_content is None and len(result.content) == 1
    parsed: dict[str, Any] = json.loads(result.content[0].text)
    return parsed


def size(result: Any) -> int:
    """Every character of a tool's result an agent is shown."""
    text = sum(len(getattr(block, "text", "")) for block in result.content)
    extra = result.structured_content
    return text + (len(json.dumps(extra)) if extra is not None else 0)


def one_line_error(result: Any) -> str:
    assert result.is_error and len(result.content) == 1
    text: str = result.content[0].text
    assert "\n" not in text and "pydantic" not in text and "http" not in text, text
    assert not text.startswith("Error executing"), text
    return text


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
    ids = [item["id"] for item in added["results"]]  # the short ids (12 characters)
    found = payload(await session.call_tool("search", {"query": "dog Biscuit", "user_id": user}))
    listed = payload(
        await session.call_tool("list", {"user_id": user, "limit": 10, "detail": True})
    )
    profile = payload(await session.call_tool("profile", {"user_id": user}))
    got = payload(await session.call_tool("get", {"memory_id": ids[0], "user_id": user}))
    history = payload(await session.call_tool("history", {"memory_id": ids[0], "user_id": user}))
    fact = next(i for i in listed["results"] if i["kind"] == "fact")
    sources = payload(
        await session.call_tool("sources", {"memory_id": fact["id"][:12], "user_id": user})
    )
    deleted = payload(await session.call_tool("delete", {"memory_id": ids[1], "user_id": user}))
    missing = await session.call_tool("delete", {"memory_id": "nope", "user_id": user})
    invalid = await session.call_tool("search", {"query": "x", "user_id": user, "limit": 1000})
    return {
        "ids": ids,
        "added": added["results"],
        "found": found,
        "listed": listed,
        "profile": profile,
        "got": got,
        "history": history,
        "fact": fact,
        "sources": sources,
        "deleted": deleted,
        "missing": missing,
        "invalid": invalid,
        "tools": {t.name: t for t in tools.tools},
    }


def check(outcome: dict[str, Any], user: str) -> None:
    ids = outcome["ids"]
    assert len(ids) == 2 and all(len(i) == 12 for i in ids)
    hit = outcome["found"]["results"][0]
    assert hit["id"] == ids[0]
    assert hit["text"] == "I adopted a golden retriever called Biscuit"
    assert hit["date"] == "2024-05-08" and hit["source"] == "Ann" and hit["score"] > 0
    assert "status" not in hit  # a message has no status; a fact does
    # the list (detail): the two messages and the facts extracted from them (rules, by default)
    listed = outcome["listed"]["results"]
    assert all(i["user_id"] == user for i in listed)
    assert {i["id"][:12] for i in listed if i["kind"] == "episode"} == set(ids)
    said = {s for i in listed if i["kind"] == "episode" for s in i["sources"]}
    facts = [i for i in listed if i["kind"] != "episode"]
    assert facts and all(f["kind"] == "fact" and set(f["sources"]) <= said for f in facts)
    # the profile: the user's current facts (all of them here), compact
    profile = outcome["profile"]
    assert profile["user_id"] == user
    assert {f["id"] for f in profile["facts"]} == {f["id"][:12] for f in facts}
    assert {f["text"] for f in profile["facts"]} == {f["text"] for f in facts}
    # every field on request; a short id is taken back by every tool
    got = outcome["got"]
    assert got["id"].startswith(ids[0]) and len(got["id"]) == 32 and got["user_id"] == user
    assert [e["event"] for e in outcome["history"]["results"]] == ["ADD"]
    origins = outcome["sources"]["results"]
    assert origins and {s["id"] for s in origins} <= set(ids)
    assert all(s["source"] == "Ann" for s in origins)
    assert outcome["deleted"]["deleted"] and outcome["deleted"]["id"].startswith(ids[1])
    assert one_line_error(outcome["missing"]) == "not_found: no memory with id 'nope'"
    assert one_line_error(outcome["invalid"]).startswith("invalid_input: limit: ")
    assert all(t.description and len(t.description) > 60 for t in outcome["tools"].values())


# --- stdio ---------------------------------------------------------------------------------
def test_mcp_over_stdio(tmp_path: Path) -> None:
    store = tmp_path / "memory.db"
    config = tmp_path / "engram.json"
    config.write_text(json.dumps({"store": str(store), "embedder": STATIC, "extraction": NO_NOTES}))
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "engramdb.cli.main", "mcp", "--config", str(config)],
        cwd=str(tmp_path),
        env=dict(os.environ),  # PYTHONPATH too: the code under test
    )

    async def main() -> tuple[dict[str, Any], Any]:
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write) as session,
        ):
            outcome = await exercise(session, "ann")
            # no user named: the one local user of a stdio session
            mine = await session.call_tool("add", {"messages": "I keep bees on the roof"})
            return outcome, mine

    outcome, mine = anyio.run(main)
    check(outcome, "ann")
    user_arg = outcome["tools"]["search"].input_schema["properties"]["user_id"]["description"]
    assert "local user" in user_arg and "key" not in user_arg
    [local] = payload(mine)["results"]
    with Memory(store, embedder=STATIC) as memory:  # the effect, read from the store itself
        items = memory.list(user_id="ann", kind="episode")
        assert [i.id[:12] for i in items] == [outcome["ids"][0]]
        assert items[0].speaker == "Ann" and items[0].event_time is not None
        assert items[0].event_time.isoformat().startswith("2024-05-08T10:00")
        assert [i.id[:12] for i in memory.list(user_id="local")] == [local["id"]]


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
    user_arg = outcome["tools"]["search"].input_schema["properties"]["user_id"]["description"]
    assert "API key" in user_arg
    with server.client(key) as api:  # the effect, seen through the REST API and the store
        params = {"user_id": "ann", "kind": "episode"}
        items = api.get("/v1/memories", params=params).json()["results"]
        assert [i["id"][:12] for i in items] == [outcome["ids"][0]]
    memory = server.memory.memory
    episodes = memory.list(user_id="mcp-t::ann", kind="episode")
    assert [i.id[:12] for i in episodes] == [outcome["ids"][0]]
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
    assert one_line_error(delete_ro).startswith("forbidden: ")
    assert one_line_error(add_ro).startswith("forbidden: ")
    assert payload(search_ro)["results"][0]["id"] == secret[:12]  # same tenant may read
    assert one_line_error(delete_b).startswith("not_found: ")
    assert payload(search_b)["results"] == []  # tenant B's "alice" is someone else
    with server.client(owner) as api:
        assert api.get(f"/v1/memories/{secret}").status_code == 200


# --- what a search costs the agent's context -------------------------------------------------
def test_a_ten_hit_search_and_the_profile_are_compact(server: LiveServer) -> None:
    """A month of everyday chat (30 messages and the facts the rules draw from them): a 10-hit
    search answers within SEARCH_BUDGET characters in all, the profile within 2,000; every
    field stays one call away (detail, get)."""
    key = server.new_key("mcp-size", "write")
    with server.client(key) as api:
        response = api.post("/v1/memories", json={"messages": messages(), "user_id": "maya"})
        assert response.status_code in (200, 201), response.text

    async def measure() -> dict[str, Any]:
        async with (
            httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client,
            streamable_http_client(f"{server.url}/mcp", http_client=client) as (r, w),
            ClientSession(r, w) as session,
        ):
            await session.initialize()
            query = {"query": "where does Maya work and live", "user_id": "maya", "limit": 10}
            compact = await session.call_tool("search", query)
            detailed = await session.call_tool("search", {**query, "detail": True})
            profile = await session.call_tool("profile", {"user_id": "maya"})
            full_profile = await session.call_tool("profile", {"user_id": "maya", "detail": True})
            return {
                "compact": compact,
                "detailed": detailed,
                "profile": profile,
                "full_profile": full_profile,
            }

    got = anyio.run(measure)
    hits = payload(got["compact"])["results"]
    assert len(hits) == 10
    text = sum(len(h["text"]) for h in hits)
    print(
        f"10-hit search: {size(got['compact'])} characters ({text} of memory text);"
        f" detail: {size(got['detailed'])}; profile: {size(got['profile'])},"
        f" detail: {size(got['full_profile'])}"
    )
    assert size(got["compact"]) <= SEARCH_BUDGET
    assert size(got["compact"]) - text <= 1_200  # what the fields around the texts cost
    assert all(
        set(h) <= {"id", "text", "date", "status", "source", "score", "pinned"} for h in hits
    )
    assert any(h.get("status") == "current" for h in hits)  # facts say whether they hold
    assert size(got["profile"]) <= 2_000 < size(got["full_profile"])
    # the same hits in full: every field, full ids
    full = payload(got["detailed"])["results"]
    assert [h["id"][:12] for h in full] == [h["id"] for h in hits]
    assert all("signals" in h and "created_at" in h for h in full)
    said = {t for _, _, t in CONVERSATION}
    assert {h["text"] for h in hits if "status" not in h} <= said
