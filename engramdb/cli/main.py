"""``engram``: the command line. Every command opens the store from --store / --config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from engramdb.cli.bench import register as register_bench_commands
from engramdb.cli.common import console, fail, friendly, open_memory, progress_bar
from engramdb.cli.importers import read_jsonl, read_locomo
from engramdb.cli.keys import register as register_key_commands
from engramdb.cli.knowledge import register as register_knowledge_commands
from engramdb.cli.llm import register as register_llm_commands
from engramdb.cli.serve import register as register_service_commands
from engramdb.cli.transfer import register as register_transfer_commands
from engramdb.models import Hit, MemoryItem

app = typer.Typer(help="engramdb: long-term memory for LLM agents.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
register_service_commands(app, bench_app)
register_bench_commands(bench_app)
register_transfer_commands(app)
register_knowledge_commands(app)
register_llm_commands(app)
register_key_commands(app)

Store = Annotated[
    str | None,
    typer.Option(
        "--store", "-s", help="SQLite file or postgresql:// DSN (default ~/.engramdb/memory.db)"
    ),
]
ConfigFile = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML/JSON config file")]  # noqa: UP045
UserId = Annotated[str, typer.Option("--user-id", "-u", help="whose memories")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


def _dump(items: list[MemoryItem] | list[Hit]) -> None:
    console.print_json(json.dumps([i.model_dump(mode="json") for i in items]))


def _table(items: list[MemoryItem] | list[Hit], title: str) -> None:
    table = Table(title=title, title_justify="left")
    scored = bool(items) and isinstance(items[0], Hit)
    if scored:
        table.add_column("score", justify="right")
    for column in ("id", "kind", "when", "speaker", "text", "sources"):
        table.add_column(column, overflow="fold")
    for item in items:
        row = [
            item.id[:12],
            item.kind,
            item.event_time.strftime("%Y-%m-%d") if item.event_time else "",
            item.speaker or "",
            item.text,
            ",".join(item.sources),
        ]
        table.add_row(*([f"{item.score:.3f}"] if isinstance(item, Hit) else []), *row)
    console.print(table)


@app.command()
@friendly
def add(
    text: Annotated[str, typer.Argument(help="the message to remember")],
    user_id: UserId,
    session_id: Annotated[Optional[str], typer.Option(help="conversation/session id")] = None,  # noqa: UP045
    speaker: Annotated[Optional[str], typer.Option(help="who said it")] = None,  # noqa: UP045
    role: Annotated[Optional[str], typer.Option(help="user/assistant/…")] = None,  # noqa: UP045
    timestamp: Annotated[Optional[str], typer.Option(help="when it was said (ISO 8601)")] = None,  # noqa: UP045
    message_id: Annotated[Optional[str], typer.Option("--id", help="the message's id")] = None,  # noqa: UP045
    store: Store = None,
    config: ConfigFile = None,
    as_json: AsJson = False,
) -> None:
    """Remember one message."""
    message: dict[str, Any] = {"content": text, "speaker": speaker, "role": role, "id": message_id}
    with open_memory(store, config, create=True) as mem:
        items = mem.add(
            [{k: v for k, v in message.items() if v is not None}],
            user_id=user_id,
            session_id=session_id,
            timestamp=timestamp,
        )
    if as_json:
        _dump(items)
    else:
        console.print(f"added {items[0].id}")


@app.command()
@friendly
def search(
    query: Annotated[str, typer.Argument(help="what to look for")],
    user_id: UserId,
    limit: Annotated[int, typer.Option("--limit", "-k", min=1, max=1000)] = 10,
    preset: Annotated[Optional[str], typer.Option(help="search preset")] = None,  # noqa: UP045
    as_of: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--as-of", help="rank facts valid at this time (ISO 8601)"),
    ] = None,
    kind: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--kind", help="only this kind (episode, fact); repeatable"),
    ] = None,
    store: Store = None,
    config: ConfigFile = None,
    as_json: AsJson = False,
) -> None:
    """Search a user's memories."""
    with open_memory(store, config) as mem:
        hits = mem.search(
            query,
            user_id=user_id,
            limit=limit,
            preset=preset,
            as_of=as_of,
            kinds=kind,  # type: ignore[arg-type]
        )
        empty = not hits and mem.count(user_id=user_id) == 0
    if empty and not as_json:  # say why nothing came back: often a mistyped user id
        console.print(f"no memories for user {user_id!r}", markup=False, highlight=False)
        return
    _dump(hits) if as_json else _table(hits, f"{len(hits)} hits for {query!r}")


