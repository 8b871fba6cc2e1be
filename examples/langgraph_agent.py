"""A LangGraph agent whose long-term memory is an engramdb file.

The graph has one deterministic node (no LLM needed): "remember: <fact>" stores the fact in
the user's namespace of the store; any other message searches that namespace and answers with
the best match. Two threads of the same user share the store, not their conversation state:
the fact told in thread 1 is recalled in thread 2.

    python examples/langgraph_agent.py [path/to/agent.db] [--fast]

``--fast`` uses engramdb's static embedder instead of MiniLM (quicker start, weaker ranking).
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from engramdb.integrations.langgraph import EngramStore


class State(TypedDict):
    message: str
    reply: str


@dataclass
class Context:
    user_id: str


def respond(state: State, runtime: Runtime[Context]) -> dict[str, str]:
    assert runtime.store is not None
    namespace = ("memories", runtime.context.user_id)
    text = state["message"]
    if text.lower().startswith("remember:"):
        fact = text.split(":", 1)[1].strip()
        runtime.store.put(namespace, uuid.uuid4().hex, {"text": fact})
        return {"reply": f"noted: {fact}"}
    hits = runtime.store.search(namespace, query=text, limit=1)
    return {"reply": hits[0].value["text"] if hits else "I don't know yet."}


def build(store: EngramStore) -> CompiledStateGraph[State, Context, State, State]:
    graph = StateGraph(State, context_schema=Context)
    graph.add_node("respond", respond)
    graph.add_edge(START, "respond")
    graph.add_edge("respond", END)
    return graph.compile(checkpointer=InMemorySaver(), store=store)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    path = Path(args[0]) if args else Path(tempfile.mkdtemp()) / "agent.db"
    options: dict[str, Any] = {"embedder": {"provider": "static"}} if "--fast" in sys.argv else {}
    with EngramStore(path, index={"fields": ["text"]}, **options) as store:
        app = build(store)
        ann = Context(user_id="ann")
        for thread, message in [
            ("thread-1", "remember: favourite colour is teal"),
            ("thread-1", "remember: allergic to peanuts"),
            ("thread-2", "what is my favourite colour?"),
        ]:
            config: RunnableConfig = {"configurable": {"thread_id": thread}}
            out = app.invoke({"message": message, "reply": ""}, config, context=ann)
            verb = "recalled" if thread == "thread-2" else "said"
            print(f"{thread} {verb}: {out['reply']}")
        # another user sees nothing of Ann's: namespaces are engramdb scopes
        other = app.invoke(
            {"message": "what is my favourite colour?", "reply": ""},
            {"configurable": {"thread_id": "thread-3"}},
            context=Context(user_id="bob"),
        )
        print(f"thread-3 (bob): {other['reply']}")


if __name__ == "__main__":
    main()
