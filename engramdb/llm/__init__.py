"""Chat models behind one protocol: any OpenAI-compatible endpoint, or a GGUF run
in-process. ``ask_json`` turns a model's reply into a validated pydantic object."""

from __future__ import annotations

from engramdb.errors import LLMError, LLMOutputError
from engramdb.llm.base import ChatModel, LLMStats
from engramdb.llm.registry import PROVIDERS, create_chat_model
from engramdb.llm.structured import ask_json, repair_json

__all__ = [
    "PROVIDERS",
    "ChatModel",
    "LLMError",
    "LLMOutputError",
    "LLMStats",
    "ask_json",
    "create_chat_model",
    "repair_json",
]
