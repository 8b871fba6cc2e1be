"""BM25 search over the FTS5 tables, with a query plan that bounds the cost in large scopes.

Scores in small scopes (at most ``FULL_OR_MAX_ROWS`` rows) use the user's own statistics, as
the PostgreSQL store's do (postgres/lexical.py), with the same formula: for each query term,
idf·tf·(k1+1) / (tf + k1·(1 − b + b·|D|/avgdl)), k1 = 1.2, b = 0.75,
idf = ln((N − n + 0.5)/(n + 0.5)) floored at 1e-6, where N is the number of the user's documents
of the granularity, n how many of them hold the term and avgdl their mean length. |D| counts
every column, the scope token's too, as FTS5 does. FTS5's own ``bm25()`` takes N, n and avgdl
from the whole table, every user's rows mixed: one tenant's documents would move another's
scores, and the two stores would rank differently. So for each distinct index term (``Term``):

- one FTS5 query restricted by the scope token finds the user's documents that hold it: their
  count is n;
- tf is read back from FTS5's ``bm25()`` of that one-phrase query: with body weights 1 and 2 it
  is idf·c·tf/(tf + K) and idf·c·2tf/(2tf + K) (c = k1 + 1, K from |D| and the table's avgdl),
  whose ratio gives tf/K whatever the table-wide idf; |D| comes from FTS5's ``docsize`` table,
  the table's avgdl from its averages record;
- N and the total length come from ``docsize`` over the user's documents, computed when the
  user's ``scope_state`` changed since the last query on the connection and kept meanwhile in
  a TEMP table of that connection (``lexical_stats``).

Terms are taken rarest first, and terms left over once their summed maximum contribution
(idf·(k1+1) each) falls below the current k-th best score are only looked up in the documents
already found (MaxScore): a document holding none of the taken terms cannot reach the top k.

Large scopes: per table, the OR of the ``MAX_TERMS`` rarest query terms among those expected in
at most ``MAX_POSTINGS`` of its documents, ranked by FTS5's ``bm25()``, so with the statistics
of the whole table (an approximation: the user's own would cost a pass over the scope after
each write). Commoner terms carry little BM25 weight there and dense retrieval still sees them.
The scope token is left out (its posting list is as long as the scope); the join on user_id
does the scoping. Document frequencies come from ``term_df``, counts of single turns; a window
holds three turns and a session segment up to 64, which gives their expected frequencies.
"""

from __future__ import annotations

import heapq
import json
import math
import re
import sqlite3
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engramdb.store.base import Granularity, ScopeState
from engramdb.store.sqlite.documents import scope_token
from engramdb.store.sqlite.terms import index_forms, index_stems

FULL_OR_MAX_ROWS = 20_000
MAX_POSTINGS = 1_000
MAX_TERMS = 3
OVERFETCH = 4
MAX_OVERFETCH = 256
K1, B = 1.2, 0.75
IDF_FLOOR = 1e-6
TABLES: dict[Granularity, str] = {
    "turn": "fts_turn",
    "window": "fts_window",
    "session": "fts_session",
}
_SEPARATORS = re.compile(r"[\W_]+")
_MAX_CACHED_USERS = 10_000


def _byte(i: int) -> str:
    return f"(instr(:bytes, substr(d.sz, {i}, 1)) - 1)"


_BYTES = bytes(range(256))  # instr(_BYTES, one byte) - 1 is the byte's value
# |D| from a docsize record: the body's varint (a byte to 127 tokens, two to 16,383, three to
# 2M) and the scope column's, one token in one byte
_SIZE = (
    f"(CASE length(d.sz) WHEN 2 THEN {_byte(1)} + {_byte(2)}"
    f" WHEN 3 THEN ({_byte(1)} - 128) * 128 + {_byte(2)} + {_byte(3)}"
    f" ELSE (({_byte(1)} - 128) * 128 + {_byte(2)} - 128) * 128 + {_byte(3)} + {_byte(4)} END)"
)


def quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class Term:
    """One distinct index term of the query: its FTS5 phrase and how many query words stem to
    it (each counts, as a repeated phrase does in FTS5 and a repeated lexeme in PostgreSQL)."""

    phrase: str
    repeats: int


@dataclass(frozen=True, slots=True)
class UserQuery:
    """Small scopes: BM25 with the user's statistics for one granularity."""

    scope: str  # FTS5 expression of the user's scope token
    terms: tuple[Term, ...]
    docs: int  # N
    avgdl: float  # the mean length of the user's documents, the scope token included


@dataclass(frozen=True, slots=True)
class TableQuery:
    """Large scopes: FTS5's ``bm25()`` over the rarest terms, then the user filter."""

    match: str


Plan = dict[Granularity, UserQuery | TableQuery]


