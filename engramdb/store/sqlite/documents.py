"""Lexical documents derived from episodes: the ±1-turn window of each turn and a document per
session segment. They are rewritten whenever a turn in them is added, changed or deleted."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from engramdb.encode.text import content_hash, speaker_prefixed
from engramdb.store.base import SESSION_SEGMENT


def scope_token(user_id: str) -> str:
    """The FTS token that stands for a user's scope."""
    return "u" + content_hash(user_id)[:20]


def turn_body(speaker: str | None, text: str, date_words: str) -> str:
    body = speaker_prefixed(speaker, text)
    return f"{body} {date_words}" if date_words else body


def refresh_windows(
    conn: sqlite3.Connection, user_id: str, session_key: str, seqs: set[int]
) -> None:
    """Rewrite the window documents of the episodes at ``seqs`` and of their neighbours."""
    if not seqs:
        return
    low, high = min(seqs), max(seqs)
    rows = conn.execute(
        """
        SELECT pk, seq, speaker, text, date_words FROM (
            SELECT pk, seq, speaker, text, date_words FROM memories
            WHERE user_id = ? AND session_key = ? AND kind = 'episode' AND seq < ?
            ORDER BY seq DESC LIMIT 1)
        UNION ALL
        SELECT pk, seq, speaker, text, date_words FROM memories
            WHERE user_id = ? AND session_key = ? AND kind = 'episode' AND seq BETWEEN ? AND ?
        UNION ALL
        SELECT * FROM (
            SELECT pk, seq, speaker, text, date_words FROM memories
            WHERE user_id = ? AND session_key = ? AND kind = 'episode' AND seq > ?
            ORDER BY seq ASC LIMIT 1)
        """,
        (user_id, session_key, low, user_id, session_key, low, high, user_id, session_key, high),
    ).fetchall()
    rows.sort(key=lambda r: r[1])
    touched = _touched_positions(rows, seqs)
    conn.executemany("DELETE FROM fts_window WHERE rowid = ?", [(rows[i][0],) for i in touched])
    scope = scope_token(user_id)
    conn.executemany(
        "INSERT INTO fts_window (rowid, body, scope) VALUES (?, ?, ?)",
        [(rows[i][0], _window_body(rows, i), scope) for i in touched],
    )


def _touched_positions(
    rows: list[tuple[int, int, str | None, str, str]], seqs: set[int]
) -> list[int]:
    touched: set[int] = set()
    for i, row in enumerate(rows):
        if row[1] in seqs:
            touched.update(j for j in (i - 1, i, i + 1) if 0 <= j < len(rows))
    # a deleted turn is absent: its former neighbours are the rows on either side of the gap
    for i in range(len(rows) - 1):
        if any(rows[i][1] < s < rows[i + 1][1] for s in seqs):
            touched.update((i, i + 1))
    return sorted(touched)


def _window_body(rows: list[tuple[int, int, str | None, str, str]], i: int) -> str:
    parts = [
        speaker_prefixed(rows[j][2], rows[j][3]) for j in (i - 1, i, i + 1) if 0 <= j < len(rows)
    ]
    if rows[i][4]:
        parts.append(rows[i][4])
    return "\n".join(parts)


def refresh_sessions(
    conn: sqlite3.Connection, user_id: str, keys: Iterable[tuple[str, int]]
) -> None:
    """Rewrite the session-segment documents named by (session_key, segment)."""
    for session_key, segment in keys:
        low = segment * SESSION_SEGMENT
        rows = conn.execute(
            "SELECT speaker, text, date_words FROM memories WHERE user_id = ? AND session_key = ?"
            " AND kind = 'episode' AND seq >= ? AND seq < ? ORDER BY seq",
            (user_id, session_key, low, low + SESSION_SEGMENT),
        ).fetchall()
        found = conn.execute(
            "SELECT doc_id FROM session_docs WHERE user_id = ? AND session_key = ? AND segment = ?",
            (user_id, session_key, segment),
        ).fetchone()
        if found:
            conn.execute("DELETE FROM fts_session WHERE rowid = ?", (found[0],))
        if not rows:
            if found:
                conn.execute("DELETE FROM session_docs WHERE doc_id = ?", (found[0],))
                _count_segments(conn, user_id, -1)
            continue
        if not found:
            _count_segments(conn, user_id, 1)
        doc_id = (
            found[0]
            if found
            else conn.execute(
                "INSERT INTO session_docs (user_id, session_key, segment) VALUES (?, ?, ?)",
                (user_id, session_key, segment),
            ).lastrowid
        )
        dates = sorted({r[2] for r in rows if r[2]})
        body = "\n".join([*(speaker_prefixed(r[0], r[1]) for r in rows), *dates])
        conn.execute(
            "INSERT INTO fts_session (rowid, body, scope) VALUES (?, ?, ?)",
            (doc_id, body, scope_token(user_id)),
        )


def _count_segments(conn: sqlite3.Connection, user_id: str, delta: int) -> None:
    conn.execute(
        "INSERT INTO scope_state (user_id, epoch, segments) VALUES (?, 0, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET segments = segments + excluded.segments",
        (user_id, delta),
    )
