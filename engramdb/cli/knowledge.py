"""``engram profile | sources | entities | answer | pin | forget | stats``: what the memories
add up to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from engramdb.cli.common import console, friendly, open_memory

Store = Annotated[Optional[str], typer.Option("--store", "-s", help="SQLite file or DSN")]  # noqa: UP045
ConfigFile = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML/JSON config")]  # noqa: UP045
UserId = Annotated[str, typer.Option("--user-id", "-u", help="whose memories")]
OnlyUser = Annotated[Optional[str], typer.Option("--user-id", "-u", help="only this user")]  # noqa: UP045
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


def profile(
    user_id: UserId, store: Store = None, config: ConfigFile = None, as_json: AsJson = False
) -> None:
    """The user's core memory: the most important facts true now."""
    with open_memory(store, config) as mem:
        result = mem.profile(user_id)
    if as_json:
        console.print_json(result.model_dump_json())
    else:
        console.print(result.text or f"(no facts about {user_id} yet)", highlight=False)


def sources(
    memory_id: Annotated[str, typer.Argument(help="a fact's id")],
    store: Store = None,
    config: ConfigFile = None,
) -> None:
    """The messages a fact was extracted from."""
    with open_memory(store, config) as mem:
        found = mem.sources(memory_id)
    console.print_json(json.dumps([m.model_dump(mode="json") for m in found]))


def entities(
    user_id: UserId,
    entity: Annotated[Optional[str], typer.Option(help="relations of this entity")] = None,  # noqa: UP045
    store: Store = None,
    config: ConfigFile = None,
) -> None:
    """The entities a user's memories mention, and the relations between them."""
    with open_memory(store, config) as mem:
        nodes = [e.model_dump() for e in mem.entities(user_id)]
        edges = [r.model_dump(mode="json") for r in mem.relations(user_id, entity=entity)]
    console.print_json(json.dumps({"entities": nodes, "relations": edges}))


def answer(
    question: Annotated[str, typer.Argument(help="what to ask")],
    user_id: UserId,
    store: Store = None,
    config: ConfigFile = None,
) -> None:
    """Answer from memory with the configured LLM (the config's llm section)."""
    with open_memory(store, config) as mem:
        result = mem.answer(question, user_id=user_id)
    console.print(result.answer, highlight=False)
    for hit in result.memories[:5]:
        console.print(f"  [dim]{hit.kind} {hit.id[:12]}[/dim] {hit.text}", highlight=False)


def pin(
    memory_id: Annotated[str, typer.Argument(help="the memory")],
    unpin: Annotated[bool, typer.Option("--unpin", help="remove the pin")] = False,
    store: Store = None,
    config: ConfigFile = None,
) -> None:
    """Pin a memory: it never decays and leads the profile."""
    with open_memory(store, config) as mem:
        item = mem.pin(memory_id, pinned=not unpin)
    console.print(f"{item.id} pinned={item.pinned}")


def forget(
    user_id: OnlyUser = None,
    store: Store = None,
    config: ConfigFile = None,
) -> None:
    """Delete expired memories (and decayed ones, if the config enables decay)."""
    with open_memory(store, config) as mem:
        counts = mem.forget(user_id=user_id)
    console.print_json(json.dumps(counts))


def stats(
    store: Store = None,
    config: ConfigFile = None,
    drain: Annotated[bool, typer.Option("--flush", help="do the queue's work first")] = False,
) -> None:
    """Counts: memories, users, the work queue (messages still owed their claims, failed jobs)
    and the guard's counts. Reads without doing the queue's work unless --flush."""
    quiet = {"worker": False, "drain_on_close": False}
    with open_memory(store, config, enrichment=quiet) as mem:
        if drain:
            mem.flush()
        counts = mem.stats()
    console.print_json(json.dumps(counts, default=str))


def register(app: typer.Typer) -> None:
    for command in (profile, sources, entities, answer, pin, forget, stats):
        app.command(command.__name__)(friendly(command))
