"""API keys of the service in the store's own database (``api_keys``), so every replica sees a
key, and its revocation, at once. Only hashed secrets; issuing and checking is server/keys.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from engramdb.errors import NotFoundError
from engramdb.store.dialect import Dialect, Row

Rights = Literal["read", "write"]
_COLUMNS = "key_id, tenant, user_id, rights, created_at, revoked_at"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key (never the secret itself)."""

    key_id: str
    tenant: str
    user_id: str | None
    rights: Rights
    created_at: datetime
    revoked_at: datetime | None = None


class KeyStore:
    """Keys over a dialect, on connections of its own (``lookup``: one read per request)."""

    def __init__(self, dialect: Dialect) -> None:
        self.d = dialect

    def _record(self, row: Row) -> ApiKey:
        return ApiKey(
            key_id=str(row[0]),
            tenant=str(row[1]),
            user_id=None if row[2] is None else str(row[2]),
            rights="write" if row[3] == "write" else "read",
            created_at=self.d.decode("time", row[4]),
            revoked_at=self.d.decode("time", row[5]),
        )

    def create(self, key_id: str, secret_hash: str, record: ApiKey) -> None:
        key = (key_id, secret_hash, record.tenant, record.user_id, record.rights)
        with self.d.write("creating an API key", None) as tx:
            tx.run(
                "INSERT INTO api_keys (key_id, secret_hash, tenant, user_id, rights, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (*key, self.d.time(record.created_at)),
            )

    def lookup(self, key_id: str) -> tuple[ApiKey, str] | None:
        """The key and its stored secret hash, revoked or not; None if unknown."""
        with self.d.read("looking up an API key") as tx:
            sql = f"SELECT {_COLUMNS}, secret_hash FROM api_keys WHERE key_id = ?"
            row = tx.one(sql, (key_id,))
        return (self._record(row), str(row[6])) if row else None

    def revoke(self, key_id: str) -> ApiKey:
        """Mark a key revoked (idempotent); NotFoundError if unknown."""
        with self.d.write("revoking an API key", None) as tx:
            # revoked_at keeps its first value: revoking twice changes nothing
            tx.run(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE key_id = ?",
                (self.d.time(datetime.now(UTC)), key_id),
            )
            row = tx.one(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,))
        if row is None:
            raise NotFoundError(f"no API key with id {key_id!r}")
        return self._record(row)

    def list(self, tenant: str | None = None) -> list[ApiKey]:
        where, args = (" WHERE tenant = ?", (tenant,)) if tenant is not None else ("", ())
        order = f"ORDER BY created_at, key_id{self.d.collate_c}"
        with self.d.read("listing API keys") as tx:
            rows = tx.all(f"SELECT {_COLUMNS} FROM api_keys{where} {order}", args)
        return [self._record(r) for r in rows]

    def ping(self) -> None:
        """Raise if the backing store cannot answer (for /readyz)."""
        with self.d.read("checking the key store") as tx:
            tx.all("SELECT 1 FROM api_keys LIMIT 1")

    def close(self) -> None:
        self.d.close()
