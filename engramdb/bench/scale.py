"""Scale benchmark: ingest and search over synthetic memories in one scope (the worst case for
latency), with exact brute-force dense search in the same process as the baseline.

From ``BULK_FROM`` memories on (or with ``bulk=True``) the ingest runs inside the store's
``bulk_load()`` where it has one: PostgreSQL then drops its HNSW index for the load and builds
it once at the end, which the result reports apart (``index_build_s``) beside the rates with
(``ingest_per_s``) and without (``load_per_s``) the build.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from engramdb.api.memory import Memory
from engramdb.store import backend_name

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
_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]
VOCABULARY = 30_000
ZIPF = 1.1
BULK_FROM = 200_000  # default: bulk loads from this many memories on


class Corpus:
    """Synthetic memories with a natural-language-like vocabulary: Zipf-distributed words
    (a few very common, most rare), so document frequencies look like real text's."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        words: dict[str, None] = {}
        while len(words) < VOCABULARY:
            parts = self.rng.integers(0, [len(_ONSETS), len(_VOWELS)] * 4)
            syllables = int(self.rng.integers(1, 5))
            word = "".join(
                _ONSETS[parts[2 * k]] + _VOWELS[parts[2 * k + 1]] for k in range(syllables)
            )
            words.setdefault(word, None)
        self.words = list(words)
        weights = 1.0 / np.arange(1, VOCABULARY + 1) ** ZIPF
        self.cdf = np.cumsum(weights / weights.sum())

    def content(self, k: int) -> list[str]:
        picks = np.searchsorted(self.cdf, self.rng.random(k))
        return [self.words[min(int(i), VOCABULARY - 1)] for i in picks]

    def sentence(self) -> str:
        name = NAMES[int(self.rng.integers(len(NAMES)))]
        verb = VERBS[int(self.rng.integers(len(VERBS)))]
        return f"{name} {verb} the {' '.join(self.content(int(self.rng.integers(6, 14))))}"

    def question_about(self, text: str) -> str:
        """A question that paraphrases a stored memory by a few of its words."""
        words = text.split()
        chosen = self.rng.choice(len(words), size=min(4, len(words)), replace=False)
        return "what about " + " ".join(words[i] for i in sorted(chosen)) + "?"


def run(
    n: int,
    *,
    store: str | None = None,
    memory_options: dict[str, Any] | None = None,
    batch: int = 1000,
    queries: int = 200,
    bulk: bool | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """``bulk``: ingest inside the store's ``bulk_load()`` (None: from ``BULK_FROM`` on)."""
    corpus = Corpus()
    with tempfile.TemporaryDirectory() as tmp:
        target = store or str(Path(tmp) / "scale.db")
        options = {"embedder": {"provider": "static"}, **(memory_options or {})}
        with Memory(target, **options) as mem:
            user = f"scale-{n}"
            probes: list[tuple[str, str]] = []
            can_bulk = mem.store.capabilities.bulk_load
            use_bulk = can_bulk and (n >= BULK_FROM if bulk is None else bulk)
            loading = mem.store.bulk_load() if use_bulk else nullcontext()
            start = time.perf_counter()
            with loading as loaded:
                for first in range(0, n, batch):
                    size = min(batch, n - first)
                    messages = [
                        {"id": f"m{first + i}", "content": corpus.sentence(), "speaker": "user"}
                        for i in range(size)
                    ]
                    # probe memories spread over the whole store, one per chosen batch
                    if len(probes) < queries and corpus.rng.random() < queries * batch / n:
                        pick = int(corpus.rng.integers(size))
                        probes.append((messages[pick]["id"], messages[pick]["content"]))
                    mem.add(messages, user_id=user, session_id=f"s{first // 20}")
                    if progress:
                        progress("ingest", first + size, n)
                load_s = time.perf_counter() - start
                if progress and use_bulk:
                    progress("index build", 0, 1)
            ingest_s = time.perf_counter() - start
            build_s = getattr(loaded, "build_s", None)
            build = {
                "workers": getattr(loaded, "workers", None),
                "memory_mb": getattr(loaded, "memory_mb", None),
            }
            if progress and use_bulk:
                progress("index build", 1, 1)
            asked = [corpus.question_about(text) for _, text in probes]
            start = time.perf_counter()
            mem.search(asked[0], user_id=user)  # loads the scope cache (and builds HNSW)
            first_search_s = time.perf_counter() - start
            latencies, found = [], 0
            for i, query in enumerate(asked):
                start = time.perf_counter()
                hits = mem.search(query, user_id=user, limit=10)
                latencies.append((time.perf_counter() - start) * 1000)
                found += any(probes[i][0] in h.sources for h in hits)
                if progress:
                    progress("search", i + 1, queries)
            exact = _exact_baseline(mem, user, asked)
    return {
        "n": n,
        "store": backend_name(target),
        "embedder": options["embedder"],
        "bulk": use_bulk,
        # ingest_s includes the index build of a bulk load; load_s is the rows alone
        "ingest_s": ingest_s,
        "ingest_per_s": n / ingest_s,
        "load_s": load_s,
        "load_per_s": n / load_s,
        "index_build_s": build_s,
        "index_build": build if build_s is not None else None,
        "first_search_s": first_search_s,
        "search_ms": _percentiles(latencies),
        "exact_dense_ms": _percentiles(exact),
        "search_vs_exact_p50": statistics.median(latencies) / max(statistics.median(exact), 1e-9),
        "queries": len(asked),
        "source_found_at_10": found / max(len(asked), 1),
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
