"""Who is calling: ``Authorization: Bearer KEY`` (or mem0's ``Token KEY``) becomes a
``Principal`` on every request.

The admin key (given to ``create_app`` by the CLI) manages API keys and nothing else. An API key
reads (``read``) or reads and writes (``write``) the memories of one tenant, or of one user of
that tenant when it is bound to a user_id.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from starlette.requests import HTTPConnection

from engramdb.server.errors import ApiError, forbidden, unauthorized
from engramdb.server.keys import KeyStore, verify_key
from engramdb.server.tenancy import external_user, internal_user

PRINCIPAL_SCOPE_KEY = "engramdb.principal"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["admin", "key"]
    tenant: str = ""
    user_id: str | None = None  # the one user a bound key may touch
    rights: Literal["read", "write"] = "read"
    key_id: str | None = None

    @property
    def label(self) -> str:
        return "admin" if self.kind == "admin" else f"{self.tenant}/{self.key_id}"

    def tenant_key(self) -> Principal:
        if self.kind != "key":
            raise forbidden("the admin key manages API keys; use a tenant's API key for memories")
        return self

    def require_write(self) -> Principal:
        if self.tenant_key().rights != "write":
            raise forbidden("this API key is read-only")
        return self

    def require_admin(self) -> Principal:
        if self.kind != "admin":
            raise forbidden("only the admin key may manage API keys")
        return self

    def scope(self, user_id: str | None) -> str:
        """The internal user_id a request may act on; 403 when the key is bound elsewhere."""
        self.tenant_key()
        if self.user_id is not None:
            if user_id is not None and user_id != self.user_id:
                raise forbidden("this API key is bound to another user")
            user_id = self.user_id
        if user_id is None:
            raise ApiError(422, "invalid_input", "user_id is required")
        return internal_user(self.tenant, user_id)

    def external(self, internal: str) -> str | None:
        """The caller's name for a store user_id; None if it is outside the key's reach."""
        name = external_user(self.tenant, internal)
        if name is None or (self.user_id is not None and name != self.user_id):
            return None
        return name


class Authenticator:
    """Checks bearer keys against the admin key and the key store (looked up every time, so
    revocation takes effect at once)."""

    def __init__(self, keys: KeyStore, admin_key: str | None) -> None:
        self.keys = keys
        self._admin = admin_key.encode() if admin_key else None

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise unauthorized("missing Authorization: Bearer KEY header")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        # "Token KEY" is how mem0's MemoryClient sends its key: the same key, another word
        if scheme.lower() not in ("bearer", "token") or not token:
            raise unauthorized("the Authorization header must be 'Bearer KEY' (or 'Token KEY')")
        if len(token) > 512:
            raise unauthorized("invalid API key")
        if self._admin is not None and hmac.compare_digest(token.encode(), self._admin):
            return Principal(kind="admin")
        record = verify_key(self.keys, token)
        if record is None:
            raise unauthorized("invalid or revoked API key")
        return Principal("key", record.tenant, record.user_id, record.rights, record.key_id)


def principal_of(conn: HTTPConnection) -> Principal:
    """The request's principal (set by the auth middleware), for routes and MCP tools."""
    found = conn.scope.get(PRINCIPAL_SCOPE_KEY)
    if not isinstance(found, Principal):
        raise unauthorized()
    return found
