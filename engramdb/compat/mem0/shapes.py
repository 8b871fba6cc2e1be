"""mem0 2.2.1's dictionaries, made from engramdb's models; its config dict, mapped onto
``EngramConfig``; and its metadata filter language, evaluated on a memory's metadata."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from engramdb.errors import ConfigError
from engramdb.models import HistoryEntry, MemoryItem

MARK = "_mem0"  # metadata key: the mem0 ids of a memory, and whether it is a hidden raw turn
GUARD = "guard"  # metadata key of the guard's marks (manage/guard)
IDS = ("user_id", "agent_id", "run_id")
# mem0 LLM and embedder providers that speak the OpenAI API, with the key of their endpoint
_OPENAI_COMPATIBLE = {
    "openai": "openai_base_url",
    "ollama": "ollama_base_url",
    "lmstudio": "lmstudio_base_url",
    "vllm": "vllm_base_url",
    "deepseek": "deepseek_base_url",
    "together": None,
    "groq": None,
    "xai": "xai_base_url",
}
_DEFAULT_URLS = {"ollama": "http://localhost:11434", "lmstudio": "http://localhost:1234/v1"}


class ValidationError(Exception):
    """mem0's ``mem0.exceptions.ValidationError`` (not a ValueError there either), raised for
    the same mistakes, with its fields."""

    def __init__(
        self, message: str, error_code: str, details: dict[str, Any] | None = None,
        suggestion: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.message, self.error_code = message, error_code
        self.details, self.suggestion = details or {}, suggestion


def iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when is not None else None


def scope_of(ids: dict[str, str | None]) -> str:
    """The engramdb user_id that holds memories with these mem0 ids: the user's own scope
    when there is a user, else one scope per agent, else one per run (engramdb never
    searches across scopes, so a mem0 query must name the scope it reads)."""
    if ids.get("user_id"):
        return str(ids["user_id"])
    if ids.get("agent_id"):
        return f"agent:{ids['agent_id']}"
    if ids.get("run_id"):
        return f"run:{ids['run_id']}"
    raise ValidationError(
        "At least one of 'user_id', 'agent_id', or 'run_id' must be provided.",
        "VALIDATION_001",
        suggestion="Please provide at least one identifier to scope the memory operation.",
    )


def entity_of(scope: str) -> tuple[str, str]:
    """The mem0 entity (type, name) a scope of ``scope_of`` holds: its inverse."""
    for kind in ("agent", "run"):
        if scope.startswith(f"{kind}:"):
            return kind, scope[len(kind) + 1 :]
    return "user", scope


def check_id(value: Any, name: str) -> str | None:
    """mem0's entity id rules: coerced to str, trimmed, non-empty, without whitespace."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        raise ValueError(f"Invalid {name}: cannot be empty or whitespace-only.")
    if any(c.isspace() for c in text):
        raise ValueError(f"Invalid {name}: cannot contain whitespace.")
    return text


def ids_of(item: MemoryItem) -> dict[str, Any]:
    mark = item.metadata.get(MARK)
    if isinstance(mark, dict):
        return {k: mark.get(k) for k in IDS}
    # a fact engramdb extracted: it carries the scope, agent and session of its messages
    user = None if item.user_id.startswith(("agent:", "run:")) else item.user_id
    return {"user_id": user, "agent_id": item.agent_id, "run_id": item.session_id}


def is_hidden(item: MemoryItem, now: datetime, show_expired: bool = False) -> bool:
    """Raw turns of an ``infer=True`` add (mem0 keeps only what it extracted), facts no longer
    true (mem0 would have deleted them), and expired memories are not listed."""
    mark = item.metadata.get(MARK)
    if isinstance(mark, dict) and mark.get("raw"):
        return True
    if item.kind == "fact" and not item.is_valid_at(now):
        return True
    return not show_expired and item.expires_at is not None and item.expires_at <= now


