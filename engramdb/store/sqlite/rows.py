"""Write primitives of the SQLite store shared by ``add``, consolidation and lifecycle changes:
one row in, its lexical document, its history line, the scope counters."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import numpy as np

from engramdb.store.base import NewMemory
from engramdb.store.sqlite import terms
from engramdb.store.sqlite.documents import scope_token, turn_body


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def reserve_vec_ids(conn: sqlite3.Connection, n: int) -> int:
    """Reserve n vector ids; returns the id before the first. Ids never go down, even after a
    delete_all, so a cache can tell new rows from old ones."""
    conn.execute(
        "INSERT INTO counters VALUES ('vec_id',"
        " (SELECT coalesce(max(vec_id), 0) FROM memories)) ON CONFLICT (name) DO NOTHING"
    )
    row = conn.execute(
        "UPDATE counters SET value = value + ? WHERE name = 'vec_id' RETURNING value", (n,)
    ).fetchone()
    return int(row[0]) - n


def bump_scope(
    conn: sqlite3.Connection,
    user_id: str,
    *,
    max_vec_id: int = 0,
    added: int = 0,
    deleted: int = 0,
) -> None:
    conn.execute(
        """INSERT INTO scope_state (user_id, epoch, max_vec_id, deletes, rows)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (user_id) DO UPDATE SET
             epoch = CASE WHEN epoch = 0 THEN excluded.epoch ELSE epoch END,
             max_vec_id = max(max_vec_id, excluded.max_vec_id),
             deletes = deletes + excluded.deletes,
             rows = rows + excluded.rows""",
        (user_id, max_vec_id, max_vec_id, deleted, added - deleted),
    )


def next_seq(conn: sqlite3.Connection, user_id: str, session_key: str) -> int:
    return int(
        conn.execute(
            "SELECT coalesce(max(seq) + 1, 0) FROM memories WHERE user_id = ? AND session_key = ?",
            (user_id, session_key),
        ).fetchone()[0]
    )


def existing_pk(conn: sqlite3.Connection, user_id: str, item: NewMemory) -> int | None:
    row = conn.execute(
        "SELECT pk FROM memories WHERE user_id = ? AND kind = ? AND content_hash = ?",
        (user_id, item.kind, item.content_hash),
    ).fetchone()
    return int(row[0]) if row else None


def insert_memory(
    conn: sqlite3.Connection,
    user_id: str,
    agent_id: str | None,
    item: NewMemory,
    *,
    session_key: str,
    seq: int,
    vec_id: int,
    now: str | None,
) -> int:
    cursor = conn.execute(
        """INSERT INTO memories (id, user_id, agent_id, session_id, session_key, seq, kind,
            text, role, speaker, created_at, event_time, valid_from, valid_to, sources,
            content_hash, metadata, date_words, time_lo, time_hi, has_time, vec_id, embedding,
            subject, attribute, value, fact_key, confidence, anchor_pk, importance, pinned,
            expires_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                   ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            item.id,
            user_id,
            agent_id,
            item.session_id,
            session_key,
            seq,
            item.kind,
            item.text,
            item.role,
            item.speaker,
            now,
            iso(item.event_time),
            iso(item.valid_from),
            iso(item.valid_to),
            json.dumps(item.sources),
            item.content_hash,
            json.dumps(item.metadata, ensure_ascii=False),
            item.date_words,
            item.time_lo,
            item.time_hi,
            int(item.has_time),
            vec_id,
            np.ascontiguousarray(item.embedding, dtype=np.float32).tobytes(),
            item.subject,
            item.attribute,
            item.value,
            item.fact_key,
            item.confidence,
            item.anchor_pk,
            item.importance,
            int(item.pinned),
            iso(item.expires_at),
        ),
    )
    pk = int(cursor.lastrowid or 0)
    body = turn_body(item.speaker, item.text, item.date_words)
    conn.execute(
        "INSERT INTO fts_turn (rowid, body, scope) VALUES (?, ?, ?)",
        (pk, body, scope_token(user_id)),
    )
    terms.count_terms(conn, [body])
    return pk


def write_history(
    conn: sqlite3.Connection,
    memory_id: str,
    user_id: str,
    *,
    version: int,
    event: str,
    text: str | None,
    actor: str,
    at: str | None,
    reason: str | None = None,
    previous_text: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO history (memory_id, user_id, version, event, text, previous_text, actor,"
        " reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (memory_id, user_id, version, event, text, previous_text, actor, reason, at),
    )


def touch(conn: sqlite3.Connection, pk: int) -> int:
    """Give a row a new vector id so every process's cache reloads its attributes."""
    vec_id = reserve_vec_ids(conn, 1) + 1
    conn.execute("UPDATE memories SET vec_id = ? WHERE pk = ?", (vec_id, pk))
    return vec_id
