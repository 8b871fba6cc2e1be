"""The lexical planner: per-user document frequencies kept with every write, and bounded plans
for big scopes (the rarest terms only)."""

from __future__ import annotations

from engramdb import Memory
from engramdb.store import lexical
from engramdb.store.dialect import GRANULARITIES


def _df(mem: Memory, user: str) -> dict[str, int]:
    with mem.store.d.read("test") as tx:  # type: ignore[attr-defined]
        rows = tx.all(
            "SELECT lexeme, df FROM lex_terms WHERE user_id = ? AND granularity = ?",
            (user, GRANULARITIES["turn"]),
        )
    return {str(t): int(n) for t, n in rows}


def test_term_counts_follow_adds_updates_and_deletes(store_target: str) -> None:
    with Memory(store_target, embedder={"provider": "static"}) as mem:
        a = mem.add([{"content": "zebra crossing"}, {"content": "zebra stripes"}], user_id="u")
        mem.add([{"content": "zebra again"}], user_id="other")
        assert _df(mem, "u")["zebra"] == 2 and _df(mem, "other")["zebra"] == 1  # per user
        mem.update(a[1].id, "giraffe stripes")
        counts = _df(mem, "u")
        assert counts["zebra"] == 1 and counts["giraff"] == 1  # porter stems, as indexed
        mem.delete(a[0].id)
        assert "zebra" not in _df(mem, "u") and _df(mem, "other")["zebra"] == 1
        mem.delete_all(user_id="other")
        assert _df(mem, "other") == {}
        mem.delete_all(user_id="u")
        assert _df(mem, "u") == {}  # nothing derived from deleted users remains


def test_large_scope_plan_keeps_rare_terms_and_drops_common_ones(store_target: str) -> None:
    with Memory(store_target, embedder={"provider": "static"}) as mem:
        mem.add([{"content": "common rare medium"}], user_id="u")
        with mem.store.d.write("test", "u") as tx:  # type: ignore[attr-defined]
            for term, df in (("common", 50_000), ("rare", 40), ("medium", 400)):
                tx.run("UPDATE lex_terms SET df = ? WHERE user_id = 'u' AND lexeme = ?", (df, term))
            tx.run("UPDATE lex_stats SET docs = 1000000 WHERE user_id = 'u'")
            forms = mem.store.d.lexical.lexemes(tx, ["common", "rare", "medium"])  # type: ignore[attr-defined]
            big = lexical.plan(tx, forms, "u", ["common", "rare", "medium"], rows=1_000_000)
            small = lexical.plan(tx, forms, "u", ["common", "rare"], rows=500)
            only_common = lexical.plan(tx, forms, "u", ["common"], rows=1_000_000)
    assert big is not None
    turn = big.queries["turn"]
    assert turn.large and [t.word for t in turn.terms] == ["rare", "medium"]  # rarest first
    session = big.queries["session"]
    assert [t.word for t in session.terms] == ["rare"]  # one term, at most 100 segments
    assert only_common is None  # only near-stopwords: nothing worth a lookup
    assert small is not None  # small scopes: every term, scored with the user's statistics
    assert [t.word for t in small.queries["turn"].terms] == ["common", "rare"]
    assert not small.queries["turn"].large
