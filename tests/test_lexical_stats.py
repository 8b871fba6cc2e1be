"""Lexical scores with per-user statistics: a user's BM25 scores depend on that user's documents
only (on SQLite as on PostgreSQL), and SQLite's are exactly the formula of store/lexical.py:
idf·tf·(k1+1)/(tf + k1·(1 − b + b·|D|/avgdl)) with the user's N, df and mean length."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import sqlean as sqlite3  # the store's FTS5 tables need SQLite 3.42+ (secure-delete)

from engramdb import Memory
from engramdb.encode.text import query_terms
from engramdb.store import lexical
from engramdb.store.base import Granularity
from engramdb.store.sqlite import fts
from engramdb.store.sqlite.dialect import SQLiteTx
from engramdb.store.sqlite.fts import scope_token

STATIC = {"provider": "static"}
GRANULARITIES: tuple[Granularity, ...] = ("turn", "window", "session")
# words Porter leaves as they are, so the reference below can count them in the text
TALK = [
    "the kayak trip was long and the kayak leaked",
    "we bought a piano",
    "my piano teacher said the kayak is fine",
    "sunny morning today",
    "the zebra at the zoo ate a lemon",
    "lemon cake with lemon icing and more lemon",
    "nothing much happened",
    "tomorrow we go kayak again with the zebra",
]


def _scores(mem: Memory, user: str, query: str, limit: int = 50) -> dict[str, list[Any]]:
    store = mem.store
    plan = store.lexical_plan(user, query_terms(query))
    if plan is None:
        return {g: [] for g in GRANULARITIES}
    return {g: store.lexical(user, plan, g, limit) for g in GRANULARITIES}


def _messages(texts: list[str], prefix: str) -> list[dict[str, Any]]:
    return [
        {"id": f"{prefix}{i}", "content": text, "speaker": ("Ann", "Bo")[i % 2]}
        for i, text in enumerate(texts)
    ]


@pytest.mark.parametrize("large", [False, True], ids=["small-scope", "large-scope"])
def test_other_users_documents_do_not_move_a_users_scores(
    store_target: str, large: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At every scope size: above FULL_OR_MAX_ROWS (20,000 rows; lowered here so that a test
    reaches it) the plan keeps only rare terms, still scored with the user's own statistics,
    where SQLite once used FTS5's table-wide ones and another tenant's writes moved them."""
    if large:
        monkeypatch.setattr(lexical, "FULL_OR_MAX_ROWS", 0)
    with Memory(store_target, embedder=STATIC) as mem:
        mem.add(_messages(TALK, "a"), user_id="alice", session_id="s1")
        before = _scores(mem, "alice", "kayak piano lemon zebra")
        assert all(before[g] for g in GRANULARITIES)
        plan = mem.store.lexical_plan("alice", query_terms("kayak piano lemon zebra"))
        assert plan is not None and all(q.large == large for q in plan.queries.values())
        # another tenant writes a lot, with the same words and longer documents
        noise = [f"kayak kayak lemon piano zebra filler words number {i} " * 3 for i in range(300)]
        mem.add(_messages(noise, "b"), user_id="bob", session_id="s1")
        mem.add(_messages(noise[:40], "c"), user_id="bob", session_id="s2")
        assert _scores(mem, "bob", "kayak")["turn"]  # bob's documents are indexed
        after = _scores(mem, "alice", "kayak piano lemon zebra")
        for g in GRANULARITIES:
            assert [key for key, _ in after[g]] == [key for key, _ in before[g]], g
            for (_, old), (_, new) in zip(before[g], after[g], strict=True):
                assert new == pytest.approx(old, rel=1e-9, abs=1e-12), g


# --- SQLite: the exact formula ------------------------------------------------------------------
def _reference(
    path: Path, user: str, words: list[str], granularity: Granularity
) -> dict[int, float]:
    """BM25 with the user's statistics, counted in Python from the stored document texts (ASCII
    words, none changed by the stemmer); |D| counts the scope token, as FTS5 does."""
    table = fts.TABLES[granularity]
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            f"SELECT rowid, body FROM {table} WHERE scope = ?", (scope_token(user),)
        ).fetchall()
    docs = {rowid: re.findall(r"[a-z0-9]+", body.lower()) for rowid, body in rows}
    n = len(docs)
    avgdl = sum(len(tokens) + 1 for tokens in docs.values()) / n
    out: dict[int, float] = {}
    for rowid, tokens in docs.items():
        score = 0.0
        for word in words:
            hits = sum(word in other for other in docs.values())
            tf = tokens.count(word)
            if not tf:
                continue
            idf = math.log((n - hits + 0.5) / (hits + 0.5))
            idf = idf if idf > 0 else 1e-6
            norm = lexical.K1 * (1 - lexical.B + lexical.B * (len(tokens) + 1) / avgdl)
            score += idf * tf * (lexical.K1 + 1) / (tf + norm)
        if score:
            out[rowid] = score
    return out


def _by_rowid(path: Path, user: str, granularity: Granularity, hits: list[Any]) -> dict[int, float]:
    if granularity != "session":
        return {int(key): score for key, score in hits}
    with sqlite3.connect(path) as conn:
        ids = {
            (key, segment): doc_id
            for doc_id, key, segment in conn.execute(
                "SELECT doc_id, session_key, segment FROM session_docs WHERE user_id = ?", (user,)
            )
        }
    return {ids[tuple(key)]: score for key, score in hits}


