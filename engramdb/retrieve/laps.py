"""Wall time per search stage, for the benchmark's stage table; off (one attribute test per
stage) unless a benchmark turns it on."""

from __future__ import annotations

from time import perf_counter

STAGES = (
    "query embedding",
    "query analysis",
    "cache sync",
    "lexical candidates",
    "dense candidates",
    "signals",
    "fusion",
    "reranking",
    "reading hits",
)


class Laps:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] | None = None  # ms per stage, per search
        self._last = 0.0

    def start(self) -> None:
        if self.times is not None:
            self._last = perf_counter()

    def lap(self, stage: str) -> None:
        if self.times is not None:
            now = perf_counter()
            self.times.setdefault(stage, []).append((now - self._last) * 1000)
            self._last = now
