"""Scale benchmark: ingest and search over synthetic memories in one scope (the worst case for
latency), with exact brute-force dense search in the same process as the baseline."""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engramdb.api.memory import Memory

NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Farah", "Gus", "Hana", "Ivo", "Jun", "Kofi", "Lena"]
VERBS = [
    "visited",
    "bought",
    "painted",
    "fixed",
    "cooked",
    "read about",
    "adopted",
    "sold",
    "planned",
    "photographed",
    "lost",
    "found",
    "built",
    "learned",
    "wrote about",
]
ADJECTIVES = [
    "red",
    "old",
    "tiny",
    "famous",
    "broken",
    "new",
    "quiet",
    "spicy",
    "wooden",
    "electric",
    "vintage",
    "local",
    "rare",
    "huge",
    "blue",
]
NOUNS = [
    "bicycle",
    "garden",
    "violin",
    "recipe",
    "puppy",
    "museum",
    "telescope",
    "kayak",
    "novel",
    "apartment",
    "laptop",
    "bakery",
    "guitar",
    "mural",
    "greenhouse",
    "camera",
    "marathon",
    "festival",
    "sculpture",
    "podcast",
]
PLACES = [
    "Lisbon",
    "Osaka",
    "Denver",
    "Nairobi",
    "Oslo",
    "Quito",
    "Hanoi",
    "Leeds",
    "Perth",
    "Tulsa",
    "Bergen",
    "Cusco",
]


def sentence(rng: random.Random, serial: int) -> str:
    return (
        f"{rng.choice(NAMES)} {rng.choice(VERBS)} the {rng.choice(ADJECTIVES)} "
        f"{rng.choice(NOUNS)} in {rng.choice(PLACES)} (note {serial})"
    )


def run(
    n: int,
    *,
    store: str | None = None,
    memory_options: dict[str, Any] | None = None,
    batch: int = 1000,
    queries: int = 200,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        target = store or str(Path(tmp) / "scale.db")
        options = {"embedder": {"provider": "static"}, **(memory_options or {})}
        with Memory(target, **options) as mem:
            user = f"scale-{n}"
            start = time.perf_counter()
            for first in range(0, n, batch):
                size = min(batch, n - first)
                messages = [
                    {"id": f"m{first + i}", "content": sentence(rng, first + i), "speaker": "user"}
                    for i in range(size)
                ]
                mem.add(messages, user_id=user, session_id=f"s{first // 20}")
                if progress:
                    progress("ingest", first + size, n)
            ingest_s = time.perf_counter() - start
            asked = [
                f"What did {rng.choice(NAMES)} {rng.choice(VERBS).split()[0]} in "
                f"{rng.choice(PLACES)} with the {rng.choice(NOUNS)}?"
                for _ in range(queries)
            ]
            start = time.perf_counter()
            mem.search(asked[0], user_id=user)  # loads the scope cache (and builds HNSW)
            first_search_s = time.perf_counter() - start
            latencies = []
            for i, query in enumerate(asked):
                start = time.perf_counter()
                mem.search(query, user_id=user, limit=10)
                latencies.append((time.perf_counter() - start) * 1000)
                if progress:
                    progress("search", i + 1, queries)
            exact = _exact_baseline(mem, user, asked)
    return {
        "n": n,
        "embedder": options["embedder"],
        "ingest_s": ingest_s,
        "ingest_per_s": n / ingest_s,
        "first_search_s": first_search_s,
        "search_ms": _percentiles(latencies),
        "exact_dense_ms": _percentiles(exact),
        "search_vs_exact_p50": statistics.median(latencies) / max(statistics.median(exact), 1e-9),
    }


def _exact_baseline(mem: Memory, user: str, queries: list[str]) -> list[float]:
    """Brute-force cosine over every vector of the scope: what search costs without an index."""
    rows = mem.store.scope_rows(user, 0)
    vectors = rows.vectors
    out = []
    for query in queries:
        start = time.perf_counter()
        qv = mem.embedder.embed([query])[0]
        sims = vectors @ qv
        np.argpartition(-sims, 10)[:10]
        out.append((time.perf_counter() - start) * 1000)
    return out


def _percentiles(values: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(values),
        "p95": float(np.percentile(values, 95)),
        "p99": float(np.percentile(values, 99)),
    }
