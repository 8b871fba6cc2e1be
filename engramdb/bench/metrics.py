"""Retrieval metrics over ranked source ids: a hit counts for the first k distinct ids."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

KS = (5, 10, 20)


def distinct_sources(ranked: Iterable[Sequence[str]], k: int) -> list[str]:
    """The first k distinct source ids, reading each hit's sources in rank order."""
    seen: dict[str, None] = {}
    for sources in ranked:
        for source in sources:
            seen.setdefault(source, None)
            if len(seen) == k:
                return list(seen)
    return list(seen)


def session_of(dia_id: str) -> str:
    return dia_id.split(":")[0]


@dataclass
class RecallTable:
    """Per-category recall numbers for one system."""

    rows: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )

    def record(self, category: str, ranked: list[str], evidence: list[str]) -> None:
        gold = set(evidence)
        row = self.rows[category]
        for k in KS:
            row[f"R@{k}"].append(len(gold & set(ranked[:k])) / len(gold))
        top10 = set(ranked[:10])
        row["all@10"].append(float(gold <= top10))
        sessions = {session_of(e) for e in gold}
        row["session@10"].append(len(sessions & {session_of(r) for r in top10}) / len(sessions))

    def summary(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        overall: dict[str, list[float]] = defaultdict(list)
        for category in sorted(self.rows):
            out[category] = {m: statistics.fmean(v) for m, v in self.rows[category].items()}
            out[category]["n"] = len(next(iter(self.rows[category].values())))
            for metric, values in self.rows[category].items():
                overall[metric].extend(values)
        if overall:
            out["all"] = {m: statistics.fmean(v) for m, v in overall.items()}
            out["all"]["n"] = len(next(iter(overall.values())))
        return out
