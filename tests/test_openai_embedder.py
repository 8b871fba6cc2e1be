"""The OpenAI-compatible embedder speaks real HTTP to a local /v1/embeddings server (the shape
OpenAI, Ollama, vLLM and llama.cpp serve); the vectors come from the static model."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import static_model

from engramdb import ConfigError, EngramError, Memory


class _Embeddings(BaseHTTPRequestHandler):
    calls: ClassVar[list[dict[str, object]]] = []
    fail_next: ClassVar[int] = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append({"auth": self.headers.get("Authorization"), **body})
        if type(self).fail_next > 0:
            type(self).fail_next -= 1
            self.send_response(503)
            self.end_headers()
            return
        vectors = static_model.get_embeddings(body["input"])
        data = [{"index": i, "embedding": list(map(float, v))} for i, v in enumerate(vectors)]
        payload = json.dumps({"data": list(reversed(data)), "model": body["model"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Embeddings.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Embeddings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _options(url: str, **extra: object) -> dict[str, object]:
    return {"provider": "openai", "base_url": url, "model": "m", "api_key": "k", **extra}


def test_embeds_in_batches_in_order_and_searches(endpoint: str, tmp_path: Path) -> None:
    with Memory(tmp_path / "m.db", embedder=_options(endpoint, batch_size=2)) as mem:
        texts = ["I adopted a puppy named Biscuit", "My sister lives in Lisbon", "I play cello"]
        mem.add([{"content": t} for t in texts], user_id="u")
        hits = mem.search("what instrument do I play", user_id="u", preset="dense", limit=1)
        assert hits[0].text == "I play cello"
    inputs = [c["input"] for c in _Embeddings.calls]
    assert ["dimension probe"] in inputs and [texts[0], texts[1]] in inputs and [texts[2]] in inputs
    assert all(c["auth"] == "Bearer k" for c in _Embeddings.calls)
    # rows come back out of order from the server and are put back by their index
    direct = static_model.get_embeddings(texts)
    with Memory(tmp_path / "m.db", embedder=_options(endpoint, dimensions=64)) as mem:
        got = mem.embedder.embed(texts)
    want = np.asarray(direct, np.float32)
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    assert np.allclose(got, want, atol=1e-5)


def test_retries_then_reports_a_failing_endpoint(endpoint: str, tmp_path: Path) -> None:
    _Embeddings.fail_next = 2  # two 503s, then success: retried with backoff
    with Memory(tmp_path / "m.db", embedder=_options(endpoint, dimensions=64)) as mem:
        mem.add([{"content": "hello there"}], user_id="u")
        _Embeddings.fail_next = 5
        with pytest.raises(EngramError, match="embedding endpoint"):
            mem.add([{"content": "never stored"}], user_id="u")
        assert mem.count(user_id="u") == 1


def test_needs_url_and_model(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="base_url and model"):
        Memory(tmp_path / "m.db", embedder={"provider": "openai"})