def _check(mem: Memory, path: Path, user: str, query: str, words: list[str]) -> None:
    found = _scores(mem, user, query, limit=1000)
    for g in GRANULARITIES:
        expected = _reference(path, user, words, g)
        got = _by_rowid(path, user, g, found[g])
        assert got.keys() == expected.keys(), g
        for rowid, score in expected.items():
            assert got[rowid] == pytest.approx(score, rel=1e-9), (g, rowid)
        ranked = [score for _, score in found[g]]
        assert ranked == sorted(ranked, reverse=True)


def test_sqlite_scores_are_bm25_with_the_users_statistics(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with Memory(path, embedder=STATIC) as mem:
        mem.add(_messages(TALK, "a"), user_id="alice", session_id="s1")
        # a long session: its segment document is over 127 tokens (a 2-byte docsize varint)
        mem.add(_messages(TALK * 4, "l"), user_id="alice", session_id="s2")
        mem.add(_messages(["kayak " * 50 + "zebra"] * 3, "x"), user_id="carol", session_id="s")
        # "kayak" repeats within documents; "ann" (a speaker) is in half of them or more: the
        # idf is at its floor
        _check(mem, path, "alice", "kayak piano ann", ["kayak", "piano", "ann"])
        # two query words with one index form count twice, as repeated FTS5 phrases do
        _check(mem, path, "alice", "lemon lemons", ["lemon", "lemon"])


def test_sqlite_statistics_follow_updates_and_deletes(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with Memory(path, embedder=STATIC) as mem:
        items = mem.add(_messages(TALK, "a"), user_id="alice", session_id="s1")
        _check(mem, path, "alice", "kayak lemon", ["kayak", "lemon"])  # statistics cached
        mem.update(items[3].id, "kayak kayak kayak on a long long long long sunny morning")
        _check(mem, path, "alice", "kayak lemon", ["kayak", "lemon"])
        mem.delete(items[5].id)
        _check(mem, path, "alice", "kayak lemon", ["kayak", "lemon"])
        mem.delete_all(user_id="alice")
        assert _scores(mem, "alice", "kayak")["turn"] == []
        mem.add(_messages(TALK[:3], "n"), user_id="alice", session_id="s1")
        _check(mem, path, "alice", "kayak lemon", ["kayak", "lemon"])


def test_sqlite_top_k_is_the_head_of_the_full_ranking(tmp_path: Path) -> None:
    """Terms whose documents cannot reach the top k are only looked up in documents found by
    rarer terms: the top k stays the exact head of the full ranking."""
    path = tmp_path / "m.db"
    texts = [
        f"rare{'' if i % 3 else ' kayak'} common filler {'common ' * (i % 4)}" for i in range(60)
    ]
    with Memory(path, embedder=STATIC) as mem:
        mem.add(_messages(texts, "m"), user_id="u", session_id="s")
        full = _scores(mem, "u", "kayak common filler", limit=1000)
        for limit in (1, 3, 10):
            head = _scores(mem, "u", "kayak common filler", limit=limit)
            for g in GRANULARITIES:
                assert head[g] == full[g][:limit], (g, limit)


def test_docsize_sizes_match_fts5_token_counts(tmp_path: Path) -> None:
    """The SQL and Python readings of FTS5's docsize and averages records agree with FTS5's
    own count of token instances."""
    path = tmp_path / "m.db"
    with Memory(path, embedder=STATIC) as mem:
        mem.add(_messages(TALK * 12, "a"), user_id="alice", session_id="s1")  # > 127 tokens
        conn = mem.store.d._conn()  # type: ignore[attr-defined]
        for table in fts.TABLES.values():
            conn.execute(
                f"CREATE VIRTUAL TABLE temp.{table}_i USING fts5vocab (main, {table}, 'instance')"
            )
            counted = dict(conn.execute(f"SELECT doc, count(*) FROM temp.{table}_i GROUP BY doc"))
            sizes = dict(
                conn.execute(
                    f"SELECT d.id, {fts._SIZE} FROM {table}_docsize d",
                    {"bytes": fts._BYTES},
                )
            )
            assert sizes == counted and max(sizes.values()) > 0
            average = fts._table_average(SQLiteTx(conn), table)
            assert average == sum(counted.values()) / len(counted)
        assert max(sizes.values()) > 127


def test_the_tokenizer_caches_may_be_emptied_at_any_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared line and word caches are cleared when full (or by another thread's writer,
    the work queue's, in the middle of a call): a write or a query never depends on them."""
    monkeypatch.setattr(fts, "_MAX_LINES", 3)
    monkeypatch.setattr(fts, "_MAX_FORMS", 3)
    with Memory(tmp_path / "m.db", embedder={"provider": "static"}) as mem:
        for i in range(6):
            mem.add(
                [{"id": f"m{i}", "content": f"note {i} about the garden shed and the tomatoes"}],
                user_id="u",
                session_id="s",
                wait=True,
            )
        hits = mem.search("garden shed tomatoes", user_id="u", preset="lexical")
        assert {h.sources[0] for h in hits if h.kind == "episode"} == {f"m{i}" for i in range(6)}
