"""API keys: a random secret shown once, stored as a SHA-256 hash next to its id, bound to a
tenant, optionally to one user, with read or write rights.

Persistence sits behind ``KeyStore`` so another backend (PostgreSQL) can implement it. The SQLite
implementation keeps the keys in the memory store's own file (table ``api_keys``, migration 2).
Every request looks its key up again, so a revoked key stops working at once, with no restart.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from engramdb.config import EngramConfig
from engramdb.errors import ConfigError, NotFoundError, StoreError
from engramdb.store import backend_name
from engramdb.store.sqlite.schema import migrate

Rights = Literal["read", "write"]
KEY_PREFIX = "egk"
_KEY_RE = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{16}})_([A-Za-z0-9_-]{{20,100}})$")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key (never the secret itself)."""

    key_id: str
    tenant: str
    user_id: str | None
    rights: Rights
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: ``key`` is the full secret, returned to the caller this once."""

    record: ApiKey
    key: str


class KeyStore(Protocol):
    """Key persistence. ``lookup`` is called on every request: keep it cheap."""

    def create(self, key_id: str, secret_hash: str, record: ApiKey) -> None: ...

    def lookup(self, key_id: str) -> tuple[ApiKey, str] | None:
        """The key and its stored secret hash, revoked or not; None if unknown."""
        ...

    def revoke(self, key_id: str) -> ApiKey:
        """Mark a key revoked (idempotent); raises NotFoundError if unknown."""
        ...

    def list(self, tenant: str | None = None) -> list[ApiKey]: ...

    def ping(self) -> None:
        """Raise if the backing store cannot answer (for /readyz)."""
        ...

    def close(self) -> None: ...


def hash_secret(key_id: str, secret: str) -> str:
    return hashlib.sha256(f"{key_id}:{secret}".encode()).hexdigest()


def issue_key(store: KeyStore, tenant: str, user_id: str | None, rights: Rights) -> IssuedKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    record = ApiKey(key_id, tenant, user_id, rights, datetime.now(UTC))
    store.create(key_id, hash_secret(key_id, secret), record)
    return IssuedKey(record, f"{KEY_PREFIX}_{key_id}_{secret}")


def verify_key(store: KeyStore, presented: str) -> ApiKey | None:
    """The live key matching a presented secret, or None (unknown, wrong secret, revoked)."""
    match = _KEY_RE.match(presented)
    if not match:
        return None
    key_id, secret = match.groups()
    found = store.lookup(key_id)
    if found is None:
        return None
    record, stored_hash = found
    if not hmac.compare_digest(stored_hash, hash_secret(key_id, secret)):
        return None
    return None if record.revoked_at is not None else record


class SQLiteKeyStore:
    """``KeyStore`` in the SQLite file of the memory store (one connection per thread)."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 10_000) -> None:
        self.path = Path(path).expanduser()
        self._timeout = busy_timeout_ms / 1000
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        migrate(self._conn())

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError("the key store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=self._timeout
                )
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot open {self.path} for API keys: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def create(self, key_id: str, secret_hash: str, record: ApiKey) -> None:
        self._conn().execute(
            "INSERT INTO api_keys (key_id, secret_hash, tenant, user_id, rights, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                key_id,
                secret_hash,
                record.tenant,
                record.user_id,
                record.rights,
                record.created_at.isoformat(),
            ),
        )

    def lookup(self, key_id: str) -> tuple[ApiKey, str] | None:
        row = (
            self._conn()
            .execute(f"SELECT {_COLUMNS}, secret_hash FROM api_keys WHERE key_id = ?", (key_id,))
            .fetchone()
        )
        return (_record(row), str(row[6])) if row else None

    def revoke(self, key_id: str) -> ApiKey:
        now = datetime.now(UTC).isoformat()
        conn = self._conn()
        conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (now, key_id),
        )
        row = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,))
        found = row.fetchone()
        if found is None:
            raise NotFoundError(f"no API key with id {key_id!r}")
        return _record(found)

    def list(self, tenant: str | None = None) -> list[ApiKey]:
        sql = f"SELECT {_COLUMNS} FROM api_keys"
        args: tuple[str, ...] = ()
        if tenant is not None:
            sql += " WHERE tenant = ?"
            args = (tenant,)
        rows = self._conn().execute(sql + " ORDER BY created_at, key_id", args).fetchall()
        return [_record(r) for r in rows]

    def ping(self) -> None:
        self._conn().execute("SELECT 1 FROM api_keys LIMIT 1").fetchall()

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._closed = True


_COLUMNS = "key_id, tenant, user_id, rights, created_at, revoked_at"


def _record(row: tuple[object, ...]) -> ApiKey:
    revoked = row[5]
    return ApiKey(
        key_id=str(row[0]),
        tenant=str(row[1]),
        user_id=None if row[2] is None else str(row[2]),
        rights="write" if row[3] == "write" else "read",
        created_at=datetime.fromisoformat(str(row[4])),
        revoked_at=datetime.fromisoformat(str(revoked)) if revoked else None,
    )


def open_key_store(config: EngramConfig) -> KeyStore:
    """The key store that goes with the configured memory store."""
    backend = backend_name(config.store)
    if backend == "postgresql":
        from engramdb.store.postgres.keys import PostgresKeyStore

        return PostgresKeyStore(
            config.store, timeout_s=max(config.store_options.busy_timeout_ms / 1000, 1.0)
        )
    if backend != "sqlite":
        raise ConfigError(f"API keys cannot be stored in a {backend} store")
    return SQLiteKeyStore(config.store, config.store_options.busy_timeout_ms)
