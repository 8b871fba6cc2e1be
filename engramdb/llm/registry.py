"""Chat model registry: each provider a module, imported only when chosen (xllamacpp is
never imported by a process that talks to an endpoint)."""

from __future__ import annotations

import importlib

from engramdb.config import LLMConfig
from engramdb.llm.base import ChatModel, LLMStats

PROVIDERS: dict[str, str] = {
    "openai": "engramdb.llm.openai_compat:OpenAIChatModel",
    "local": "engramdb.llm.local:LocalChatModel",
}


def create_chat_model(config: LLMConfig, *, stats: LLMStats | None = None) -> ChatModel:
    """The chat model ``config`` describes. ``stats`` (optional) receives the model's own
    counts (transport retries); pass the same object to ``ask_json`` to have all in one."""
    module_name, class_name = PROVIDERS[config.provider].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    model: ChatModel = cls(config, stats=stats)
    return model
