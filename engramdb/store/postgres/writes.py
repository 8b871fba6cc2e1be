"""Write primitives of the PostgreSQL store shared by ``add``, consolidation, lifecycle changes,
forgetting and import: rows in (with their documents and history), rows out, vector ids and
the scope counters. Each runs inside the caller's transaction, under the user's lock; lexical
statistics go through the caller's ``Documents``, which the caller flushes."""

from __future__ import annotations

from datetime import datetime

from engramdb.errors import StoreError
from engramdb.store.base import SESSION_SEGMENT, NewMemory
from engramdb.store.postgres.documents import TURN, WINDOW, Documents, turn_documents
from engramdb.store.postgres.pool import Conn
from engramdb.store.postgres.records import INSERT, memory_row


def draw_vec_ids(conn: Conn, n: int) -> list[int]:
    """n new vector ids in ascending order (drawn under the user's lock, so they grow in
    commit order within a user)."""
    rows = conn.execute("SELECT nextval('vec_ids') FROM generate_series(1, %s)", (n,))
    return sorted(int(r[0]) for r in rows)


def touch(conn: Conn, pk: int) -> int:
    """Give a row a new vector id so every process's cache reloads its attributes."""
    row = conn.execute(
        "UPDATE memories SET vec_id = nextval('vec_ids') WHERE pk = %s RETURNING vec_id", (pk,)
    ).fetchone()
    return int(row[0]) if row else 0


def bump_scope(
    conn: Conn, user_id: str, *, max_vec_id: int = 0, added: int = 0, deleted: int = 0
) -> None:
    conn.execute(
        """INSERT INTO scope_state (user_id, epoch, max_vec_id, deletes, rows)
           VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (user_id) DO UPDATE SET
             epoch = CASE WHEN scope_state.epoch = 0 THEN excluded.epoch
                          ELSE scope_state.epoch END,
             max_vec_id = greatest(scope_state.max_vec_id, excluded.max_vec_id),
             deletes = scope_state.deletes + excluded.deletes,
             rows = scope_state.rows + excluded.rows""",
        (user_id, max_vec_id, max_vec_id, deleted, added - deleted),
    )


def refresh_derived(docs: Documents, touched: dict[str, set[int]]) -> None:
    """Rewrite the window and session-segment documents around episodes that changed."""
    for key, seqs in sorted(touched.items()):
        docs.refresh_windows(key, seqs)
        docs.refresh_sessions({(key, s // SESSION_SEGMENT) for s in seqs})


def insert_rows(
    conn: Conn,
    docs: Documents,
    agent_id: str | None,
    items: list[NewMemory],
    now: datetime,
    *,
    keys: list[str],
    seqs: list[int] | None = None,
    actor: str = "add",
    reason: str | None = None,
) -> tuple[list[int], int]:
    """Insert new memories (session keys ``keys``; sequence numbers after the session's last,
    or ``seqs`` where higher) with their turn documents, the window and session documents of
    episodes, and their ADD history. Returns the pks and the highest vector id used; the
    caller bumps the scope counters and flushes ``docs``."""
    user_id = docs.user_id
    wanted = sorted(set(keys))
    next_seq = dict.fromkeys(wanted, 0)
    for key, value in conn.execute(
        "SELECT session_key, max(seq) + 1 FROM memories WHERE user_id = %s"
        " AND session_key = ANY(%s) GROUP BY session_key",
        (user_id, wanted),
    ):
        next_seq[key] = int(value)
    vec_ids = draw_vec_ids(conn, len(items))
    params, placed = [], []
    for index, (item, key) in enumerate(zip(items, keys, strict=True)):
        seq = next_seq[key] if seqs is None else max(seqs[index], next_seq[key])
        next_seq[key] = seq + 1
        placed.append((key, seq))
        params.append(memory_row(user_id, agent_id, item, key, seq, vec_ids[index], now))
    pks: list[int] = []
    with conn.cursor() as cur:
        cur.executemany(INSERT, params, returning=True)
        while True:
            row = cur.fetchone()
            if row is None:  # a concurrent writer without the lock won the race
                raise StoreError("a memory of this batch was added concurrently: retry")
            pks.append(int(row[0]))
            if not cur.nextset():
                break
    conn.execute(
        "INSERT INTO history (memory_id, user_id, version, event, text, actor, reason, at)"
        " SELECT i, %s, 1, 'ADD', t, %s, %s, %s FROM unnest(%s::text[], %s::text[]) AS x(i, t)",
        (user_id, actor, reason, now, [i.id for i in items], [i.text for i in items]),
    )
    docs.put(
        "lex_turn",
        TURN,
        turn_documents(
            (pk, i.speaker, i.text, i.date_words) for pk, i in zip(pks, items, strict=True)
        ),
    )
    touched: dict[str, set[int]] = {}
    for item, (key, seq) in zip(items, placed, strict=True):
        if item.kind == "episode":
            touched.setdefault(key, set()).add(seq)
    refresh_derived(docs, touched)
    return pks, vec_ids[-1]


def delete_rows(
    conn: Conn,
    docs: Documents,
    pks: list[int],
    *,
    actor: str,
    reason: str | None,
    now: datetime,
) -> int:
    """Delete memories of ``docs.user_id`` with their documents (links and mentions go by
    cascade), write a DELETE line of history for each and count them in the scope."""
    owner = docs.user_id
    rows = conn.execute(
        "DELETE FROM memories WHERE pk = ANY(%s) AND user_id = %s"
        " RETURNING pk, id, text, version, session_key, seq, kind",
        (pks, owner),
    ).fetchall()
    if not rows:
        return 0
    rows.sort(key=lambda r: int(r[0]))
    gone = [int(r[0]) for r in rows]
    docs.delete("lex_turn", TURN, gone)
    docs.delete("lex_window", WINDOW, gone)
    touched: dict[str, set[int]] = {}
    for _, _, _, _, key, seq, kind in rows:
        if kind == "episode":
            touched.setdefault(key, set()).add(seq)
    refresh_derived(docs, touched)
    conn.execute(
        "INSERT INTO history (memory_id, user_id, version, event, text, actor, reason, at)"
        " SELECT i, %s, v, 'DELETE', t, %s, %s, %s"
        " FROM unnest(%s::text[], %s::int[], %s::text[]) WITH ORDINALITY AS x(i, v, t, n)"
        " ORDER BY n",
        (
            owner,
            actor,
            reason,
            now,
            [r[1] for r in rows],
            [r[3] for r in rows],
            [r[2] for r in rows],
        ),
    )
    bump_scope(conn, owner, deleted=len(rows))
    return len(rows)
