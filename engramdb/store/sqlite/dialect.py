"""SQLite as a dialect of the engine: one file in WAL mode, a connection per thread, writers
serialised by BEGIN IMMEDIATE (several processes may share a file); times as ISO 8601 text in
UTC (which sorts as time), vectors as float32 blobs.

The driver is sqlean (sqlite3's API, SQLite 3.50): FTS5's ``secure-delete`` (3.42 on) drops a
deleted document's terms at once, where Python's 3.40 keeps them until a merge. With freed
pages zeroed (``secure_delete``) and the WAL truncated after each erasing write, deleted text
leaves the files."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlean as sqlite3

from engramdb.config import StoreConfig
from engramdb.errors import ConfigError, StoreError
from engramdb.store.dialect import Dialect, Tx
from engramdb.store.schema import migrate
from engramdb.store.sqlite.fts import FTS5Index, scratch
from engramdb.store.sqlite.schema import OWN, UPGRADES

SQLiteTx = Tx  # the driver takes ``?`` SQL as it is, the DB-API way


class SQLiteDialect(Dialect):
    name = "sqlite"  # text compares bytewise (BINARY) unless told otherwise

    def __init__(self, path: str | Path, options: StoreConfig) -> None:
        self.path = Path(path).expanduser()
        self.options = options
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the folder for {self.path}: {exc.strerror}") from exc
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._write_lock = threading.Lock()  # in-process writers queue here, not in busy-waits
        self._closed = False
        self.lexical = FTS5Index()
        try:
            migrate(lambda: self.write("migrating", None), 0, OWN, UPGRADES)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open {self.path} as an engramdb store: {exc}") from exc

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError("the store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=self.options.busy_timeout_ms / 1000,
                )
                conn.execute("PRAGMA journal_mode = WAL")
                sync = "FULL" if self.options.durability == "full" else "NORMAL"
                conn.execute(f"PRAGMA synchronous = {sync}")
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("PRAGMA secure_delete = ON")
                conn.execute("PRAGMA temp_store = MEMORY")  # scratch tables never reach a file
                scratch(conn)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot open {self.path} as an engramdb store: {exc}") from exc
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def read(self, what: str) -> Iterator[SQLiteTx]:
        yield SQLiteTx(self._conn())

    @contextmanager
    def write(self, what: str, user_id: str | None) -> Iterator[SQLiteTx]:
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield SQLiteTx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def vec_ids(self, tx: Tx, n: int) -> list[int]:
        row = tx.one(
            "UPDATE counters SET value = value + ? WHERE name = 'vec_id' RETURNING value", (n,)
        )
        top = int(row[0]) if row else n
        return list(range(top - n + 1, top + 1))

    def time(self, value: datetime | None) -> Any:
        return value.astimezone(UTC).isoformat() if value else None

    def _time_out(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def _vector_in(self, value: Any) -> Any:
        return np.ascontiguousarray(value, dtype=np.float32).tobytes()

    def _vector_out(self, value: Any) -> npt.NDArray[np.float32]:
        return np.frombuffer(value, dtype=np.float32)

    def erased(self) -> None:
        """Copy the WAL into the file and truncate it (with readers in other processes it may
        stay partly until the next one)."""
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._closed = True
