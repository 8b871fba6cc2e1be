"""Fast mode: a static 64-d embedding model with a Rust encoder (tokenlearn-static-model).

About 100x faster than MiniLM and much weaker semantically; lexical signals carry more weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engramdb.config import EmbedderConfig
from engramdb.encode.embedders.base import Vectors, normalise


class StaticEmbedder:
    name = "tokenlearn-static-64"
    dim = 64

    def __init__(self, config: EmbedderConfig, model_dir: Path) -> None:
        import static_model

        self._encode = static_model.get_embeddings

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        rows = self._encode([t if t.strip() else "." for t in texts])
        return normalise(np.asarray(rows, dtype=np.float32))