def memory_dict(
    item: MemoryItem, score: float | None = None, *, with_score: bool = True
) -> dict[str, Any]:
    """mem0's shape of one memory (``MemoryItem.model_dump()`` plus the promoted keys)."""
    # engramdb's own marks (the layer's, the guard's) are not the caller's metadata
    extra = {k: v for k, v in item.metadata.items() if k not in (MARK, GUARD) and k not in IDS}
    mark = item.metadata.get(MARK)
    shaped: dict[str, Any] = {
        "id": item.id,
        "memory": item.text,
        "hash": item.content_hash,
        "metadata": extra or None,
    }
    if with_score:
        shaped["score"] = score
    shaped["created_at"] = iso(item.created_at)
    shaped["updated_at"] = iso(item.updated_at or item.created_at)
    for key, value in ids_of(item).items():
        if value is not None:
            shaped[key] = value
    actor = mark.get("actor_id") if isinstance(mark, dict) else None
    if actor is not None:
        shaped["actor_id"] = actor
    if item.role is not None:
        shaped["role"] = item.role
    if item.expires_at is not None:
        shaped["expiration_date"] = (item.expires_at - timedelta(days=1)).date().isoformat()
    return shaped


def history_dicts(item: MemoryItem | None, entries: list[HistoryEntry]) -> list[dict[str, Any]]:
    """mem0's history rows (``SQLiteManager.get_history``). engramdb records a delete without
    the text it removed, so ``old_memory`` of a DELETE is the last text before it; the role of
    a deleted memory is gone with it (None)."""
    created = iso(item.created_at) if item is not None else iso(entries[0].at) if entries else None
    rows, last = [], None
    for i, e in enumerate(entries):
        new = None if e.event == "DELETE" else e.text
        old = e.previous_text if e.previous_text is not None or e.event == "ADD" else last
        rows.append(
            {
                "id": f"{e.memory_id}:{i}",
                "memory_id": e.memory_id,
                "old_memory": old,
                "new_memory": new,
                "event": e.event,
                "created_at": created,
                "updated_at": iso(e.at),
                "is_deleted": e.event == "DELETE",
                "actor_id": None,
                "role": item.role if item is not None else None,
            }
        )
        last = new if new is not None else last
    return rows


