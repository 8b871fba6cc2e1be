"""SQLite schema, versioned: each migration runs once, in order, inside a transaction."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from engramdb.errors import StoreError

_TOKENIZE = "tokenize = 'porter unicode61 remove_diacritics 2'"
# Lexical tables carry a scope token per row (a hash of user_id), so a query intersects the
# user's postings inside FTS5 instead of scoring every user's matches and filtering after.

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "memories, history, lexical indexes",
        f"""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE memories (
            pk INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL,
            agent_id TEXT,
            session_id TEXT,
            session_key TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('episode', 'fact', 'summary')),
            text TEXT NOT NULL,
            role TEXT,
            speaker TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT,
            event_time TEXT,
            valid_from TEXT,
            valid_to TEXT,
            sources TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,
            content_hash TEXT NOT NULL,
            metadata TEXT NOT NULL,
            date_words TEXT NOT NULL DEFAULT '',
            time_lo REAL,
            time_hi REAL,
            has_time INTEGER NOT NULL DEFAULT 0,
            vec_id INTEGER NOT NULL,
            embedding BLOB NOT NULL
        );
        CREATE UNIQUE INDEX memories_content ON memories (user_id, kind, content_hash);
        CREATE INDEX memories_vec ON memories (user_id, vec_id);
        CREATE INDEX memories_session ON memories (user_id, session_key, seq);
        CREATE INDEX memories_list ON memories (user_id, kind, pk);
        CREATE TABLE history (
            hid INTEGER PRIMARY KEY AUTOINCREMENT,
            memory_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            event TEXT NOT NULL,
            text TEXT,
            previous_text TEXT,
            actor TEXT NOT NULL,
            reason TEXT,
            at TEXT NOT NULL
        );
        CREATE INDEX history_memory ON history (memory_id, hid);
        CREATE INDEX history_user ON history (user_id);
        CREATE TABLE session_docs (
            doc_id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id TEXT NOT NULL,
            session_key TEXT NOT NULL,
            segment INTEGER NOT NULL,
            UNIQUE (user_id, session_key, segment)
        );
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        CREATE TABLE term_df (term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE scope_state (
            user_id TEXT PRIMARY KEY,
            epoch INTEGER NOT NULL,
            max_vec_id INTEGER NOT NULL DEFAULT 0,
            deletes INTEGER NOT NULL DEFAULT 0,
            rows INTEGER NOT NULL DEFAULT 0,
            segments INTEGER NOT NULL DEFAULT 0
        );
        CREATE VIRTUAL TABLE fts_turn USING fts5 (body, scope, {_TOKENIZE});
        CREATE VIRTUAL TABLE fts_window USING fts5 (body, scope, {_TOKENIZE});
        CREATE VIRTUAL TABLE fts_session USING fts5 (body, scope, {_TOKENIZE});
        """,
    ),
    (
        2,
        "api keys of the service (hashed secrets, tenant, optional user, rights)",
        """
        CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY,
            secret_hash TEXT NOT NULL,
            tenant TEXT NOT NULL,
            user_id TEXT,
            rights TEXT NOT NULL CHECK (rights IN ('read', 'write')),
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE INDEX api_keys_tenant ON api_keys (tenant, created_at);
        """,
    ),
    (
        3,
        "facts (bi-temporal, versioned), lifecycle, entity graph, memory links",
        """
        ALTER TABLE memories ADD COLUMN subject TEXT;
        ALTER TABLE memories ADD COLUMN attribute TEXT;
        ALTER TABLE memories ADD COLUMN value TEXT;
        ALTER TABLE memories ADD COLUMN fact_key TEXT;
        ALTER TABLE memories ADD COLUMN confidence REAL;
        ALTER TABLE memories ADD COLUMN anchor_pk INTEGER;
        ALTER TABLE memories ADD COLUMN importance REAL NOT NULL DEFAULT 0.5;
        ALTER TABLE memories ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE memories ADD COLUMN expires_at TEXT;
        ALTER TABLE memories ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE memories ADD COLUMN last_used_at TEXT;
        CREATE INDEX memories_fact_key ON memories (user_id, fact_key) WHERE fact_key IS NOT NULL;
        CREATE INDEX memories_expiry ON memories (expires_at) WHERE expires_at IS NOT NULL;
        CREATE TABLE entities (
            pk INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id TEXT NOT NULL,
            name TEXT NOT NULL,
            norm TEXT NOT NULL,
            UNIQUE (user_id, norm)
        );
        CREATE TABLE memory_entities (
            memory_pk INTEGER NOT NULL REFERENCES memories (pk) ON DELETE CASCADE,
            entity_pk INTEGER NOT NULL REFERENCES entities (pk) ON DELETE CASCADE,
            role TEXT NOT NULL,
            user_id TEXT NOT NULL,
            PRIMARY KEY (memory_pk, entity_pk, role)
        ) WITHOUT ROWID;
        CREATE INDEX memory_entities_entity ON memory_entities (entity_pk);
        CREATE INDEX memory_entities_user ON memory_entities (user_id);
        CREATE TABLE memory_links (
            src_pk INTEGER NOT NULL REFERENCES memories (pk) ON DELETE CASCADE,
            dst_pk INTEGER NOT NULL REFERENCES memories (pk) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            user_id TEXT NOT NULL,
            PRIMARY KEY (src_pk, dst_pk, kind)
        ) WITHOUT ROWID;
        CREATE INDEX memory_links_dst ON memory_links (dst_pk);
        CREATE INDEX memory_links_user ON memory_links (user_id);
        """,
    ),
]

LATEST = MIGRATIONS[-1][0]


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to the latest version; refuse a database newer than this code."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
    if current > LATEST:
        raise StoreError(
            f"the database has schema version {current}; this engramdb knows up to {LATEST}: "
            "upgrade engramdb"
        )
    for version, name, sql in MIGRATIONS:
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # re-check under the write lock: another process may have migrated meanwhile
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
            ).fetchone()
            if not done:
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    (version, name, datetime.now(UTC).isoformat()),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(sql: str) -> list[str]:
    return [part.strip() for part in sql.split(";") if part.strip()]
