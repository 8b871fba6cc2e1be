"""``engram bench serve``: concurrent clients on loopback against one ``engram serve`` process.

The server runs as a subprocess on a temporary store. After a preload, each client loops for
the given duration, 80% searches and 20% single-message adds, over its own keep-alive
connection. Every acknowledged add is then fetched back by id: a missing one is a lost write.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

_VOCAB = (
    "hiking violin kyoto pottery garden chess marathon novel puppy recipe lemon cake "
    "tyres winter laptop concert museum beach camping painting guitar coffee sister brother "
    "teacher nurse hospital startup promotion wedding birthday festival train flight island"
)
WORDS = _VOCAB.split()
Progress = Callable[[str, int, int], None]


class Client:
    """A tiny JSON client over one keep-alive HTTP connection (one per thread)."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = json.dumps(body) if body is not None else None
        try:
            self.conn.request(method, path, body=payload, headers=self.headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            raise
        return response.status, json.loads(raw) if raw else None

    def close(self) -> None:
        self.conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sentence(rng: random.Random, n: int) -> str:
    return f"note {n}: " + " ".join(rng.choice(WORDS) for _ in range(12))


def start_server(folder: Path, embedder: str, admin: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    config = folder / "engram.json"
    config.write_text(
        json.dumps(
            {
                "store": str(folder / "bench.db"),
                "embedder": {"provider": embedder},
                "server": {"port": port, "log_level": "warning", "access_log": False},
            }
        )
    )
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "engramdb.cli.main", "serve", "--config", str(config)],
        env={**os.environ, "ENGRAMDB_ADMIN_KEY": admin},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited early; see {folder / 'server.log'}")
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            probe.request("GET", "/readyz")
            if probe.getresponse().status == 200:
                return process, port
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not become ready in 120 s")


def _load(
    port: int, key: str, users: list[str], until: float, seed: int
) -> tuple[list[tuple[str, float]], int, list[tuple[str, str]]]:
    """One client's loop: (op, seconds) samples, its error count and its acknowledged adds."""
    rng = random.Random(seed)
    client = Client(port, key)
    samples: list[tuple[str, float]] = []
    acked: list[tuple[str, str]] = []
    errors = 0
    n = 0
    while time.monotonic() < until:
        user = rng.choice(users)
        op = "search" if rng.random() < 0.8 else "add"
        if op == "search":
            body: dict[str, Any] = {"query": " ".join(rng.sample(WORDS, 3)), "user_id": user}
            path = "/v1/search"
        else:
            n += 1
            text = f"client {seed} " + _sentence(rng, n)
            body = {"messages": [{"content": text, "role": "user"}], "user_id": user}
            path = "/v1/memories"
        start = time.perf_counter()
        try:
            status, answer = client.call("POST", path, body)
        except (OSError, http.client.HTTPException, ValueError):
            errors += 1
            continue
        samples.append((op, time.perf_counter() - start))
        if status != 200:
            errors += 1
        elif op == "add":
            acked.extend((user, item["id"]) for item in answer["results"])
    client.close()
    return samples, errors, acked


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    ms = np.asarray(values) * 1000
    return {f"p{q}": round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99)}


def run(
    *,
    duration: float = 60.0,
    clients: int = 32,
    embedder: str = "minilm",
    preload: int = 2000,
    users: int = 8,
    progress: Progress | None = None,
) -> dict[str, Any]:
    update = progress or (lambda stage, done, total: None)
    admin = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="engram-bench-serve-") as tmp:
        process, port = start_server(Path(tmp), embedder, admin)
        try:
            return _measure(port, admin, duration, clients, embedder, preload, users, update)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def _measure(
    port: int,
    admin: str,
    duration: float,
    clients: int,
    embedder: str,
    preload: int,
    users: int,
    update: Progress,
) -> dict[str, Any]:
    status, issued = Client(port, admin).call(
        "POST", "/v1/keys", {"tenant": "bench", "rights": "write"}
    )
    if status != 201:
        raise RuntimeError(f"could not create a key: {status} {issued}")
    key = issued["key"]
    names = [f"user-{i}" for i in range(users)]
    loader, rng = Client(port, key), random.Random(7)
    for start in range(0, preload, 100):
        batch = [
            {"content": _sentence(rng, start + i), "role": "user"}
            for i in range(min(100, preload - start))
        ]
        loader.call("POST", "/v1/memories", {"messages": batch, "user_id": names[start % users]})
        update("preload", min(start + 100, preload), preload)
    until = time.monotonic() + duration
    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(_load, port, key, names, until, i) for i in range(clients)]
        outcomes = [f.result() for f in futures]
    elapsed = time.perf_counter() - began
    samples = [s for o in outcomes for s in o[0]]
    acked = [a for o in outcomes for a in o[2]]
    lost = _verify(port, key, acked, update)
    return {
        "clients": clients,
        "duration_s": round(elapsed, 2),
        "embedder": embedder,
        "preloaded_memories": preload,
        "requests": len(samples),
        "requests_per_s": round(len(samples) / elapsed, 1),
        "latency_ms": _percentiles([s for _, s in samples]),
        "search_ms": _percentiles([s for op, s in samples if op == "search"]),
        "add_ms": _percentiles([s for op, s in samples if op == "add"]),
        "searches": sum(1 for op, _ in samples if op == "search"),
        "adds": sum(1 for op, _ in samples if op == "add"),
        "errors": sum(o[1] for o in outcomes),
        "acknowledged_writes": len(acked),
        "lost_writes": lost,
    }


def _verify(port: int, key: str, acked: list[tuple[str, str]], update: Progress) -> int:
    """How many acknowledged adds cannot be read back by id."""
    local = threading.local()
    done = 0
    lock = threading.Lock()

    def check(item: tuple[str, str]) -> bool:
        nonlocal done
        if not hasattr(local, "client"):
            local.client = Client(port, key)
        user, memory_id = item
        status, _ = local.client.call("GET", f"/v1/memories/{memory_id}?user_id={user}")
        with lock:
            done += 1
            update("verify", done, len(acked))
        return bool(status == 200)

    with ThreadPoolExecutor(8) as pool:
        return sum(1 for ok in pool.map(check, acked) if not ok)
