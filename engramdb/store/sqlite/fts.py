"""The SQLite lexical index: three FTS5 tables whose rows carry a scope token per user, so a
query intersects the user's postings inside FTS5, scored by BM25 with the user's statistics.

FTS5 hands out no term frequency, so it is read back from ``bm25()`` of a one-phrase query:
with body weights 1 and 2 it is s1 = I·c·tf/(tf + K') and s2 = I·c·2tf/(2tf + K') (K' from
|D| and the table's mean length), so r = s2/s1 gives tf = K'·(0.5/(r − 1) − 0.5) whatever
FTS5's idf I is; |D| comes from the ``docsize`` table. Terms go by their largest possible
contribution first; once that falls below the k-th score, the rest are looked up only in
documents already found (MaxScore)."""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections import Counter
from typing import Any

from engramdb.encode.text import content_hash
from engramdb.store.dialect import DocTerms, LexicalQuery, Tx, chunks, marks
from engramdb.store.lexical import K1, B, normalise

TOKENIZE = "tokenize = 'porter unicode61 remove_diacritics 2'"
TABLES = {"turn": "fts_turn", "window": "fts_window", "session": "fts_session"}
# the owner of each index row: memories by pk (turns, windows), session_docs by doc_id
OWNERS = {"turn": ("memories", "pk"), "window": ("memories", "pk")}
OWNERS["session"] = ("session_docs", "doc_id")
_FORMS: dict[str, str] = {}  # a word → its index term (every store tokenizes alike)
_LINES: dict[str, Counter[str]] = {}  # a line of a document → its index terms, counted
_MAX_FORMS, _MAX_LINES = 50_000, 20_000


def scope_token(user_id: str) -> str:
    """The FTS token that stands for a user's scope."""
    return "u" + content_hash(user_id)[:20]


def _byte(i: int) -> str:
    return f"(instr(:bytes, substr(d.sz, {i}, 1)) - 1)"


_BYTES = bytes(range(256))  # instr(_BYTES, one byte) - 1 is the byte's value
# |D| from a docsize record: the body's varint (a byte to 127 tokens, two to 16,383, three to
# 2M) and the scope column's, one token in one byte
_SIZE = (
    f"(CASE length(d.sz) WHEN 2 THEN {_byte(1)} + {_byte(2)}"
    f" WHEN 3 THEN ({_byte(1)} - 128) * 128 + {_byte(2)} + {_byte(3)}"
    f" ELSE (({_byte(1)} - 128) * 128 + {_byte(2)} - 128) * 128 + {_byte(3)} + {_byte(4)} END)"
)


def quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


class FTS5Index:
    def replace(
        self, tx: Tx, user_id: str, granularity: str, keys: list[int], docs: list[tuple[int, str]]
    ) -> tuple[list[DocTerms], list[DocTerms]]:
        table, scope = TABLES[granularity], scope_token(user_id)
        old: list[str] = []
        for chunk in chunks(keys):
            # the scope column must match too: a key of another user's row is not ours to drop
            where, args = f"rowid IN ({marks(len(chunk))}) AND scope = ?", (*chunk, scope)
            old += [r[0] for r in tx.all(f"SELECT body FROM {table} WHERE {where}", args)]
            tx.run(f"DELETE FROM {table} WHERE {where}", args)
        sql = f"INSERT INTO {table} (rowid, body, scope) VALUES (?, ?, ?)"
        tx.many(sql, [(key, body, scope) for key, body in docs])
        found = counts(tx, [*old, *(body for _, body in docs)])  # one pass for both
        terms = [DocTerms(c.total(), frozenset(c)) for c in found]
        return terms[: len(old)], terms[len(old) :]

    def delete_user(self, tx: Tx, user_id: str) -> dict[str, int]:
        sql = "DELETE FROM {} WHERE rowid IN (SELECT {} FROM {} WHERE user_id = ?)"
        return {
            TABLES[g]: tx.run(sql.format(TABLES[g], key, owner), (user_id,))
            for g, (owner, key) in OWNERS.items()
        }

    def lexemes(self, tx: Tx, words: list[str]) -> dict[str, str]:
        """Remembered across queries: every store tokenizes alike. (A word of several tokens
        has no one index term: no document frequency is found for it.)"""
        known = {w: _FORMS[w] for w in dict.fromkeys(words) if w in _FORMS}  # a copy: see counts
        missing = [w for w in dict.fromkeys(words) if w not in known]
        if missing:
            terms = counts(tx, missing)
            known.update({w: " ".join(c) for w, c in zip(missing, terms, strict=True)})
            _remember(_FORMS, {w: known[w] for w in missing}, _MAX_FORMS)
        return {w: known[w] for w in words}

    def documents(
        self, tx: Tx, user_id: str, granularity: str, keys: list[int] | None
    ) -> list[tuple[int, int, Counter[str]]]:
        table, scope = TABLES[granularity], scope_token(user_id)
        sql = f"SELECT rowid, body FROM {table} WHERE scope"
        if keys is None:  # the scope token's postings: the user's rows
            rows = tx.all(f"{sql} MATCH ?", (f'"{scope}"',))
        else:
            rows = [
                r
                for c in chunks(keys)
                for r in tx.all(f"{sql} = ? AND rowid IN ({marks(len(c))})", (scope, *c))
            ]
        found = counts(tx, [r[1] for r in rows])  # |D| with the scope column's token
        return [(int(r[0]), c.total() + 1, c) for r, c in zip(rows, found, strict=True)]

    def search(
        self, tx: Tx, user_id: str, granularity: str, query: LexicalQuery, limit: int
    ) -> list[tuple[int, float]]:
        table = TABLES[granularity]
        scope = f'scope : "{scope_token(user_id)}"'
        matches = [f"{scope} AND {quote(t.word)}" for t in query.terms]
        bound = [t.repeats * t.idf * (K1 + 1) for t in query.terms]
        order = sorted(range(len(matches)), key=lambda i: (-bound[i], matches[i]))
        args: dict[str, Any] = {
            "bytes": _BYTES,
            "base": K1 * (1 - B),
            "per_token": K1 * B / query.avgdl,
            "table_per_token": K1 * B / _table_average(tx, table),
        }
        scores: dict[int, float] = {}
        left = sum(bound)
        for taken, i in enumerate(order):
            if len(scores) >= limit:
                kth = heapq.nlargest(limit, scores.values())[-1]
                if left < kth:  # a document outside ``scores`` scores at most ``left``
                    among = json.dumps([r for r, s in scores.items() if s + left >= kth])
                    for j in order[taken:]:
                        found = {**args, "match": matches[j], "scale": bound[j], "among": among}
                        for rowid, value in tx.all(_contributions(table, among=True), found):
                            scores[rowid] += value
                    break
            found = {**args, "match": matches[i], "scale": bound[i]}
            for rowid, value in tx.all(_contributions(table, among=False), found):
                scores[rowid] = scores.get(rowid, 0.0) + value
            left -= bound[i]
        return heapq.nsmallest(limit, scores.items(), key=lambda item: (-item[1], item[0]))


