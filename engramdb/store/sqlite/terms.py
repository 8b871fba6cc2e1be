"""Index terms as the FTS5 tokenizer makes them, and ``term_df``: the per-term document counts
the lexical planner (lexical.py) reads. Written with the documents, in their transaction."""

from __future__ import annotations

import sqlite3

_FORMS: dict[str, str] = {}  # a word → its index form (the tokenizer is the same in every store)
_MAX_FORMS = 50_000


def count_terms(conn: sqlite3.Connection, bodies: list[str], sign: int = 1) -> None:
    """Add (sign 1) or remove (sign -1) turn documents' terms in ``term_df``, the document
    frequencies the planner reads. FTS5 can only count a term's documents by reading its whole
    posting list, so the counts are kept here, written in the same transaction as the
    documents; a term whose count drops to zero is removed with it."""
    if not bodies:
        return
    _scratch(conn)
    for start in range(0, len(bodies), 2000):
        chunk = bodies[start : start + 2000]
        conn.executemany("INSERT INTO temp.stemmer (rowid, x) VALUES (?, ?)", enumerate(chunk))
        conn.execute(
            "INSERT INTO term_df (term, df) SELECT term, ? * doc FROM temp.stemmer_row WHERE true"
            " ON CONFLICT (term) DO UPDATE SET df = df + excluded.df",
            (sign,),
        )
        conn.execute("DELETE FROM temp.stemmer")
    if sign < 0:
        conn.execute("DELETE FROM term_df WHERE df <= 0")


def _scratch(conn: sqlite3.Connection) -> None:
    """A scratch in-memory FTS table with the index's tokenizer, and views of its terms."""
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.stemmer USING fts5 "
        "(x, tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.stemmer_vocab USING fts5vocab "
        "(temp, stemmer, 'instance')"
    )
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.stemmer_row USING fts5vocab (temp, stemmer, 'row')"
    )
    conn.execute("DELETE FROM temp.stemmer")


def index_stems(conn: sqlite3.Connection, terms: list[str]) -> dict[str, str]:
    """The index form of each term's first token, from the same tokenizer."""
    _scratch(conn)
    conn.executemany("INSERT INTO temp.stemmer (rowid, x) VALUES (?, ?)", enumerate(terms))
    rows = conn.execute("SELECT doc, term FROM temp.stemmer_vocab WHERE offset = 0").fetchall()
    return {terms[doc]: term for doc, term in rows}


def index_forms(conn: sqlite3.Connection, words: list[str]) -> dict[str, str]:
    """Each word's tokens as the index holds them (stemmed), space-separated; "" for none.
    Remembered across queries: every store tokenizes alike."""
    forms = {w: _FORMS.get(w) for w in words}
    missing = [w for w, form in forms.items() if form is None]
    if missing:
        _scratch(conn)
        conn.executemany("INSERT INTO temp.stemmer (rowid, x) VALUES (?, ?)", enumerate(missing))
        tokens: dict[int, list[str]] = {}
        for doc, term in conn.execute(
            "SELECT doc, term FROM temp.stemmer_vocab ORDER BY doc, offset"
        ):
            tokens.setdefault(doc, []).append(term)
        found = {w: " ".join(tokens.get(i, [])) for i, w in enumerate(missing)}
        if len(_FORMS) + len(found) > _MAX_FORMS:
            _FORMS.clear()
        _FORMS.update(found)
        forms.update(found)
    return {w: form or "" for w, form in forms.items()}
