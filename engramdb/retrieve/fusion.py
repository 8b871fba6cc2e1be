"""Fusion of per-signal scores into one: normalised linear sum (default) or reciprocal rank."""

from __future__ import annotations

import numpy as np

from engramdb.retrieve.config import SearchConfig
from engramdb.retrieve.signals import Scores


def minmax(values: Scores) -> Scores:
    low, high = float(values.min()), float(values.max())
    # Differences at float noise level (e.g. BM25 of a word every document holds) rank nothing.
    # A signal that is the same for every candidate (always so for a single candidate) counts
    # fully where it fired, so a lone good match does not score 0.
    if high - low <= 1e-6 * max(1.0, abs(high)):
        return np.full_like(values, 1.0 if high > 0 else 0.0)
    return (values - low) / (high - low)


def fuse(signals: dict[str, Scores], weights: dict[str, float], config: SearchConfig) -> Scores:
    """One score per candidate in [0, 1]: the weighted mean of the normalised signals."""
    total = sum(weights[name] for name in signals) or 1.0
    n = len(next(iter(signals.values())))
    fused = np.zeros(n)
    for name, values in signals.items():
        if config.fusion == "rrf":
            ranks = np.empty(n)
            ranks[np.argsort(-values, kind="stable")] = np.arange(1, n + 1)
            fused += weights[name] * (config.rrf_k + 1) / (config.rrf_k + ranks)
        else:
            fused += weights[name] * minmax(values)
    return fused / total
