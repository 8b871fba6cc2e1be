"""What the MCP tools answer: compact by default, because every character lands in the agent's
context. A memory is one small object (its id's first 12 characters, text, date, status if it
has one, source, score); ``detail`` gives every field, as the REST API does."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

SHORT_ID = 12  # as the CLI's tables show ids; every tool accepts it back (with the user)


def dumps(data: Any) -> str:
    """One compact line of JSON (no indentation, no escaped non-ASCII text)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _day(value: object) -> str | None:
    return value[:10] if isinstance(value, str) and value else None


def status(view: dict[str, Any]) -> str | None:
    """Whether it is still true: a search hit's status (``superseded`` for a message whose
    claims were), else a fact's ``current`` or ``ended YYYY-MM-DD``; a message without
    claims has none."""
    given = view.get("status")
    ended = _day(view.get("valid_to"))
    if given in ("superseded", "past"):
        return f"{given} {ended}" if ended and view.get("kind") != "episode" else str(given)
    if view.get("kind") == "episode":
        return "current" if given == "current" else None
    return f"ended {ended}" if ended else "current"


def source(view: dict[str, Any]) -> str:
    """Who a memory came from: who said a message (and through which channel); for a fact,
    whose words it was extracted from (the ``sources`` tool gives those messages)."""
    who = view.get("speaker") or view.get("role") or "unknown"
    if view.get("kind") != "episode":
        return f"{who} (extracted)"
    channel = (view.get("metadata") or {}).get("source")
    return f"{who} via {channel}" if isinstance(channel, str) and channel else str(who)


def brief(view: dict[str, Any]) -> dict[str, Any]:
    """One memory (a service view: see server/service.py) in a few short fields."""
    when = view.get("event_time") if view.get("kind") == "episode" else view.get("valid_from")
    out: dict[str, Any] = {
        "id": str(view["id"])[:SHORT_ID],
        "text": view.get("text", ""),
        "date": _day(when) or _day(view.get("event_time")) or _day(view.get("created_at")),
    }
    state = status(view)
    if state is not None:
        out["status"] = state
    if view.get("superseded_by"):
        out["replaced_by"] = [str(i)[:SHORT_ID] for i in view["superseded_by"]]
    out["source"] = source(view)
    if view.get("pinned"):
        out["pinned"] = True
    score = view.get("score")
    if isinstance(score, int | float):
        out["score"] = round(float(score), 3)
    flags = view.get("flags") or ((view.get("metadata") or {}).get("guard") or {}).get("flags")
    if flags:  # the guard flagged it: say so, and why
        out["flagged"] = [str(f) for f in flags]
    return out


def memories(views: Iterable[dict[str, Any]], detail: bool, **extra: Any) -> str:
    """A tool's answer holding memories: ``{"results": [...], ...extra}``."""
    results = list(views) if detail else [brief(v) for v in views]
    return dumps({"results": results, **{k: v for k, v in extra.items() if v is not None}})


def history_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A version of a memory without the empty fields."""
    return {k: v for k, v in entry.items() if v is not None and k != "memory_id"}
