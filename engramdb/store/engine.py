"""The store engine: every storage rule written once, over a ``Dialect`` (dialect.py). Each
write is one transaction serialised with the user's other writers, since sequence numbers,
documents and BM25 statistics are read-modify-write; the content-hash index makes re-adds
no-ops."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from engramdb.config import StoreConfig
from engramdb.errors import ConfigError
from engramdb.models import MemoryItem
from engramdb.store import queue, rows
from engramdb.store.base import ForgetPolicy, Inserted, NewMemory
from engramdb.store.dialect import Capabilities, Dialect, chunks, marks
from engramdb.store.documents import Documents, turn_body
from engramdb.store.facts import Consolidator, FactSession, check_storable
from engramdb.store.graph import Graph, pk_of
from engramdb.store.queue import WorkQueue
from engramdb.store.reads import by_id
from engramdb.store.transfer import TransferRows

# Tables that hold rows of one user; links and mentions go with their memories (ON DELETE
# CASCADE) but come first, so that delete_all counts them.
USER_TABLES = "memory_entities memory_links memories entities history session_docs lex_stats"
USER_TABLES += " lex_terms scope_state work_queue"


class Engine(Graph, WorkQueue):
    """The store over any dialect; every read and write is scoped in the query itself."""

    def __init__(self, dialect: Dialect, options: StoreConfig) -> None:
        self.d = dialect
        self.options = options

    @property
    def capabilities(self) -> Capabilities:
        return self.d.capabilities

    def nearest(
        self, user_id: str, vector: npt.NDArray[np.float32], k: int, expansion: int | None = None
    ) -> list[int]:
        return self.d.nearest(user_id, vector, k, expansion)

    def bulk_load(self, **options: Any) -> AbstractContextManager[Any]:
        return self.d.bulk_load(**options)

    def close(self) -> None:
        self.d.close()

    def transfer_rows(self) -> TransferRows:
        """Export/import rows of this store (manage/transfer.py)."""
        return TransferRows(self.d)

    def check_embedder(self, name: str, dim: int) -> None:
        """The first embedder fixes the store's vectors; another one is refused."""
        configured = {"name": name, "dim": dim}
        with self.d.write("checking the embedder", None) as tx:
            self.d.lock(tx, "engramdb-embedder")  # replicas starting together check one by one
            row = tx.one("SELECT value FROM meta WHERE key = 'embedder'")
            if row is None:
                tx.run("INSERT INTO meta VALUES ('embedder', ?)", (json.dumps(configured),))
            self.d.on_embedder(tx, dim, first=row is None)
        stored = json.loads(row[0]) if row else configured
        if stored != configured:
            raise ConfigError(
                f"this store holds vectors of {stored['name']} ({stored['dim']}-d); the configured"
                f" embedder is {name} ({dim}-d). Use the same embedder or export/import the store."
            )

    # --- writes ------------------------------------------------------------------------
    def add(
        self,
        user_id: str,
        agent_id: str | None,
        items: list[NewMemory],
        consolidate: Consolidator | None = None,
        *,
        enqueue: bool = False,
    ) -> list[MemoryItem]:
        """Write a batch in one transaction; an item whose content hash exists (or repeats one of
        the batch) is skipped, the stored one returned. ``enqueue``: a job owes the enrichment."""
        check_storable(items)
        now = datetime.now(UTC)
        with self.d.write("add", user_id) as tx:
            found: dict[tuple[str, str], int] = {}
            for chunk in chunks([i.content_hash for i in items]):
                known = tx.all(
                    "SELECT kind, content_hash, pk FROM memories WHERE user_id = ?"
                    f" AND content_hash IN ({marks(len(chunk))})",
                    (user_id, *chunk),
                )
                found.update({(r[0], r[1]): int(r[2]) for r in known})
            fresh: list[NewMemory] = []
            for item in items:
                if (item.kind, item.content_hash) not in found:
                    found[(item.kind, item.content_hash)] = -1  # placeholder: a repeat in the batch
                    fresh.append(item)
            docs = Documents(self.d, tx, user_id)
            placed = rows.place(
                tx, self.d, user_id, agent_id, fresh, now, keys=[i.session_id or "" for i in fresh]
            )
            pks = rows.insert_rows(tx, self.d, docs, placed, rows.Change("add", None, now))
            for item, pk in zip(fresh, pks, strict=True):
                found[(item.kind, item.content_hash)] = pk
            session = FactSession(self.d, tx, docs, agent_id, now)
            if consolidate is not None:
                consolidate(session, [Inserted(pk, i) for pk, i in zip(pks, fresh, strict=True)])
            if enqueue:
                owed = [pk for pk, i in zip(pks, fresh, strict=True) if i.kind == "episode"]
                queue.enqueue(tx, self.d, user_id, agent_id, owed, now)
            docs.flush()
            if fresh or session.max_vec_id:
                top = max([session.max_vec_id, *(int(r["vec_id"]) for r in placed)])
                added = len(fresh) + session.inserted
                rows.bump_scope(tx, self.d, user_id, max_vec_id=top, added=added)
        ordered = [found[(i.kind, i.content_hash)] for i in items]
        got = self.get_many(ordered)  # a writer may have deleted one since the commit
        return [got[pk] for pk in ordered if pk in got]

    def update(
        self,
        memory_id: str,
        item: NewMemory,
        *,
        actor: str,
        reason: str | None,
        user_id: str | None = None,
    ) -> MemoryItem:
        check_storable([item])
        owner = self.owner(memory_id, user_id)
        now = datetime.now(UTC)
        with self.d.write("update", owner) as tx:
            columns = "pk, text, version, session_key, seq, kind, speaker"
            pk, old_text, version, key, seq, kind, speaker = by_id(tx, columns, memory_id, owner)
            (vec_id,) = self.d.vec_ids(tx, 1)
            change: dict[str, Any] = {"text": item.text, "vec_id": vec_id, "updated_at": now}
            change.update(embedding=item.embedding, date_words=item.date_words)
            change.update(has_time=item.has_time, time_lo=item.time_lo, time_hi=item.time_hi)
            rows.set_columns(tx, self.d, pk, new_version=True, metadata=item.metadata, **change)
            docs = Documents(self.d, tx, owner)
            docs.put("turn", [(pk, turn_body(kind, speaker, item.text, item.date_words))])
            if kind == "episode":
                docs.refresh({key: {seq}})
            docs.flush()
            line = (memory_id, version + 1, "UPDATE", item.text, old_text, actor, reason)
            rows.history(tx, self.d, owner, now, [line])
            rows.bump_scope(tx, self.d, owner, max_vec_id=vec_id)
        return self.get(memory_id)

    def delete(self, memory_id: str, *, actor: str, user_id: str | None = None) -> int:
        """Delete one memory and the facts drawn from it alone; returns its internal key."""
        owner = self.owner(memory_id, user_id)
        now = datetime.now(UTC)
        with self.d.write("delete", owner) as tx:
            pk, _ = pk_of(tx, memory_id, owner)
            orphans = rows.orphaned_facts(tx, pk)
            docs = Documents(self.d, tx, owner)
            rows.delete_rows(tx, self.d, docs, [pk], rows.Change(actor, None, now))
            why = rows.Change(actor, "its source message was deleted", now)
            rows.delete_rows(tx, self.d, docs, orphans, why)
            docs.flush()
        self.d.erased()
        return pk

    def forget(self, user_id: str | None, policy: ForgetPolicy) -> dict[str, int]:
        """Expired memories, and decayed ones if the policy says so, deleted user by user,
        each under the user's lock (without a user: the users holding candidates)."""
        now_sql, before = self.d.time(policy.now), self.d.time(policy.decay_before)
        queries = [("expired", "SELECT pk, user_id FROM memories WHERE expires_at <= ?", [now_sql])]
        decayed = """SELECT pk, user_id FROM memories WHERE uses = 0 AND NOT pinned
            AND importance < ? AND created_at < ? AND (expires_at IS NULL OR expires_at > ?)"""
        if before is not None:
            queries.append(("decayed", decayed, [policy.decay_below_importance, before, now_sql]))
        owners = [user_id] if user_id is not None else []
        if user_id is None:
            with self.d.read("forget") as tx:
                for _, sql, values in queries:
                    owners += [str(r[1]) for r in tx.all(sql, values)]
        counts, now = {"expired": 0, "decayed": 0}, policy.now
        for owner in sorted(set(owners)):
            with self.d.write("forget", owner) as tx:
                docs = Documents(self.d, tx, owner)
                for name, sql, values in queries:
                    pks = [int(r[0]) for r in tx.all(f"{sql} AND user_id = ?", [*values, owner])]
                    why = rows.Change("forget", name, now)
                    counts[name] += rows.delete_rows(tx, self.d, docs, pks, why)
                docs.flush()
        if any(counts.values()):
            self.d.erased()
        return counts

    def delete_all(self, user_id: str) -> dict[str, int]:
        with self.d.write("delete_all", user_id) as tx:
            counts = self.d.lexical.delete_user(tx, user_id)
            for table in USER_TABLES.split():
                counts[table] = tx.run(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
        self.d.erased_user()
        counts["vectors"] = counts["memories"]
        return counts


MemoryStore = Engine  # what the layers above hold: the one store, whatever its dialect
