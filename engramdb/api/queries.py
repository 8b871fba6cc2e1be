"""The embedder of single questions. MiniLM runs each question in an ONNX Runtime session of
its own with ``embedder.query_threads`` intra-op threads (1 by default): a second thread does
not make one short question faster, and after each run it spins, which on a small machine
starves the search's own numpy work that follows (a 1,400-row scope's dense stage took 2 ms
instead of 0.25). The vectors are the batch session's, bit for bit; the session is made at the
first question."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from engramdb.config import EmbedderConfig
from engramdb.encode.embedders import Embedder, Vectors, create_embedder


class QueryEmbedder:
    def __init__(self, batch: Embedder, config: EmbedderConfig, model_dir: Path) -> None:
        self.name, self.dim = batch.name, batch.dim
        own = config.provider == "minilm" and config.query_threads not in (0, config.threads)
        self._own: Embedder | None = None if own else batch
        self._config = config.model_copy(update={"threads": config.query_threads})
        self._model_dir = model_dir
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        if self._own is None:
            with self._lock:
                if self._own is None:
                    self._own = create_embedder(self._config, self._model_dir)
        return self._own

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embedder.embed(texts)
