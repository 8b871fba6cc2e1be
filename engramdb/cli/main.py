"""``engram``: the command line. Every command opens the store from --store / --config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from engramdb.cli.common import console, fail, friendly, open_memory, progress_bar
from engramdb.cli.importers import read_jsonl, read_locomo
from engramdb.cli.knowledge import register as register_knowledge_commands
from engramdb.cli.llm import register as register_llm_commands
from engramdb.cli.serve import register as register_service_commands
from engramdb.cli.transfer import register as register_transfer_commands
from engramdb.models import Hit, MemoryItem

app = typer.Typer(help="engramdb: long-term memory for LLM agents.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
register_service_commands(app, bench_app)
register_transfer_commands(app)
register_knowledge_commands(app)
register_llm_commands(app)

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
    with open_memory(store, config) as mem:
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
    memory_id: Annotated[Optional[str], typer.Argument(help="the memory to delete")] = None,  # noqa: UP045
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
        mem.delete(memory_id or "", user_id=user_id)
    console.print(f"deleted {memory_id}")


@app.command()
@friendly
def history(
    memory_id: Annotated[str, typer.Argument()],
    store: Store = None,
    config: ConfigFile = None,
) -> None:
    """Every version of a memory: what changed, when, by whom, why."""
    with open_memory(store, config) as mem:
        entries = mem.history(memory_id)
    console.print_json(json.dumps([e.model_dump(mode="json") for e in entries]))


@app.command("import")
@friendly
def import_(
    path: Annotated[
        Path, typer.Argument(help="a JSONL file, LoCoMo JSON/JSONL/folder, or an engram export")
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl, locomo or engram")] = "jsonl",
    user_id: Annotated[
        str | None, typer.Option("--user-id", "-u", help="for lines without one")
    ] = None,
    store: Store = None,
    config: ConfigFile = None,
    checkpoint: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="engram format: progress file to resume from (default: PATH.checkpoint)"),
    ] = None,
) -> None:
    """Import conversations, or an `engram export` (--format engram: vectors, history, times
    kept). Each batch is one transaction; re-importing adds nothing twice."""
    if not path.exists():
        fail(f"{path} does not exist")
    if fmt not in ("jsonl", "locomo", "engram"):
        fail("--format must be jsonl, locomo or engram")
    if fmt == "engram":
        from engramdb.cli.transfer import import_engram

        import_engram(path, store, config, checkpoint)
        return
    batches = list(read_locomo(path) if fmt == "locomo" else read_jsonl(path, user_id))
    total = sum(len(b.messages) for b in batches)
    done = 0
    with open_memory(store, config) as mem, progress_bar() as update:
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


@bench_app.command("locomo")
@friendly
def bench_locomo(
    data: Annotated[Path, typer.Option(help="LoCoMo folder")] = Path("../shared/data/locomo"),
    out: Annotated[Path, typer.Option(help="where JSON and PNG go")] = Path("bench/results"),
    preset: Annotated[str, typer.Option(help="search preset")] = "hybrid",
    embedder: Annotated[str, typer.Option(help="minilm or static")] = "minilm",
    precision: Annotated[str, typer.Option(help="minilm precision: int8 or fp32")] = "int8",
    conversations: Annotated[Optional[str], typer.Option(help="comma-separated conv ids")] = None,  # noqa: UP045
    baselines: Annotated[bool, typer.Option(help="also run BM25/dense/RRF")] = True,
    split: Annotated[str, typer.Option(help="all, tune or validation")] = "all",
    store: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="an empty store to use, e.g. a postgresql:// DSN (default: temporary)"),
    ] = None,
    extraction: Annotated[
        str, typer.Option(help="facts on top of the turns: off, rules or llm")
    ] = "rules",
    llm_model_path: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="with --extraction llm: a GGUF (default: the packaged model)"),
    ] = None,
) -> None:
    """Turn recall on LoCoMo (categories 1-4) beside the BM25, dense and RRF baselines."""
    from engramdb.bench import locomo
    from engramdb.bench.report import locomo_tables, write_outputs

    options: dict[str, Any] = {
        "search_preset": preset,
        "embedder": {"provider": embedder},
        "extraction": {"mode": extraction},
    }
    if extraction == "llm":
        options["llm"] = {"provider": "local"}
        if llm_model_path:
            options["llm"]["model_path"] = str(llm_model_path.expanduser())
    if embedder == "minilm":
        options["embedder"]["precision"] = precision
    chosen = conversations.split(",") if conversations else None
    with progress_bar() as update:
        result = locomo.run(
            data,
            memory_options=options,
            conversations=chosen,
            baselines=baselines,
            progress=update,
            store=store,
        )
    locomo_tables(result, console, split)
    console.print(f"wrote {write_outputs(result, out, 'locomo')}")


@bench_app.command("scale")
@friendly
def bench_scale(
    n: Annotated[int, typer.Option("--n", min=100, help="how many memories")] = 100_000,
    store: Annotated[Optional[str], typer.Option(help="store (default: a temporary file)")] = None,  # noqa: UP045
    embedder: Annotated[str, typer.Option(help="static (fast) or minilm")] = "static",
    bulk: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option(
            "--bulk/--no-bulk",
            help="ingest in a bulk load: PostgreSQL builds its HNSW index once, after the rows"
            " (default: from 200,000 memories on)",
            show_default=False,
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="where the JSON goes")] = Path("bench/results"),
) -> None:
    """Ingest and search latency on synthetic memories in one scope."""
    from engramdb.bench import scale
    from engramdb.bench.report import write_outputs

    with progress_bar() as update:
        result = scale.run(
            n,
            store=store,
            memory_options={"embedder": {"provider": embedder}},
            bulk=bulk,
            progress=update,
        )
    console.print_json(json.dumps(result))
    console.print(f"wrote {write_outputs(result, out, f'scale-{n}')}")


@bench_app.command("updates")
@friendly
def bench_updates(
    mode: Annotated[str, typer.Option(help="rules, llm or both")] = "both",
    llm_model_path: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="a GGUF file (default: the packaged local model)"),
    ] = None,
    llm_base_url: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="an OpenAI-compatible endpoint instead of a local model"),
    ] = None,
    llm_model: Annotated[Optional[str], typer.Option(help="the endpoint's model name")] = None,  # noqa: UP045
    llm_api_key: Annotated[Optional[str], typer.Option(help="the endpoint's API key")] = None,  # noqa: UP045
    embedder: Annotated[str, typer.Option(help="minilm or static")] = "minilm",
    limit: Annotated[Optional[int], typer.Option(min=1, help="only the first N scenarios")] = None,  # noqa: UP045
    split: Annotated[str, typer.Option(help="all, dev (tuning half) or heldout")] = "all",
    scenarios: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            help="a scenarios JSONL file, or 'fresh' for the packaged second set"
            " (default: the packaged first one)"
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="where the JSON goes")] = Path("bench/results"),
) -> None:
    """Changing facts: how often the top fact is the current one, and how often a stale one."""
    import tempfile

    from engramdb.bench import updates
    from engramdb.bench.report import write_outputs

    if mode not in ("rules", "llm", "both"):
        fail(f"--mode must be rules, llm or both, not {mode!r}")
    modes = [m for m in updates.MODES if mode in (m, "both")]
    llm: dict[str, Any] = {"provider": "local"}
    if llm_base_url:
        llm = {"provider": "openai", "base_url": llm_base_url, "model": llm_model}
        llm |= {"api_key": llm_api_key} if llm_api_key else {}
    elif llm_model_path:
        llm["model_path"] = str(llm_model_path.expanduser())
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="engram-updates-") as work, progress_bar() as update:
        for each in modes:
            results[each] = updates.run(
                each,
                scenarios_path=updates.FRESH if str(scenarios) == "fresh" else scenarios,
                llm=llm if each == "llm" else None,
                limit=limit,
                work_dir=Path(work),
                embedder={"provider": embedder},
                progress=update,
                split=split,  # type: ignore[arg-type]
            )
    for result in results.values():
        updates.print_table(result, console)
    console.print(f"wrote {write_outputs(results, out, 'updates')}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