def expiry_of(value: Any) -> datetime | None:
    """mem0's ``expiration_date`` (a day, YYYY-MM-DD): hidden after that day, so engramdb's
    expiry is the start of the next day (UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("expiration_date must be a valid date in YYYY-MM-DD format.") from exc
    if not isinstance(value, date):
        raise ValueError("expiration_date must be a date string in YYYY-MM-DD format.")
    return datetime(value.year, value.month, value.day, tzinfo=UTC) + timedelta(days=1)


# --- metadata filters ------------------------------------------------------------------------
def matches(item: MemoryItem, conditions: dict[str, Any]) -> bool:
    """mem0's filter language over a memory's metadata and its ids: ``{"k": v}``, ``"*"``,
    operators eq/ne/in/nin/gt/gte/lt/lte/contains/icontains, and AND/OR/NOT lists."""
    fields = {
        **{k: v for k, v in item.metadata.items() if k not in (MARK, GUARD)},
        **ids_of(item),
    }
    return _all(fields, conditions)


_OPERATORS = ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "contains", "icontains")


def check_filters(conditions: Any) -> None:
    """Refuse a malformed filter (ValueError, as mem0 does) before any memory is read, so a
    mistake is reported whether or not a memory would have reached it."""
    if not isinstance(conditions, dict):
        raise ValueError(f"a filter must be an object of conditions, not {conditions!r}")
    for key, wanted in conditions.items():
        if key in ("AND", "OR", "NOT"):
            if not isinstance(wanted, list):
                raise ValueError(f"{key} takes a list of filters")
            for condition in wanted:
                check_filters(condition)
        elif isinstance(wanted, dict):
            for op, operand in wanted.items():
                if op not in _OPERATORS:
                    raise ValueError(f"Unsupported filter operator: {op}")
                if op in ("in", "nin") and not isinstance(operand, list):
                    raise ValueError(f"filter operator {op} takes a list")
                if op in ("gt", "gte", "lt", "lte") and (
                    not isinstance(operand, int | float) or isinstance(operand, bool)
                ):
                    raise ValueError(f"filter operator {op} takes a number")


def _all(fields: dict[str, Any], conditions: dict[str, Any]) -> bool:
    for key, wanted in conditions.items():
        if key == "AND":
            ok = all(_all(fields, c) for c in wanted)
        elif key == "OR":
            ok = any(_all(fields, c) for c in wanted)
        elif key == "NOT":
            ok = not any(_all(fields, c) for c in wanted)
        else:
            ok = _one(fields.get(key), key in fields, wanted)
        if not ok:
            return False
    return True


def _one(actual: Any, present: bool, wanted: Any) -> bool:
    if wanted == "*":
        return present and actual is not None
    if not isinstance(wanted, dict):
        return bool(actual == wanted)
    for op, operand in wanted.items():  # checked by check_filters
        if op == "eq" and actual != operand:
            return False
        if op == "ne" and actual == operand:
            return False
        if op == "in" and actual not in operand:
            return False
        if op == "nin" and actual in operand:
            return False
        if op in ("gt", "gte", "lt", "lte"):
            if not isinstance(actual, int | float) or isinstance(actual, bool):
                return False
            ordered = {"gt": actual > operand, "gte": actual >= operand}
            ordered.update({"lt": actual < operand, "lte": actual <= operand})
            if not ordered[op]:
                return False
        if op == "contains" and not (isinstance(actual, str) and str(operand) in actual):
            return False
        if op == "icontains" and not (
            isinstance(actual, str) and str(operand).lower() in actual.lower()
        ):
            return False
    return True


# --- configuration ---------------------------------------------------------------------------
def engram_options(config: dict[str, Any]) -> dict[str, Any]:
    """``EngramConfig`` fields from a mem0 config dict. engramdb is the vector store and the
    history database at once, so those sections only lend their path; an OpenAI-compatible
    LLM or embedder is used through engramdb's own clients; ``engramdb`` passes fields as is."""
    options: dict[str, Any] = dict(config.get("engramdb") or {})
    if "store" not in options:
        path = ((config.get("vector_store") or {}).get("config") or {}).get("path")
        base = Path(path) if path else Path(os.environ.get("MEM0_DIR") or "~/.mem0")
        options["store"] = str(base.expanduser() / "engramdb.db")
    llm = config.get("llm")
    if llm and "llm" not in options:
        options["llm"] = _openai_section(
            llm, "llm", ("model", "api_key", "temperature", "max_tokens")
        )
        options.setdefault("extraction", {"mode": "llm"})
    embedder = config.get("embedder")
    if embedder and "embedder" not in options:
        options["embedder"] = _openai_section(embedder, "embedder", ("model", "api_key"))
        dims = (embedder.get("config") or {}).get("embedding_dims")
        if dims:
            options["embedder"]["dimensions"] = dims
    return options


def _openai_section(section: dict[str, Any], name: str, keep: tuple[str, ...]) -> dict[str, Any]:
    provider = section.get("provider", "openai")
    if provider not in _OPENAI_COMPATIBLE:
        raise ConfigError(
            f"mem0 {name} provider {provider!r} is not OpenAI-compatible; configure engramdb's"
            f" own {name} section under the 'engramdb' key instead"
        )
    given = section.get("config") or {}
    url_key = _OPENAI_COMPATIBLE[provider]
    url = given.get(url_key) if url_key else None
    url = url or _DEFAULT_URLS.get(provider)
    if provider == "ollama" and url and not re.search(r"/v1/?$", url):
        url = url.rstrip("/") + "/v1"  # Ollama's OpenAI-compatible API
    out: dict[str, Any] = {"provider": "openai", **{k: given[k] for k in keep if k in given}}
    if url:
        out["base_url"] = url
    return out
