"""BM25 search over the FTS5 tables, with a query plan that bounds the cost in large scopes.

FTS5 scores every document that matches a query and reads each term's whole posting list, so
an OR of common words costs time in proportion to the scope.

- Small scopes (at most ``FULL_OR_MAX_ROWS`` rows): the plain OR of all query terms, limited
  to the user by the scope token. Best recall.
- Larger scopes: one expression per table. Terms in more than ``MAX_DF`` of the documents
  carry almost no BM25 weight and are dropped (dense retrieval still sees them) unless
  nothing better is left. A term enters alone where it should match at most ``BUDGET``
  documents; common terms only in the smallest conjunctions that fit the budget. The scope
  token is left out (its posting list is as long as the scope): the join on user_id scopes.

Document frequencies come from FTS5's vocabulary tables, terms assumed independent.
"""

from __future__ import annotations

import sqlite3
from itertools import combinations
from math import prod
from typing import Any

from engramdb.store.base import Granularity
from engramdb.store.sqlite.documents import scope_token

FULL_OR_MAX_ROWS = 20_000
BUDGET = 3_000
MAX_DF = 0.02
MAX_COMMON_TERMS = 6
TABLES: dict[Granularity, str] = {
    "turn": "fts_turn",
    "window": "fts_window",
    "session": "fts_session",
}


def quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


Plan = dict[Granularity, tuple[str, bool]]  # granularity → (MATCH expression, has scope token)


def plan(conn: sqlite3.Connection, user_id: str, terms: list[str], scope_rows: int) -> Plan | None:
    """One FTS5 MATCH expression per table for ``terms`` in the user's scope."""
    if not terms:
        return None
    if scope_rows <= FULL_OR_MAX_ROWS:
        scope = f'scope : "{scope_token(user_id)}"'
        expression = f"{scope} AND ({' OR '.join(map(quote, terms))})"
        return dict.fromkeys(TABLES, (expression, True))
    stems = _stems(conn, terms)
    sessions = conn.execute(
        "SELECT count(*) FROM session_docs WHERE user_id = ?", (user_id,)
    ).fetchone()[0]
    sizes = {"turn": scope_rows, "window": scope_rows, "session": max(sessions, 1)}
    return {
        granularity: (_bounded(conn, table, terms, stems, sizes[granularity]), False)
        for granularity, table in TABLES.items()
    }


def _bounded(
    conn: sqlite3.Connection, table: str, terms: list[str], stems: dict[str, str], size: int
) -> str:
    share = {}
    for term in terms:
        row = conn.execute(
            f"SELECT doc FROM {table}_vocab WHERE term = ?", (stems.get(term, term),)
        ).fetchone()
        share[term] = min(1.0, (row[0] if row else 0) / size)
    informative = [t for t in terms if share[t] <= MAX_DF]
    if len(informative) >= 2 or any(share[t] * size <= BUDGET for t in informative):
        terms = informative  # near-stopwords only cost time when better terms exist
    clauses = [quote(t) for t in terms if share[t] * size <= BUDGET / len(terms)]
    common = sorted((t for t in terms if quote(t) not in clauses), key=share.__getitem__)
    common = common[:MAX_COMMON_TERMS]
    for width in range(2, len(common) + 1):
        groups = list(combinations(common, width))
        expected = sum(size * prod(share[t] for t in group) for group in groups)
        if expected <= BUDGET or width == len(common):
            clauses += ["(" + " AND ".join(map(quote, g)) + ")" for g in groups]
            break
    return " OR ".join(clauses) if clauses else " AND ".join(map(quote, terms))


def _stems(conn: sqlite3.Connection, terms: list[str]) -> dict[str, str]:
    """The index form of each term, from the same tokenizer (a scratch in-memory FTS table)."""
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.stemmer USING fts5 "
        "(x, tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.stemmer_vocab USING fts5vocab "
        "(temp, stemmer, 'instance')"
    )
    conn.execute("DELETE FROM temp.stemmer")
    conn.executemany("INSERT INTO temp.stemmer (rowid, x) VALUES (?, ?)", enumerate(terms))
    rows = conn.execute("SELECT doc, term FROM temp.stemmer_vocab WHERE offset = 0").fetchall()
    return {terms[doc]: term for doc, term in rows}


def search(
    conn: sqlite3.Connection, user_id: str, plan: Plan, granularity: Granularity, limit: int
) -> list[tuple[Any, float]]:
    """Top documents by BM25 (higher is better), always filtered on user_id in SQL."""
    if granularity not in plan:
        return []
    match, scoped = plan[granularity]
    if granularity == "session":
        rows = conn.execute(
            """SELECT d.session_key, d.segment, -bm25(fts_session, 1.0, 0.0) AS score
               FROM fts_session JOIN session_docs d ON d.doc_id = fts_session.rowid
               WHERE fts_session MATCH ? AND d.user_id = ? ORDER BY score DESC LIMIT ?""",
            (match, user_id, limit),
        ).fetchall()
        return [((r[0], r[1]), float(r[2])) for r in rows]
    table = TABLES[granularity]
    if scoped:  # the token already limits matches to the user: rank first, then join
        sql = f"""SELECT m.pk, t.score FROM (
                      SELECT rowid, -bm25({table}, 1.0, 0.0) AS score FROM {table}
                      WHERE {table} MATCH ? ORDER BY score DESC LIMIT ?) t
                  JOIN memories m ON m.pk = t.rowid WHERE m.user_id = ?"""
        args: tuple[Any, ...] = (match, limit, user_id)
    else:
        sql = f"""SELECT m.pk, -bm25({table}, 1.0, 0.0) AS score FROM {table}
                  JOIN memories m ON m.pk = {table}.rowid
                  WHERE {table} MATCH ? AND m.user_id = ? ORDER BY score DESC LIMIT ?"""
        args = (match, user_id, limit)
    return [(int(r[0]), float(r[1])) for r in conn.execute(sql, args).fetchall()]
