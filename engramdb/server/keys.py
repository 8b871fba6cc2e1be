"""API keys: a random secret shown once, stored as a SHA-256 hash next to its id, bound to a
tenant, optionally to one user, with read or write rights.

Persistence is the store's (store/keys.py: the ``api_keys`` table of the memory store's own
database, on every backend). Every request looks its key up again, so a revoked key stops
working at once, with no restart.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from engramdb.config import EngramConfig
from engramdb.store import dialect_for
from engramdb.store.keys import ApiKey, KeyStore, Rights

__all__ = ["ApiKey", "IssuedKey", "KeyStore", "issue_key", "open_key_store", "verify_key"]
KEY_PREFIX = "egk"
_KEY_RE = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{16}})_([A-Za-z0-9_-]{{20,100}})$")


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: ``key`` is the full secret, returned to the caller this once."""

    record: ApiKey
    key: str


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


def open_key_store(config: EngramConfig) -> KeyStore:
    """The key store that goes with the configured memory store, on connections of its own
    (a small pool on PostgreSQL: one lookup per request)."""
    options = config.store_options.model_copy(update={"pool_min_size": 1, "pool_max_size": 4})
    return KeyStore(dialect_for(config.store, options))
