"""engramdb: long-term memory for LLM agents. Offline, embedded, hybrid retrieval."""

from engramdb.api import AsyncMemory, Memory
from engramdb.config import EmbedderConfig, EngramConfig
from engramdb.errors import ConfigError, EngramError, InvalidInputError, NotFoundError, StoreError
from engramdb.models import HistoryEntry, Hit, MemoryItem
from engramdb.retrieve.config import PRESETS, SearchConfig

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "AsyncMemory",
    "ConfigError",
    "EmbedderConfig",
    "EngramConfig",
    "EngramError",
    "HistoryEntry",
    "Hit",
    "InvalidInputError",
    "Memory",
    "MemoryItem",
    "NotFoundError",
    "SearchConfig",
    "StoreError",
]
