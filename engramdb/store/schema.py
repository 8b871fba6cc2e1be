"""The schema, written once: the tables every dialect shares, the memory table from the record
and the migration runner (an older store is upgraded step by step, each in its transaction)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from engramdb.errors import StoreError
from engramdb.store.dialect import Tx
from engramdb.store.record import SQL_TYPES, Codec, memories_ddl

LATEST = 5
# Upgrades of one dialect: version → (name, statements or a function of the transaction)
Upgrade = tuple[int, str, Callable[[Tx], None]]

_SHARED = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
{memories};
CREATE UNIQUE INDEX memories_id ON memories (id);
CREATE UNIQUE INDEX memories_content ON memories (user_id, kind, content_hash);
CREATE INDEX memories_vec ON memories (user_id, vec_id);
CREATE INDEX memories_session ON memories (user_id, session_key, seq);
CREATE INDEX memories_list ON memories (user_id, kind, pk);
CREATE INDEX memories_fact_key ON memories (user_id, fact_key{collate}) WHERE fact_key IS NOT NULL;
CREATE INDEX memories_expiry ON memories (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE history (
    hid {pk}, memory_id TEXT NOT NULL, user_id TEXT NOT NULL, version INTEGER NOT NULL,
    event TEXT NOT NULL, text TEXT, previous_text TEXT, actor TEXT NOT NULL, reason TEXT,
    at {time} NOT NULL
);
CREATE INDEX history_memory ON history (memory_id, hid);
CREATE INDEX history_user ON history (user_id);
CREATE TABLE session_docs (
    doc_id {pk}, user_id TEXT NOT NULL, session_key TEXT NOT NULL, segment INTEGER NOT NULL,
    UNIQUE (user_id, session_key, segment)
);
CREATE TABLE scope_state (
    user_id TEXT PRIMARY KEY, epoch {int} NOT NULL, max_vec_id {int} NOT NULL DEFAULT 0,
    deletes {int} NOT NULL DEFAULT 0, rows {int} NOT NULL DEFAULT 0,
    segments {int} NOT NULL DEFAULT 0
);
CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, tenant TEXT NOT NULL, user_id TEXT,
    rights TEXT NOT NULL CHECK (rights IN ('read', 'write')), created_at {time} NOT NULL,
    revoked_at {time}
);
CREATE INDEX api_keys_tenant ON api_keys (tenant, created_at);
CREATE TABLE entities (
    pk {pk}, user_id TEXT NOT NULL, name TEXT NOT NULL, norm TEXT NOT NULL,
    UNIQUE (user_id, norm)
);
CREATE TABLE memory_entities (
    memory_pk {int} NOT NULL REFERENCES memories (pk) ON DELETE CASCADE,
    entity_pk {int} NOT NULL REFERENCES entities (pk) ON DELETE CASCADE,
    role TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (memory_pk, entity_pk, role)
){without_rowid};
CREATE INDEX memory_entities_entity ON memory_entities (entity_pk);
CREATE INDEX memory_entities_user ON memory_entities (user_id);
CREATE TABLE memory_links (
    src_pk {int} NOT NULL REFERENCES memories (pk) ON DELETE CASCADE,
    dst_pk {int} NOT NULL REFERENCES memories (pk) ON DELETE CASCADE,
    kind TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (src_pk, dst_pk, kind)
){without_rowid};
CREATE INDEX memory_links_dst ON memory_links (dst_pk);
CREATE INDEX memory_links_user ON memory_links (user_id);
"""
# per-user BM25 statistics (documents.py); created by version 4 on both backends
LEX_STATS = """
CREATE TABLE lex_stats (
    user_id TEXT NOT NULL, granularity SMALLINT NOT NULL, docs {int} NOT NULL,
    tokens {int} NOT NULL, PRIMARY KEY (user_id, granularity)
);
CREATE TABLE lex_terms (
    user_id TEXT NOT NULL, granularity SMALLINT NOT NULL, lexeme TEXT NOT NULL,
    df INTEGER NOT NULL, PRIMARY KEY (user_id, granularity, lexeme)
)
"""
# the enrichment each add still owes its messages (queue.py); created by version 5
WORK_QUEUE = """
CREATE TABLE work_queue (
    job {pk}, user_id TEXT NOT NULL, agent_id TEXT, episodes TEXT NOT NULL,
    size INTEGER NOT NULL, enqueued_at {time} NOT NULL, claimed_by TEXT, claimed_at {time},
    attempts INTEGER NOT NULL, error TEXT
);
CREATE INDEX work_queue_user ON work_queue (user_id)
"""


def statements(sql: str) -> list[str]:
    return [part.strip() for part in sql.split(";") if part.strip()]


def ddl(dialect: int, *sql: str) -> list[str]:
    """The statements of ``sql`` with the types of dialect 0 (SQLite) or 1 (PostgreSQL)."""
    codecs: tuple[Codec, ...] = ("pk", "int", "time")
    fill: dict[str, str] = {codec: SQL_TYPES[codec][dialect] for codec in codecs}
    fill.update(memories=memories_ddl(dialect), collate=' COLLATE "C"' if dialect else "")
    fill["without_rowid"] = "" if dialect else " WITHOUT ROWID"
    return [s for part in sql for s in statements(part.format(**fill))]


def run(tx: Tx, sql: list[str]) -> None:
    for statement in sql:
        tx.run(statement)


def migrate(
    transaction: Callable[[], AbstractContextManager[Tx]],
    dialect: int,
    own: list[str],
    upgrades: list[Upgrade],
) -> None:
    """Create a new store at ``LATEST`` (the shared tables, then the dialect's ``own``) or
    upgrade an older one; refuse a newer one. Each step re-reads the version inside its
    transaction (under the dialect's lock), so processes starting together migrate once."""

    def queue(tx: Tx) -> None:  # version 5, alike on every dialect
        run(tx, ddl(dialect, WORK_QUEUE))

    upgrades = [*upgrades, (5, "the work queue of deferred enrichment", queue)]
    for _ in range(LATEST + 1):
        with transaction() as tx:
            tx.run(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            row = tx.one("SELECT coalesce(max(version), 0) FROM schema_migrations")
            current = int(row[0]) if row else 0
            if current > LATEST:
                raise StoreError(
                    f"the database has schema version {current}; this engramdb knows up to"
                    f" {LATEST}: upgrade engramdb"
                )
            if current == LATEST:
                return
            if current == 0:
                run(tx, [*ddl(dialect, _SHARED, LEX_STATS, WORK_QUEUE), *own])
                step, name = LATEST, "engine schema (created at the latest version)"
            else:
                found = [u for u in upgrades if u[0] == current + 1]
                if not found:
                    raise StoreError(f"cannot upgrade a store of schema version {current}")
                step, name, apply = found[0]
                apply(tx)
            tx.run(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                (step, name, datetime.now(UTC).isoformat()),
            )
            # the secret that list cursors are enciphered with (api/cursors.py)
            secret = (secrets.token_hex(32),)
            tx.run("INSERT INTO meta VALUES ('cursor_key', ?) ON CONFLICT (key) DO NOTHING", secret)
