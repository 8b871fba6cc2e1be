"""Write primitives of the engine (rows in and out with their documents and history, scope
counters), each inside the caller's transaction, under the user's lock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engramdb.errors import StoreError
from engramdb.store.base import NewMemory
from engramdb.store.dialect import Dialect, Tx, chunks, marks
from engramdb.store.documents import Documents, turn_body
from engramdb.store.record import BY_NAME, INSERTED

_HISTORY = "memory_id, user_id, version, event, text, previous_text, actor, reason, at"
HISTORY_INSERT = f"INSERT INTO history ({_HISTORY}) VALUES ({marks(9)})"
Row = dict[str, Any]  # a memory row by column
_FROM_ITEM = [c.name for c in INSERTED if c.name in NewMemory.__dataclass_fields__]


def set_columns(tx: Tx, d: Dialect, pk: int, *, new_version: bool = False, **values: Any) -> None:
    """``UPDATE memories`` of one row, each value encoded by its column's codec (record.py)."""
    sets = [f"{name} = ?" for name in values] + ["version = version + 1"] * new_version
    args = [d.encode(BY_NAME[name].codec, value) for name, value in values.items()]
    tx.run(f"UPDATE memories SET {', '.join(sets)} WHERE pk = ?", (*args, pk))


def history(tx: Tx, d: Dialect, user_id: str, at: datetime, lines: list[tuple[Any, ...]]) -> None:
    """Lines of history: (memory_id, version, event, text, previous_text, actor, reason)."""
    tx.many(HISTORY_INSERT, [(m, user_id, *rest, d.time(at)) for m, *rest in lines])


def bump_scope(
    tx: Tx, d: Dialect, user_id: str, *, max_vec_id: int = 0, added: int = 0, deleted: int = 0
) -> None:
    tx.run(
        "INSERT INTO scope_state (user_id, epoch, max_vec_id, deletes, rows) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET"
        " epoch = CASE WHEN scope_state.epoch = 0 THEN excluded.epoch ELSE scope_state.epoch END,"
        f" max_vec_id = {d.greatest}(scope_state.max_vec_id, excluded.max_vec_id),"
        " deletes = scope_state.deletes + excluded.deletes,"
        " rows = scope_state.rows + excluded.rows",
        (user_id, max_vec_id, max_vec_id, deleted, added - deleted),
    )


def touch(tx: Tx, d: Dialect, pk: int) -> int:
    """Give a row a new vector id so every process's cache reloads its attributes."""
    (vec_id,) = d.vec_ids(tx, 1)
    set_columns(tx, d, pk, vec_id=vec_id)
    return vec_id


@dataclass(frozen=True, slots=True)
class Change:
    """Who changes memories, why and when: what their history records."""

    actor: str
    reason: str | None
    at: datetime


def insert_rows(
    tx: Tx, d: Dialect, docs: Documents, rows: list[Row], why: Change | None
) -> list[int]:
    """Insert memory rows (alike columns), their documents and an ADD line of history each
    (none without ``why``: an import brings its own); the pks. The caller bumps and flushes."""
    if not rows:
        return []
    names = list(rows[0])
    sql = (
        f"INSERT INTO memories ({', '.join(names)}) VALUES ({marks(len(names))})"
        " ON CONFLICT (user_id, kind, content_hash) DO NOTHING RETURNING pk"
    )
    codecs = [BY_NAME[n].codec for n in names]
    params = [[d.encode(c, row[n]) for c, n in zip(codecs, names, strict=True)] for row in rows]
    found = tx.returning(sql, params)
    if any(r is None for r in found):  # a concurrent writer without the lock won the race
        raise StoreError("a memory of this batch was added concurrently: retry")
    pks = [int(r[0]) for r in found]
    if why is not None:
        lines = [(r["id"], 1, "ADD", r["text"], None, why.actor, why.reason) for r in rows]
        history(tx, d, docs.user_id, why.at, lines)
    bodies = [turn_body(r["kind"], r["speaker"], r["text"], r["date_words"]) for r in rows]
    docs.put("turn", list(zip(pks, bodies, strict=True)))
    docs.refresh(_episodes((r["kind"], r["session_key"], r["seq"]) for r in rows))
    return pks


