"""What every adapter does with the memory it is given."""

from __future__ import annotations

import os
from typing import Any

from engramdb.api.memory import Memory
from engramdb.errors import ConfigError


def memory_of(memory: Memory | str | os.PathLike[str], **options: Any) -> tuple[Memory, bool]:
    """An existing Memory (the caller keeps it), or a new one at a path with ``options``
    (the adapter owns it and closes it): the Memory and whether the adapter owns it."""
    if isinstance(memory, Memory):
        if options:
            raise ConfigError("options configure a new Memory; pass them to Memory(...)")
        return memory, False
    return Memory(os.fspath(memory), **options), True
