"""Lexical documents of the PostgreSQL store and the BM25 statistics kept beside them.

The documents are those of the SQLite store (sqlite/documents.py builds the same bodies from
the same rows): one per turn, the ±1-turn window of each episode, and one per session segment
of ``SESSION_SEGMENT`` turns. Every write goes through ``Documents``, which records how each
document's lexemes change, so that the per-scope document frequencies and token totals that
BM25 needs (lex_terms, lex_stats) are updated with one statement per table and transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import psycopg

from engramdb.encode.text import speaker_prefixed
from engramdb.store.base import SESSION_SEGMENT
from engramdb.store.postgres.lexical import GRANULARITY, normalise, token_count
from engramdb.store.sqlite.documents import _touched_positions, _window_body

TURN, WINDOW, SESSION = GRANULARITY["turn"], GRANULARITY["window"], GRANULARITY["session"]
Conn = psycopg.Connection[Any]


class Documents:
    """Writes lexical documents for one user inside the caller's transaction."""

    def __init__(self, conn: Conn, user_id: str) -> None:
        self.conn = conn
        self.user_id = user_id
        self.df: Counter[tuple[int, str]] = Counter()
        self.docs: Counter[int] = Counter()
        self.tokens: Counter[int] = Counter()
        self.segments = 0

    # --- statistics ----------------------------------------------------------------------
    def _count(self, granularity: int, rows: Iterable[tuple[Any, ...]], sign: int) -> None:
        """rows: (key, len, lexemes) of documents that appear (+1) or disappear (-1)."""
        for row in rows:
            self.docs[granularity] += sign
            self.tokens[granularity] += sign * int(row[-2])
            for lexeme in row[-1]:
                self.df[(granularity, lexeme)] += sign

    def flush(self) -> None:
        """Apply the recorded changes to lex_terms and lex_stats; drop terms now absent."""
        changed = [(g, lex, n) for (g, lex), n in sorted(self.df.items()) if n]
        if changed:
            self.conn.execute(
                """INSERT INTO lex_terms (user_id, granularity, lexeme, df)
                   SELECT %s, g, l, n FROM unnest(%s::smallint[], %s::text[], %s::int[])
                     AS t(g, l, n)
                   ON CONFLICT (user_id, granularity, lexeme)
                   DO UPDATE SET df = lex_terms.df + excluded.df""",
                (self.user_id, *map(list, zip(*changed, strict=True))),
            )
            gone = [(g, lex) for g, lex, n in changed if n < 0]
            if gone:
                self.conn.execute(
                    """DELETE FROM lex_terms WHERE user_id = %s AND df <= 0
                       AND (granularity, lexeme) IN
                         (SELECT * FROM unnest(%s::smallint[], %s::text[]))""",
                    (self.user_id, *map(list, zip(*gone, strict=True))),
                )
        for granularity in sorted(set(self.docs) | set(self.tokens)):
            docs, tokens = self.docs[granularity], self.tokens[granularity]
            if docs or tokens:
                self.conn.execute(
                    """INSERT INTO lex_stats VALUES (%s, %s, %s, %s)
                       ON CONFLICT (user_id, granularity) DO UPDATE SET
                         docs = lex_stats.docs + excluded.docs,
                         tokens = lex_stats.tokens + excluded.tokens""",
                    (self.user_id, granularity, docs, tokens),
                )
        if self.segments:
            self.conn.execute(
                "INSERT INTO scope_state (user_id, epoch, segments) VALUES (%s, 0, %s)"
                " ON CONFLICT (user_id) DO UPDATE"
                " SET segments = scope_state.segments + excluded.segments",
                (self.user_id, self.segments),
            )
        self.df.clear()
        self.docs.clear()
        self.tokens.clear()
        self.segments = 0

    # --- keyed documents (turn, window) --------------------------------------------------
    def put(self, table: str, granularity: int, docs: list[tuple[int, str]]) -> None:
        """Create or rewrite documents of ``table`` keyed by memory pk: (pk, body)."""
        if not docs:
            return
        pks = [pk for pk, _ in docs]
        self.delete(table, granularity, pks)
        texts = [normalise(body) for _, body in docs]
        rows = self.conn.execute(
            f"""INSERT INTO {table} (pk, user_id, len, tsv)
                SELECT p, %s, l, to_tsvector('engram', b)
                FROM unnest(%s::bigint[], %s::int[], %s::text[]) AS t(p, l, b)
                RETURNING pk, len, tsvector_to_array(tsv)""".encode(),
            (self.user_id, pks, [token_count(t) for t in texts], texts),
        ).fetchall()
        self._count(granularity, rows, +1)

    def delete(self, table: str, granularity: int, pks: list[int]) -> int:
        rows = self.conn.execute(
            f"DELETE FROM {table} WHERE pk = ANY(%s) AND user_id = %s"
            " RETURNING pk, len, tsvector_to_array(tsv)".encode(),
            (pks, self.user_id),
        ).fetchall()
        self._count(granularity, rows, -1)
        return len(rows)

    # --- windows and session segments ----------------------------------------------------
    def refresh_windows(self, session_key: str, seqs: set[int]) -> None:
        """Rewrite the window documents of the episodes at ``seqs`` and of their neighbours."""
        if not seqs:
            return
        low, high = min(seqs), max(seqs)
        part = (
            "SELECT pk, seq, speaker, text, date_words FROM memories"
            " WHERE user_id = %(u)s AND session_key = %(k)s AND kind = 'episode'"
        )
        rows = self.conn.execute(
            f"""({part} AND seq < %(lo)s ORDER BY seq DESC LIMIT 1)
                UNION ALL ({part} AND seq BETWEEN %(lo)s AND %(hi)s)
                UNION ALL ({part} AND seq > %(hi)s ORDER BY seq ASC LIMIT 1)""".encode(),
            {"u": self.user_id, "k": session_key, "lo": low, "hi": high},
        ).fetchall()
        rows.sort(key=lambda r: r[1])
        touched = _touched_positions(rows, seqs)
        self.put("lex_window", WINDOW, [(rows[i][0], _window_body(rows, i)) for i in touched])

    def refresh_sessions(self, keys: Iterable[tuple[str, int]]) -> None:
        """Rewrite the session-segment documents named by (session_key, segment)."""
        for session_key, segment in sorted(keys):
            low = segment * SESSION_SEGMENT
            rows = self.conn.execute(
                "SELECT speaker, text, date_words FROM memories WHERE user_id = %s"
                " AND session_key = %s AND kind = 'episode' AND seq >= %s AND seq < %s"
                " ORDER BY seq",
                (self.user_id, session_key, low, low + SESSION_SEGMENT),
            ).fetchall()
            old = self.conn.execute(
                "DELETE FROM session_docs WHERE user_id = %s AND session_key = %s"
                " AND segment = %s RETURNING doc_id, len, tsvector_to_array(tsv)",
                (self.user_id, session_key, segment),
            ).fetchall()
            self._count(SESSION, old, -1)
            if not rows:
                self.segments -= len(old)
                continue
            if not old:
                self.segments += 1
            dates = sorted({r[2] for r in rows if r[2]})
            text = normalise("\n".join([*(speaker_prefixed(r[0], r[1]) for r in rows), *dates]))
            # the doc_id is kept across rewrites, as the SQLite store keeps its row
            new = self.conn.execute(
                """INSERT INTO session_docs (doc_id, user_id, session_key, segment, len, tsv)
                   VALUES (coalesce(%s, nextval(pg_get_serial_sequence('session_docs',
                           'doc_id'))), %s, %s, %s, %s, to_tsvector('engram', %s))
                   RETURNING doc_id, len, tsvector_to_array(tsv)""",
                (
                    old[0][0] if old else None,
                    self.user_id,
                    session_key,
                    segment,
                    token_count(text),
                    text,
                ),
            ).fetchall()
            self._count(SESSION, new, +1)


def turn_documents(rows: Iterable[tuple[int, str | None, str, str]]) -> list[tuple[int, str]]:
    """(pk, speaker, text, date_words) → (pk, body) of turn documents, as SQLite builds them."""
    from engramdb.store.sqlite.documents import turn_body

    return [(pk, turn_body(speaker, text, dates)) for pk, speaker, text, dates in rows]
