"""What differs between SQL backends, and only that (connections, transactions, placeholders,
codecs, vector ids, the lexical index, capabilities); every storage rule is the engine's, in SQL
with ``?`` placeholders that a dialect translates for its driver."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from engramdb.config import StoreConfig
from engramdb.store.record import Codec

Row = tuple[Any, ...]
Args = Sequence[Any] | Mapping[str, Any]  # positional ``?`` or named ``:name`` (SQLite only)
GRANULARITIES: dict[str, int] = {"turn": 1, "window": 2, "session": 3}


class Tx:
    """A connection (in a transaction for writes) running ``?`` SQL the DB-API way."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def sql(self, sql: str) -> Any:
        return sql

    def all(self, sql: str, args: Args = ()) -> list[Row]:
        return list(self.conn.execute(self.sql(sql), args).fetchall())

    def one(self, sql: str, args: Args = ()) -> Row | None:
        row: Row | None = self.conn.execute(self.sql(sql), args).fetchone()
        return row

    def run(self, sql: str, args: Args = ()) -> int:  # the number of rows changed
        return int(self.conn.execute(self.sql(sql), args).rowcount)

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(self.sql(sql), rows)

    def returning(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[Row]:
        """The first row each ``INSERT … RETURNING`` returns (None: nothing inserted)."""
        return [self.conn.execute(self.sql(sql), row).fetchone() for row in rows]

    def local(self) -> AbstractContextManager[Any]:
        """A transaction on a read connection, for settings local to it (PostgreSQL)."""
        return nullcontext()


@dataclass(frozen=True, slots=True)
class DocTerms:
    """A lexical document as the statistics count it: tokens and distinct index terms."""

    length: int
    lexemes: frozenset[str]


@dataclass(frozen=True, slots=True)
class QueryTerm:
    """One distinct index term of a query, with its frequency in the user's scope."""

    word: str  # the word the index matches it by
    lexeme: str
    repeats: int  # query words that share it
    df: int
    idf: float


@dataclass(frozen=True, slots=True)
class LexicalQuery:
    """BM25 over one granularity of one user's documents, with the user's statistics."""

    terms: tuple[QueryTerm, ...]
    docs: int  # N
    avgdl: float  # mean length, one token per document added for the scope column
    large: bool = False  # a large scope: only its rare terms are taken


class LexicalIndex(Protocol):
    """A backend's inverted index over the granularities, keyed by memory pk (session segments:
    session_docs.doc_id); it says what each write adds or removes (documents.py counts)."""

    def replace(
        self, tx: Tx, user_id: str, granularity: str, keys: list[int], docs: list[tuple[int, str]]
    ) -> tuple[list[DocTerms], list[DocTerms]]:
        """Remove the user's documents ``keys``, index ``docs``; what the old and new hold."""
        ...

    def delete_user(self, tx: Tx, user_id: str) -> dict[str, int]:
        """Remove every document of a user; counts per index table."""
        ...

    def lexemes(self, tx: Tx, words: list[str]) -> dict[str, str]:
        """Each normalised word's index term ("" where it has none)."""
        ...

    def documents(
        self, tx: Tx, user_id: str, granularity: str, keys: list[int] | None
    ) -> list[tuple[int, int, Counter[str]]]:
        """The user's documents (all, or ``keys``): key, |D| as ``search`` counts it, terms' tf."""
        ...

    def search(
        self, tx: Tx, user_id: str, granularity: str, query: LexicalQuery, limit: int
    ) -> list[tuple[int, float]]:
        """The user's best ``limit`` documents by BM25 (higher is better), best first."""
        ...


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend offers beyond the common operations, declared (never probed)."""

    nearest: bool = False  # an index answers nearest-neighbour queries (pgvector HNSW)
    bulk_load: bool = False  # loads can defer index maintenance
    # lexical queries wait on a server, so several at once cost about one (in-process
    # SQLite: the thread hops cost more than they save)
    concurrent_lexical: bool = False


class Dialect:
    """A backend under the engine; it says how times and vectors are stored."""

    name: str
    options: StoreConfig
    capabilities = Capabilities()
    lexical: LexicalIndex
    greatest = "max"  # the scalar max function (PostgreSQL: greatest)
    collate_c = ""  # makes a text comparison bytewise ("" where it already is)
    skip_locked = ""  # lets concurrent claims of the work queue pass each other's rows
    row_locks = False  # writers lock rows one by one (not the whole store)

    def read(self, what: str) -> AbstractContextManager[Tx]:
        """A connection for reads (no transaction held open)."""
        raise NotImplementedError

    def write(self, what: str, user_id: str | None) -> AbstractContextManager[Tx]:
        """A transaction; with a user, serialised with that user's other writers."""
        raise NotImplementedError

    def vec_ids(self, tx: Tx, n: int) -> list[int]:
        """n new vector ids, ascending; they never go down, even after a delete."""
        raise NotImplementedError

    def time(self, value: datetime | None) -> Any:  # a timestamp as the driver takes it
        raise NotImplementedError

    def _time_out(self, value: Any) -> datetime:
        raise NotImplementedError

    def _vector_in(self, value: Any) -> Any:
        raise NotImplementedError

    def _vector_out(self, value: Any) -> npt.NDArray[np.float32]:
        raise NotImplementedError

    def encode(self, codec: Codec, value: Any) -> Any:
        if value is None:
            return None
        if codec == "time":
            return self.time(value)
        if codec == "json":
            return json.dumps(value, ensure_ascii=False)
        if codec == "vector":
            return self._vector_in(value)
        return bool(value) if codec == "bool" else value

    def decode(self, codec: Codec, value: Any) -> Any:
        if value is None:
            return None
        if codec == "time":
            return self._time_out(value)
        if codec == "json":
            return json.loads(value)
        if codec == "vector":
            return self._vector_out(value)
        if codec == "bool":
            return bool(value)
        return int(value) if codec in ("int", "pk") else value

    def lock(self, tx: Tx, name: str) -> None:
        """Serialise transactions that take the same named lock (SQLite's are already)."""

    def on_embedder(self, tx: Tx, dim: int, first: bool) -> None:
        """The embedder's dimension is known (first: just recorded)."""

    def erased(self) -> None:
        """Deleted text was committed: take it out of the backend's copies (WAL, dead rows)."""

    def erased_user(self) -> None:
        """A whole user was deleted (``erased``, and more where the backend can)."""
        self.erased()

    def nearest(
        self, user_id: str, vector: npt.NDArray[np.float32], k: int, expansion: int | None
    ) -> list[int]:
        """Capability ``nearest``: pks of the user's k closest memories by cosine."""
        raise NotImplementedError(f"{self.name} has no nearest-neighbour index")

    def bulk_load(self, **options: Any) -> AbstractContextManager[Any]:
        """Capability ``bulk_load``: a block whose writes skip index maintenance."""
        return nullcontext()

    def close(self) -> None:
        raise NotImplementedError


def marks(n: int) -> str:
    return ", ".join("?" * n)


def chunks(values: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
