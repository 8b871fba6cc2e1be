"""Store targets for the conformance suite: a SQLite file or a PostgreSQL schema, and what tests
need to look inside either (row counts of every table, read with the backend's own driver)."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
import sqlean as sqlite3  # the store's FTS5 tables need SQLite 3.42+ (secure-delete)

BACKENDS = ["sqlite", "postgresql"]


def is_postgres(target: str | Path) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def schema_dsn(base: str, schema: str) -> str:
    """``base`` with ``search_path`` set to ``schema`` (then public, where pgvector lives)."""
    options = quote(f"-csearch_path={schema},public", safe="")
    return f"{base}{'&' if '?' in base else '?'}options={options}"


def new_schema(base: str) -> str:
    """A fresh, empty schema on the test server; returns a DSN that uses it."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}".encode())
    return schema_dsn(base, name)


def pg_connect(target: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(target, autocommit=True)


def row_counts(target: str | Path) -> dict[str, int]:
    """Rows in every table of the store (and the next value of each PostgreSQL sequence, so a
    refused call that consumed an id would show)."""
    if is_postgres(target):
        with pg_connect(str(target)) as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = current_schema() ORDER BY table_name"
                )
            ]
            counts = {
                t: conn.execute(f'SELECT count(*) FROM "{t}"'.encode()).fetchone()[0]
                for t in tables
            }
            counts["vec_ids"] = conn.execute("SELECT last_value FROM vec_ids").fetchone()[0]
            return counts
    conn = sqlite3.connect(target)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()


def user_row_counts(target: str, user: str) -> dict[str, int]:
    """PostgreSQL: rows of ``user`` in every table that has a user_id column (API keys aside:
    they belong to the service, not to the user's memory)."""
    with pg_connect(target) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema ="
                " current_schema() AND column_name = 'user_id' AND table_name <> 'api_keys'"
                " ORDER BY table_name"
            )
        ]
        return {
            t: conn.execute(
                f'SELECT count(*) FROM "{t}" WHERE user_id = %s'.encode(), (user,)
            ).fetchone()[0]
            for t in tables
        }


def store_exists(target: str | Path) -> bool:
    """Whether anything of a store was created (a file, or tables in the schema)."""
    if not is_postgres(target):
        return Path(target).exists()
    with pg_connect(str(target)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchone()
        return bool(row and row[0])
