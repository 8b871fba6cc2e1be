"""How LangGraph namespaces, keys and values are kept as engramdb memories.

A namespace is one engramdb scope (``user_id``), so every engramdb guarantee about scopes (a
query never crosses them, ``delete_all`` removes one) holds per namespace. An item is one
episode of that scope whose metadata holds the whole record under ``langgraph``: the key, the
JSON value, the vectors of its indexed fields and its own timestamps. Its text is the indexed
text, so ``engram search``/``engram list`` show something a person can read.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from engramdb.models import MemoryItem

Vector = npt.NDArray[np.float32]
Namespace = tuple[str, ...]

FIELD = "langgraph"  # the metadata key that marks a memory as a store record
FORMAT = 1
READABLE = "lg:"  # user_id = READABLE + labels joined by "." (escaped)
HASHED = "lg#"  # user_id = HASHED + sha256 of the readable form, when that is too long
MAX_USER_ID = 256  # engramdb's limit on a scope id (encode/messages.py MAX_ID_CHARS)


def _escape(label: str) -> str:
    # LangGraph forbids "." in labels, but a batch may be called directly, so every
    # character that could break the join (".", "%") or that engramdb refuses in an id
    # (control characters) is percent-escaped: the mapping stays reversible and injective.
    out = []
    for ch in label:
        if ch in ".%" or ord(ch) < 32 or ord(ch) == 127:
            out.append(f"%{ord(ch):02X}")
        else:
            out.append(ch)
    return "".join(out)


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "%":  # every "%" was escaped, so two hex digits follow
            out.append(chr(int(text[i + 1 : i + 3], 16)))
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def scope_id(namespace: Namespace) -> str:
    """The engramdb user_id of a namespace: readable when it fits, else a hash of it."""
    readable = READABLE + ".".join(_escape(label) for label in namespace)
    if len(readable) <= MAX_USER_ID:
        return readable
    return HASHED + hashlib.sha256(readable.encode("utf-8", "surrogatepass")).hexdigest()


def namespace_of(user_id: str) -> Namespace | None:
    """The namespace a readable scope id stands for; None for a hashed or foreign one."""
    if not user_id.startswith(READABLE):
        return None
    return tuple(_unescape(part) for part in user_id[len(READABLE) :].split("."))


def is_store_scope(user_id: str) -> bool:
    return user_id.startswith((READABLE, HASHED))


def encode_vector(vector: Vector) -> str:
    return base64.b64encode(np.asarray(vector, np.float32).tobytes()).decode("ascii")


def decode_vector(text: str) -> Vector:
    return np.frombuffer(base64.b64decode(text), dtype=np.float32)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


@dataclass(slots=True)
class Record:
    """One LangGraph item as read back from its memory."""

    memory_id: str
    namespace: Namespace
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    order: int  # position in the namespace's listing, kept across overwrites
    rev: int  # which write made it: the newest wins when two memories hold one key
    ttl: float | None  # minutes, as LangGraph counts them
    expires_at: datetime | None
    vectors: dict[str, Vector] = field(default_factory=dict)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def record_metadata(
    *,
    namespace: Namespace,
    key: str,
    value: dict[str, Any],
    created_at: datetime,
    updated_at: datetime,
    order: int,
    rev: int,
    ttl: float | None,
    vectors: dict[str, Vector],
) -> dict[str, Any]:
    """What goes into the memory's metadata (a JSON object, checked by engramdb)."""
    return {
        "format": FORMAT,
        "namespace": list(namespace),
        "key": key,
        "value": value,
        "created_at": iso(created_at),
        "updated_at": iso(updated_at),
        "order": order,
        "rev": rev,
        "ttl": ttl,
        "vectors": {path: encode_vector(v) for path, v in vectors.items()},
    }


def decode_record(item: MemoryItem) -> Record | None:
    """The record a memory holds, or None if it is not one of this store's records."""
    data = item.metadata.get(FIELD)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return Record(
        memory_id=item.id,
        namespace=tuple(data["namespace"]),
        key=data["key"],
        value=data["value"],
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        order=int(data["order"]),
        rev=int(data["rev"]),
        ttl=data.get("ttl"),
        expires_at=item.expires_at,
        vectors={path: decode_vector(v) for path, v in data.get("vectors", {}).items()},
    )
