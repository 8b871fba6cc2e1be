"""What every chat model offers, and the counters that say how the calls went."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol


class ChatModel(Protocol):
    """A chat model: an OpenAI-compatible endpoint, a GGUF run in-process, or a test double."""

    # e.g. "local:qwen2.5-coder-0.5b-instruct-q4" or "openai:gpt-4o-mini"; recorded as the
    # actor of the decisions the model makes
    name: str

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> str:
        """The assistant's reply text. With ``schema`` the model is asked (and where it can,
        constrained) to answer with JSON matching it; the caller still validates.
        Raises ``LLMError`` when no reply could be had."""
        ...

    def close(self) -> None: ...


@dataclass
class LLMStats:
    """Counters of chat calls, safe to share between threads.

    ``ask_json`` counts calls, seconds, failures (calls that raised ``LLMError``), repaired
    (replies that validated only after repair) and invalid (replies that never validated).
    The HTTP model counts retries (transport retries) in the stats it was created with.
    """

    calls: int = 0
    failures: int = 0
    retries: int = 0
    repaired: int = 0
    invalid: int = 0
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(
        self,
        *,
        calls: int = 0,
        failures: int = 0,
        retries: int = 0,
        repaired: int = 0,
        invalid: int = 0,
        seconds: float = 0.0,
    ) -> None:
        with self._lock:
            self.calls += calls
            self.failures += failures
            self.retries += retries
            self.repaired += repaired
            self.invalid += invalid
            self.seconds += seconds

    def as_dict(self) -> dict[str, float]:
        with self._lock:
            return {
                "calls": self.calls,
                "failures": self.failures,
                "retries": self.retries,
                "repaired": self.repaired,
                "invalid": self.invalid,
                "seconds": round(self.seconds, 3),
            }


def with_schema_note(
    messages: list[dict[str, str]], schema: dict[str, Any]
) -> list[dict[str, str]]:
    """The messages with the JSON schema stated in the system prompt: for servers that do
    not enforce the schema themselves (OpenAI's JSON mode also insists on the word JSON)."""
    note = "Reply with only one JSON object that matches this JSON schema:\n" + json.dumps(schema)
    if messages and messages[0].get("role") == "system":
        first = {**messages[0], "content": f"{messages[0].get('content', '')}\n\n{note}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]
