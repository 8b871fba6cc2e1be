"""``KeyStore`` of the service on PostgreSQL: the ``api_keys`` table (migration 2) of the memory
store's database, so every ``engram serve`` replica sees a key, and its revocation, at once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg_pool

from engramdb.errors import NotFoundError, StoreError
from engramdb.server.keys import ApiKey
from engramdb.store.postgres.pool import connect, translated
from engramdb.store.postgres.schema import migrate

_COLUMNS = "key_id, tenant, user_id, rights, created_at, revoked_at"


def _record(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(
        key_id=str(row[0]),
        tenant=str(row[1]),
        user_id=None if row[2] is None else str(row[2]),
        rights="write" if row[3] == "write" else "read",
        created_at=row[4].astimezone(UTC),
        revoked_at=row[5].astimezone(UTC) if row[5] is not None else None,
    )


class PostgresKeyStore:
    """API keys in PostgreSQL, on a small pool of its own (one lookup per request)."""

    def __init__(self, dsn: str, *, max_size: int = 4, timeout_s: float = 10.0) -> None:
        conn = connect(dsn)
        try:
            with translated("preparing the schema"):
                migrate(conn)
        finally:
            conn.close()
        self._pool = psycopg_pool.ConnectionPool(
            dsn,
            min_size=1,
            max_size=max_size,
            timeout=timeout_s,
            kwargs={"autocommit": True, "prepare_threshold": None},
            open=False,
            name="engramdb-keys",
        )
        with translated("opening the key store"):
            self._pool.open(wait=True, timeout=timeout_s)

    def _run(self, what: str, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self._pool.closed:
            raise StoreError("the key store is closed")
        with translated(what), self._pool.connection() as conn:
            cur = conn.execute(sql.encode(), args)
            return cur.fetchall() if cur.description else []

    def create(self, key_id: str, secret_hash: str, record: ApiKey) -> None:
        self._run(
            "creating an API key",
            "INSERT INTO api_keys (key_id, secret_hash, tenant, user_id, rights, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (key_id, secret_hash, record.tenant, record.user_id, record.rights, record.created_at),
        )

    def lookup(self, key_id: str) -> tuple[ApiKey, str] | None:
        rows = self._run(
            "looking up an API key",
            f"SELECT {_COLUMNS}, secret_hash FROM api_keys WHERE key_id = %s",
            (key_id,),
        )
        return (_record(rows[0]), str(rows[0][6])) if rows else None

    def revoke(self, key_id: str) -> ApiKey:
        rows = self._run(
            "revoking an API key",
            # revoked_at keeps its first value: revoking twice changes nothing
            f"""UPDATE api_keys SET revoked_at = coalesce(revoked_at, %s) WHERE key_id = %s
                RETURNING {_COLUMNS}""",
            (datetime.now(UTC), key_id),
        )
        if not rows:
            raise NotFoundError(f"no API key with id {key_id!r}")
        return _record(rows[0])

    def list(self, tenant: str | None = None) -> list[ApiKey]:
        sql = f"SELECT {_COLUMNS} FROM api_keys"
        args: tuple[str, ...] = ()
        if tenant is not None:
            sql += " WHERE tenant = %s"
            args = (tenant,)
        rows = self._run("listing API keys", sql + ' ORDER BY created_at, key_id COLLATE "C"', args)
        return [_record(r) for r in rows]

    def ping(self) -> None:
        self._run("checking the key store", "SELECT 1 FROM api_keys LIMIT 1", ())

    def close(self) -> None:
        self._pool.close()
