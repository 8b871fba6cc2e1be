from engramdb.api.async_memory import AsyncMemory
from engramdb.api.memory import Memory

__all__ = ["AsyncMemory", "Memory"]
