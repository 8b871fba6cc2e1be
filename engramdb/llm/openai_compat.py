"""Any OpenAI-compatible ``/chat/completions`` endpoint: OpenAI, Ollama, vLLM, llama.cpp's
server, ``engram llm serve``. Standard library HTTP only; the network is reached only at the
configured ``base_url``."""

from __future__ import annotations

import copy
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from typing import Any

from engramdb.config import LLMConfig
from engramdb.errors import ConfigError, LLMError
from engramdb.llm.base import LLMStats, with_schema_note

logger = logging.getLogger("engramdb.llm")

# auto mode walks down this list when the endpoint rejects a response_format
_LEVELS = ("json_schema", "json_object", "none")
_MAX_RETRY_AFTER_S = 60.0
_ERROR_BODY_CHARS = 300
_NAMED_SCHEMAS = ("properties", "$defs", "definitions")


class _Rejected(LLMError):
    """The endpoint answered 400/422: this request, as it is, will never be accepted."""


class OpenAIChatModel:
    def __init__(self, config: LLMConfig, *, stats: LLMStats | None = None) -> None:
        if not config.base_url or not config.model:
            raise ConfigError("llm provider 'openai' needs base_url and model")
        self.name = f"openai:{config.model}"
        self.stats = stats if stats is not None else LLMStats()
        self._config = config
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._gate = threading.BoundedSemaphore(config.max_concurrency)
        # the structured-output level this endpoint accepted last (auto mode moves it down)
        self._level = "json_schema" if config.structured_output == "auto" else None

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> str:
        if schema is None:
            return self._complete(messages, None, "none", max_tokens)
        if self._level is None:  # a fixed mode: no fallback
            return self._complete(messages, schema, self._config.structured_output, max_tokens)
        level = self._level
        while True:
            try:
                reply = self._complete(messages, schema, level, max_tokens)
            except _Rejected as exc:
                if level == _LEVELS[-1]:
                    raise
                fallback = _LEVELS[_LEVELS.index(level) + 1]
                logger.info("%s refused %s output (%s); trying %s", self.name, level, exc, fallback)
                level = fallback
                continue
            self._level = level  # later calls start at the level that worked
            return reply

    def close(self) -> None:
        """Nothing is held between calls."""

    def _complete(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any] | None,
        level: str,
        max_tokens: int | None,
    ) -> str:
        body: dict[str, Any] = {
            "model": self._config.model,
            "messages": messages,
            "temperature": self._config.temperature,
            "max_tokens": max_tokens or self._config.max_tokens,
        }
        if schema is not None:
            body.update(_structured(messages, schema, level))
        payload = self._post(json.dumps(body).encode())
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise LLMError(f"{self._url} answered without choices[0].message") from None
        if not isinstance(content, str):
            raise LLMError(f"{self._url} answered with no text content")
        return content

    def _post(self, data: bytes) -> dict[str, Any]:
        """One request, retried on connection errors, timeouts, 429 and 5xx."""
        retries = self._config.retries
        for attempt in range(retries + 1):
            try:
                with self._gate:
                    return self._send(data)
            except _Transient as exc:
                if attempt == retries:
                    raise LLMError(
                        f"{self._url} failed after {retries + 1} attempts: {exc}"
                    ) from exc
                self.stats.add(retries=1)
                time.sleep(self._delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")

    def _send(self, data: bytes) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._config.api_key:
            headers["Authorization"] = f"Bearer {self._config.api_key}"
        request = urllib.request.Request(self._url, data, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._config.timeout_s) as response:
                payload = json.load(response)
        except urllib.error.HTTPError as exc:
            raise _classify(exc) from exc
        except (OSError, HTTPException, ValueError) as exc:
            # refused, reset, timed out (all OSError), cut short, or not JSON (a proxy's page)
            raise _Transient(str(exc)) from exc
        if not isinstance(payload, dict):
            raise LLMError(f"{self._url} answered with JSON that is not an object")
        return payload

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        base = self._config.backoff_s * 2.0**attempt
        jittered = base * (0.5 + random.random() / 2)  # spread clients that failed together
        if retry_after is not None:
            return min(max(jittered, retry_after), _MAX_RETRY_AFTER_S)
        return jittered


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _classify(exc: urllib.error.HTTPError) -> Exception:
    status = exc.code
    detail = _error_text(exc)
    if status == 429 or status >= 500:
        return _Transient(f"HTTP {status}: {detail}", _retry_after(exc))
    if status in (400, 422):
        return _Rejected(f"HTTP {status}: {detail}")
    # 401, 403, 404...: a bad key or model name does not heal by waiting
    return LLMError(f"{exc.url} answered HTTP {status}: {detail}")


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read().decode("utf-8", "replace")
    except (OSError, HTTPException):
        return exc.reason if isinstance(exc.reason, str) else str(exc.reason)
    try:
        message = json.loads(raw)["error"]["message"]
        if isinstance(message, str):
            return message[:_ERROR_BODY_CHARS]
    except (ValueError, KeyError, TypeError):
        pass
    return raw[:_ERROR_BODY_CHARS]


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _structured(
    messages: list[dict[str, str]], schema: dict[str, Any], level: str
) -> dict[str, Any]:
    """Request fields for one structured-output level. Below json_schema the server does not
    know the schema, so it goes into the system prompt."""
    if level == "json_schema":
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": strict_schema(schema), "strict": True},
            }
        }
    fields: dict[str, Any] = {"messages": with_schema_note(messages, schema)}
    if level == "json_object":
        fields["response_format"] = {"type": "json_object"}
    return fields


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as OpenAI's strict mode wants it: every object closed
    (additionalProperties false) and every property required; defaults dropped, since a
    required property never falls back to one. Validation still uses the original model."""
    strict = copy.deepcopy(schema)
    _close_objects(strict)
    return strict


def _close_objects(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _close_objects(item)
        return
    if not isinstance(node, dict):
        return
    node.pop("default", None)
    if node.get("type") == "object" and isinstance(node.get("properties"), dict):
        node["additionalProperties"] = False
        node["required"] = list(node["properties"])
    for key, value in node.items():
        if key in _NAMED_SCHEMAS and isinstance(value, dict):
            for child in value.values():  # the keys are names, not keywords
                _close_objects(child)
        elif isinstance(value, dict | list):
            _close_objects(value)
