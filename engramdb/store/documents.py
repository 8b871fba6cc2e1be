"""Lexical documents (a memory's turn, each episode's ±1 window, session segments of
``SESSION_SEGMENT`` turns, rewritten as their turns change) and the per-user BM25 statistics:
the index says what each write adds or removes, so lex_terms and lex_stats change with one
statement per table and transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from engramdb.encode.text import speaker_prefixed
from engramdb.store.base import SESSION_SEGMENT
from engramdb.store.dialect import GRANULARITIES, Dialect, DocTerms, Tx

_Row = tuple[int, int, str | None, str, str]  # pk, seq, speaker, text, date_words


def turn_body(kind: str, speaker: str | None, text: str, date_words: str) -> str:
    """A message's text with its speaker (a fact's names its subject), then its dates' words on
    a line of their own (the lines windows and session segments are made of too)."""
    body = speaker_prefixed(speaker, text) if kind == "episode" else text
    return f"{body}\n{date_words}" if date_words else body


class Documents:
    """One user's documents, in the caller's transaction; ``flush`` before the commit."""

    def __init__(self, dialect: Dialect, tx: Tx, user_id: str) -> None:
        self.index = dialect.lexical
        self.tx = tx
        self.user_id = user_id
        self.df: Counter[tuple[int, str]] = Counter()
        self.docs: Counter[int] = Counter()
        self.tokens: Counter[int] = Counter()
        # documents to write at flush, by granularity: key → body (None: deleted)
        self.pending: dict[str, dict[int, str | None]] = {g: {} for g in GRANULARITIES}

    def _count(self, granularity: str, found: list[DocTerms], sign: int) -> None:
        code = GRANULARITIES[granularity]
        for doc in found:
            self.docs[code] += sign
            self.tokens[code] += sign * doc.length
            for lexeme in doc.lexemes:
                self.df[(code, lexeme)] += sign

    def put(self, granularity: str, docs: list[tuple[int, str]]) -> None:
        """Create or rewrite documents keyed by memory pk (turns, windows) or doc_id."""
        self.pending[granularity].update(docs)

    def delete(self, granularity: str, keys: list[int]) -> None:
        self.pending[granularity].update(dict.fromkeys(keys))

    def flush(self) -> None:
        """Write what was put and deleted (one index call per granularity), then statistics."""
        for granularity, pending in self.pending.items():
            if pending:
                keys = list(pending)
                docs = [(key, body) for key, body in pending.items() if body is not None]
                old, new = self.index.replace(self.tx, self.user_id, granularity, keys, docs)
                self._count(granularity, old, -1)
                self._count(granularity, new, 1)
                pending.clear()
        changed = [(g, lexeme, n) for (g, lexeme), n in self.df.items() if n]
        if changed:
            self.tx.many(
                "INSERT INTO lex_terms (user_id, granularity, lexeme, df) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (user_id, granularity, lexeme)"
                " DO UPDATE SET df = lex_terms.df + excluded.df",
                [(self.user_id, g, lexeme, n) for g, lexeme, n in changed],
            )
            gone = [(self.user_id, g, lexeme) for g, lexeme, n in changed if n < 0]
            self.tx.many(
                "DELETE FROM lex_terms WHERE user_id = ? AND granularity = ? AND lexeme = ?"
                " AND df <= 0",
                gone,
            )
        for code in sorted(set(self.docs) | set(self.tokens)):
            if self.docs[code] or self.tokens[code]:
                self.tx.run(
                    "INSERT INTO lex_stats (user_id, granularity, docs, tokens) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (user_id, granularity) DO UPDATE SET"
                    " docs = lex_stats.docs + excluded.docs,"
                    " tokens = lex_stats.tokens + excluded.tokens",
                    (self.user_id, code, self.docs[code], self.tokens[code]),
                )
        for counts in (self.df, self.docs, self.tokens):
            counts.clear()

    # --- derived documents ---------------------------------------------------------------
    def refresh(self, touched: dict[str, set[int]]) -> None:
        """Rewrite the windows and segments around changed episodes (session key → seqs)."""
        for key, seqs in sorted(touched.items()):
            self._windows(key, seqs)
            self._sessions(key, {s // SESSION_SEGMENT for s in seqs})

    def _windows(self, session_key: str, seqs: set[int]) -> None:
        if not seqs:
            return
        low, high = min(seqs), max(seqs)
        part = (
            "SELECT pk, seq, speaker, text, date_words FROM memories"
            " WHERE user_id = ? AND session_key = ? AND kind = 'episode'"
        )
        scope = (self.user_id, session_key)
        rows: list[_Row] = [
            *self.tx.all(f"{part} AND seq < ? ORDER BY seq DESC LIMIT 1", (*scope, low)),
            *self.tx.all(f"{part} AND seq BETWEEN ? AND ?", (*scope, low, high)),
            *self.tx.all(f"{part} AND seq > ? ORDER BY seq LIMIT 1", (*scope, high)),
        ]
        rows.sort(key=lambda r: r[1])
        touched = _touched_positions(rows, seqs)
        self.put("window", [(rows[i][0], _window_body(rows, i)) for i in touched])

    def _sessions(self, session_key: str, segments: Iterable[int]) -> None:
        for segment in sorted(segments):
            low = segment * SESSION_SEGMENT
            rows = self.tx.all(
                "SELECT speaker, text, date_words FROM memories WHERE user_id = ?"
                " AND session_key = ? AND kind = 'episode' AND seq >= ? AND seq < ? ORDER BY seq",
                (self.user_id, session_key, low, low + SESSION_SEGMENT),
            )
            found = self.tx.one(
                "SELECT doc_id FROM session_docs WHERE user_id = ? AND session_key = ?"
                " AND segment = ?",
                (self.user_id, session_key, segment),
            )
            if found:
                self.delete("session", [int(found[0])])
            if not rows:
                if found:
                    self.tx.run("DELETE FROM session_docs WHERE doc_id = ?", (found[0],))
                    self._segments(-1)
                continue
            if found:
                doc_id = int(found[0])
            else:
                new = self.tx.returning(
                    "INSERT INTO session_docs (user_id, session_key, segment) VALUES (?, ?, ?)"
                    " RETURNING doc_id",
                    [(self.user_id, session_key, segment)],
                )
                doc_id = int(new[0][0])
                self._segments(1)
            dates = sorted({r[2] for r in rows if r[2]})
            body = "\n".join([*(speaker_prefixed(r[0], r[1]) for r in rows), *dates])
            self.put("session", [(doc_id, body)])

    def _segments(self, delta: int) -> None:
        self.tx.run(
            "INSERT INTO scope_state (user_id, epoch, segments) VALUES (?, 0, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET"
            " segments = scope_state.segments + excluded.segments",
            (self.user_id, delta),
        )


def _touched_positions(rows: list[_Row], seqs: set[int]) -> list[int]:
    touched: set[int] = set()
    for i, row in enumerate(rows):
        if row[1] in seqs:
            touched.update(j for j in (i - 1, i, i + 1) if 0 <= j < len(rows))
    # a deleted turn is absent: its former neighbours are the rows on either side of the gap
    for i in range(len(rows) - 1):
        if any(rows[i][1] < s < rows[i + 1][1] for s in seqs):
            touched.update((i, i + 1))
    return sorted(touched)


def _window_body(rows: list[_Row], i: int) -> str:
    parts = [speaker_prefixed(r[2], r[3]) for r in rows[max(i - 1, 0) : i + 2]]
    if rows[i][4]:
        parts.append(rows[i][4])
    return "\n".join(parts)
