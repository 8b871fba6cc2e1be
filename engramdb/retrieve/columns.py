"""Growable column arrays: appends are amortised O(1), so a large scope's cache stays cheap to
keep current while it grows (a plain concatenate would copy every column on every add)."""

from __future__ import annotations

from typing import Any

import numpy as np


class Columns:
    def __init__(self, spec: dict[str, tuple[Any, tuple[int, ...], Any]]) -> None:
        """``spec``: name → (dtype, shape of one row, fill value for new rows)."""
        self.spec = spec
        self.n = 0
        self._data = {
            name: np.empty((0, *shape), dtype) for name, (dtype, shape, _) in spec.items()
        }

    def extend(self, m: int) -> slice:
        """Room for m more rows (filled with each column's fill value); returns their slice."""
        capacity = len(next(iter(self._data.values())))
        if self.n + m > capacity:
            grown = max(self.n + m, capacity * 2, 64)
            for name, (dtype, shape, _) in self.spec.items():
                bigger = np.empty((grown, *shape), dtype)
                bigger[: self.n] = self._data[name][: self.n]
                self._data[name] = bigger
        rows = slice(self.n, self.n + m)
        for name, (_, _, fill) in self.spec.items():
            self._data[name][rows] = fill
        self.n += m
        return rows

    def __getitem__(self, name: str) -> Any:
        """The live view of a column (writes go through)."""
        return self._data[name][: self.n]
