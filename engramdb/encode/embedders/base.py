"""The embedder protocol: texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from threading import Lock
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    #: identity stored with the vectors; a store refuses an embedder with another identity
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed a batch: shape (len(texts), dim), each row of unit length."""
        ...


def normalise(matrix: npt.NDArray[np.floating]) -> Vectors:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Vectors = (matrix / norms).astype(np.float32, copy=False)
    return out


class QueryCache:
    """A small LRU of query embeddings: agents repeat questions; the model call is the cost."""

    def __init__(self, embedder: Embedder, size: int = 2048) -> None:
        self.embedder = embedder
        self.size = size
        self._items: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = Lock()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def embed_query(self, text: str) -> Vectors:
        with self._lock:
            hit = self._items.get(text)
            if hit is not None:
                self._items.move_to_end(text)
                return hit
        vector: Vectors = self.embedder.embed([text])[0]
        with self._lock:
            self._items[text] = vector
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return vector