def normalise(text: str) -> str:
    """Letter/digit runs of ``text`` joined by single spaces: lower case, diacritics removed
    (what FTS5's ``unicode61 remove_diacritics 2`` keeps; as postgres/lexical.py reduces text)."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFD", text)
        text = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
        text = unicodedata.normalize("NFC", text)
    return _SEPARATORS.sub(" ", text.lower()).strip()


def plan(
    conn: sqlite3.Connection, user_id: str, terms: list[str], scope: ScopeState
) -> Plan | None:
    """What to match in each table for ``terms`` in the user's scope (None: nothing)."""
    if not terms:
        return None
    if scope.rows <= FULL_OR_MAX_ROWS:
        return _user_plan(conn, user_id, terms, scope)
    stems = index_stems(conn, terms)
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
            out[granularity] = TableQuery(" OR ".join(map(quote, rare[:MAX_TERMS])))
    return out or None


def _user_plan(
    conn: sqlite3.Connection, user_id: str, terms: list[str], scope: ScopeState
) -> Plan | None:
    words = [w for t in terms for w in normalise(t).split()]
    forms = index_forms(conn, list(dict.fromkeys(words)))
    grouped: dict[str, list[str]] = {}
    for word in words:
        if forms[word]:  # a word of separators only has no index form
            grouped.setdefault(forms[word], []).append(word)
    if not grouped:
        return None
    query_terms = tuple(Term(quote(same[0]), len(same)) for same in grouped.values())
    stats = user_stats(conn, user_id, scope)
    token = f'scope : "{scope_token(user_id)}"'
    out: Plan = {}
    for granularity, (docs, size) in stats.items():
        if docs > 0:
            out[granularity] = UserQuery(token, query_terms, docs, size / docs)
    return out or None


# --- statistics -------------------------------------------------------------------------------
def user_stats(
    conn: sqlite3.Connection, user_id: str, scope: ScopeState
) -> dict[Granularity, tuple[int, int]]:
    """(documents, total length) of the user's documents per granularity, the length counted
    as FTS5 counts it (every column). Computed from FTS5's ``docsize`` tables when the user's
    ``scope_state`` differs from the one they were computed at (every change to a user's
    documents changes it), else read from this connection's TEMP cache."""
    state = f"{scope.epoch}:{scope.max_vec_id}:{scope.deletes}:{scope.rows}:{scope.segments}"
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS lexical_stats (user_id TEXT PRIMARY KEY, state TEXT NOT"
        " NULL, turn_docs INT, turn_size INT, window_docs INT, window_size INT,"
        " session_docs INT, session_size INT)"
    )
    row = conn.execute(
        "SELECT turn_docs, turn_size, window_docs, window_size, session_docs, session_size"
        " FROM temp.lexical_stats WHERE user_id = ? AND state = ?",
        (user_id, state),
    ).fetchone()
    if row is None:
        row = _count_user(conn, user_id)
        if conn.execute(
            "SELECT count(*) >= ? FROM temp.lexical_stats", (_MAX_CACHED_USERS,)
        ).fetchone()[0]:
            conn.execute("DELETE FROM temp.lexical_stats")
        conn.execute(
            "INSERT OR REPLACE INTO temp.lexical_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (user_id, state, *row),
        )
    return {"turn": (row[0], row[1]), "window": (row[2], row[3]), "session": (row[4], row[5])}


def _count_user(conn: sqlite3.Connection, user_id: str) -> tuple[int, ...]:
    out: list[int] = []
    for source in (
        "memories m JOIN fts_turn_docsize d ON d.id = m.pk WHERE m.user_id = :user",
        "memories m JOIN fts_window_docsize d ON d.id = m.pk WHERE m.user_id = :user",
        "session_docs s JOIN fts_session_docsize d ON d.id = s.doc_id WHERE s.user_id = :user",
    ):
        docs, size = conn.execute(
            f"SELECT count(*), coalesce(sum({_SIZE}), 0) FROM {source}",
            {"bytes": _BYTES, "user": user_id},
        ).fetchone()
        out += (docs, size)
    return tuple(out)


def _varints(blob: bytes) -> Iterator[int]:
    """The varints of an FTS5 record (SQLite's encoding: 7 bits a byte, high bit: more)."""
    value = 0
    for byte in blob:
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            yield value
            value = 0


def table_average(conn: sqlite3.Connection, table: str) -> float:
    """The mean document length over the whole table (the averages record: rows, then the
    tokens of each column), as FTS5's ``bm25()`` uses it."""
    row = conn.execute(f"SELECT block FROM {table}_data WHERE id = 1").fetchone()
    values = list(_varints(row[0])) if row else []
    return sum(values[1:]) / values[0] if values and values[0] else 1.0


