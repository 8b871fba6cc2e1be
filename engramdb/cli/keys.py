"""``engram keys create | list | revoke``: the service's API keys, managed on the store itself
(the ``api_keys`` table that every ``engram serve`` of the store reads on each request), with
the same issuing code as ``POST /v1/keys``; a revoked key stops working at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from engramdb.cli.common import build_config, console, errors, fail, friendly
from engramdb.config import EngramConfig
from engramdb.errors import InvalidInputError
from engramdb.store import backend_name

keys_app = typer.Typer(help="API keys of `engram serve` (REST, MCP and the web UI).")
Store = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--store", "-s", help="SQLite file or postgresql:// DSN (as `engram serve`)"),
]
ConfigFile = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML/JSON config")]  # noqa: UP045
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


def _config(store: str | None, config: Path | None, *, create: bool = False) -> EngramConfig:
    engine = build_config(store, config)
    path = Path(engine.store).expanduser()
    if not create and backend_name(engine.store) == "sqlite" and not path.exists():
        raise InvalidInputError(f"no store at {path} (a mistyped --store?)")
    return engine


def _need_server() -> None:
    try:
        import fastapi  # noqa: F401
    except ImportError:
        fail("API keys need the server extra: pip install -e '.[server]' in a clone of engramdb")


def _record(record: Any) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "tenant": record.tenant,
        "user_id": record.user_id,
        "rights": record.rights,
        "created_at": record.created_at.isoformat(),
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
    }


@keys_app.command("create")
@friendly
def create(
    tenant: Annotated[
        str, typer.Option(help="whose memories: 'default' = the store's own user ids")
    ] = "default",
    user_id: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--user-id", "-u", help="bind the key to this one user of the tenant"),
    ] = None,
    rights: Annotated[str, typer.Option(help="read or write")] = "write",
    store: Store = None,
    config: ConfigFile = None,
    as_json: AsJson = False,
) -> None:
    """Make an API key; its secret is printed this once (only its hash is stored)."""
    _need_server()
    from engramdb.server.keys import issue_key, open_key_store
    from engramdb.server.tenancy import check_tenant, check_user

    if rights not in ("read", "write"):
        fail("--rights must be read or write")
    check_tenant(tenant)
    if user_id is not None:
        check_user(user_id, tenant)
    keys = open_key_store(_config(store, config, create=True))
    try:
        issued = issue_key(keys, tenant, user_id, "write" if rights == "write" else "read")
    finally:
        keys.close()
    if as_json:
        console.print_json(json.dumps({**_record(issued.record), "key": issued.key}))
        return
    console.print(issued.key, markup=False, highlight=False, soft_wrap=True)
    scope = f"user {user_id!r} of tenant {tenant!r}" if user_id else f"tenant {tenant!r}"
    errors.print(
        f"key {issued.record.key_id}: {rights} access to {escape(scope)}. It is shown only"
        " now: keep it (Authorization: Bearer KEY, or paste it into the web UI).",
        highlight=False,
    )


@keys_app.command("list")
@friendly
def list_(
    tenant: Annotated[Optional[str], typer.Option(help="only this tenant's keys")] = None,  # noqa: UP045
    store: Store = None,
    config: ConfigFile = None,
    as_json: AsJson = False,
) -> None:
    """The API keys (never their secrets), oldest first, revoked ones too."""
    _need_server()
    from engramdb.server.keys import open_key_store

    keys = open_key_store(_config(store, config))
    try:
        records = keys.list(tenant)
    finally:
        keys.close()
    if as_json:
        console.print_json(json.dumps([_record(r) for r in records]))
        return
    table = Table(title=f"{len(records)} API keys", title_justify="left")
    for column in ("key_id", "tenant", "user_id", "rights", "created", "revoked"):
        table.add_column(column)
    for r in records:
        revoked = f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else ""
        cells = (r.key_id, r.tenant, r.user_id or "", r.rights, f"{r.created_at:%Y-%m-%d %H:%M}")
        table.add_row(*(escape(c) for c in (*cells, revoked)))
    console.print(table)


@keys_app.command("revoke")
@friendly
def revoke(
    key_id: Annotated[str, typer.Argument(help="the key's id (`engram keys list`)")],
    store: Store = None,
    config: ConfigFile = None,
) -> None:
    """Revoke an API key: every `engram serve` of the store refuses it from now on."""
    _need_server()
    from engramdb.server.keys import open_key_store

    keys = open_key_store(_config(store, config))
    try:
        record = keys.revoke(key_id)
    finally:
        keys.close()
    assert record.revoked_at is not None
    console.print(f"revoked {record.key_id} at {record.revoked_at:%Y-%m-%d %H:%M:%S}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys", no_args_is_help=True)
