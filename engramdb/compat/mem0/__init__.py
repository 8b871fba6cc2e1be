"""mem0's OSS Python API (2.2.1) on engramdb: ``from engramdb.compat.mem0 import Memory,
AsyncMemory`` where code said ``from mem0 import Memory, AsyncMemory``. It needs no mem0
package, no vector database and no API key: engramdb is the vector store, the history database
and (with its rules) the fact extractor."""

from engramdb.compat.mem0.aio import AsyncMemory
from engramdb.compat.mem0.memory import Memory
from engramdb.compat.mem0.shapes import ValidationError

__all__ = ["AsyncMemory", "Memory", "ValidationError"]
