"""BM25 in SQL over ``tsvector`` documents, matching SQLite FTS5's ``bm25()``.

PostgreSQL ranks text with ``ts_rank``, which has no inverse document frequency and no length
normalisation of BM25's kind; on LoCoMo it loses recall against FTS5. So the store keeps what
BM25 needs and computes it in the query:

- the text is reduced in Python exactly as FTS5's ``unicode61 remove_diacritics 2`` tokenizer
  reduces it (letter/digit runs, lower case, no diacritics) and stemmed by PostgreSQL's Porter
  stemmer (the same algorithm as FTS5's ``porter``), with no stopwords;
- each document row stores its token count (``len``); the term frequency is the number of
  positions of the lexeme in the ``tsvector``;
- per scope (user) and granularity, ``lex_stats`` holds the document count and total tokens and
  ``lex_terms`` the document frequency of every lexeme, maintained on write
  (postgres/documents.py).

The score is FTS5's: idf·tf·(k1+1) / (tf + k1·(1 − b + b·|D|/avgdl)), k1 = 1.2, b = 0.75,
idf = ln((N − n + 0.5)/(n + 0.5)) floored at 1e-6; |D| counts one extra token per document
because FTS5 counts the scope-token column too. One difference is deliberate: N, n and avgdl
are the user's own, where FTS5's are those of the whole table (every user). A user's ranking
thus never depends on other tenants' data; with one user in a store the scores are FTS5's.

The plan bounds the cost in large scopes as the SQLite store does: above ``FULL_OR_MAX_ROWS``
rows, each granularity keeps only the ``MAX_TERMS`` rarest query terms that occur in at most
``MAX_POSTINGS`` of its documents (``MAX_SESSION_POSTINGS`` for session segments; exact counts
here, where SQLite estimates them).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import psycopg

from engramdb.store.base import Granularity, ScopeState

FULL_OR_MAX_ROWS = 20_000
MAX_POSTINGS = 1_000  # as the SQLite planner: one bound for both backends
# A session segment holds up to 64 turns: scoring one reads a ~10 kB tsvector, ten times a
# turn's, and only the best few segments are used (session_candidates), so the terms chosen for
# it must be ten times rarer to cost the same.
MAX_SESSION_POSTINGS = 100
MAX_TERMS = 3
# the session signal only picks the few best segments (session_candidates): in a large scope
# its rarest term is enough, and each extra one read ~100 segments of ~10 kB (p95 at 1M rows:
# 122 ms with three terms)
MAX_SESSION_TERMS = 1
K1, B = 1.2, 0.75
GRANULARITY: dict[Granularity, int] = {"turn": 1, "window": 2, "session": 3}
_SEPARATORS = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Letter/digit runs of ``text`` joined by single spaces: lower case, diacritics removed."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFD", text)
        text = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
        text = unicodedata.normalize("NFC", text)
    return _SEPARATORS.sub(" ", text.lower()).strip()


def token_count(normalised: str) -> int:
    return len(normalised.split())


def tsquery(lexemes: list[str]) -> str:
    """An OR of lexemes as tsquery text; quoted, so nothing is stemmed or parsed again."""
    quoted = ("'" + lex.replace("\\", "\\\\").replace("'", "''") + "'" for lex in lexemes)
    return " | ".join(dict.fromkeys(quoted))


@dataclass(frozen=True, slots=True)
class Query:
    """What one granularity's SQL needs: the tsquery, each term's lexeme and idf (a term that
    stems like another counts again, as a repeated FTS5 phrase does) and the mean length."""

    match: str
    lexemes: list[str]
    idf: list[float]
    avgdl: float
    large: bool = False  # a scope above FULL_OR_MAX_ROWS: rare terms only


Plan = dict[Granularity, Query]


def stems(conn: psycopg.Connection[Any], terms: list[str]) -> list[str]:
    """The lexemes of the query terms in order (one term may give more than one)."""
    rows = conn.execute(
        "SELECT lexeme FROM unnest(%s::text[]) WITH ORDINALITY AS t(term, n),"
        " unnest(tsvector_to_array(to_tsvector('engram', t.term))) AS lexeme ORDER BY t.n",
        ([normalise(t) for t in terms],),
    ).fetchall()
    return [str(r[0]) for r in rows]


def plan(
    conn: psycopg.Connection[Any], user_id: str, terms: list[str], scope: ScopeState
) -> Plan | None:
    if not terms:
        return None
    lexemes = stems(conn, terms)
    if not lexemes:
        return None
    stats = {
        int(g): (int(docs), int(tokens))
        for g, docs, tokens in conn.execute(
            "SELECT granularity, docs, tokens FROM lex_stats WHERE user_id = %s", (user_id,)
        )
    }
    df: dict[tuple[int, str], int] = {
        (int(g), str(lex)): int(n)
        for g, lex, n in conn.execute(
            "SELECT granularity, lexeme, df FROM lex_terms WHERE user_id = %s AND lexeme = ANY(%s)",
            (user_id, list(set(lexemes))),
        )
    }
    out: Plan = {}
    for granularity, code in GRANULARITY.items():
        docs, tokens = stats.get(code, (0, 0))
        if docs <= 0:
            continue
        counts = [df.get((code, lex), 0) for lex in lexemes]
        chosen = list(range(len(lexemes)))
        if scope.rows > FULL_OR_MAX_ROWS:
            bound = MAX_SESSION_POSTINGS if granularity == "session" else MAX_POSTINGS
            rare = [i for i in chosen if 0 < counts[i] <= bound]
            keep = MAX_SESSION_TERMS if granularity == "session" else MAX_TERMS
            chosen = sorted(rare, key=counts.__getitem__)[:keep]
        if not chosen:
            continue
        idf = [_idf(docs, counts[i]) for i in chosen]
        picked = [lexemes[i] for i in chosen]
        large = scope.rows > FULL_OR_MAX_ROWS
        out[granularity] = Query(tsquery(picked), picked, idf, (tokens + docs) / docs, large)
    return out or None


def _idf(docs: int, hits: int) -> float:
    value = math.log((docs - hits + 0.5) / (hits + 0.5))
    return value if value > 0 else 1e-6


_SCORE = (
    f"""sum(q.idf * u.tf * {K1 + 1} / (u.tf + {K1} * ({1 - B} + {B} * (d.len + 1) / %(avgdl)s)))"""
)
# Only the query's lexemes of each matching document are unnested: setweight marks them 'A'
# and ts_filter keeps the marked ones, both in C, instead of joining every lexeme in SQL.
_TERMS = """CROSS JOIN LATERAL (SELECT lexeme, cardinality(positions) AS tf
        FROM unnest(ts_filter(setweight(d.tsv, 'A', %(lexemes)s::text[]), '{a}'))) u
    JOIN unnest(%(lexemes)s::text[], %(idf)s::float8[]) AS q(lexeme, idf) ON q.lexeme = u.lexeme"""
SQL: dict[Granularity, str] = {
    "turn": f"""SELECT d.pk, {_SCORE} AS score FROM lex_turn d {_TERMS}
        WHERE d.user_id = %(user)s AND d.tsv @@ %(match)s::tsquery
        GROUP BY d.pk ORDER BY score DESC, d.pk LIMIT %(limit)s""",
    "window": f"""SELECT d.pk, {_SCORE} AS score FROM lex_window d {_TERMS}
        WHERE d.user_id = %(user)s AND d.tsv @@ %(match)s::tsquery
        GROUP BY d.pk ORDER BY score DESC, d.pk LIMIT %(limit)s""",
    "session": f"""SELECT d.session_key, d.segment, {_SCORE} AS score FROM session_docs d {_TERMS}
        WHERE d.user_id = %(user)s AND d.tsv @@ %(match)s::tsquery
        GROUP BY d.doc_id ORDER BY score DESC, d.doc_id LIMIT %(limit)s""",
}


# In a large scope the rare terms of the plan match few segments: only the GIN index finds
# them without reading the user's every segment. Session segments keep their tsvectors out of
# line (TOAST), so the heap looks tiny and the planner would rather scan all of the user's rows
# (by the user_id btree) and detoast each one for the @@ test: 100 ms at 1M rows. Hiding
# user_id from its index (``|| ''``) and turning off plain scans leaves the GIN bitmap: 5 ms.
LARGE_SESSION_SQL = SQL["session"].replace("d.user_id = %(user)s", "d.user_id || '' = %(user)s")


def search(
    conn: psycopg.Connection[Any],
    user_id: str,
    plan: Plan | None,
    granularity: Granularity,
    limit: int,
) -> list[tuple[Any, float]]:
    """Top documents by BM25 (higher is better), always filtered on user_id in SQL."""
    query = plan.get(granularity) if plan else None
    if query is None:
        return []
    args = {
        "user": user_id,
        "match": query.match,
        "lexemes": query.lexemes,
        "idf": query.idf,
        "avgdl": query.avgdl,
        "limit": limit,
    }
    if granularity != "session" or not query.large:
        rows = conn.execute(SQL[granularity].encode(), args).fetchall()
    else:
        with conn.transaction():
            conn.execute(
                "SELECT set_config('enable_seqscan', 'off', true),"
                " set_config('enable_indexscan', 'off', true)"
            )
            rows = conn.execute(LARGE_SESSION_SQL.encode(), args).fetchall()
    if granularity == "session":
        return [((str(r[0]), int(r[1])), float(r[2])) for r in rows]
    return [(int(r[0]), float(r[1])) for r in rows]
