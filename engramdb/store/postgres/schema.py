"""PostgreSQL's part of the schema: text search configuration, vector-id sequence, tsvector
documents, the upgrade of version 3. Tables live in the first schema of the ``search_path``;
pgvector may live in any schema on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from hashlib import blake2b

import psycopg

from engramdb.errors import StoreError
from engramdb.store.dialect import Tx
from engramdb.store.postgres.pool import scalar
from engramdb.store.schema import migrate as run_migrations
from engramdb.store.schema import run, statements

# Lexical documents are indexed from text that engramdb has already reduced to space-separated
# letter/digit runs (store/lexical.py), so the parser only ever sees plain words; all of them
# go through Porter's stemmer with no stopword list, as SQLite's FTS5 'porter unicode61' does.
_TOKEN_TYPES = (
    "asciiword, word, numword, asciihword, hword, numhword, hword_asciipart, hword_part,"
    " hword_numpart, int, uint, float, sfloat, version"
)

# a granularity's tsvector documents (lex_session: keyed by session_docs.doc_id, like SQLite's
# fts_session rows)
_LEX_TABLE = """
CREATE TABLE {t} (pk bigint PRIMARY KEY, user_id text NOT NULL, len integer NOT NULL,
    tsv tsvector NOT NULL);
CREATE INDEX {t}_user ON {t} (user_id);
CREATE INDEX {t}_tsv ON {t} USING gin (tsv)
"""
_LEX_SESSION = _LEX_TABLE.format(t="lex_session")
# Version 4: session documents move from session_docs into lex_session, so the three
# granularities are alike (documents.py); BM25 statistics were per user already.
_UPGRADE_4 = f"""
{_LEX_SESSION};
INSERT INTO lex_session (pk, user_id, len, tsv) SELECT doc_id, user_id, len, tsv FROM session_docs;
ALTER TABLE session_docs DROP COLUMN len, DROP COLUMN tsv
"""
_OWN = f"""
CREATE TEXT SEARCH DICTIONARY engram_porter (TEMPLATE = snowball, LANGUAGE = porter);
CREATE TEXT SEARCH CONFIGURATION engram (PARSER = default);
ALTER TEXT SEARCH CONFIGURATION engram ADD MAPPING FOR {_TOKEN_TYPES} WITH engram_porter;
CREATE SEQUENCE vec_ids AS bigint;
CREATE INDEX memories_user ON memories (user_id, pk);
{_LEX_TABLE.format(t="lex_turn")};
{_LEX_TABLE.format(t="lex_window")};
{_LEX_SESSION}
"""


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for a name (stable across processes and versions)."""
    return int.from_bytes(blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def migrate(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Create or upgrade the schema (see store/schema.py) under an advisory lock, so several
    processes starting together (service replicas) migrate one at a time. ``conn`` must be in
    autocommit mode (each step opens its own transaction)."""
    from engramdb.store.postgres.dialect import PostgresTx

    _ensure_vector(conn)
    schema = str(scalar(conn, "SELECT current_schema()"))
    key = lock_key(f"engramdb-migrate:{schema}")

    @contextmanager
    def transaction() -> Iterator[Tx]:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            yield PostgresTx(conn)

    upgrade = (4, "session documents in lex_session", lambda tx: run(tx, statements(_UPGRADE_4)))
    run_migrations(transaction, 1, statements(_OWN), [upgrade])


def _ensure_vector(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Create pgvector if it is missing (needs the right to; managed services allow the
    database owner). Serialised database-wide: CREATE EXTENSION IF NOT EXISTS is not safe
    against a concurrent twin."""
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("engramdb-extension"),))
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.Error as exc:
        raise StoreError(
            "the pgvector extension is not installed in this database and could not be created"
            f" ({exc.diag.message_primary or exc}): run CREATE EXTENSION vector as its owner"
        ) from exc
