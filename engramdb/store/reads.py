"""The engine's reads: memories, pages, history, lexical search and the scope rows that feed the
vector cache. Every query names the user in SQL where the caller gives one."""

from __future__ import annotations

import builtins
from collections import Counter
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from engramdb.errors import NotFoundError, StoreError
from engramdb.models import HistoryEntry, Kind, MemoryItem
from engramdb.store.base import Granularity, ScopeRows, ScopeState
from engramdb.store.dialect import Dialect, Row, Tx, chunks, marks
from engramdb.store.lexical import LexicalPlan, normalise, plan
from engramdb.store.record import ITEM, ITEM_COLUMNS

_HISTORY = "memory_id, version, event, text, previous_text, actor, reason, at"


def mine(user_id: str | None) -> tuple[str, tuple[str, ...]]:
    """The condition (and its argument) that keeps a query to one user's rows, given a user."""
    return (" AND user_id = ?", (user_id,)) if user_id is not None else ("", ())


def by_id(tx: Tx, columns: str, memory_id: str, user_id: str | None) -> Row:
    """``columns`` of the memory ``memory_id`` (only if it is the user's, given a user)."""
    scope, only = mine(user_id)
    row = tx.one(f"SELECT {columns} FROM memories WHERE id = ?{scope}", (memory_id, *only))
    if row is None:
        raise NotFoundError(f"no memory with id {memory_id!r}")
    return row


