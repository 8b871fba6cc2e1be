"""The read side of the PostgreSQL store: every query names the user in SQL where the caller
gives one, and reads run on pooled autocommit connections (no transaction held open)."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from engramdb.errors import NotFoundError, StoreError
from engramdb.models import HistoryEntry, Kind, MemoryItem
from engramdb.store.base import Granularity, ScopeRows, ScopeState, parse_cursor
from engramdb.store.postgres import lexical
from engramdb.store.postgres.pool import Conn, Pool, translated

COLUMNS = (
    "pk, id, user_id, agent_id, session_id, kind, text, role, speaker, created_at, updated_at,"
    " event_time, valid_from, valid_to, sources, version, content_hash, metadata,"
    " subject, attribute, value, confidence, importance, pinned, expires_at, uses, last_used_at"
)
HNSW_MAX_EF = 1000  # pgvector's upper bound for hnsw.ef_search


def utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def row_to_item(row: tuple[Any, ...]) -> MemoryItem:
    return MemoryItem(
        id=row[1],
        user_id=row[2],
        agent_id=row[3],
        session_id=row[4],
        kind=row[5],
        text=row[6],
        role=row[7],
        speaker=row[8],
        created_at=row[9].astimezone(UTC),
        updated_at=utc(row[10]),
        event_time=utc(row[11]),
        valid_from=utc(row[12]),
        valid_to=utc(row[13]),
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
        expires_at=utc(row[24]),
        uses=row[25],
        last_used_at=utc(row[26]),
    )


class PostgresReads:
    pool: Pool

    @contextmanager
    def _read(self, what: str) -> Iterator[Conn]:
        if self.pool.closed:
            raise StoreError("the store is closed")
        with translated(what), self.pool.connection() as conn:
            yield conn

    def get(self, memory_id: str, user_id: str | None = None) -> MemoryItem:
        query = f"SELECT {COLUMNS} FROM memories WHERE id = %s"
        args: tuple[str, ...] = (memory_id,)
        if user_id is not None:
            query += " AND user_id = %s"
            args += (user_id,)
        with self._read("get") as conn:
            row = conn.execute(query.encode(), args).fetchone()
        if row is None:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return row_to_item(row)

    def get_many(self, pks: builtins.list[int]) -> dict[int, MemoryItem]:
        if not pks:
            return {}
        with self._read("get_many") as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM memories WHERE pk = ANY(%s)".encode(), (pks,)
            ).fetchall()
        return {int(r[0]): row_to_item(r) for r in rows}

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
        clauses, args = ["user_id = %s"], [user_id]
        if kind is not None:
            clauses.append("kind = %s")
            args.append(kind)
        if after is not None:
            clauses.append("pk < %s" if order == "desc" else "pk > %s")
            args.append(str(after))
        sql = (
            f"SELECT {COLUMNS} FROM memories WHERE {' AND '.join(clauses)}"
            f" ORDER BY pk {'DESC' if order == 'desc' else 'ASC'} LIMIT %s"
        )
        with self._read("list") as conn:
            rows = conn.execute(sql.encode(), [*args, limit + 1]).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return [row_to_item(r) for r in rows], (str(rows[-1][0]) if more and rows else None)

    def history(self, memory_id: str, user_id: str | None = None) -> builtins.list[HistoryEntry]:
        query = (
            "SELECT memory_id, version, event, text, previous_text, actor, reason, at"
            " FROM history WHERE memory_id = %s"
        )
        args: tuple[str, ...] = (memory_id,)
        if user_id is not None:
            query += " AND user_id = %s"
            args += (user_id,)
        with self._read("history") as conn:
            rows = conn.execute((query + " ORDER BY hid").encode(), args).fetchall()
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
                at=r[7].astimezone(UTC),
            )
            for r in rows
        ]

    def lexical_plan(self, user_id: str, terms: builtins.list[str]) -> Any:
        scope = self.scope_state(user_id)
        with self._read("lexical search") as conn:
            return lexical.plan(conn, user_id, terms, scope)

    def lexical(
        self, user_id: str, plan: Any, granularity: Granularity, limit: int
    ) -> builtins.list[tuple[Any, float]]:
        with self._read("lexical search") as conn, conn.pipeline(), conn.transaction():
            # Documents of more than ~2 kB are TOASTed, so the planner prices a sequential scan
            # by the small main heap and skips the GIN index, then detoasts every document.
            conn.execute("SET LOCAL enable_seqscan = off")
            return lexical.search(conn, user_id, plan, granularity, limit)

    def nearest(
        self,
        user_id: str,
        vector: npt.NDArray[np.float32],
        k: int,
        expansion: int | None = None,
    ) -> builtins.list[int]:
        """The pks of the user's k memories closest to ``vector`` by cosine, through the HNSW
        index. Iterative scans (pgvector 0.8) keep the index useful when the user holds only
        part of the table: the scan goes on until k of the user's rows are found."""
        ef = min(max(expansion or 0, k, 40), HNSW_MAX_EF)
        with self._read("nearest-neighbour search") as conn, conn.transaction():
            conn.execute(
                "SELECT set_config('hnsw.ef_search', %s, true),"
                " set_config('hnsw.iterative_scan', 'relaxed_order', true)",
                (str(ef),),
            )
            rows = conn.execute(
                "SELECT pk FROM memories WHERE user_id = %s ORDER BY embedding <=> %s LIMIT %s",
                (user_id, np.asarray(vector, np.float32), k),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def scope_state(self, user_id: str) -> ScopeState:
        with self._read("scope state") as conn:
            row = conn.execute(
                "SELECT max_vec_id, deletes, rows, epoch, segments FROM scope_state"
                " WHERE user_id = %s",
                (user_id,),
            ).fetchone()
        return ScopeState(*(int(v) for v in row)) if row else ScopeState()

    def scope_rows(self, user_id: str, after_vec_id: int) -> ScopeRows:
        with self._read("scope rows") as conn, conn.cursor(binary=True) as cur:
            rows = cur.execute(
                """SELECT pk, vec_id, session_key, seq, coalesce(speaker, subject, ''), kind,
                      has_time, coalesce(time_lo, 'NaN'), coalesce(time_hi, 'NaN'), embedding,
                      coalesce(extract(epoch FROM valid_from)::float8, 'NaN'),
                      coalesce(extract(epoch FROM valid_to)::float8, 'NaN'),
                      coalesce(extract(epoch FROM expires_at)::float8, 'NaN'),
                      coalesce(anchor_pk, -1), coalesce(attribute, '')
                   FROM memories WHERE user_id = %s AND vec_id > %s ORDER BY vec_id""",
                (user_id, after_vec_id),
            ).fetchall()
        vectors = np.vstack([r[9] for r in rows]) if rows else np.empty((0, 0), np.float32)
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
            vectors=vectors.astype(np.float32, copy=False),
            valid_from=np.array([float(r[10]) for r in rows], np.float64),
            valid_to=np.array([float(r[11]) for r in rows], np.float64),
            expires_at=np.array([float(r[12]) for r in rows], np.float64),
            anchor_pk=np.array([r[13] for r in rows], np.int64),
            attribute=[r[14] for r in rows],
        )

    def users(self) -> builtins.list[str]:
        with self._read("users") as conn:
            rows = conn.execute(
                'SELECT user_id FROM scope_state WHERE rows > 0 ORDER BY user_id COLLATE "C"'
            )
            return [str(r[0]) for r in rows]

    def count(self, user_id: str | None = None) -> int:
        with self._read("count") as conn:
            if user_id is None:
                row = conn.execute("SELECT count(*) FROM memories").fetchone()
            else:
                row = conn.execute(
                    "SELECT count(*) FROM memories WHERE user_id = %s", (user_id,)
                ).fetchone()
        assert row is not None
        return int(row[0])