@app.command("list")
@friendly
def list_(
    user_id: UserId,
    kind: Annotated[Optional[str], typer.Option(help="episode, fact or summary")] = None,  # noqa: UP045
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10000)] = 50,
    store: Store = None,
    config: ConfigFile = None,
    as_json: AsJson = False,
) -> None:
    """List a user's memories, newest first."""
    with open_memory(store, config) as mem:
        items = mem.list(user_id=user_id, kind=kind, limit=limit)  # type: ignore[arg-type]
    _dump(items) if as_json else _table(items, f"{len(items)} memories of {user_id}")


@app.command()
@friendly
def delete(
    memory_id: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(help="the memory to delete (its id, or 8+ characters of it)"),
    ] = None,
    user_id: Annotated[Optional[str], typer.Option("--user-id", "-u")] = None,  # noqa: UP045
    all_: Annotated[bool, typer.Option("--all", help="delete everything of --user-id")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    store: Store = None,
    config: ConfigFile = None,
) -> None:
    """Delete one memory, or with --all every memory of a user."""
    if all_:
        if not user_id:
            fail("--all needs --user-id")
        if not yes and not typer.confirm(f"Delete everything of {user_id}?"):
            fail("nothing deleted")
        with open_memory(store, config) as mem:
            counts = mem.delete_all(user_id=user_id or "")
        console.print_json(json.dumps(counts))
        return
    if not memory_id:
        fail("give a memory id, or --all --user-id USER")
    with open_memory(store, config) as mem:
        full = mem.resolve_id(memory_id or "", user_id=user_id)
        mem.delete(full, user_id=user_id)
    console.print(f"deleted {full}")


@app.command()
@friendly
def history(
    memory_id: Annotated[str, typer.Argument()],
    store: Store = None,
    config: ConfigFile = None,
    as_json: AsJson = False,
) -> None:
    """Every version of a memory: what changed, when, by whom, why."""
    with open_memory(store, config) as mem:
        entries = mem.history(memory_id)
    if as_json:
        console.print_json(json.dumps([e.model_dump(mode="json") for e in entries]))
        return
    table = Table(title=f"history of {memory_id}")
    for column in ("version", "event", "at", "actor", "reason", "text"):
        table.add_column(column)
    for e in entries:
        text = "(erased)" if e.text is None and e.event == "DELETE" else (e.text or "")
        cells = (str(e.version), e.event, f"{e.at:%Y-%m-%d %H:%M}", e.actor, e.reason or "", text)
        table.add_row(*(escape(cell) for cell in cells))
    console.print(table)


@app.command("import")
@friendly
def import_(
    path: Annotated[
        Path,
        typer.Argument(
            help="a JSONL file, LoCoMo JSON/JSONL/folder, an engram export, or a mem0 folder"
        ),
    ],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="jsonl, locomo, engram or mem0")
    ] = "jsonl",
    user_id: Annotated[
        str | None, typer.Option("--user-id", "-u", help="for lines without one")
    ] = None,
    store: Store = None,
    config: ConfigFile = None,
    checkpoint: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="engram format: progress file to resume from (default: PATH.checkpoint)"),
    ] = None,
    qdrant: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="mem0 format: its local Qdrant path (default: PATH/qdrant, /tmp/qdrant)"),
    ] = None,
    collection: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="mem0 format: its Qdrant collection (default: mem0)"),
    ] = None,
) -> None:
    """Import conversations, an `engram export` (--format engram: vectors, history, times
    kept), or a mem0 OSS store (--format mem0: PATH is its folder, ~/.mem0, or its history.db;
    ids, users, metadata, times and history kept). Re-importing adds nothing twice."""
    if not path.exists():
        fail(f"{path} does not exist")
    if fmt not in ("jsonl", "locomo", "engram", "mem0"):
        fail("--format must be jsonl, locomo, engram or mem0")
    if fmt == "mem0":
        from engramdb.cli.transfer import import_mem0

        import_mem0(path, qdrant, collection, store, config)
        return
    if fmt == "engram":
        from engramdb.cli.transfer import import_engram

        import_engram(path, store, config, checkpoint)
        return
    batches = list(read_locomo(path) if fmt == "locomo" else read_jsonl(path, user_id))
    total = sum(len(b.messages) for b in batches)
    done = 0
    with open_memory(store, config, create=True) as mem, progress_bar() as update:
        for batch in batches:
            mem.add(
                batch.messages,
                user_id=batch.user_id,
                session_id=batch.session_id,
                timestamp=batch.timestamp,
                metadata=batch.metadata,
            )
            done += len(batch.messages)
            update("import", done, total)
    console.print(f"imported {total} messages in {len(batches)} batches")


@app.command()
@friendly
def demo(
    store: Annotated[Optional[str], typer.Option("--store", "-s")] = None,  # noqa: UP045
) -> None:
    """A short offline tour: remember a conversation, then ask about it."""
    from engramdb.cli.demo import run_demo

    run_demo(store)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
