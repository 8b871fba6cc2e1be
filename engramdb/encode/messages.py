"""Messages in, episode drafts out: validation (all before any write) and normalisation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engramdb.config import LimitsConfig
from engramdb.encode.text import content_hash, speaker_prefixed
from engramdb.encode.timeparse import TimeRange, find_time_ranges, parse_timestamp
from engramdb.errors import InvalidInputError

MAX_ID_CHARS = 256


@dataclass(slots=True)
class EpisodeDraft:
    """A validated message, ready to embed and store."""

    message_id: str
    content: str
    role: str | None
    speaker: str | None
    event_time: datetime
    time_ranges: list[TimeRange]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def embed_text(self) -> str:
        return speaker_prefixed(self.speaker, self.content)

    def hash(self, user_id: str, session_id: str | None) -> str:
        return content_hash(user_id, session_id, self.message_id, self.speaker, self.content)


def check_scope_id(value: object, name: str, *, required: bool) -> str | None:
    """user_id / agent_id / session_id: a non-empty string without control characters."""
    if value is None:
        if required:
            raise InvalidInputError(f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{name} must be a non-empty string")
    if len(value) > MAX_ID_CHARS or any(ord(c) < 32 for c in value):
        raise InvalidInputError(f"{name} must be at most {MAX_ID_CHARS} printable characters")
    check_text(value, name)
    return value


def check_text(value: str, name: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{name} is not valid UTF-8 text (lone surrogate)") from exc


def check_metadata(value: object, limits: LimitsConfig, name: str = "metadata") -> dict[str, Any]:
    """The one rule for metadata, in the Python API and the service's request models alike:
    a JSON object (RFC 8259: no NaN or Infinity, UTF-8 text) within ``limits``' depth, key
    count, key length and size. Returns a plain copy, as it will be stored."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{name} must be a JSON object")
    value = dict(value)
    _check_shape(value, limits, name)  # first: json.dumps recurses, and deep input would crash it
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise InvalidInputError(f"{name} must be JSON-serialisable UTF-8: {exc}") from exc
    if len(encoded) > limits.max_metadata_bytes:
        raise InvalidInputError(f"{name} is larger than {limits.max_metadata_bytes} bytes")
    parsed: dict[str, Any] = json.loads(encoded)
    return parsed


def _check_shape(value: dict[Any, Any], limits: LimitsConfig, name: str) -> None:
    """Depth, key count and key length, walked without recursion and stopped at the first
    breach (a self-containing object ends there too: it is too deep)."""
    keys = 0
    nodes = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children: Iterable[object]
        if isinstance(node, dict):
            keys += len(node)
            if keys > limits.max_metadata_keys:
                raise InvalidInputError(f"{name} has more than {limits.max_metadata_keys} keys")
            for key in node:
                if isinstance(key, str) and len(key) > limits.max_metadata_key_chars:
                    raise InvalidInputError(
                        f"{name} has a key longer than {limits.max_metadata_key_chars} characters"
                    )
            children = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth > limits.max_metadata_depth:
            raise InvalidInputError(
                f"{name} is nested deeper than {limits.max_metadata_depth} levels"
            )
        # each value takes at least a byte of JSON: more than the size limit cannot fit
        nodes += len(node)
        if nodes > limits.max_metadata_bytes:
            raise InvalidInputError(f"{name} is larger than {limits.max_metadata_bytes} bytes")
        stack.extend((child, depth + 1) for child in children)


def check_reason(value: object, limits: LimitsConfig) -> str | None:
    """Why a memory was changed: optional, text, at most ``max_reason_chars``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError("reason must be a string")
    check_text(value, "reason")
    if len(value) > limits.max_reason_chars:
        raise InvalidInputError(f"reason is longer than {limits.max_reason_chars} characters")
    return value


def prepare_messages(
    messages: object, *, timestamp: object, limits: LimitsConfig
) -> list[EpisodeDraft]:
    """Validate a whole batch; raise ``InvalidInputError`` naming the first bad message."""
    if isinstance(messages, str | Mapping):
        messages = [messages]
    if not isinstance(messages, Sequence) or isinstance(messages, bytes):
        raise InvalidInputError("messages must be a list of {'content': ...} objects")
    if not messages:
        raise InvalidInputError("messages is empty")
    if len(messages) > limits.max_batch_messages:
        raise InvalidInputError(f"at most {limits.max_batch_messages} messages per add")
    batch_time = parse_timestamp(timestamp) if timestamp is not None else datetime.now(UTC)
    drafts = []
    seen: set[str] = set()
    for index, message in enumerate(messages):
        draft = _prepare_one(message, index, batch_time, limits)
        if draft.message_id in seen:
            raise InvalidInputError(f"messages[{index}]: duplicate id {draft.message_id!r}")
        seen.add(draft.message_id)
        drafts.append(draft)
    return drafts


def _prepare_one(
    message: object, index: int, batch_time: datetime, limits: LimitsConfig
) -> EpisodeDraft:
    where = f"messages[{index}]"
    if isinstance(message, str):
        message = {"content": message}
    if not isinstance(message, Mapping):
        raise InvalidInputError(f"{where} must be an object with 'content'")
    content = message.get("content")
    if not isinstance(content, str):
        raise InvalidInputError(f"{where}.content must be a string")
    check_text(content, f"{where}.content")
    if not content.strip():
        raise InvalidInputError(f"{where}.content is empty")
    if len(content) > limits.max_message_chars:
        raise InvalidInputError(
            f"{where}.content has {len(content)} characters;"
            f" the limit is {limits.max_message_chars}"
        )
    raw_id = message.get("id")
    if raw_id is None:
        message_id = uuid.uuid4().hex
    elif isinstance(raw_id, str | int) and not isinstance(raw_id, bool) and str(raw_id).strip():
        message_id = str(raw_id)
        check_scope_id(message_id, f"{where}.id", required=True)
    else:
        raise InvalidInputError(f"{where}.id must be a non-empty string or integer")
    speaker = message.get("speaker", message.get("name"))
    role = message.get("role")
    for label, value in (("speaker", speaker), ("role", role)):
        if value is not None:
            check_scope_id(value, f"{where}.{label}", required=False)
    stamp = message.get("timestamp")
    event_time = (
        parse_timestamp(stamp, field=f"{where}.timestamp") if stamp is not None else batch_time
    )
    extra = {k: v for k, v in message.items() if k not in _KNOWN_FIELDS}
    metadata = check_metadata(extra, limits, f"{where} extra fields") if extra else {}
    return EpisodeDraft(
        message_id=message_id,
        content=content,
        role=role,
        speaker=speaker,
        event_time=event_time,
        time_ranges=find_time_ranges(content, event_time),
        metadata=metadata,
    )


_KNOWN_FIELDS = frozenset({"id", "content", "role", "speaker", "name", "timestamp"})
