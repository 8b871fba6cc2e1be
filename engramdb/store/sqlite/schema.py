"""SQLite's part of the schema: the vector-id counter, the FTS5 tables, and the upgrade of stores
written by the previous release (schema version 3)."""

from __future__ import annotations

from engramdb.store.dialect import GRANULARITIES, Tx
from engramdb.store.schema import LEX_STATS, Upgrade, ddl, run
from engramdb.store.sqlite.fts import OWNERS, TABLES, TOKENIZE

# the vector-id counter starts above every id in use (a store of v3 may not have it yet)
_COUNTER = (
    "INSERT INTO counters VALUES ('vec_id', (SELECT coalesce(max(vec_id), 0) FROM memories))"
    " ON CONFLICT (name) DO NOTHING"
)
# a deleted document's terms leave the index blocks at once (FTS5 secure-delete)
_SECURE = [f"INSERT INTO {t} ({t}, rank) VALUES ('secure-delete', 1)" for t in TABLES.values()]
OWN = [
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    _COUNTER,
    *(f"CREATE VIRTUAL TABLE {t} USING fts5 (body, scope, {TOKENIZE})" for t in TABLES.values()),
    *_SECURE,
]


def _per_user_statistics(tx: Tx) -> None:
    """Version 4: per-user BM25 statistics, counted from the FTS5 index, for the global term_df."""
    run(tx, ddl(0, LEX_STATS))
    for granularity, code in GRANULARITIES.items():
        table, (owner, key) = TABLES[granularity], OWNERS[granularity]
        vocab = f"temp.vocab_{table}"
        run(
            tx,
            [
                f"CREATE VIRTUAL TABLE {vocab} USING fts5vocab (main, {table}, 'instance')",
                f"""INSERT INTO lex_terms (user_id, granularity, lexeme, df)
                    SELECT o.user_id, {code}, v.term, count(DISTINCT v.doc) FROM {vocab} v
                    JOIN {owner} o ON o.{key} = v.doc WHERE v.col = 'body'
                    GROUP BY o.user_id, v.term""",
                f"""INSERT INTO lex_stats (user_id, granularity, docs, tokens)
                    SELECT o.user_id, {code}, count(*), 0 FROM {table}_docsize d
                    JOIN {owner} o ON o.{key} = d.id GROUP BY o.user_id""",
                f"""UPDATE lex_stats SET tokens = t.n FROM
                      (SELECT o.user_id, count(*) AS n FROM {vocab} v JOIN {owner} o
                       ON o.{key} = v.doc WHERE v.col = 'body' GROUP BY o.user_id) AS t
                    WHERE lex_stats.user_id = t.user_id AND lex_stats.granularity = {code}""",
                f"DROP TABLE {vocab}",
            ],
        )
    run(tx, ["DROP TABLE term_df", _COUNTER, *_SECURE])


UPGRADES: list[Upgrade] = [
    (4, "per-user lexical statistics, erasing deletes", _per_user_statistics),
]