def _remember(cache: dict[str, Any], new: dict[str, Any], most: int) -> None:
    if len(cache) + len(new) > most:  # a shared cache, emptied when it would grow past most
        cache.clear()
    cache.update(new)


def counts(tx: Tx, bodies: list[str]) -> list[Counter[str]]:
    """Each body's index terms, counted, from the scratch table. A token never spans a line,
    so lines are remembered: a turn's line recurs in its turn, three windows and a session
    segment, each rewritten as neighbours arrive. Read through a copy: the shared caches may
    be emptied (full, or by another thread's writer) in the middle of a call."""
    split = [body.split("\n") for body in bodies]
    wanted = dict.fromkeys(line for lines in split for line in lines)
    known = {line: _LINES[line] for line in wanted if line in _LINES}
    missing = [line for line in wanted if line not in known]
    forms: dict[str, str] = {}  # each word's term, learnt on the way (for queries)
    for chunk in chunks(missing, 2000):
        tx.many("INSERT INTO temp.stemmer (rowid, x) VALUES (?, ?)", list(enumerate(chunk)))
        found: list[list[str]] = [[] for _ in chunk]
        for doc, term in tx.all("SELECT doc, term FROM temp.stemmer_vocab ORDER BY doc, offset"):
            found[doc].append(term)
        for line, terms in zip(chunk, found, strict=True):
            known[line] = Counter(terms)
            if line.isascii() and len(words := normalise(line).split()) == len(terms):
                forms.update(zip(words, terms, strict=True))
        tx.run("DELETE FROM temp.stemmer")
    _remember(_LINES, {line: known[line] for line in missing}, _MAX_LINES)
    _remember(_FORMS, forms, _MAX_FORMS)
    return [sum((known[line] for line in lines), Counter()) for lines in split]


def scratch(conn: sqlite3.Connection) -> None:
    """A scratch FTS table of the connection (TEMP) with the index's tokenizer, and a view of
    its terms: what the index makes of a text, without touching the index. Left empty, and
    emptied for real (secure-delete): the view reads every entry the index still holds."""
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.stemmer USING fts5 (x, {TOKENIZE})")
    conn.execute("INSERT INTO temp.stemmer (stemmer, rank) VALUES ('secure-delete', 1)")
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.stemmer_vocab USING fts5vocab"
        " (temp, stemmer, 'instance')"
    )


def _varints(blob: bytes) -> list[int]:
    """The varints of an FTS5 record (SQLite's encoding: 7 bits a byte, high bit: more)."""
    values, value = [], 0
    for byte in blob:
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            values.append(value)
            value = 0
    return values


def _table_average(tx: Tx, table: str) -> float:
    """The mean document length over the whole table (the averages record: rows, then the
    tokens of each column), as FTS5's ``bm25()`` uses it: only to read tf back."""
    row = tx.one(f"SELECT block FROM {table}_data WHERE id = 1")
    values = _varints(row[0]) if row else []
    return sum(values[1:]) / values[0] if values and values[0] else 1.0


def _contributions(table: str, *, among: bool) -> str:
    """SQL for (rowid, scale/(1 + K/tf)) of one term in the user's documents that hold it,
    K = k1·(1 − b + b·|D|/avgdl), scale = idf·(k1 + 1). ``among`` (JSON rowids) keeps only
    those: "+" makes it a test after FTS5's one pass, not an FTS5 query per rowid."""
    ratio = f"bm25({table}, 2.0, 0.0) / bm25({table}, 1.0, 0.0)"
    tf = (
        f"coalesce(max(1, round((:base + :table_per_token * {_SIZE})"
        f" * (0.5 / ({ratio} - 1) - 0.5))), 1)"
    )
    where = f"{table} MATCH :match"
    if among:
        where += " AND +f.rowid IN (SELECT value FROM json_each(:among))"
    return (
        f"SELECT f.rowid, :scale / (1 + (:base + :per_token * {_SIZE}) / {tf})"
        f" FROM {table} f JOIN {table}_docsize d ON d.id = f.rowid WHERE {where}"
    )
