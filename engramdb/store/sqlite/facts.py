"""Consolidation's view of the SQLite store: reads and writes inside the ``add`` transaction."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

import numpy as np

from engramdb.encode.text import normalise_name
from engramdb.store.base import FACT_SESSION, NewMemory, StoredFact
from engramdb.store.sqlite import terms
from engramdb.store.sqlite.documents import scope_token, turn_body
from engramdb.store.sqlite.rows import (
    existing_pk,
    insert_memory,
    iso,
    next_seq,
    reserve_vec_ids,
    touch,
    write_history,
)


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SQLiteFactSession:
    def __init__(
        self, conn: sqlite3.Connection, user_id: str, agent_id: str | None, now: str | None
    ) -> None:
        self.conn = conn
        self.user_id = user_id
        self.agent_id = agent_id
        self.now = now
        self.max_vec_id = 0
        self.inserted = 0
        self._seq: int | None = None

    def facts_for(self, prefix: str) -> list[StoredFact]:
        rows = self.conn.execute(
            """SELECT pk, id, fact_key, coalesce(value, ''), text, valid_from, valid_to,
                   sources, version
               FROM memories WHERE user_id = ? AND fact_key >= ? AND fact_key < ?
                 AND (fact_key = ? OR substr(fact_key, 1, ?) = ?)
               ORDER BY pk""",
            (self.user_id, prefix, prefix + "\U0010ffff", prefix, len(prefix) + 1, prefix + "|"),
        )
        return [
            StoredFact(r[0], r[1], r[2], r[3], r[4], _dt(r[5]), _dt(r[6]), json.loads(r[7]), r[8])
            for r in rows
        ]

    def insert(self, item: NewMemory, *, actor: str, reason: str) -> tuple[int, bool]:
        found = existing_pk(self.conn, self.user_id, item)
        if found is not None:
            return found, False
        if self._seq is None:
            self._seq = next_seq(self.conn, self.user_id, FACT_SESSION)
        vec_id = reserve_vec_ids(self.conn, 1) + 1
        pk = insert_memory(
            self.conn,
            self.user_id,
            self.agent_id,
            item,
            session_key=FACT_SESSION,
            seq=self._seq,
            vec_id=vec_id,
            now=self.now,
        )
        self._seq += 1
        self.max_vec_id = max(self.max_vec_id, vec_id)
        self.inserted += 1
        write_history(
            self.conn,
            item.id,
            self.user_id,
            version=1,
            event="ADD",
            text=item.text,
            actor=actor,
            reason=reason,
            at=self.now,
        )
        return pk, True

    def close(self, pk: int, valid_to: datetime | None, *, actor: str, reason: str) -> None:
        memory_id, text, version = self.conn.execute(
            "UPDATE memories SET valid_to = ?, updated_at = ? WHERE pk = ?"
            " RETURNING id, text, version",
            (iso(valid_to) if valid_to is not None else None, self.now, pk),
        ).fetchone()
        self.max_vec_id = max(self.max_vec_id, touch(self.conn, pk))
        write_history(
            self.conn,
            memory_id,
            self.user_id,
            version=version,
            event="INVALIDATE" if valid_to is not None else "UPDATE",
            text=text,
            actor=actor,
            reason=reason,
            at=self.now,
        )

    def add_sources(self, pk: int, sources: list[str], *, actor: str, reason: str) -> None:
        memory_id, text, version, current = self.conn.execute(
            "SELECT id, text, version, sources FROM memories WHERE pk = ?", (pk,)
        ).fetchone()
        known = json.loads(current)
        merged = known + [s for s in sources if s not in known]
        if merged != known:
            self.conn.execute(
                "UPDATE memories SET sources = ? WHERE pk = ?", (json.dumps(merged), pk)
            )
        write_history(
            self.conn,
            memory_id,
            self.user_id,
            version=version,
            event="NOOP",
            text=text,
            actor=actor,
            reason=reason,
            at=self.now,
        )

    def revise(self, pk: int, item: NewMemory, *, actor: str, reason: str) -> None:
        memory_id, old_text, version, speaker, date_words, sources = self.conn.execute(
            "SELECT id, text, version, speaker, date_words, sources FROM memories WHERE pk = ?",
            (pk,),
        ).fetchone()
        terms.count_terms(self.conn, [turn_body(speaker, old_text, date_words)], sign=-1)
        known = json.loads(sources)
        merged = known + [s for s in item.sources if s not in known]
        vec_id = reserve_vec_ids(self.conn, 1) + 1
        self.conn.execute(
            """UPDATE memories SET text = ?, value = ?, embedding = ?, vec_id = ?, sources = ?,
               confidence = ?, version = version + 1, updated_at = ?, date_words = ?
               WHERE pk = ?""",
            (
                item.text,
                item.value,
                np.ascontiguousarray(item.embedding, dtype=np.float32).tobytes(),
                vec_id,
                json.dumps(merged),
                item.confidence,
                self.now,
                item.date_words,
                pk,
            ),
        )
        body = turn_body(speaker, item.text, item.date_words)
        self.conn.execute("DELETE FROM fts_turn WHERE rowid = ?", (pk,))
        self.conn.execute(
            "INSERT INTO fts_turn (rowid, body, scope) VALUES (?, ?, ?)",
            (pk, body, scope_token(self.user_id)),
        )
        terms.count_terms(self.conn, [body])
        self.max_vec_id = max(self.max_vec_id, vec_id)
        write_history(
            self.conn,
            memory_id,
            self.user_id,
            version=version + 1,
            event="UPDATE",
            text=item.text,
            previous_text=old_text,
            actor=actor,
            reason=reason,
            at=self.now,
        )

    def link(self, src_pk: int, dst_pk: int, kind: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO memory_links (src_pk, dst_pk, user_id, kind)"
            " VALUES (?, ?, ?, ?)",
            (src_pk, dst_pk, self.user_id, kind),
        )

    def mention(self, pk: int, names: list[tuple[str, str]]) -> None:
        for name, role in names:
            norm = normalise_name(name)
            if not norm:
                continue
            self.conn.execute(
                "INSERT INTO entities (user_id, name, norm) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id, norm) DO NOTHING",
                (self.user_id, name, norm),
            )
            self.conn.execute(
                """INSERT OR IGNORE INTO memory_entities (memory_pk, entity_pk, user_id, role)
                   SELECT ?, pk, ?, ? FROM entities WHERE user_id = ? AND norm = ?""",
                (pk, self.user_id, role, self.user_id, norm),
            )
