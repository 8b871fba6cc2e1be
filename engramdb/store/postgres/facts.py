"""Consolidation's view of the PostgreSQL store: reads and writes inside the ``add``
transaction, under the user's lock (the counterpart of sqlite/facts.py, event for event)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from engramdb.encode.text import normalise_name
from engramdb.errors import NotFoundError
from engramdb.store.base import FACT_SESSION, NewMemory, StoredFact
from engramdb.store.postgres.documents import TURN, Documents, turn_documents
from engramdb.store.postgres.pool import Conn
from engramdb.store.postgres.reads import utc
from engramdb.store.postgres.records import storable
from engramdb.store.postgres.writes import draw_vec_ids, insert_rows, touch


class PostgresFactSession:
    """Writes through the add's ``Documents``; ``max_vec_id`` and ``inserted`` tell ``add``
    what to count in the scope when the session is done."""

    def __init__(self, conn: Conn, docs: Documents, agent_id: str | None, now: datetime) -> None:
        self.conn = conn
        self.docs = docs
        self.user_id = docs.user_id
        self.agent_id = agent_id
        self.now = now
        self.max_vec_id = 0
        self.inserted = 0

    def facts_for(self, prefix: str) -> list[StoredFact]:
        """Versions of the facts keyed ``prefix`` or ``prefix|…``: ranges in byte order, as
        the fact-key index is (whatever the database's collation)."""
        rows = self.conn.execute(
            """SELECT pk, id, fact_key, coalesce(value, ''), text, valid_from, valid_to,
                   sources, version
               FROM memories WHERE user_id = %s AND fact_key IS NOT NULL
                 AND (fact_key COLLATE "C" = %s
                      OR (fact_key COLLATE "C" >= %s AND fact_key COLLATE "C" < %s))
               ORDER BY pk""",
            (self.user_id, prefix, prefix + "|", prefix + "}"),
        ).fetchall()
        return [
            StoredFact(
                int(r[0]), r[1], r[2], r[3], r[4], utc(r[5]), utc(r[6]), json.loads(r[7]), r[8]
            )
            for r in rows
        ]

    def insert(self, item: NewMemory, *, actor: str, reason: str) -> tuple[int, bool]:
        item = storable(item)
        row = self.conn.execute(
            "SELECT pk FROM memories WHERE user_id = %s AND kind = %s AND content_hash = %s",
            (self.user_id, item.kind, item.content_hash),
        ).fetchone()
        if row is not None:
            return int(row[0]), False
        pks, vec_id = insert_rows(
            self.conn,
            self.docs,
            self.agent_id,
            [item],
            self.now,
            keys=[FACT_SESSION],
            actor=actor,
            reason=reason,
        )
        self.max_vec_id = max(self.max_vec_id, vec_id)
        self.inserted += 1
        return pks[0], True

    def _row(self, pk: int, columns: str) -> tuple[Any, ...]:
        row = self.conn.execute(
            f"SELECT {columns} FROM memories WHERE pk = %s AND user_id = %s".encode(),
            (pk, self.user_id),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no memory with pk {pk} for this user")
        return tuple(row)

    def _history(
        self,
        memory_id: str,
        version: int,
        event: str,
        text: str,
        actor: str,
        reason: str,
        previous_text: str | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO history (memory_id, user_id, version, event, text, previous_text,"
            " actor, reason, at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (memory_id, self.user_id, version, event, text, previous_text, actor, reason, self.now),
        )

    def close(self, pk: int, valid_to: datetime | None, *, actor: str, reason: str) -> None:
        row = self.conn.execute(
            "UPDATE memories SET valid_to = %s, updated_at = %s WHERE pk = %s AND user_id = %s"
            " RETURNING id, text, version",
            (valid_to, self.now, pk, self.user_id),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no memory with pk {pk} for this user")
        self.max_vec_id = max(self.max_vec_id, touch(self.conn, pk))
        event = "INVALIDATE" if valid_to is not None else "UPDATE"
        self._history(row[0], row[2], event, row[1], actor, reason)

    def add_sources(self, pk: int, sources: list[str], *, actor: str, reason: str) -> None:
        memory_id, text, version, current = self._row(pk, "id, text, version, sources")
        known = json.loads(current)
        merged = known + [s for s in sources if s not in known]
        if merged != known:
            self.conn.execute(
                "UPDATE memories SET sources = %s WHERE pk = %s", (json.dumps(merged), pk)
            )
        self._history(memory_id, version, "NOOP", text, actor, reason)

    def revise(self, pk: int, item: NewMemory, *, actor: str, reason: str) -> None:
        item = storable(item)
        memory_id, old_text, version, speaker, sources = self._row(
            pk, "id, text, version, speaker, sources"
        )
        known = json.loads(sources)
        merged = known + [s for s in item.sources if s not in known]
        (vec_id,) = draw_vec_ids(self.conn, 1)
        self.conn.execute(
            """UPDATE memories SET text = %s, value = %s, embedding = %s, vec_id = %s,
               sources = %s, confidence = %s, version = version + 1, updated_at = %s,
               date_words = %s WHERE pk = %s""",
            (
                item.text,
                item.value,
                item.embedding,
                vec_id,
                json.dumps(merged),
                item.confidence,
                self.now,
                item.date_words,
                pk,
            ),
        )
        body = turn_documents([(pk, speaker, item.text, item.date_words)])
        self.docs.put("lex_turn", TURN, body)
        self.max_vec_id = max(self.max_vec_id, vec_id)
        self._history(memory_id, version + 1, "UPDATE", item.text, actor, reason, old_text)

    def link(self, src_pk: int, dst_pk: int, kind: str) -> None:
        self.conn.execute(
            "INSERT INTO memory_links (src_pk, dst_pk, user_id, kind) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (src_pk, dst_pk, self.user_id, kind),
        )

    def mention(self, pk: int, names: list[tuple[str, str]]) -> None:
        first: dict[str, str] = {}  # norm → the first spelling (the one a new entity keeps)
        pairs: list[tuple[str, str]] = []
        for name, role in names:
            norm = normalise_name(name)
            if not norm:
                continue
            first.setdefault(norm, name)
            if (norm, role) not in pairs:
                pairs.append((norm, role))
        if not pairs:
            return
        self.conn.execute(
            "INSERT INTO entities (user_id, name, norm)"
            " SELECT %s, n, m FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS t(n, m, i)"
            " ORDER BY i ON CONFLICT (user_id, norm) DO NOTHING",
            (self.user_id, list(first.values()), list(first)),
        )
        self.conn.execute(
            """INSERT INTO memory_entities (memory_pk, entity_pk, user_id, role)
               SELECT %s, e.pk, %s, t.r FROM unnest(%s::text[], %s::text[]) AS t(m, r)
               JOIN entities e ON e.user_id = %s AND e.norm = t.m
               ON CONFLICT DO NOTHING""",
            (pk, self.user_id, [m for m, _ in pairs], [r for _, r in pairs], self.user_id),
        )
