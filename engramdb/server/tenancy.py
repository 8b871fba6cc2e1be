"""Tenants namespace user ids: tenant A's "alice" is not tenant B's "alice".

Each (tenant, user_id) maps to one internal user_id string, and that string is what every store
query is scoped by. Tenant names have no ':' so ``f"{tenant}::{user_id}"`` is unambiguous.

The tenant named ``default`` addresses the store's own, unprefixed user ids: those written by the
Python API, the CLI and ``engram import``. Its user ids may not contain "::", so it can never
reach into another tenant's namespace.
"""

from __future__ import annotations

import re

from engramdb.errors import InvalidInputError

DEFAULT_TENANT = "default"
SEPARATOR = "::"
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$"
MAX_USER_CHARS = 200  # the engine allows 256 for the internal id, prefix included
_TENANT_RE = re.compile(TENANT_PATTERN)


def check_tenant(tenant: str) -> str:
    if not _TENANT_RE.match(tenant):
        raise InvalidInputError(
            "tenant must be 1-48 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return tenant


def check_user(user_id: str, tenant: str) -> str:
    if not user_id.strip() or len(user_id) > MAX_USER_CHARS:
        raise InvalidInputError(f"user_id must be 1-{MAX_USER_CHARS} characters")
    if any(ord(c) < 32 or c == "\x7f" for c in user_id):
        raise InvalidInputError("user_id must not contain control characters")
    if tenant == DEFAULT_TENANT and SEPARATOR in user_id:
        raise InvalidInputError(f"user_id of the {DEFAULT_TENANT} tenant may not contain '::'")
    return user_id


def internal_user(tenant: str, user_id: str) -> str:
    """The store's user_id for a tenant's user."""
    check_user(user_id, tenant)
    return user_id if tenant == DEFAULT_TENANT else f"{tenant}{SEPARATOR}{user_id}"


def external_user(tenant: str, internal: str) -> str | None:
    """A tenant's view of a store user_id, or None when the id belongs to another tenant."""
    if tenant == DEFAULT_TENANT:
        return None if SEPARATOR in internal else internal
    prefix = f"{tenant}{SEPARATOR}"
    return internal[len(prefix) :] if internal.startswith(prefix) else None
