"""The SQLite lexical planner: document-frequency bookkeeping and bounded plans for big scopes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engramdb import Memory
from engramdb.store.base import ScopeState
from engramdb.store.sqlite import lexical


def _df(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT term, df FROM term_df"))


def test_term_counts_follow_adds_updates_and_deletes(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with Memory(path, embedder={"provider": "static"}) as mem:
        a = mem.add([{"content": "zebra crossing"}, {"content": "zebra stripes"}], user_id="u")
        mem.add([{"content": "zebra again"}], user_id="other")
        assert _df(path)["zebra"] == 3
        mem.update(a[1].id, "giraffe stripes")
        counts = _df(path)
        assert counts["zebra"] == 2 and counts["giraff"] == 1  # porter stems, as FTS5 indexes
        mem.delete(a[0].id)
        assert _df(path)["zebra"] == 1
        mem.delete_all(user_id="other")
        assert "zebra" not in _df(path)
        mem.delete_all(user_id="u")
        assert _df(path) == {}  # nothing derived from deleted users remains


def test_large_scope_plan_keeps_rare_terms_and_drops_common_ones(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with Memory(path, embedder={"provider": "static"}) as mem:
        mem.add([{"content": "note"}], user_id="u")
        conn = mem.store._conn()  # type: ignore[attr-defined]
        conn.executemany(
            "INSERT OR REPLACE INTO term_df VALUES (?, ?)",
            [("common", 50_000), ("rare", 40), ("medium", 400)],
        )
        big = ScopeState(rows=1_000_000, segments=15_000)
        plan = lexical.plan(conn, "u", ["common", "rare", "medium"], big)
        assert plan is not None
        turn = plan["turn"]
        assert isinstance(turn, lexical.TableQuery)  # FTS5's ranking, then the user filter
        assert '"rare"' in turn.match and '"medium"' in turn.match and "common" not in turn.match
        window = plan["window"]
        assert isinstance(window, lexical.TableQuery)
        assert "medium" not in window.match  # three turns per window: 1,200 expected > cap
        assert lexical.plan(conn, "u", ["common"], big) is None  # only near-stopwords
        small = lexical.plan(conn, "u", ["common", "rare"], ScopeState(rows=500, segments=9))
        assert small is not None  # small scopes: every term, scored with the user's statistics
        query = small["turn"]
        assert isinstance(query, lexical.UserQuery)
        assert [t.phrase for t in query.terms] == ['"common"', '"rare"']
