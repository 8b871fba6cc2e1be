"""Any OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, Ollama, vLLM, llama.cpp server).

Only used when the user configures it: engramdb never reaches the network otherwise.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engramdb.config import EmbedderConfig
from engramdb.encode.embedders.base import Vectors, normalise
from engramdb.errors import ConfigError, EngramError

_RETRIES = 3


class OpenAICompatEmbedder:
    def __init__(self, config: EmbedderConfig, model_dir: Path) -> None:
        if not config.base_url or not config.model:
            raise ConfigError("embedder provider 'openai' needs base_url and model")
        self._url = config.base_url.rstrip("/") + "/embeddings"
        self._model = config.model
        self._key = config.api_key
        self._timeout = config.timeout_s
        self._batch = config.batch_size
        self.name = f"openai:{config.model}"
        self.dim = config.dimensions or int(self._request(["dimension probe"]).shape[1])

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        parts = [
            self._request(texts[i : i + self._batch]) for i in range(0, len(texts), self._batch)
        ]
        return np.vstack(parts)

    def _request(self, texts: Sequence[str]) -> Vectors:
        body = json.dumps({"model": self._model, "input": list(texts)}).encode()
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        for attempt in range(_RETRIES):
            request = urllib.request.Request(self._url, body, headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as response:
                    payload = json.load(response)
                rows = sorted(payload["data"], key=lambda r: r["index"])
                return normalise(np.asarray([r["embedding"] for r in rows], dtype=np.float32))
            except (urllib.error.URLError, TimeoutError, KeyError, ValueError) as exc:
                # a client error (bad key, bad model) will not heal by waiting; 429 may
                status = exc.code if isinstance(exc, urllib.error.HTTPError) else 0
                if attempt == _RETRIES - 1 or (400 <= status < 500 and status != 429):
                    raise EngramError(f"embedding endpoint {self._url} failed: {exc}") from exc
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")
