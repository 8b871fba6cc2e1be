"""``engram serve`` (REST + MCP over HTTP + web UI), ``engram mcp`` (MCP over stdio) and
``engram bench serve``. The admin key is read here, from ENGRAMDB_ADMIN_KEY, a file or a
flag, and handed down; nothing below the CLI reads the environment."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from engramdb.cli.common import build_config, console, errors, fail, friendly, progress_bar
from engramdb.config import EngramConfig
from engramdb.errors import ConfigError

Store = Annotated[
    str | None,
    typer.Option(
        "--store", "-s", help="SQLite file or postgresql:// DSN (default ~/.engramdb/memory.db)"
    ),
]
ConfigFile = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--config", "-c", help="YAML/JSON config file (a `server:` section is allowed)"),
]
MIN_ADMIN_KEY = 16


def _need_server_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import mcp  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        fail(
            "this command needs the server extra: pip install -e '.[server]' in a clone of engramdb"
        )


def load_configs(
    store: str | None, config_file: Path | None, server: dict[str, Any]
) -> tuple[EngramConfig, Any]:
    """The engine config and the server settings (its `server:` section), from a file and
    flags (flags win)."""
    from engramdb.server.settings import ServerSettings

    engine = build_config(store, config_file)
    try:
        settings = ServerSettings.model_validate(
            {**engine.server, **{k: v for k, v in server.items() if v is not None}}
        )
    except ValueError as exc:
        raise ConfigError(f"invalid server settings: {exc}") from exc
    return engine, settings


@friendly
def serve(
    context: typer.Context,
    store: Store = None,
    config: ConfigFile = None,
    host: Annotated[Optional[str], typer.Option(help="address to bind (default 127.0.0.1)")] = None,  # noqa: UP045
    port: Annotated[Optional[int], typer.Option(help="port (default 8765)")] = None,  # noqa: UP045
    admin_key: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            envvar="ENGRAMDB_ADMIN_KEY",
            help="key that creates and revokes API keys (on the command line it shows in `ps`:"
            " prefer ENGRAMDB_ADMIN_KEY or --admin-key-file)",
        ),
    ] = None,
    admin_key_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="read the admin key from this file (its first line)"),
    ] = None,
    log_level: Annotated[Optional[str], typer.Option(help="debug, info, warning, error")] = None,  # noqa: UP045
) -> None:
    """Serve the REST API (/v1, OpenAPI at /openapi.json), MCP (/mcp) and the web UI (/)."""
    _need_server_extra()
    import uvicorn

    from engramdb.api.async_memory import AsyncMemory
    from engramdb.server import create_app, open_key_store
    from engramdb.server.logs import configure_logging
    from engramdb.server.protocol import uvicorn_config

    engine, settings = load_configs(
        store, config, {"host": host, "port": port, "log_level": log_level}
    )
    source = context.get_parameter_source("admin_key")
    admin_key = _admin_key(
        admin_key, admin_key_file, source is not None and source.name == "COMMANDLINE"
    )
    if admin_key is not None and len(admin_key) < MIN_ADMIN_KEY:
        fail(
            f"the admin key must have at least {MIN_ADMIN_KEY} characters"
            " (ENGRAMDB_ADMIN_KEY, --admin-key-file FILE or --admin-key KEY)"
        )
        return
    admin_key = admin_key or None  # none: /v1/keys is off; keys come from `engram keys`
    configure_logging(settings.log_level, access_log=settings.access_log)
    memory = AsyncMemory(config=engine, workers=settings.workers)
    try:
        keys = open_key_store(engine)
    except BaseException:
        memory.memory.close()
        raise
    app = create_app(memory, keys, admin_key=admin_key, settings=settings)
    server = uvicorn.Server(uvicorn_config(app, settings))
    _banner(settings, store, config, admin=admin_key is not None)
    server.run()


def _banner(settings: Any, store: str | None, config: Path | None, *, admin: bool) -> None:
    """Where to point a browser, and how to make the key the UI, REST and MCP ask for."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = f"http://{host}:{settings.port}"
    parts = [f"the web UI at {base}/"] if settings.ui else []
    parts.append(f"REST at {base}/v1 (OpenAPI: {base}/openapi.json)")
    if settings.mcp:
        parts.append(f"MCP at {base}/mcp")
    where = f" --config {config}" if config else (f" --store {store}" if store else "")
    console.print(f"engramdb: {'; '.join(parts)}", markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"make an API key (the UI asks for one): engram keys create{where} [--tenant T]"
        " [--user-id U] [--rights read]",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if not admin:
        console.print(
            "no admin key (ENGRAMDB_ADMIN_KEY or --admin-key-file): the /v1/keys routes are off",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    console.file.flush()  # before uvicorn's own logs, also when stdout is a pipe


def _admin_key(flag: str | None, file: Path | None, from_command_line: bool) -> str | None:
    """The admin key from a file, the environment or the flag; the flag is the one other users
    of the machine can read (``ps``, /proc/PID/cmdline), so using it earns a warning."""
    if file is not None:
        if from_command_line:
            fail("give --admin-key or --admin-key-file, not both")
        try:
            lines = file.expanduser().read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            fail(f"{file} is not a text file")
            return None
        return lines[0].strip() if lines else ""
    if from_command_line:
        errors.print(
            "[yellow]warning:[/yellow] --admin-key on the command line is visible to every user"
            " of this machine (ps); use ENGRAMDB_ADMIN_KEY or --admin-key-file",
            highlight=False,
        )
    return flag


@friendly
def mcp(
    store: Store = None,
    config: ConfigFile = None,
    tenant: Annotated[
        str, typer.Option(help="namespace of user ids; 'default' = the store's own ids")
    ] = "default",
    user_id: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--user-id", "-u", help="bind the session to this one user"),
    ] = None,
    default_user: Annotated[
        str, typer.Option(help="the user of tool calls that name none (unless --user-id)")
    ] = "local",
    read_only: Annotated[bool, typer.Option(help="refuse add and delete")] = False,
) -> None:
    """Serve MCP over stdio (for desktop agents and IDEs): one local user by default."""
    _need_server_extra()
    from engramdb.api.async_memory import AsyncMemory
    from engramdb.mcp.server import run_stdio
    from engramdb.server.auth import Principal
    from engramdb.server.logs import configure_logging
    from engramdb.server.tenancy import check_tenant, check_user

    engine, _ = load_configs(store, config, {})
    check_tenant(tenant)
    for name in (user_id, default_user):
        if name is not None:
            check_user(name, tenant)
    configure_logging("warning")
    local = Principal("key", tenant, user_id, "read" if read_only else "write", "stdio")
    asyncio.run(run_stdio(AsyncMemory(config=engine), local, default_user))


@friendly
def bench_serve(
    duration: Annotated[float, typer.Option(min=1, help="seconds of load")] = 60.0,
    clients: Annotated[int, typer.Option(min=1, max=256, help="concurrent clients")] = 32,
    embedder: Annotated[str, typer.Option(help="minilm or static")] = "minilm",
    preload: Annotated[int, typer.Option(min=0, help="memories stored before the load")] = 2000,
    out: Annotated[Path, typer.Option(help="where the JSON goes")] = Path("bench/results"),
) -> None:
    """Load test: clients mixing 80% search / 20% add against one `engram serve` process."""
    from engramdb.bench import serve as bench
    from engramdb.bench.report import write_outputs

    if embedder not in ("minilm", "static"):
        fail("--embedder must be minilm or static")
    with progress_bar() as update:
        result = bench.run(
            duration=duration,
            clients=clients,
            embedder=embedder,
            preload=preload,
            progress=update,
        )
    console.print_json(json.dumps(result))
    console.print(f"wrote {write_outputs(result, out, f'serve-{clients}c-{int(duration)}s')}")
    if result["errors"] or result["lost_writes"]:
        fail(f"{result['errors']} errors, {result['lost_writes']} lost writes")


def register(app: typer.Typer, bench_app: typer.Typer | None = None) -> None:
    """Add the service commands to the ``engram`` CLI."""
    app.command("serve")(serve)
    app.command("mcp")(mcp)
    if bench_app is not None:
        bench_app.command("serve")(bench_serve)
