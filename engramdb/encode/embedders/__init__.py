"""Embedder registry: each provider a module, imported only when chosen."""

from __future__ import annotations

import importlib
from pathlib import Path

from engramdb.config import EmbedderConfig
from engramdb.encode.embedders.base import Embedder, QueryCache, Vectors, normalise

PROVIDERS: dict[str, str] = {
    "minilm": "engramdb.encode.embedders.minilm:MiniLMEmbedder",
    "static": "engramdb.encode.embedders.static:StaticEmbedder",
    "openai": "engramdb.encode.embedders.openai_compat:OpenAICompatEmbedder",
}


def create_embedder(config: EmbedderConfig, model_dir: Path) -> Embedder:
    """The configured embedder; ``model_dir`` is where it may keep derived model files (one
    folder per machine: ``EngramConfig.model_cache_dir``)."""
    module_name, class_name = PROVIDERS[config.provider].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    embedder: Embedder = cls(config, model_dir)
    return embedder


__all__ = ["PROVIDERS", "Embedder", "QueryCache", "Vectors", "create_embedder", "normalise"]
