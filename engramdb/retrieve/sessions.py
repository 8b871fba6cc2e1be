"""Session structure of a scope: each episode's previous and next turn, the members of each
session segment and their mean vector. Kept incrementally as turns are appended in order;
an out-of-order append or a reload rebuilds it once, lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engramdb.retrieve.columns import Columns

if TYPE_CHECKING:
    from engramdb.retrieve.scope_index import FloatArray, IntArray


class SessionLayout:
    def __init__(self, columns: Columns, dim: int) -> None:
        self.cols = columns  # reads session_code, seq, vectors, alive, is_episode; owns prev/next
        self.dim = dim
        self.members: dict[int, list[int]] = {}
        self.last: dict[int, int] = {}  # session code → position of its latest turn
        self.sums = np.zeros((0, dim), np.float64)
        self.counts = np.zeros(0, np.float64)
        self._means: FloatArray | None = None
        self.stale = True

    def _grow(self, sessions: int) -> None:
        if sessions > len(self.counts):
            size = max(sessions, 2 * len(self.counts), 16)
            self.sums = np.vstack([self.sums, np.zeros((size - len(self.sums), self.dim))])
            self.counts = np.concatenate([self.counts, np.zeros(size - len(self.counts))])

    def add(self, positions: IntArray, sessions: int) -> None:
        """Link newly appended rows (positions ascending) into their sessions."""
        if self.stale:
            return  # the next read rebuilds everything anyway
        cols = self.cols
        self._grow(sessions)
        for pos in positions.tolist():
            if not cols["is_episode"][pos]:
                continue
            code = int(cols["session_code"][pos])
            last = self.last.get(code)
            if last is not None and cols["seq"][pos] < cols["seq"][last]:
                self.stale = True  # inserted before the session's end: relink from scratch
                return
            if last is not None:
                cols["prev"][pos], cols["next"][last] = last, pos
            self.last[code] = pos
            self.members.setdefault(code, []).append(pos)
            self.sums[code] += cols["vectors"][pos]
            self.counts[code] += 1
        self._means = None

    def remove(self, pos: int) -> None:
        cols = self.cols
        if self.stale or not cols["is_episode"][pos]:
            return
        code = int(cols["session_code"][pos])
        before, after = int(cols["prev"][pos]), int(cols["next"][pos])
        if before >= 0:
            cols["next"][before] = after
        if after >= 0:
            cols["prev"][after] = before
        if self.last.get(code) == pos:
            if before >= 0:
                self.last[code] = before
            else:
                self.last.pop(code)
        self.members[code].remove(pos)
        self.sums[code] -= cols["vectors"][pos]
        self.counts[code] -= 1
        self._means = None

    def replace_vector(self, pos: int, old: FloatArray) -> None:
        cols = self.cols
        if not self.stale and cols["is_episode"][pos] and cols["alive"][pos]:
            code = int(cols["session_code"][pos])
            self.sums[code] += cols["vectors"][pos].astype(np.float64) - old
            self._means = None

    def _rebuild(self, sessions: int) -> None:
        cols = self.cols
        cols["prev"][:] = -1
        cols["next"][:] = -1
        live = np.flatnonzero(cols["alive"] & cols["is_episode"])
        codes = cols["session_code"]
        order = live[np.lexsort((cols["seq"][live], codes[live]))]
        same = codes[order[1:]] == codes[order[:-1]]
        cols["next"][order[:-1][same]] = order[1:][same]
        cols["prev"][order[1:][same]] = order[:-1][same]
        self.members = {}
        for pos in order.tolist():
            self.members.setdefault(int(codes[pos]), []).append(pos)
        self.last = {code: members[-1] for code, members in self.members.items()}
        self.sums = np.zeros((max(sessions, 16), self.dim))
        self.counts = np.zeros(max(sessions, 16))
        np.add.at(self.sums, codes[live], cols["vectors"][live])
        np.add.at(self.counts, codes[live], 1.0)
        self._means = None
        self.stale = False

    def ready(self, sessions: int) -> None:
        if self.stale:
            self._rebuild(sessions)

    def means(self, sessions: int) -> FloatArray:
        self.ready(sessions)
        if self._means is None:
            counts = np.maximum(self.counts[:sessions], 1.0)[:, None]
            self._means = (self.sums[:sessions] / counts).astype(np.float32)
        return self._means

    def session_members(self, codes: list[int], sessions: int) -> IntArray:
        self.ready(sessions)
        found = [self.members.get(code, []) for code in codes]
        return np.array([p for group in found for p in group], np.int64)
