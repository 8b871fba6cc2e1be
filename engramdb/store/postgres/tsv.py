"""The PostgreSQL lexical index: a ``tsvector`` and token count per document, and BM25 in SQL
with the user's statistics (``ts_rank`` has neither idf nor BM25's length normalisation).
Text is reduced in Python as FTS5's ``unicode61 remove_diacritics 2`` reduces it and stemmed by
Porter with no stopwords, as FTS5's ``porter``; tf is a lexeme's positions in the tsvector."""

from __future__ import annotations

from collections import Counter
from typing import Any

from engramdb.store.dialect import DocTerms, LexicalQuery, Row, Tx
from engramdb.store.lexical import K1, B, normalise

TABLES = {"turn": "lex_turn", "window": "lex_window", "session": "lex_session"}
_SCORE = f"sum(q.w * u.tf * {K1 + 1} / (u.tf + {K1} * ({1 - B} + {B} * (d.len + 1) / ?)))"
# Only the query's lexemes of each matching document are unnested: setweight marks them 'A'
# and ts_filter keeps the marked ones, both in C, instead of joining every lexeme in SQL.
_TERMS = """CROSS JOIN LATERAL (SELECT lexeme, cardinality(positions) AS tf
    FROM unnest(ts_filter(setweight(d.tsv, 'A', ?::text[]), '{a}'))) u
    JOIN unnest(?::text[], ?::float8[]) AS q(lexeme, w) ON q.lexeme = u.lexeme"""


def _search_sql(table: str, large_session: bool) -> str:
    # In a large scope the rare terms of the plan match few segments: only the GIN index finds
    # them without reading the user's every segment. Segments keep their tsvectors out of
    # line (TOAST), so the heap looks tiny and the planner would rather scan the user's rows by
    # the user_id btree and detoast each: hiding user_id from its index (``|| ''``) leaves the
    # GIN bitmap (100 ms → 5 ms at 1M rows).
    user = "d.user_id || '' = ?" if large_session else "d.user_id = ?"
    return (
        f"SELECT d.pk, {_SCORE} AS score FROM {table} d {_TERMS}"
        f" WHERE {user} AND d.tsv @@ ?::tsquery GROUP BY d.pk ORDER BY score DESC, d.pk LIMIT ?"
    )


def tsquery(lexemes: list[str]) -> str:
    """An OR of lexemes as tsquery text; quoted, so nothing is stemmed or parsed again."""
    quoted = ("'" + lex.replace("\\", "\\\\").replace("'", "''") + "'" for lex in lexemes)
    return " | ".join(dict.fromkeys(quoted))


class TsvectorIndex:
    def replace(
        self, tx: Tx, user_id: str, granularity: str, keys: list[int], docs: list[tuple[int, str]]
    ) -> tuple[list[DocTerms], list[DocTerms]]:
        table = TABLES[granularity]
        old = tx.all(
            f"DELETE FROM {table} WHERE pk = ANY(?) AND user_id = ?"
            " RETURNING len, tsvector_to_array(tsv)",
            (keys, user_id),
        )
        texts = [normalise(body) for _, body in docs]
        new: list[Row] = []
        if docs:  # one statement; the order of the rows returned does not matter here
            new = tx.all(
                f"INSERT INTO {table} (pk, user_id, len, tsv)"
                " SELECT p, ?, l, to_tsvector('engram', b) FROM unnest(?::bigint[], ?::int[],"
                " ?::text[]) AS t(p, l, b) RETURNING len, tsvector_to_array(tsv)",
                (user_id, [k for k, _ in docs], [len(t.split()) for t in texts], texts),
            )
        return [_terms(r) for r in old], [_terms(r) for r in new]

    def delete_user(self, tx: Tx, user_id: str) -> dict[str, int]:
        return {
            t: tx.run(f"DELETE FROM {t} WHERE user_id = ?", (user_id,)) for t in TABLES.values()
        }

    def lexemes(self, tx: Tx, words: list[str]) -> dict[str, str]:
        distinct = list(dict.fromkeys(words))
        rows = tx.all(
            "SELECT w, coalesce((SELECT string_agg(l, ' ') FROM"
            " unnest(tsvector_to_array(to_tsvector('engram', w))) AS l), '')"
            " FROM unnest(?::text[]) AS t(w)",
            (distinct,),
        )
        return {str(w): str(lexeme) for w, lexeme in rows}

    def documents(
        self, tx: Tx, user_id: str, granularity: str, keys: list[int] | None
    ) -> list[tuple[int, int, Counter[str]]]:
        sql = f"SELECT d.pk, d.len, u.lexeme, cardinality(u.positions) FROM {TABLES[granularity]} d"
        sql += " LEFT JOIN LATERAL unnest(d.tsv) u ON true WHERE d.user_id = ?"
        sql += " AND (? OR d.pk = ANY(?))"
        found: dict[int, tuple[int, Counter[str]]] = {}
        for pk, n, lexeme, tf in tx.all(sql, (user_id, keys is None, keys or [])):
            terms = found.setdefault(int(pk), (int(n) + 1, Counter()))[1]  # |D| as scored: len + 1
            if lexeme is not None:  # a document without terms still counts in N
                terms[str(lexeme)] = int(tf)
        return [(pk, n, terms) for pk, (n, terms) in found.items()]

    def search(
        self, tx: Tx, user_id: str, granularity: str, query: LexicalQuery, limit: int
    ) -> list[tuple[int, float]]:
        lexemes = [t.lexeme for t in query.terms]
        weights = [t.idf * t.repeats for t in query.terms]
        large_session = granularity == "session" and query.large
        args = (query.avgdl, lexemes, lexemes, weights, user_id, tsquery(lexemes), limit)
        sql = _search_sql(TABLES[granularity], large_session)
        # Documents of more than ~2 kB are TOASTed, so the planner prices a sequential scan by
        # the small main heap and skips the GIN index, then detoasts every document.
        with tx.local():
            tx.run("SELECT set_config('enable_seqscan', 'off', true)")
            if large_session:
                tx.run("SELECT set_config('enable_indexscan', 'off', true)")
            return [(int(r[0]), float(r[1])) for r in tx.all(sql, args)]


def _terms(row: tuple[Any, ...]) -> DocTerms:
    return DocTerms(int(row[0]), frozenset(row[1]))
