"""The in-memory vector cache of one scope (user_id): rebuildable from the store at any time.

SQLite is the system of record; this cache holds the scope's vectors and light attributes as
arrays, kept current by cheap counters (``ScopeState``) read before every search. Scopes of at
least ``ann_threshold`` vectors also get an HNSW index (usearch), persisted next to the store as
a cache file that is verified on load and rebuilt when it does not match.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engramdb.store.base import SESSION_SEGMENT, MemoryStore, ScopeRows, ScopeState

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class AnnSettings:
    threshold: int
    connectivity: int
    folder: Path | None


class ScopeIndex:
    def __init__(self, user_id: str, dim: int, ann: AnnSettings) -> None:
        self.user_id = user_id
        self.dim = dim
        self.ann_settings = ann
        self.state = ScopeState()
        self._reset()

    def _reset(self) -> None:
        self.pks: IntArray = np.empty(0, np.int64)
        self.vectors: FloatArray = np.empty((0, self.dim), np.float32)
        self.seq: IntArray = np.empty(0, np.int64)
        self.session_code = np.empty(0, np.int32)
        self.speaker_code = np.empty(0, np.int32)
        self.is_episode = np.empty(0, np.bool_)
        self.has_time = np.empty(0, np.bool_)
        self.time_lo = np.empty(0, np.float64)
        self.time_hi = np.empty(0, np.float64)
        self.alive = np.empty(0, np.bool_)
        self.position: dict[int, int] = {}
        self.sessions: dict[tuple[str, int], int] = {}
        self.speakers: dict[str, int] = {}
        self.ann: Any = None
        self._dirty = True
        self._prev = np.empty(0, np.int64)
        self._next = np.empty(0, np.int64)
        self._session_means: FloatArray = np.empty((0, self.dim), np.float32)

    # --- keeping current -----------------------------------------------------------------
    def sync(self, store: MemoryStore) -> None:
        state = store.scope_state(self.user_id)
        if state == self.state:
            return
        reload = state.epoch != self.state.epoch or state.deletes != self.state.deletes
        if reload or state.max_vec_id < self.state.max_vec_id:
            self._reset()
            self.state = ScopeState()
            rows = store.scope_rows(self.user_id, 0)
            self._append(rows, build_ann=False)
            self._attach_ann(state, rows)
        else:
            self._append(store.scope_rows(self.user_id, self.state.max_vec_id))
        self.state = state

    def forget(self, pk: int) -> None:
        """A delete made through this process: drop the row without a reload."""
        pos = self.position.pop(pk, None)
        if pos is not None:
            self.alive[pos] = False
            self._dirty = True
            if self.ann is not None:
                self.ann.remove(pk)
        self.state = ScopeState(
            self.state.max_vec_id, self.state.deletes + 1, self.state.rows - 1, self.state.epoch
        )

    def _append(self, rows: ScopeRows, *, build_ann: bool = True) -> None:
        if len(rows.pk) == 0:
            return
        fresh = np.ones(len(rows.pk), np.bool_)
        for i, pk in enumerate(rows.pk.tolist()):
            pos = self.position.get(pk)
            if pos is not None:  # an update: new vector and attributes for a known row
                fresh[i] = False
                self._overwrite(pos, rows, i)
        index = np.flatnonzero(fresh)
        start = len(self.pks)
        sessions = [
            self._code(self.sessions, (rows.session[i], int(rows.seq[i]) // SESSION_SEGMENT))
            for i in index
        ]
        speakers = [self._code(self.speakers, rows.speaker[i].lower()) for i in index]
        self.pks = np.concatenate([self.pks, rows.pk[index]])
        self.vectors = np.vstack([self.vectors, rows.vectors[index]])
        self.seq = np.concatenate([self.seq, rows.seq[index]])
        self.session_code = np.concatenate([self.session_code, np.array(sessions, np.int32)])
        self.speaker_code = np.concatenate([self.speaker_code, np.array(speakers, np.int32)])
        episode = np.array([rows.kind[i] == "episode" for i in index], np.bool_)
        self.is_episode = np.concatenate([self.is_episode, episode])
        self.has_time = np.concatenate([self.has_time, rows.has_time[index]])
        self.time_lo = np.concatenate([self.time_lo, rows.time_lo[index]])
        self.time_hi = np.concatenate([self.time_hi, rows.time_hi[index]])
        self.alive = np.concatenate([self.alive, np.ones(len(index), np.bool_)])
        for offset, pk in enumerate(rows.pk[index].tolist()):
            self.position[pk] = start + offset
        if self.ann is not None and len(index):
            self.ann.add(rows.pk[index], rows.vectors[index])
        elif build_ann and len(self.position) >= self.ann_settings.threshold:
            self._build_ann()
        self._dirty = True

    def _overwrite(self, pos: int, rows: ScopeRows, i: int) -> None:
        self.vectors[pos] = rows.vectors[i]
        self.has_time[pos] = rows.has_time[i]
        self.time_lo[pos] = rows.time_lo[i]
        self.time_hi[pos] = rows.time_hi[i]
        if self.ann is not None:
            pk = int(rows.pk[i])
            self.ann.remove(pk)
            self.ann.add(pk, rows.vectors[i])

    @staticmethod
    def _code(table: dict[Any, int], key: Any) -> int:
        return table.setdefault(key, len(table))

    # --- derived structure ----------------------------------------------------------------
    def _refresh(self) -> None:
        if not self._dirty:
            return
        n = len(self.pks)
        self._prev = np.full(n, -1, np.int64)
        self._next = np.full(n, -1, np.int64)
        live = np.flatnonzero(self.alive & self.is_episode)
        order = live[np.lexsort((self.seq[live], self.session_code[live]))]
        same = self.session_code[order[1:]] == self.session_code[order[:-1]]
        self._next[order[:-1][same]] = order[1:][same]
        self._prev[order[1:][same]] = order[:-1][same]
        sums = np.zeros((len(self.sessions), self.dim), np.float32)
        counts = np.zeros(len(self.sessions), np.float32)
        np.add.at(sums, self.session_code[live], self.vectors[live])
        np.add.at(counts, self.session_code[live], 1.0)
        self._session_means = (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)
        self._dirty = False

    def neighbours(self) -> tuple[IntArray, IntArray]:
        self._refresh()
        return self._prev, self._next

    def session_means(self) -> FloatArray:
        self._refresh()
        return self._session_means

    # --- nearest neighbours ---------------------------------------------------------------
    def nearest(self, query: FloatArray, k: int, expansion: int) -> IntArray:
        """Positions of the k rows closest to the query (exact, or HNSW for large scopes)."""
        if self.ann is not None:
            self.ann.expansion_search = max(expansion, k)
            matches = self.ann.search(query, k)
            return np.array(
                [self.position[int(key)] for key in matches.keys if int(key) in self.position],
                np.int64,
            )
        sims = self.vectors @ query
        sims[~self.alive] = -np.inf
        k = min(k, len(sims))
        if k == 0:
            return np.empty(0, np.int64)
        top = np.argpartition(-sims, k - 1)[:k]
        chosen: IntArray = top[np.isfinite(sims[top])].astype(np.int64)
        return chosen

    def _build_ann(self) -> None:
        from usearch.index import Index

        index = Index(ndim=self.dim, metric="cos", connectivity=self.ann_settings.connectivity)
        live = np.flatnonzero(self.alive)
        if len(live):
            index.add(self.pks[live], self.vectors[live])
        self.ann = index

    # --- the ANN cache file -------------------------------------------------------------
    def _files(self) -> tuple[Path, Path] | None:
        folder = self.ann_settings.folder
        if folder is None:
            return None
        import hashlib

        name = hashlib.sha1(self.user_id.encode("utf-8", "surrogatepass")).hexdigest()
        return folder / f"{name}.usearch", folder / f"{name}.json"

    def _attach_ann(self, state: ScopeState, rows: ScopeRows) -> None:
        """After a full load: reuse the saved HNSW file if it matches, else build it."""
        if len(self.position) < self.ann_settings.threshold:
            self.ann = None
            return
        files = self._files()
        if files and files[0].exists() and files[1].exists():
            try:
                meta = json.loads(files[1].read_text())
                same = (meta["epoch"], meta["deletes"]) == (state.epoch, state.deletes)
                if same and meta["size"] == files[0].stat().st_size:
                    from usearch.index import Index

                    loaded = Index.restore(str(files[0]))
                    if loaded is not None:
                        newer = rows.vec_id > meta["max_vec_id"]
                        for pk, vector in zip(rows.pk[newer], rows.vectors[newer], strict=True):
                            if int(pk) in loaded:
                                loaded.remove(int(pk))
                            loaded.add(int(pk), vector)
                        self.ann = loaded
                        return
            except (OSError, ValueError, KeyError, RuntimeError):
                pass  # a damaged cache file: rebuild below
        self._build_ann()

    def save(self) -> None:
        files = self._files()
        if self.ann is None or files is None:
            return
        files[0].parent.mkdir(parents=True, exist_ok=True)
        tmp = files[0].with_suffix(".tmp")
        self.ann.save(str(tmp))
        os.replace(tmp, files[0])
        meta = {
            "epoch": self.state.epoch,
            "max_vec_id": self.state.max_vec_id,
            "deletes": self.state.deletes,
            "size": files[0].stat().st_size,
        }
        files[1].write_text(json.dumps(meta))

    def drop_files(self) -> int:
        files = self._files()
        removed = 0
        for file in files or ():
            if file.exists():
                file.unlink()
                removed += 1
        return removed
