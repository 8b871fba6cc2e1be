"""Readers for ``engram import``: each yields batches ready for ``Memory.add``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engramdb.errors import InvalidInputError


@dataclass
class Batch:
    user_id: str
    session_id: str | None
    timestamp: str | None
    messages: list[dict[str, Any]]
    metadata: dict[str, Any] | None = None


def read_jsonl(path: Path, default_user: str | None) -> Iterator[Batch]:
    """One JSON object per line: either a batch ``{"user_id", "session_id", "timestamp",
    "messages": [...]}`` or a single message ``{"user_id", "content", ...}``."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
                raise InvalidInputError(f"{path}:{number}: not valid JSON ({exc})") from exc
            if not isinstance(row, dict):
                raise InvalidInputError(f"{path}:{number}: each line must be a JSON object")
            user = row.pop("user_id", default_user)
            if not user:
                raise InvalidInputError(f"{path}:{number}: no user_id (give --user-id)")
            session, stamp = row.pop("session_id", None), row.pop("timestamp", None)
            metadata = row.pop("metadata", None)
            messages = row.pop("messages", None)
            if messages is None:
                messages = [{**row, "timestamp": stamp} if stamp else row]
            yield Batch(str(user), session, stamp, messages, metadata)


_SESSION = re.compile(r"^session_(\d+)$")


def read_locomo(path: Path) -> Iterator[Batch]:
    """LoCoMo: the original ``locomo10.json``, the flattened ``locomo_turns.jsonl``, or a folder
    holding either. One batch per session, one user_id per conversation."""
    if path.is_dir():
        for name in ("locomo_turns.jsonl", "locomo10.json"):
            if (path / name).exists():
                yield from read_locomo(path / name)
                return
        raise InvalidInputError(f"{path} holds neither locomo_turns.jsonl nor locomo10.json")
    if path.suffix == ".jsonl":
        yield from _locomo_turns(path)
    else:
        yield from _locomo_original(path)


def _locomo_turns(path: Path) -> Iterator[Batch]:
    current: Batch | None = None
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            session = f"S{row['session']}"
            if current is None or (current.user_id, current.session_id) != (
                row["conv_id"],
                session,
            ):
                if current:
                    yield current
                current = Batch(row["conv_id"], session, row["session_date_time"], [])
            current.messages.append(
                {"id": row["dia_id"], "speaker": row["speaker"], "content": row["text"]}
            )
    if current:
        yield current


def _locomo_original(path: Path) -> Iterator[Batch]:
    try:
        samples = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError(f"{path} is not LoCoMo JSON: {exc}") from exc
    for index, sample in enumerate(samples):
        conversation = sample["conversation"]
        user = sample.get("sample_id", f"conv-{index}")
        sessions = sorted(
            (int(m.group(1)), key) for key in conversation if (m := _SESSION.match(key))
        )
        for number, key in sessions:
            messages = [
                {"id": t["dia_id"], "speaker": t["speaker"], "content": t.get("text", "")}
                for t in conversation[key]
                if t.get("text", "").strip()
            ]
            if messages:
                stamp = conversation.get(f"{key}_date_time")
                yield Batch(user, f"S{number}", stamp, messages)
