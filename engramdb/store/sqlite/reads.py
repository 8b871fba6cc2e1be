"""Reads of the SQLite store: memories, pages, history, lexical search and the scope rows that
feed the vector cache. Mixed into ``SQLiteStore``, which provides the connection."""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from engramdb.errors import NotFoundError
from engramdb.models import HistoryEntry, Kind, MemoryItem
from engramdb.store.base import Granularity, ScopeRows, ScopeState, parse_cursor
from engramdb.store.sqlite import lexical

COLUMNS = (
    "pk, id, user_id, agent_id, session_id, kind, text, role, speaker, created_at, updated_at,"
    " event_time, valid_from, valid_to, sources, version, content_hash, metadata,"
    " subject, attribute, value, confidence, importance, pinned, expires_at, uses, last_used_at"
)


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def epochs(values: Iterable[str | None]) -> npt.NDArray[np.float64]:
    """ISO times as epoch seconds; NaN where there is none."""
    return np.array(
        [datetime.fromisoformat(v).timestamp() if v else np.nan for v in values], np.float64
    )


def row_to_item(row: sqlite3.Row | tuple[Any, ...]) -> MemoryItem:
    return MemoryItem(
        id=row[1],
        user_id=row[2],
        agent_id=row[3],
        session_id=row[4],
        kind=row[5],
        text=row[6],
        role=row[7],
        speaker=row[8],
        created_at=datetime.fromisoformat(row[9]),
        updated_at=_dt(row[10]),
        event_time=_dt(row[11]),
        valid_from=_dt(row[12]),
        valid_to=_dt(row[13]),
        sources=json.loads(row[14]),
        version=row[15],
        content_hash=row[16],
        metadata=json.loads(row[17]),
        subject=row[18],
        attribute=row[19],
        value=row[20],
        confidence=row[21],
        importance=row[22],
        pinned=bool(row[23]),
        expires_at=_dt(row[24]),
        uses=row[25],
        last_used_at=_dt(row[26]),
    )


class SQLiteReads:
    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError  # SQLiteStore's per-thread connection

    def get(self, memory_id: str, user_id: str | None = None) -> MemoryItem:
        query = f"SELECT {COLUMNS} FROM memories WHERE id = ?"
        args: tuple[str, ...] = (memory_id,)
        if user_id is not None:
            query += " AND user_id = ?"
            args += (user_id,)
        row = self._conn().execute(query, args).fetchone()
        if row is None:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return row_to_item(row)

    def get_many(self, pks: list[int]) -> dict[int, MemoryItem]:
        if not pks:
            return {}
        found: dict[int, MemoryItem] = {}
        conn = self._conn()
        for start in range(0, len(pks), 500):
            chunk = pks[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(f"SELECT {COLUMNS} FROM memories WHERE pk IN ({marks})", chunk):
                found[row[0]] = row_to_item(row)
        return found

    def list(
        self,
        user_id: str,
        *,
        kind: Kind | None = None,
        limit: int = 100,
        cursor: str | None = None,
        order: Literal["asc", "desc"] = "desc",
    ) -> tuple[builtins.list[MemoryItem], str | None]:
        after = parse_cursor(cursor)
        clauses, args = ["user_id = ?"], [user_id]
        if kind is not None:
            clauses.append("kind = ?")
            args.append(kind)
        if after is not None:
            clauses.append("pk < ?" if order == "desc" else "pk > ?")
            args.append(str(after))
        sql = (
            f"SELECT {COLUMNS} FROM memories WHERE {' AND '.join(clauses)}"
            f" ORDER BY pk {'DESC' if order == 'desc' else 'ASC'} LIMIT ?"
        )
        rows = self._conn().execute(sql, [*args, limit + 1]).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return [row_to_item(r) for r in rows], (str(rows[-1][0]) if more and rows else None)

    def history(self, memory_id: str, user_id: str | None = None) -> builtins.list[HistoryEntry]:
        query = (
            "SELECT memory_id, version, event, text, previous_text, actor, reason, at"
            " FROM history WHERE memory_id = ?"
        )
        args: tuple[str, ...] = (memory_id,)
        if user_id is not None:
            query += " AND user_id = ?"
            args += (user_id,)
        rows = self._conn().execute(query + " ORDER BY hid", args).fetchall()
        if not rows:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return [
            HistoryEntry(
                memory_id=r[0],
                version=r[1],
                event=r[2],
                text=r[3],
                previous_text=r[4],
                actor=r[5],
                reason=r[6],
                at=datetime.fromisoformat(r[7]),
            )
            for r in rows
        ]

    def lexical_plan(self, user_id: str, terms: builtins.list[str]) -> Any:
        return lexical.plan(self._conn(), user_id, terms, self.scope_state(user_id))

    def lexical(
        self, user_id: str, plan: Any, granularity: Granularity, limit: int
    ) -> builtins.list[tuple[Any, float]]:
        return lexical.search(self._conn(), user_id, plan, granularity, limit)

    def scope_state(self, user_id: str) -> ScopeState:
        row = (
            self._conn()
            .execute(
                "SELECT max_vec_id, deletes, rows, epoch, segments FROM scope_state"
                " WHERE user_id = ?",
                (user_id,),
            )
            .fetchone()
        )
        return ScopeState(*row) if row else ScopeState()

    def scope_rows(self, user_id: str, after_vec_id: int) -> ScopeRows:
        rows = (
            self._conn()
            .execute(
                """SELECT pk, vec_id, session_key, seq, coalesce(speaker, subject, ''), kind,
                      has_time, coalesce(time_lo, 'nan'), coalesce(time_hi, 'nan'), embedding,
                      valid_from, valid_to, expires_at, coalesce(anchor_pk, -1),
                      coalesce(attribute, '')
               FROM memories WHERE user_id = ? AND vec_id > ? ORDER BY vec_id""",
                (user_id, after_vec_id),
            )
            .fetchall()
        )
        dim = len(rows[0][9]) // 4 if rows else 0
        blob = b"".join(r[9] for r in rows)
        vectors = np.frombuffer(blob, dtype=np.float32).reshape(len(rows), dim)
        return ScopeRows(
            pk=np.array([r[0] for r in rows], np.int64),
            vec_id=np.array([r[1] for r in rows], np.int64),
            session=[r[2] for r in rows],
            seq=np.array([r[3] for r in rows], np.int64),
            speaker=[r[4] for r in rows],
            kind=[r[5] for r in rows],
            has_time=np.array([bool(r[6]) for r in rows], np.bool_),
            time_lo=np.array([float(r[7]) for r in rows], np.float64),
            time_hi=np.array([float(r[8]) for r in rows], np.float64),
            vectors=vectors,
            valid_from=epochs(r[10] for r in rows),
            valid_to=epochs(r[11] for r in rows),
            expires_at=epochs(r[12] for r in rows),
            anchor_pk=np.array([r[13] for r in rows], np.int64),
            attribute=[r[14] for r in rows],
        )

    def users(self) -> builtins.list[str]:
        rows = self._conn().execute("SELECT DISTINCT user_id FROM memories ORDER BY user_id")
        return [r[0] for r in rows]

    def count(self, user_id: str | None = None) -> int:
        if user_id is None:
            return int(self._conn().execute("SELECT count(*) FROM memories").fetchone()[0])
        row = self._conn().execute("SELECT count(*) FROM memories WHERE user_id = ?", (user_id,))
        return int(row.fetchone()[0])