def _episodes(rows: Iterable[tuple[str, str, int]]) -> dict[str, set[int]]:
    """Session key → sequence numbers of the episodes among (kind, session key, seq) rows."""
    touched: dict[str, set[int]] = {}
    for kind, key, seq in rows:
        if kind == "episode":
            touched.setdefault(key, set()).add(int(seq))
    return touched


def place(
    tx: Tx,
    d: Dialect,
    user_id: str,
    agent_id: str | None,
    items: list[NewMemory],
    at: datetime,
    *,
    keys: list[str],
    seqs: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Rows for new memories: seqs after each session's last (or ``seqs`` if higher), vec ids."""
    wanted = sorted(set(keys))
    next_seq = dict.fromkeys(wanted, 0)
    for chunk in chunks(wanted):
        for key, value in tx.all(
            "SELECT session_key, max(seq) + 1 FROM memories WHERE user_id = ?"
            f" AND session_key IN ({marks(len(chunk))}) GROUP BY session_key",
            (user_id, *chunk),
        ):
            next_seq[key] = int(value)
    vec_ids = d.vec_ids(tx, len(items))
    rows = []
    for i, (item, key) in enumerate(zip(items, keys, strict=True)):
        seq = next_seq[key] if seqs is None else max(seqs[i], next_seq[key])
        next_seq[key] = seq + 1
        placed: dict[str, Any] = {"user_id": user_id, "agent_id": agent_id, "seq": seq}
        placed.update(session_key=key, vec_id=vec_ids[i], created_at=at)
        rows.append({**{name: getattr(item, name) for name in _FROM_ITEM}, **placed})
    return rows


def delete_rows(tx: Tx, d: Dialect, docs: Documents, pks: list[int], why: Change) -> int:
    """Delete memories of ``docs.user_id`` with their documents (links and mentions go by
    cascade), write a DELETE line of history for each and count them in the scope."""
    owner = docs.user_id
    rows: list[tuple[Any, ...]] = []
    for chunk in chunks(sorted(set(pks))):
        rows += tx.all(
            f"DELETE FROM memories WHERE pk IN ({marks(len(chunk))}) AND user_id = ?"
            " RETURNING pk, id, text, version, session_key, seq, kind",
            (*chunk, owner),
        )
    if not rows:
        return 0
    rows.sort(key=lambda r: int(r[0]))
    gone = [int(r[0]) for r in rows]
    docs.delete("turn", gone)
    docs.delete("window", gone)
    docs.refresh(_episodes((kind, key, seq) for *_, key, seq, kind in rows))
    keep = d.options.keep_deleted_text
    if not keep:  # a tombstone: what was said goes with the memory, also from its history
        for chunk in chunks([r[1] for r in rows]):
            tx.run(
                "UPDATE history SET text = NULL, previous_text = NULL, reason = NULL"
                f" WHERE user_id = ? AND memory_id IN ({marks(len(chunk))})",
                (owner, *chunk),
            )
        # names no memory of the user mentions any more go too
        tx.run(
            "DELETE FROM entities WHERE user_id = ? AND NOT EXISTS"
            " (SELECT 1 FROM memory_entities m WHERE m.entity_pk = entities.pk)",
            (owner,),
        )
    lines = [
        (r[1], r[3], "DELETE", r[2] if keep else None, None, why.actor, why.reason) for r in rows
    ]
    history(tx, d, owner, why.at, lines)
    bump_scope(tx, d, owner, deleted=len(rows))
    return len(rows)


def orphaned_facts(tx: Tx, pk: int) -> list[int]:
    """Facts drawn from memory ``pk`` alone (a fact goes with its last source message)."""
    rows = tx.all(
        "SELECT l.src_pk FROM memory_links l WHERE l.dst_pk = ? AND l.kind = 'source'"
        " AND NOT EXISTS (SELECT 1 FROM memory_links o WHERE o.src_pk = l.src_pk"
        " AND o.kind = 'source' AND o.dst_pk <> ?)",
        (pk, pk),
    )
    return [int(r[0]) for r in rows]
