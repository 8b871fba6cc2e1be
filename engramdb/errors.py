"""Exception types. Every error a user can cause is an ``EngramError`` with a clear message."""

from __future__ import annotations


class EngramError(Exception):
    """Base class of every engramdb error."""

    code = "engram_error"


class InvalidInputError(EngramError, ValueError):
    """The caller passed something engramdb will not store or answer (nothing was written)."""

    code = "invalid_input"


class NotFoundError(EngramError, KeyError):
    """No memory with that id exists in the scope asked for."""

    code = "not_found"

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "not found"


class ConfigError(EngramError, ValueError):
    """The configuration is invalid."""

    code = "invalid_config"


class StoreError(EngramError, RuntimeError):
    """The store could not complete an operation (I/O, corruption, schema too new)."""

    code = "store_error"


class LLMError(EngramError, RuntimeError):
    """The chat model could not answer: endpoint down or refusing, timed out, model failed."""

    code = "llm_error"


class LLMOutputError(LLMError):
    """The chat model answered, but not with output that validates, even after repair and
    one re-ask. ``reply`` holds the last (raw) reply."""

    code = "llm_output_invalid"

    def __init__(self, message: str, reply: str = "") -> None:
        super().__init__(message)
        self.reply = reply
