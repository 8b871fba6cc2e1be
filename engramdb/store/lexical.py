"""BM25 planning for every backend: the query's index terms (the dialect's tokenizer), with
idf, N and avgdl from the user's own statistics, so one tenant's data never moves another's.

score = idf·tf·(k1+1) / (tf + k1·(1 − b + b·|D|/avgdl)), idf = ln((N − n + 0.5)/(n + 0.5))
floored at 1e-6; |D| counts one token more per document (FTS5's scope column). Above
``FULL_OR_MAX_ROWS`` rows only the rarest terms are taken, so a query's cost stays bounded;
commoner terms carry little BM25 weight there and dense retrieval still sees them."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from engramdb.store.dialect import GRANULARITIES, LexicalQuery, QueryTerm, Tx, marks

K1, B = 1.2, 0.75
IDF_FLOOR = 1e-6
FULL_OR_MAX_ROWS = 20_000
MAX_POSTINGS = 1_000
MAX_TERMS = 3
# A session segment holds up to 64 turns: scoring one reads ten times a turn's text, and only
# the best few segments are used, so its terms must be ten times rarer to cost the same, and
# in a large scope its rarest term is enough.
MAX_SESSION_POSTINGS = 100
MAX_SESSION_TERMS = 1
_SEPARATORS = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Letter/digit runs, one space apart, lower case, no diacritics (FTS5's ``unicode61``)."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFD", text)
        text = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
        text = unicodedata.normalize("NFC", text)
    return _SEPARATORS.sub(" ", text.lower()).strip()


def idf(docs: int, hits: int) -> float:
    # a writer may have added documents since ``docs`` was read
    value = math.log((max(docs, hits) - hits + 0.5) / (hits + 0.5))
    return value if value > 0 else IDF_FLOOR


@dataclass(frozen=True, slots=True)
class LexicalPlan:
    """What to match in each granularity's documents for one query in one user's scope."""

    user_id: str
    queries: dict[str, LexicalQuery]


def plan(
    tx: Tx, lexemes: dict[str, str], user_id: str, words: list[str], rows: int
) -> LexicalPlan | None:
    """``lexemes``: each normalised word's index term; ``rows``: the scope's size."""
    grouped: dict[str, list[str]] = {}
    for word in words:
        if lexemes.get(word):  # a word of separators only has no index term
            grouped.setdefault(lexemes[word], []).append(word)
    if not grouped:
        return None
    sql = "SELECT granularity, docs, tokens FROM lex_stats WHERE user_id = ?"
    stats = {int(g): (int(docs), int(tokens)) for g, docs, tokens in tx.all(sql, (user_id,))}
    # every granularity named: the primary key finds each term (not a scan of the user's)
    sql = (
        "SELECT granularity, lexeme, df FROM lex_terms WHERE user_id = ?"
        f" AND granularity IN ({', '.join(map(str, GRANULARITIES.values()))})"
        f" AND lexeme IN ({marks(len(grouped))})"
    )
    df = {(int(g), str(lexeme)): int(n) for g, lexeme, n in tx.all(sql, (user_id, *grouped))}
    large = rows > FULL_OR_MAX_ROWS
    queries: dict[str, LexicalQuery] = {}
    for granularity, code in GRANULARITIES.items():
        docs, tokens = stats.get(code, (0, 0))
        if docs <= 0:
            continue
        found = [
            QueryTerm(same[0], lexeme, len(same), n, idf(docs, n))
            for lexeme, same in grouped.items()
            if (n := df.get((code, lexeme), 0)) > 0
        ]
        if large:
            session = granularity == "session"
            bound = MAX_SESSION_POSTINGS if session else MAX_POSTINGS
            found = sorted((t for t in found if t.df <= bound), key=lambda t: t.df)
            found = found[: MAX_SESSION_TERMS if session else MAX_TERMS]
        if found:
            queries[granularity] = LexicalQuery(tuple(found), docs, (tokens + docs) / docs, large)
    return LexicalPlan(user_id, queries) if queries else None