# --- search -----------------------------------------------------------------------------------
def search(
    conn: sqlite3.Connection, user_id: str, plan: Plan, granularity: Granularity, limit: int
) -> list[tuple[Any, float]]:
    """Top documents by BM25 (higher is better), always filtered on user_id in SQL."""
    query = plan.get(granularity)
    if query is None or limit <= 0:
        return []
    if isinstance(query, UserQuery):
        ranked = _user_search(conn, query, TABLES[granularity], limit)
        owned = _owned(conn, user_id, granularity, [rowid for rowid, _ in ranked])
        return [(owned[rowid], score) for rowid, score in ranked if rowid in owned]
    return _table_search(conn, user_id, query.match, granularity, limit)


def _user_search(
    conn: sqlite3.Connection, query: UserQuery, table: str, limit: int
) -> list[tuple[int, float]]:
    """The ``limit`` best of the user's documents by BM25 with the user's statistics, as
    (rowid, score), best first; ties by rowid."""
    matches = [f"{query.scope} AND {term.phrase}" for term in query.terms]
    counts = conn.execute(
        "SELECT "
        + ", ".join(f"(SELECT count(*) FROM {table} WHERE {table} MATCH ?)" for _ in matches),
        matches,
    ).fetchone()
    bound = [
        term.repeats * _idf(query.docs, n) * (K1 + 1)
        for term, n in zip(query.terms, counts, strict=True)
    ]
    order = sorted((i for i, n in enumerate(counts) if n), key=lambda i: (-bound[i], matches[i]))
    args: dict[str, Any] = {
        "bytes": _BYTES,
        "base": K1 * (1 - B),
        "per_token": K1 * B / query.avgdl,
        "table_per_token": K1 * B / table_average(conn, table),
    }
    scores: dict[int, float] = {}
    left = sum(bound[i] for i in order)
    for taken, i in enumerate(order):
        if len(scores) >= limit:
            kth = heapq.nlargest(limit, scores.values())[-1]
            if left < kth:  # a document outside ``scores`` scores at most ``left``
                # the other terms can lift a found document by ``left`` at most
                among = json.dumps([r for r, score in scores.items() if score + left >= kth])
                for j in order[taken:]:
                    rows = conn.execute(
                        _contributions(table, among=True),
                        {**args, "match": matches[j], "scale": bound[j], "among": among},
                    )
                    for rowid, value in rows:
                        scores[rowid] += value
                break
        rows = conn.execute(
            _contributions(table, among=False), {**args, "match": matches[i], "scale": bound[i]}
        )
        for rowid, value in rows:
            scores[rowid] = scores.get(rowid, 0.0) + value
        left -= bound[i]
    return heapq.nsmallest(limit, scores.items(), key=lambda item: (-item[1], item[0]))


def _contributions(table: str, *, among: bool) -> str:
    """SQL for (rowid, contribution) of one term for the user's documents that hold it:
    scale·tf/(tf + K) = scale/(1 + K/tf), K = k1·(1 − b + b·|D|/avgdl), scale = idf·(k1 + 1).

    tf is read back from FTS5's own scores: bm25() of the one-phrase query is
    s1 = I·tf/(tf + K') with body weight 1 and s2 = I·2tf/(2tf + K') with weight 2 (I from
    FTS5's table-wide idf, K' with the table's avgdl), so r = s2/s1 = 2(tf + K')/(2tf + K') and
    tf = K'·(2 − r)/(2(r − 1)) = K'·(0.5/(r − 1) − 0.5), whatever I is. ``among`` (a JSON list
    of rowids) keeps only those documents; "+" makes it a test after FTS5's one pass, not an
    FTS5 query per rowid."""
    ratio = f"bm25({table}, 2.0, 0.0) / bm25({table}, 1.0, 0.0)"
    tf = (
        f"coalesce(max(1, round((:base + :table_per_token * {_SIZE})"
        f" * (0.5 / ({ratio} - 1) - 0.5))), 1)"
    )
    where = f"{table} MATCH :match"
    if among:
        where += " AND +f.rowid IN (SELECT value FROM json_each(:among))"
    return (
        f"SELECT f.rowid, :scale / (1 + (:base + :per_token * {_SIZE}) / {tf})"
        f" FROM {table} f JOIN {table}_docsize d ON d.id = f.rowid WHERE {where}"
    )


def _idf(docs: int, hits: int) -> float:
    # a writer may have added documents since the plan counted ``docs``
    value = math.log((max(docs, hits) - hits + 0.5) / (hits + 0.5))
    return value if value > 0 else IDF_FLOOR


def _table_search(
    conn: sqlite3.Connection, user_id: str, match: str, granularity: Granularity, limit: int
) -> list[tuple[Any, float]]:
    """FTS5 ranks first; the user filter then looks up only the ranked rows. Other users' rows
    can be among them, so the ranking is over-fetched, and widened when the filter leaves too
    few: the per-match join it replaces cost more than the ranking."""
    table = TABLES[granularity]
    fetch = limit * OVERFETCH
    while True:
        ranked = conn.execute(
            f"SELECT rowid, -bm25({table}, 1.0, 0.0) AS score"
            f" FROM {table} WHERE {table} MATCH ? ORDER BY score DESC LIMIT ?",
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
