"""Typed answers from a chat model: ask with a JSON schema, validate with pydantic, repair
what is almost JSON, re-ask once with the error, and otherwise raise (never return nothing)."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from engramdb.errors import LLMError, LLMOutputError
from engramdb.llm.base import ChatModel, LLMStats

T = TypeVar("T", bound=BaseModel)
logger = logging.getLogger("engramdb.llm")

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)
_LITERALS = {"True": "true", "False": "false", "None": "null"}
_ERROR_CHARS = 600
_LOGGED_REPLY_CHARS = 300


def ask_json(
    model: ChatModel,
    messages: list[dict[str, str]],
    output: type[T],
    *,
    stats: LLMStats,
    max_tokens: int | None = None,
    reask: bool = True,
) -> T:
    """Ask ``model`` for an ``output`` and return it validated.

    Raises ``LLMError`` when the model cannot be reached and ``LLMOutputError`` when its
    replies do not validate, even repaired and after one re-ask with the error."""
    schema = output.model_json_schema()
    reply = _call(model, messages, schema, max_tokens, stats)
    result, error = _validate(reply, output, stats)
    if result is None and reask:
        retry = [
            *messages,
            {"role": "assistant", "content": reply},
            {"role": "user", "content": _reask_prompt(error, schema)},
        ]
        reply = _call(model, retry, schema, max_tokens, stats)
        result, error = _validate(reply, output, stats)
    if result is not None:
        return result
    stats.add(invalid=1)
    logger.warning(
        "%s gave no valid %s (%s); reply: %r",
        model.name,
        output.__name__,
        error,
        reply[:_LOGGED_REPLY_CHARS],
    )
    raise LLMOutputError(f"{model.name} did not return a valid {output.__name__}: {error}", reply)


def repair_json(text: str) -> str:
    """Turn almost-JSON into JSON where that is unambiguous: drop ``` fences and prose
    around the outermost {...}, trailing commas, Python's True/False/None and 'quotes'."""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        text = text[start : end + 1]
    return _normalise(text.strip())


def _call(
    model: ChatModel,
    messages: list[dict[str, str]],
    schema: dict[str, object],
    max_tokens: int | None,
    stats: LLMStats,
) -> str:
    started = time.perf_counter()
    try:
        reply = model.chat(messages, schema=schema, max_tokens=max_tokens)
    except LLMError:
        stats.add(calls=1, failures=1, seconds=time.perf_counter() - started)
        raise
    stats.add(calls=1, seconds=time.perf_counter() - started)
    return reply


def _validate(reply: str, output: type[T], stats: LLMStats) -> tuple[T | None, str]:
    """The validated output (or None) and, when there is none, why."""
    try:
        return output.model_validate_json(reply), ""
    except ValidationError as exc:
        error = _describe(exc)
    repaired = repair_json(reply)
    if repaired != reply:
        try:
            result = output.model_validate_json(repaired)
        except ValidationError as exc:
            return None, _describe(exc)
        stats.add(repaired=1)
        return result, ""
    return None, error


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "reply"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)[:_ERROR_CHARS]


def _reask_prompt(error: str, schema: dict[str, object]) -> str:
    return (
        f"That reply was not valid ({error}). Answer again with only one JSON object that "
        f"matches this JSON schema, and nothing else:\n{json.dumps(schema)}"
    )


def _normalise(text: str) -> str:
    """One pass over the text that leaves "double-quoted strings" alone, so a comma, a
    quote or a word inside a string is never changed."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            end = _string_end(text, i)
            if end == -1:  # unterminated: nothing safe to do
                out.append(text[i:])
                break
            out.append(text[i:end] if ch == '"' else _double_quoted(text[i + 1 : end - 1]))
            i = end
        elif ch == "," and _next_visible(text, i + 1) in ("}", "]"):
            i += 1  # a trailing comma
        elif ch.isalpha() or ch == "_":
            end = i
            while end < n and (text[end].isalnum() or text[end] == "_"):
                end += 1
            word = text[i:end]
            out.append(_LITERALS.get(word, word))
            i = end
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    """Index just past the string opened by the quote at ``start``; -1 if it never closes."""
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == quote:
            return i + 1
        else:
            i += 1
    return -1


def _double_quoted(body: str) -> str:
    """A 'single-quoted' string body as a JSON string: \\' unescaped, bare " escaped."""
    out = ['"']
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            pair = body[i : i + 2]
            out.append("'" if pair == "\\'" else pair)
            i += 2
            continue
        out.append('\\"' if ch == '"' else ch)
        i += 1
    out.append('"')
    return "".join(out)


def _next_visible(text: str, start: int) -> str:
    for ch in text[start:]:
        if not ch.isspace():
            return ch
    return ""
