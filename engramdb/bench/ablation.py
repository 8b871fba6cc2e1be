"""What each search stage buys and costs: LoCoMo conversations ingested once, then every
question asked with the default configuration and with one stage switched off at a time, in
alternating rounds in one process (a noisy machine weighs on all alike). Reported per variant:
R@10 (all, and each split) beside the default's, and search p50 as a ratio to the default's.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engramdb.api.memory import Memory
from engramdb.bench.locomo import TUNE_SPLIT, _ingest, _record, load
from engramdb.bench.metrics import RecallTable, distinct_sources

# one stage off each (search config overrides); "default" is the shipped configuration
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {"succession": True},  # a no-op override: every variant resolves its config
    "no turn BM25": {"weights": {"turn_bm25": 0}},
    "no window BM25": {"weights": {"window_bm25": 0}},
    "no session BM25": {"weights": {"session_bm25": 0}},
    "no lexical at all": {"weights": {"turn_bm25": 0, "window_bm25": 0, "session_bm25": 0}},
    "no dense context": {"weights": {"dense_context": 0}},
    "no dense window": {"weights": {"dense_window": 0}},
    "no session dense": {"weights": {"session_dense": 0}},
    "no speaker": {"weights": {"speaker": 0}},
    "no time": {"weights": {"time": 0}},
    "no attribute": {"weights": {"attribute": 0}},
    "no succession": {"succession": False},
    "present first (opt-in)": {"present_first": True},
}


def run(
    data_dir: Path,
    *,
    conversations: list[str] | None = None,
    rounds: int = 2,
    memory_options: dict[str, Any] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    data = load(data_dir, conversations)
    options = {**(memory_options or {}), "enrichment": {"worker": False}}
    tables: dict[str, dict[str, RecallTable]] = {}
    latency: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp, Memory(Path(tmp) / "ab.db", **options) as mem:
        _ingest(mem, data, progress)
        mem.flush()
        for round_number in range(rounds):
            order = list(VARIANTS) if round_number % 2 == 0 else list(reversed(VARIANTS))
            for done, name in enumerate(order, 1):
                found: dict[str, RecallTable] = defaultdict(RecallTable)
                mem._queries.clear()  # each variant embeds its questions (as a client's would)
                for question in data.questions:
                    start = time.perf_counter()
                    hits = mem.search(
                        question["question"],
                        user_id=question["conv_id"],
                        limit=20,
                        options=VARIANTS[name],
                    )
                    latency[name].append((time.perf_counter() - start) * 1000)
                    _record(found, "v", question, distinct_sources((h.sources for h in hits), 20))
                tables[name] = found
                if progress:
                    progress(f"round {round_number + 1}", done, len(order))
    base = statistics.median(latency["default"])
    out: dict[str, Any] = {"conversations": sorted(data.turns), "rounds": rounds, "variants": {}}
    for name in VARIANTS:
        recall = {
            split: tables[name][f"v|{split}"].summary()["all"]["R@10"]
            for split in ("all", "tune", "validation")
            if f"v|{split}" in tables[name]
        }
        out["variants"][name] = {
            "R@10": recall,
            "p50_ms": statistics.median(latency[name]),
            "p50_vs_default": statistics.median(latency[name]) / base,
        }
    out["tune_split"] = [c for c in TUNE_SPLIT if c in data.turns]
    return out
