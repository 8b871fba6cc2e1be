"""A GGUF chat model run in-process by llama.cpp (xllamacpp): no server to start, no network.

xllamacpp embeds llama.cpp's server; we call its chat handler directly, so the GGUF's own
chat template and llama.cpp's JSON-schema constrained sampling apply. The embedded server
also wants to listen somewhere: on POSIX it gets a Unix socket in a private temporary
folder (no TCP port at all), elsewhere loopback; either way behind a random API key.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

from engramdb.config import LLMConfig
from engramdb.errors import ConfigError, LLMError
from engramdb.llm.base import LLMStats, with_schema_note
from engramdb.llm.model_files import resolve_model_path

logger = logging.getLogger("engramdb.llm")
_INSTALL_HINT = "pip install 'engramdb[llm]'"
_QUIET, _CHATTY = -1, 3  # llama.cpp verbosity: -1 prints nothing, 3 is its default


class LocalChatModel:
    def __init__(self, config: LLMConfig, *, stats: LLMStats | None = None) -> None:
        try:
            import xllamacpp
        except ImportError:
            raise ConfigError(f"the local llm needs xllamacpp: {_INSTALL_HINT}") from None
        path = resolve_model_path(config)
        self.name = f"local:{path.stem}"
        self.path = path
        self.stats = stats if stats is not None else LLMStats()
        self._config = config
        self._lock = threading.Lock()  # one generation at a time: one slot, one KV cache
        self._folder = tempfile.mkdtemp(prefix="engramdb-llm-")
        # the folder goes even if close() is never called
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._folder, True)
        try:
            self._server: Any = xllamacpp.Server(_params(xllamacpp, config, path, self._folder))
        except Exception as exc:
            self._cleanup()
            raise ConfigError(f"llama.cpp could not load {path}: {exc}") from exc

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> str:
        request: dict[str, Any] = {
            "messages": messages,
            "max_tokens": max_tokens or self._config.max_tokens,
            "temperature": self._config.temperature,
        }
        mode = self._config.structured_output
        if schema is not None and mode in ("auto", "json_schema"):
            request["response_format"] = {"type": "json_schema", "json_schema": {"schema": schema}}
        elif schema is not None:  # not enforced: say it in the prompt
            request["messages"] = with_schema_note(messages, schema)
            if mode == "json_object":
                request["response_format"] = {"type": "json_object"}
        with self._lock:
            if self._server is None:
                raise LLMError(f"{self.name} is closed")
            try:
                result = self._server.handle_chat_completions(request)
            except (ValueError, RuntimeError) as exc:  # a request llama.cpp refused
                raise LLMError(f"{self.name}: {exc}") from exc
        return _content(self.name, result)

    def close(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        del server  # frees the model and stops llama.cpp's threads
        self._cleanup()

    def __enter__(self) -> LocalChatModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _params(xllamacpp: Any, config: LLMConfig, path: Path, folder: str) -> Any:
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_ctx = config.context_size
    params.n_predict = config.max_tokens
    params.n_parallel = 1
    params.cpuparams.n_threads = config.threads
    params.cpuparams_batch.n_threads = config.threads
    params.sampling.temp = config.temperature
    # llama.cpp logs straight to stderr; only show it when engramdb.llm is debugging
    params.verbosity = _CHATTY if logger.isEnabledFor(logging.DEBUG) else _QUIET
    # the embedded HTTP listener: unreachable in practice, and useless without the key
    params.hostnames = [os.path.join(folder, "llm.sock")] if os.name == "posix" else ["127.0.0.1"]
    params.api_keys = [secrets.token_hex(24)]
    params.n_threads_http = 1
    params.ui = False
    params.endpoint_slots = False
    return params


def _content(name: str, result: Any) -> str:
    if not isinstance(result, dict):
        raise LLMError(f"{name} returned {type(result).__name__}, not a completion")
    if "error" in result:
        error = result["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise LLMError(f"{name}: {message}")
    try:
        content = result["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMError(f"{name} returned a completion without a message") from None
    if not isinstance(content, str):
        raise LLMError(f"{name} returned no text")
    return content
