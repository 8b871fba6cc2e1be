"""``EngramSession`` against the Agents SDK's own ``SQLiteSession``: one suite run on both, so a
Runner sees the same history from either; then real ``Runner`` runs with the SDK's own
``ScriptedModel`` (its deterministic test model: no network, no paid model) and the ``recall``
tool."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("agents")

from agents import Agent, FunctionTool, RunConfig, Runner, SQLiteSession
from agents.memory import Session, SessionSettings
from agents.testing import ScriptedModel, assistant_message, function_call

from engramdb import Memory
from engramdb.integrations.openai_agents import FIELD, EngramSession, recall_tool

STATIC = {"provider": "static"}
NO_TRACES = RunConfig(tracing_disabled=True)  # traces would be sent to OpenAI

# one of each kind of item a Runner stores, with nesting, unicode and nulls
ITEMS: list[Any] = [
    {"role": "user", "content": "My dog is called Biscuit 🐕"},
    {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "Lovely name!", "annotations": []}],
    },
    {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "lookup",
        "arguments": json.dumps({"q": "Biscuit", "n": 2}),
    },
    {"type": "function_call_output", "call_id": "call_1", "output": "{'breed': 'beagle'}"},
    {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": None},
    {"role": "user", "content": [{"type": "input_text", "text": "and the cat?"}]},
]

SessionFactory = Callable[..., Session]


@pytest.fixture(params=["SQLiteSession", "EngramSession"])
def make_session(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionFactory]:
    memory = (
        Memory(tmp_path / "engram.db", embedder=STATIC)
        if request.param != "SQLiteSession"
        else None
    )

    def build(session_id: str = "s1", **kwargs: Any) -> Session:
        if memory is None:
            return SQLiteSession(session_id, tmp_path / "sdk.db", **kwargs)
        return EngramSession(session_id, memory, **kwargs)

    yield build
    if memory is not None:
        memory.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_is_a_session(make_session: SessionFactory) -> None:
    session = make_session()
    assert isinstance(session, Session)
    assert session.session_id == "s1"


def test_items_round_trip_exactly(make_session: SessionFactory) -> None:
    session = make_session()
    run(session.add_items(ITEMS[:3]))
    run(session.add_items(ITEMS[3:]))
    assert run(session.get_items()) == ITEMS


def test_limit_gives_the_latest_in_order(make_session: SessionFactory) -> None:
    session = make_session()
    run(session.add_items(ITEMS))
    assert run(session.get_items(limit=2)) == ITEMS[-2:]
    assert run(session.get_items(limit=100)) == ITEMS
    assert run(session.get_items(limit=0)) == []
    assert run(session.get_items(limit=-1)) == ITEMS  # SQLite's LIMIT -1: everything


def test_session_settings_limit(make_session: SessionFactory) -> None:
    session = make_session(session_settings=SessionSettings(limit=3))
    run(session.add_items(ITEMS))
    assert run(session.get_items()) == ITEMS[-3:]
    assert run(session.get_items(limit=1)) == ITEMS[-1:]  # an explicit limit wins


def test_equal_items_are_separate_turns(make_session: SessionFactory) -> None:
    session = make_session()
    hello = {"role": "user", "content": "hello"}
    run(session.add_items([hello, hello]))
    run(session.add_items([hello]))
    run(session.add_items([]))
    assert run(session.get_items()) == [hello, hello, hello]


def test_pop_item(make_session: SessionFactory) -> None:
    session = make_session()
    assert run(session.pop_item()) is None
    run(session.add_items(ITEMS[:2]))
    assert run(session.pop_item()) == ITEMS[1]
    assert run(session.get_items()) == ITEMS[:1]
    assert run(session.pop_item()) == ITEMS[0]
    assert run(session.pop_item()) is None


def test_clear_session_leaves_other_sessions(make_session: SessionFactory) -> None:
    one, two = make_session("one"), make_session("two")
    run(one.add_items(ITEMS[:2]))
    run(two.add_items(ITEMS[2:4]))
    run(one.clear_session())
    assert run(one.get_items()) == []
    assert run(two.get_items()) == ITEMS[2:4]
    run(one.add_items(ITEMS[:1]))  # a cleared session can be used again
    assert run(one.get_items()) == ITEMS[:1]


def test_runner_replays_the_history(make_session: SessionFactory) -> None:
    session = make_session("chat")
    model = ScriptedModel([[assistant_message("Hi Ann")], [assistant_message("Biscuit")]])
    agent = Agent(name="helper", model=model)
    first = run(
        Runner.run(agent, "I'm Ann; my dog is Biscuit.", session=session, run_config=NO_TRACES)
    )
    second = run(Runner.run(agent, "What is my dog called?", session=session, run_config=NO_TRACES))
    assert (first.final_output, second.final_output) == ("Hi Ann", "Biscuit")
    sent = model.calls[1].input  # the second turn was sent the whole first turn
    assert [i.get("content") for i in sent if i.get("role") == "user"] == [
        "I'm Ann; my dog is Biscuit.",
        "What is my dog called?",
    ]
    stored = run(session.get_items())
    assert len(stored) == 4 and stored[-1]["content"][0]["text"] == "Biscuit"


# --- engramdb only --------------------------------------------------------------------------
@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Memory]:
    mem = Memory(tmp_path / "agent.db", embedder=STATIC)
    yield mem
    mem.close()


def test_items_are_searchable_messages(memory: Memory) -> None:
    session = EngramSession("chat-1", memory, user_id="ann")
    run(session.add_items(ITEMS))
    stored = memory.list(user_id="ann", kind="episode", order="asc")
    assert [m.text for m in stored] == [
        "My dog is called Biscuit 🐕",
        "Lovely name!",
        'called lookup({"q": "Biscuit", "n": 2})',
        "{'breed': 'beagle'}",
        "[reasoning]",
        "and the cat?",
    ]
    assert [m.role for m in stored][:2] == ["user", "assistant"]
    assert {m.session_id for m in stored} == {"chat-1"}
    assert stored[0].metadata[FIELD] == ITEMS[0]
    assert memory.search("dog Biscuit", user_id="ann", limit=3)[0].text.startswith("My dog")


def test_sessions_of_one_user_share_long_term_memory_only(memory: Memory) -> None:
    monday = EngramSession("monday", memory, user_id="ann")
    tuesday = EngramSession("tuesday", memory, user_id="ann")
    run(monday.add_items([{"role": "user", "content": "I keep the spare key under the blue pot"}]))
    assert run(tuesday.get_items()) == []  # the conversation is per session
    tool = recall_tool(memory, user_id="ann")
    out = run(
        tool.on_invoke_tool(_tool_context(tool, '{"query": "spare key"}'), '{"query": "spare key"}')
    )
    assert "blue pot" in out  # long-term memory is per user
    bob = recall_tool(memory, user_id="bob")
    assert run(bob.on_invoke_tool(_tool_context(bob, '{"query": "key"}'), '{"query": "key"}')) == (
        "No memories found."
    )


def _tool_context(tool: FunctionTool, arguments: str) -> Any:
    from agents.tool_context import ToolContext

    return ToolContext(
        context=None, tool_name=tool.name, tool_call_id="t1", tool_arguments=arguments
    )


def test_recall_tool_in_a_run(memory: Memory) -> None:
    tool = recall_tool(memory, user_id="ann", limit=3)
    assert isinstance(tool, FunctionTool) and tool.name == "recall"
    assert tool.params_json_schema["required"] == ["query"]
    run(
        EngramSession("old", memory, user_id="ann").add_items(
            [{"role": "user", "content": "My sister Maya lives in Lisbon"}]
        )
    )
    model = ScriptedModel(
        [
            [function_call("recall", {"query": "Maya sister Lisbon"}, call_id="c1")],
            [assistant_message("Maya lives in Lisbon.")],
        ]
    )
    agent = Agent(name="helper", model=model, tools=[tool])
    session = EngramSession("new", memory, user_id="ann")
    result = run(
        Runner.run(agent, "Where does my sister live?", session=session, run_config=NO_TRACES)
    )
    assert result.final_output == "Maya lives in Lisbon."
    outputs = [i for i in run(session.get_items()) if i.get("type") == "function_call_output"]
    assert len(outputs) == 1 and "My sister Maya lives in Lisbon" in outputs[0]["output"]
    model.assert_complete()


def test_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "reopen.db"
    session = EngramSession("chat", path, embedder=STATIC)
    run(session.add_items(ITEMS))
    session.close()
    again = EngramSession("chat", path, embedder=STATIC)
    assert run(again.get_items()) == ITEMS
    again.close()


def test_refuses_what_it_cannot_round_trip(tmp_path: Path) -> None:
    session = EngramSession(
        "chat", tmp_path / "x.db", embedder=STATIC, limits={"max_metadata_bytes": 500}
    )
    with pytest.raises(ValueError, match="max_metadata_bytes"):
        run(session.add_items([{"role": "user", "content": "x" * 1_000}]))
    with pytest.raises(ValueError, match="JSON"):
        run(session.add_items([{"role": "user", "content": object()}]))
    assert run(session.get_items()) == []
    session.close()
