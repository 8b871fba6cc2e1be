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

from engramdb.encode.text import words
from engramdb.retrieve.columns import Columns
from engramdb.retrieve.sessions import SessionLayout
from engramdb.store.base import SESSION_SEGMENT, ScopeRows, ScopeState
from engramdb.store.engine import MemoryStore

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class AnnSettings:
    threshold: int
    connectivity: int
    folder: Path | None


_TIMES = ("valid_from", "valid_to", "expires_at", "anchor_pk", "said_at")


class ScopeIndex:
    def __init__(self, user_id: str, dim: int, ann: AnnSettings) -> None:
        self.user_id = user_id
        self.dim = dim
        self.ann_settings = ann
        self.state = ScopeState()
        # a store that answers nearest-neighbour queries itself (PostgreSQL: pgvector HNSW)
        # replaces the in-process HNSW index of large scopes
        self._remote: Any = None
        self._reset()

    def _reset(self) -> None:
        self._cols = Columns(
            {
                "pks": (np.int64, (), 0),
                "vectors": (np.float32, (self.dim,), 0.0),
                "seq": (np.int64, (), 0),
                "session_code": (np.int32, (), 0),
                "speaker_code": (np.int32, (), 0),
                "is_episode": (np.bool_, (), False),
                "has_time": (np.bool_, (), False),
                "time_lo": (np.float64, (), np.nan),
                "time_hi": (np.float64, (), np.nan),
                "alive": (np.bool_, (), True),
                "valid_from": (np.float64, (), np.nan),
                "valid_to": (np.float64, (), np.nan),
                "expires_at": (np.float64, (), np.nan),
                "said_at": (np.float64, (), np.nan),
                "anchor_pk": (np.int64, (), -1),
                "attribute_code": (np.int32, (), 0),
                "prev": (np.int64, (), -1),
                "next": (np.int64, (), -1),
            }
        )
        self._layout = SessionLayout(self._cols, self.dim)
        self.position: dict[int, int] = {}
        self.sessions: dict[tuple[str, int], int] = {}
        self.speakers: dict[str, int] = {}
        self._speaker_words: tuple[int, frozenset[str]] = (0, frozenset())
        self.attributes: dict[str, int] = {"": 0}
        # message position → positions of the facts drawn from it (their anchor)
        self.drawn: dict[int, list[int]] = {}
        self.ann: Any = None
        self.lexicon: Any = None  # retrieve/postings.py: BM25 in process, built when asked for
        self.written: list[int] = []  # pks synced since the lexicon was last brought up to date
        self.texts: dict[int, str] = {}  # pk → text, as reranking read it (dropped when synced)

    def speaker_words(self) -> frozenset[str]:
        """Every word of the names of the scope's speakers and subjects, lower case, without
        a possessive ("maya's brother" → maya, brother); rebuilt only when a name is added
        (names are only ever added)."""
        if self._speaker_words[0] != len(self.speakers):
            found = frozenset(w.removesuffix("'s") for name in self.speakers for w in words(name))
            self._speaker_words = (len(self.speakers), found)
        return self._speaker_words[1]

    # the scope's rows as live array views (a position is a row index); writes go through
    @property
    def pks(self) -> IntArray:
        column: IntArray = self._cols["pks"]
        return column

    @property
    def vectors(self) -> FloatArray:
        column: FloatArray = self._cols["vectors"]
        return column

    @property
    def seq(self) -> IntArray:
        column: IntArray = self._cols["seq"]
        return column

    @property
    def session_code(self) -> npt.NDArray[np.int32]:
        column: npt.NDArray[np.int32] = self._cols["session_code"]
        return column

    @property
    def speaker_code(self) -> npt.NDArray[np.int32]:
        column: npt.NDArray[np.int32] = self._cols["speaker_code"]
        return column

    @property
    def is_episode(self) -> npt.NDArray[np.bool_]:
        column: npt.NDArray[np.bool_] = self._cols["is_episode"]
        return column

    @property
    def has_time(self) -> npt.NDArray[np.bool_]:
        column: npt.NDArray[np.bool_] = self._cols["has_time"]
        return column

    @property
    def time_lo(self) -> npt.NDArray[np.float64]:
        column: npt.NDArray[np.float64] = self._cols["time_lo"]
        return column

    @property
    def time_hi(self) -> npt.NDArray[np.float64]:
        column: npt.NDArray[np.float64] = self._cols["time_hi"]
        return column

    @property
    def alive(self) -> npt.NDArray[np.bool_]:
        column: npt.NDArray[np.bool_] = self._cols["alive"]
        return column

    @property
    def valid_from(self) -> npt.NDArray[np.float64]:
        """When each fact became true, epoch seconds (NaN: episodes)."""
        column: npt.NDArray[np.float64] = self._cols["valid_from"]
        return column

    @property
    def valid_to(self) -> npt.NDArray[np.float64]:
        """When each fact stopped being true, epoch seconds (NaN: still true, or episodes)."""
        column: npt.NDArray[np.float64] = self._cols["valid_to"]
        return column

    @property
    def said_at(self) -> npt.NDArray[np.float64]:
        """When each row was said (a fact: its claim's time), epoch seconds (NaN: unknown)."""
        column: npt.NDArray[np.float64] = self._cols["said_at"]
        return column

    def visible(
        self, positions: IntArray, now: float, as_of: float | None
    ) -> npt.NDArray[np.bool_]:
        """Which rows a search at ``now`` may return: not expired; under ``as_of``, only
        what had been said by then, and facts valid then (otherwise facts valid now)."""
        cols = self._cols
        expires, start, end = (
            cols["expires_at"][positions],
            cols["valid_from"][positions],
            cols["valid_to"][positions],
        )
        at = now if as_of is None else as_of
        ok: npt.NDArray[np.bool_] = np.isnan(expires) | (expires > now)
        ok &= np.isnan(start) | (start <= at)
        ok &= np.isnan(end) | (end > at)
        if as_of is not None:
            said = cols["said_at"][positions]
            ok &= np.isnan(said) | (said <= as_of)
        return ok

    def attribute_codes(self, positions: IntArray) -> npt.NDArray[np.int32]:
        column: npt.NDArray[np.int32] = self._cols["attribute_code"][positions]
        return column

    def anchors(self, positions: IntArray) -> IntArray:
        """Each row's anchor episode position (facts borrow its context signals), or -1."""
        pks, get = self._cols["anchor_pk"][positions].tolist(), self.position.get
        return np.fromiter((get(pk, -1) for pk in pks), np.int64, len(pks))

    # --- keeping current -----------------------------------------------------------------
    def sync(self, store: MemoryStore) -> None:
        self._remote = store.nearest if store.capabilities.nearest else None
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
        self.lexicon = None  # its documents changed around the row: rebuilt when next asked
        if pos is not None:
            self._layout.remove(pos)
            self.alive[pos] = False
            if self.ann is not None:
                self.ann.remove(pk)
        self.state = ScopeState(
            self.state.max_vec_id, self.state.deletes + 1, self.state.rows - 1, self.state.epoch
        )

    def _append(self, rows: ScopeRows, *, build_ann: bool = True) -> None:
        if len(rows.pk) == 0:
            return
        for pk in (written := rows.pk.tolist()):
            self.texts.pop(pk, None)
        if self.lexicon is not None:
            self.written += written
        fresh = np.ones(len(rows.pk), np.bool_)
        for i, pk in enumerate(rows.pk.tolist()):
            pos = self.position.get(pk)
            if pos is not None:  # an update: new vector and attributes for a known row
                fresh[i] = False
                self._overwrite(pos, rows, i)
        index = np.flatnonzero(fresh)
        rows_at = self._cols.extend(len(index))
        cols = self._cols
        cols["session_code"][rows_at] = [
            self._code(self.sessions, (rows.session[i], int(rows.seq[i]) // SESSION_SEGMENT))
            for i in index
        ]
        cols["speaker_code"][rows_at] = [
            self._code(self.speakers, rows.speaker[i].lower()) for i in index
        ]
        cols["is_episode"][rows_at] = [rows.kind[i] == "episode" for i in index]
        cols["pks"][rows_at] = rows.pk[index]
        cols["vectors"][rows_at] = rows.vectors[index]
        cols["seq"][rows_at] = rows.seq[index]
        cols["has_time"][rows_at] = rows.has_time[index]
        cols["time_lo"][rows_at] = rows.time_lo[index]
        cols["time_hi"][rows_at] = rows.time_hi[index]
        for name in _TIMES:
            if len(getattr(rows, name)):
                cols[name][rows_at] = getattr(rows, name)[index]
        if rows.attribute:
            cols["attribute_code"][rows_at] = [
                self._code(self.attributes, rows.attribute[i]) for i in index
            ]
        for offset, pk in enumerate(rows.pk[index].tolist()):
            self.position[pk] = rows_at.start + offset
        for pos in range(rows_at.start, rows_at.stop):
            anchor = self.position.get(int(cols["anchor_pk"][pos]), -1)
            if anchor >= 0 and not cols["is_episode"][pos]:
                self.drawn.setdefault(anchor, []).append(pos)
        self._layout.add(np.arange(rows_at.start, rows_at.stop), len(self.sessions))
        if self.ann is not None and len(index):
            self.ann.add(rows.pk[index], rows.vectors[index])
        elif build_ann and len(self.position) >= self.ann_settings.threshold:
            self._build_ann()

    def _overwrite(self, pos: int, rows: ScopeRows, i: int) -> None:
        old = self.vectors[pos].astype(np.float64)
        self.vectors[pos] = rows.vectors[i]
        self._layout.replace_vector(pos, old)
        self.has_time[pos] = rows.has_time[i]
        self.time_lo[pos] = rows.time_lo[i]
        self.time_hi[pos] = rows.time_hi[i]
        for name in _TIMES:
            if len(getattr(rows, name)):
                self._cols[name][pos] = getattr(rows, name)[i]
        if rows.attribute:
            self._cols["attribute_code"][pos] = self._code(self.attributes, rows.attribute[i])
        if self.ann is not None:
            pk = int(rows.pk[i])
            self.ann.remove(pk)
            self.ann.add(pk, rows.vectors[i])

    @staticmethod
    def _code(table: dict[Any, int], key: Any) -> int:
        return table.setdefault(key, len(table))

    # --- derived structure ----------------------------------------------------------------
    def neighbours(self) -> tuple[IntArray, IntArray]:
        """Position of each row's previous and next turn in its session (-1: none)."""
        self._layout.ready(len(self.sessions))
        return self._cols["prev"], self._cols["next"]

    def session_means(self) -> FloatArray:
        return self._layout.means(len(self.sessions))

    def session_members(self, codes: list[int]) -> IntArray:
        members = self._layout.session_members(codes, len(self.sessions))
        return members[self.alive[members]]

    # --- nearest neighbours ---------------------------------------------------------------
    def nearest(self, query: FloatArray, k: int, expansion: int) -> IntArray:
        """Positions of the k rows closest to the query (exact, or HNSW for large scopes)."""
        if self._remote is not None and len(self.position) >= self.ann_settings.threshold:
            pks = self._remote(self.user_id, query, k, expansion)
            return np.array([self.position[pk] for pk in pks if pk in self.position], np.int64)
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
        if self._remote is not None:
            return
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
        if len(self.position) < self.ann_settings.threshold or self._remote is not None:
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
