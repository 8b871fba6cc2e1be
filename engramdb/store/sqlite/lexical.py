"""BM25 search over the FTS5 tables, with a query plan that bounds the cost in large scopes.

FTS5 reads each query term's whole posting list and scores every document that matches, so
an OR of common words costs time in proportion to the scope.

- Small scopes (at most ``FULL_OR_MAX_ROWS`` rows): the plain OR of all query terms, limited
  to the user by the scope token. Best recall.
- Larger scopes: per table, the OR of the ``MAX_TERMS`` rarest query terms among those
  expected in at most ``MAX_POSTINGS`` of its documents. Commoner terms carry little BM25
  weight there and dense retrieval still sees them. The scope token is left out (its posting
  list is as long as the scope); the join on user_id does the scoping.

Document frequencies come from FTS5's vocabulary table of single turns; a window holds three
turns and a session segment up to 64, which gives their expected frequencies.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from engramdb.store.base import Granularity, ScopeState
from engramdb.store.sqlite.documents import scope_token

FULL_OR_MAX_ROWS = 20_000
MAX_POSTINGS = 1_000
MAX_TERMS = 3
OVERFETCH = 4
MAX_OVERFETCH = 256
TABLES: dict[Granularity, str] = {
    "turn": "fts_turn",
    "window": "fts_window",
    "session": "fts_session",
}


def quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


Plan = dict[Granularity, tuple[str, bool]]  # granularity → (MATCH expression, has scope token)


def plan(
    conn: sqlite3.Connection, user_id: str, terms: list[str], scope: ScopeState
) -> Plan | None:
    """One FTS5 MATCH expression per table for ``terms`` in the user's scope."""
    if not terms:
        return None
    if scope.rows <= FULL_OR_MAX_ROWS:
        token = f'scope : "{scope_token(user_id)}"'
        expression = f"{token} AND ({' OR '.join(map(quote, terms))})"
        return dict.fromkeys(TABLES, (expression, True))
    stems = _stems(conn, terms)
    marks = ",".join("?" * len(stems))
    df = dict(
        conn.execute(f"SELECT term, df FROM term_df WHERE term IN ({marks})", list(stems.values()))
    )
    turn = {t: min(1.0, df.get(stems.get(t, t), 0) / scope.rows) for t in terms}
    per_segment = scope.rows / max(scope.segments, 1)
    expected = {
        "turn": {t: turn[t] * scope.rows for t in terms},
        "window": {t: min(1.0, 3 * turn[t]) * scope.rows for t in terms},
        "session": {t: (1 - (1 - turn[t]) ** per_segment) * scope.segments for t in terms},
    }
    out: Plan = {}
    for granularity in TABLES:
        postings = expected[granularity]
        rare = sorted((t for t in terms if postings[t] <= MAX_POSTINGS), key=postings.__getitem__)
        if rare:
            out[granularity] = (" OR ".join(map(quote, rare[:MAX_TERMS])), False)
    return out or None


def count_terms(conn: sqlite3.Connection, bodies: list[str], sign: int = 1) -> None:
    """Add (sign 1) or remove (sign -1) turn documents' terms in ``term_df``, the document
    frequencies the planner reads. FTS5 can only count a term's documents by reading its whole
    posting list, so the counts are kept here, written in the same transaction as the
    documents; a term whose count drops to zero is removed with it."""
    if not bodies:
        return
    _scratch(conn)
    for start in range(0, len(bodies), 2000):
        chunk = bodies[start : start + 2000]
        conn.executemany("INSERT INTO temp.stemmer (rowid, x) VALUES (?, ?)", enumerate(chunk))
        conn.execute(
            "INSERT INTO term_df (term, df) SELECT term, ? * doc FROM temp.stemmer_row WHERE true"
            " ON CONFLICT (term) DO UPDATE SET df = df + excluded.df",
            (sign,),
        )
        conn.execute("DELETE FROM temp.stemmer")
    if sign < 0:
        conn.execute("DELETE FROM term_df WHERE df <= 0")


def _scratch(conn: sqlite3.Connection) -> None:
    """A scratch in-memory FTS table with the index's tokenizer, and views of its terms."""
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.stemmer USING fts5 "
        "(x, tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.stemmer_vocab USING fts5vocab "
        "(temp, stemmer, 'instance')"
    )
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.stemmer_row USING fts5vocab (temp, stemmer, 'row')"
    )
    conn.execute("DELETE FROM temp.stemmer")


def _stems(conn: sqlite3.Connection, terms: list[str]) -> dict[str, str]:
    """The index form of each term, from the same tokenizer."""
    _scratch(conn)
    conn.executemany("INSERT INTO temp.stemmer (rowid, x) VALUES (?, ?)", enumerate(terms))
    rows = conn.execute("SELECT doc, term FROM temp.stemmer_vocab WHERE offset = 0").fetchall()
    return {terms[doc]: term for doc, term in rows}


def search(
    conn: sqlite3.Connection, user_id: str, plan: Plan, granularity: Granularity, limit: int
) -> list[tuple[Any, float]]:
    """Top documents by BM25 (higher is better), always filtered on user_id in SQL.

    FTS5 ranks first; the user filter then looks up only the ranked rows. Without the scope
    token other users' rows can be among them, so the ranking is over-fetched, and widened
    when the filter leaves too few: the per-match join it replaces cost more than the ranking.
    """
    if granularity not in plan:
        return []
    match, scoped = plan[granularity]
    fetch = limit if scoped else limit * OVERFETCH
    while True:
        ranked = conn.execute(
            f"SELECT rowid, -bm25({TABLES[granularity]}, 1.0, 0.0) AS score"
            f" FROM {TABLES[granularity]} WHERE {TABLES[granularity]} MATCH ?"
            " ORDER BY score DESC LIMIT ?",
            (match, fetch),
        ).fetchall()
        owned = _owned(conn, user_id, granularity, [r[0] for r in ranked])
        hits = [(owned[rowid], float(score)) for rowid, score in ranked if rowid in owned]
        if len(hits) >= limit or len(ranked) < fetch or fetch >= limit * MAX_OVERFETCH:
            return hits[:limit]
        fetch *= OVERFETCH


def _owned(
    conn: sqlite3.Connection, user_id: str, granularity: Granularity, rowids: list[int]
) -> dict[int, Any]:
    """The user's rows among ``rowids``, as search keys (pk, or (session_key, segment)).
    ``+user_id`` keeps SQLite on the primary key: the user_id indexes would scan the scope."""
    owned: dict[int, Any] = {}
    for start in range(0, len(rowids), 500):
        chunk = rowids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        if granularity == "session":
            rows = conn.execute(
                "SELECT doc_id, session_key, segment FROM session_docs"
                f" WHERE doc_id IN ({marks}) AND +user_id = ?",
                [*chunk, user_id],
            )
            owned.update({r[0]: (r[1], r[2]) for r in rows})
        else:
            rows = conn.execute(
                f"SELECT pk FROM memories WHERE pk IN ({marks}) AND +user_id = ?",
                [*chunk, user_id],
            )
            owned.update({r[0]: r[0] for r in rows})
    return owned