class Reads:
    d: Dialect

    def item(self, row: Row) -> MemoryItem:
        """A MemoryItem from a row of ``ITEM_COLUMNS`` (by name: the spec's order)."""
        return MemoryItem(
            **{c.name: self.d.decode(c.codec, v) for c, v in zip(ITEM, row, strict=True)}
        )

    def get(self, memory_id: str, user_id: str | None = None) -> MemoryItem:
        with self.d.read("get") as tx:
            return self.item(by_id(tx, ITEM_COLUMNS, memory_id, user_id))

    def get_many(self, pks: builtins.list[int]) -> dict[int, MemoryItem]:
        found: dict[int, MemoryItem] = {}
        with self.d.read("get_many") as tx:
            for chunk in chunks(pks):
                sql = f"SELECT pk, {ITEM_COLUMNS} FROM memories WHERE pk IN ({marks(len(chunk))})"
                found.update({int(r[0]): self.item(r[1:]) for r in tx.all(sql, chunk)})
        return found

    def items(
        self, tx: Tx, where: str, args: tuple[Any, ...], tail: str = ""
    ) -> builtins.list[MemoryItem]:
        rows = tx.all(f"SELECT {ITEM_COLUMNS} FROM memories WHERE {where} {tail}", args)
        return [self.item(r) for r in rows]

    def list(
        self,
        user_id: str,
        *,
        kind: Kind | None = None,
        limit: int = 100,
        after: int | None = None,
        order: Literal["asc", "desc"] = "desc",
    ) -> tuple[builtins.list[MemoryItem], int | None]:
        """A page of the user's memories after pk ``after``, and the pk the next page goes on
        after (None: this is the last). The API hands pks out only enciphered (api/cursors.py)."""
        clauses, args = ["user_id = ?"], [user_id]
        if kind is not None:
            clauses.append("kind = ?")
            args.append(kind)
        if after is not None:
            clauses.append("pk < ?" if order == "desc" else "pk > ?")
            args.append(str(after))
        sql = (
            f"SELECT pk, {ITEM_COLUMNS} FROM memories WHERE {' AND '.join(clauses)}"
            f" ORDER BY pk {'DESC' if order == 'desc' else 'ASC'} LIMIT ?"
        )
        with self.d.read("list") as tx:
            rows = tx.all(sql, [*args, limit + 1])
        page = [self.item(r[1:]) for r in rows[:limit]]
        return page, (int(rows[limit - 1][0]) if len(rows) > limit > 0 else None)

    def cursor_secret(self) -> bytes:
        """The secret list cursors are enciphered with (schema.py makes it)."""
        with self.d.read("list cursors") as tx:
            row = tx.one("SELECT value FROM meta WHERE key = 'cursor_key'")
        if row is None:
            raise StoreError(
                "this store has no cursor secret (meta.cursor_key): was it made by engramdb?"
            )
        return bytes.fromhex(str(row[0]))

    def history(self, memory_id: str, user_id: str | None = None) -> builtins.list[HistoryEntry]:
        scope, only = mine(user_id)
        with self.d.read("history") as tx:
            sql = f"SELECT {_HISTORY} FROM history WHERE memory_id = ?{scope} ORDER BY hid"
            rows = tx.all(sql, (memory_id, *only))
        if not rows:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        keys = _HISTORY.split(", ")
        return [
            HistoryEntry(**{**dict(zip(keys, r, strict=True)), "at": self.d.decode("time", r[7])})
            for r in rows
        ]

    def ids_with_prefix(
        self, prefix: str, user_id: str | None, limit: int = 2
    ) -> builtins.list[str]:
        """Up to ``limit`` ids with this prefix: of memories, else of deleted ones (history)."""
        n = len(prefix)  # an int literal in the SQL: one form for every driver's parameters
        found: builtins.list[str] = []
        scope, only = mine(user_id)
        with self.d.read("ids by prefix") as tx:
            for table, column in (("memories", "id"), ("history", "memory_id")):
                query = f"SELECT DISTINCT {column} FROM {table} WHERE substr({column}, 1, {n}) = ?"
                rows = tx.all(f"{query}{scope} LIMIT {int(limit)}", (prefix, *only))
                found = [str(r[0]) for r in rows]
                if found:
                    break
        return found

    # --- lexical ---------------------------------------------------------------------------
    def lexical_plan(self, user_id: str, terms: builtins.list[str]) -> LexicalPlan | None:
        if not terms:
            return None
        rows = self.scope_state(user_id).rows
        words = [w for t in terms for w in normalise(t).split()]
        with self.d.read("lexical search") as tx:
            return plan(tx, self.d.lexical.lexemes(tx, words), user_id, words, rows)

    def lexemes(self, words: builtins.list[str]) -> dict[str, str]:
        """Each normalised word's index term ("" where it has none): the dialect's tokenizer."""
        with self.d.read("lexical search") as tx:
            return self.d.lexical.lexemes(tx, words)

    def lexical(
        self, user_id: str, plan: LexicalPlan | None, granularity: Granularity, limit: int
    ) -> builtins.list[tuple[Any, float]]:
        """Top documents by BM25: memory pks, or (session_key, segment) for session segments."""
        query = plan.queries.get(granularity) if plan and plan.user_id == user_id else None
        if query is None or limit <= 0:
            return []
        with self.d.read("lexical search") as tx:
            ranked = self.d.lexical.search(tx, user_id, granularity, query, limit)
            if granularity != "session" or not ranked:
                return [(key, score) for key, score in ranked]
            keys = [key for key, _ in ranked]
            rows = tx.all(
                "SELECT doc_id, session_key, segment FROM session_docs"
                f" WHERE doc_id IN ({marks(len(keys))}) AND user_id = ?",
                (*keys, user_id),
            )
        owned = {int(r[0]): (str(r[1]), int(r[2])) for r in rows}
        return [(owned[key], score) for key, score in ranked if key in owned]

    def lexical_documents(
        self, user_id: str, granularity: Granularity, keys: builtins.list[Any] | None = None
    ) -> builtins.list[tuple[Any, int, int, Counter[str]]]:
        """The user's documents (all, or ``keys``: pks, or (session_key, segment)) as BM25
        counts them, for an in-process index: key, the key ``lexical`` breaks ties by, |D|, tf."""
        with self.d.read("lexical documents") as tx:
            sql = "SELECT doc_id, session_key, segment FROM session_docs WHERE user_id = ?"
            named = granularity == "session"
            owned = (
                {int(r[0]): (str(r[1]), int(r[2])) for r in tx.all(sql, (user_id,))}
                if named
                else {}
            )
            ids = [d for d, k in owned.items() if keys is None or k in keys] if named else keys
            found = self.d.lexical.documents(tx, user_id, granularity, ids)
        return [(owned.get(d, d), d, n, terms) for d, n, terms in found]

    # --- the vector cache's view ---------------------------------------------------------
    def scope_state(self, user_id: str) -> ScopeState:
        with self.d.read("scope state") as tx:
            row = tx.one(
                "SELECT max_vec_id, deletes, rows, epoch, segments FROM scope_state"
                " WHERE user_id = ?",
                (user_id,),
            )
        return ScopeState(*(int(v) for v in row)) if row else ScopeState()

    def scope_rows(self, user_id: str, after_vec_id: int) -> ScopeRows:
        with self.d.read("scope rows") as tx:
            rows = tx.all(
                """SELECT pk, vec_id, session_key, seq, coalesce(subject, speaker, ''), kind,
                      has_time, time_lo, time_hi, embedding, valid_from, valid_to, expires_at,
                      coalesce(anchor_pk, -1), coalesce(attribute, ''), event_time
                   FROM memories WHERE user_id = ? AND vec_id > ? ORDER BY vec_id""",
                (user_id, after_vec_id),
            )
        c = list(zip(*rows, strict=True)) or [()] * 16  # the columns, in ScopeRows' order

        def ints(values: tuple[Any, ...]) -> npt.NDArray[np.int64]:
            return np.array(values, np.int64)

        def floats(values: tuple[Any, ...]) -> npt.NDArray[np.float64]:
            return np.array([np.nan if v is None else v for v in values], np.float64)

        def epochs(values: tuple[Any, ...]) -> npt.NDArray[np.float64]:
            return floats(tuple(v and self.d.decode("time", v).timestamp() for v in values))

        vectors = [self.d.decode("vector", v) for v in c[9]]
        matrix = np.vstack(vectors).astype(np.float32) if vectors else np.empty((0, 0), np.float32)
        has_time = np.array([bool(v) for v in c[6]], np.bool_)
        fields: list[Any] = [ints(c[0]), ints(c[1]), list(c[2]), ints(c[3]), list(c[4]), list(c[5])]
        fields += [has_time, floats(c[7]), floats(c[8]), matrix, *(epochs(v) for v in c[10:13])]
        fields += [ints(c[13]), list(c[14]), epochs(c[15])]
        return ScopeRows(*fields)

    def users(self) -> builtins.list[str]:
        with self.d.read("users") as tx:
            rows = tx.all(
                f"SELECT user_id FROM scope_state WHERE rows > 0 ORDER BY user_id{self.d.collate_c}"
            )
        return [str(r[0]) for r in rows]

    def count(self, user_id: str | None = None) -> int:
        scope, only = mine(user_id)
        with self.d.read("count") as tx:
            row = tx.one(f"SELECT count(*) FROM memories WHERE 1 = 1{scope}", only)
        return int(row[0]) if row else 0
