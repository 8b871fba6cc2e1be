"""A process killed mid-write leaves a consistent store; readers run safely beside a writer."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
import sqlean as sqlite3  # the store's FTS5 tables need SQLite 3.42+ (secure-delete)
from conftest import NO_NOTES, STATIC

from engramdb import Memory

BATCH = 20

# The child adds batches of BATCH messages, ids "b{batch}-{i}", and prints one line per batch
# only after ``add`` returned (the transaction committed). It also blocks outbound network.
# Notes are off: every stored row is one message, so rows can be counted per batch.
CHILD = textwrap.dedent(
    """
    import socket, sys
    def _blocked(self, address, *args):
        local = ("127.0.0.1", "::1", "localhost")
        if isinstance(address, (str, bytes)) or (
            isinstance(address, tuple) and address and address[0] in local
        ):
            return _real(self, address)
        raise RuntimeError(f"network access to {address!r}")
    _real = socket.socket.connect
    socket.socket.connect = _blocked

    from engramdb import Memory
    path, first = sys.argv[1], int(sys.argv[2])
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet".split()
    m = Memory(path, embedder={"provider": "static"}, extraction={"notes": False})
    batch = first
    while True:
        messages = [
            {"id": f"b{batch}-{i}", "content": f"batch {batch} line {i} {words[i % 10]} " * 3}
            for i in range(BATCH)
        ]
        m.add(messages, user_id="crash", session_id=f"s{batch % 3}")
        print(f"ACK {batch}", flush=True)
        batch += 1
    """
).replace("BATCH", str(BATCH))


def run_and_kill(db: Path, first_batch: int, acks_before_kill: int) -> list[int]:
    """Start the writer, wait for ``acks_before_kill`` acknowledgements, SIGKILL it, and return
    every batch it acknowledged (including lines still in the pipe when it died)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(first_batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    acked: list[int] = []
    buffer = b""
    deadline = time.monotonic() + 60
    try:
        while len(acked) < acks_before_kill:
            if time.monotonic() > deadline:
                pytest.fail("the writer process acknowledged too few batches in time")
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    pytest.fail(f"writer exited early: {proc.stderr.read().decode()[-2000:]}")
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                pytest.fail(f"writer closed stdout: {proc.stderr.read().decode()[-2000:]}")
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            acked.extend(int(line.split()[1]) for line in lines if line.startswith(b"ACK "))
    finally:
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    lines = (buffer + rest).split(b"\n")
    # a partial last line was never a complete acknowledgement
    acked.extend(int(line.split()[1]) for line in lines[:-1] if line.startswith(b"ACK "))
    return acked


def stored_batches(db: Path) -> dict[int, set[str]]:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for table in ("fts_turn", "fts_window", "fts_session"):
            conn.execute(f"INSERT INTO {table}({table}) VALUES ('integrity-check')")
        found: dict[int, set[str]] = defaultdict(set)
        for (sources,) in conn.execute("SELECT sources FROM memories WHERE user_id = 'crash'"):
            (source,) = json.loads(sources)
            batch = int(source[1:].split("-")[0])
            found[batch].add(source)
        # derived rows agree with the memories: every turn has its lexical documents
        pks = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM fts_turn").fetchone()[0] == pks
        assert conn.execute("SELECT count(*) FROM fts_window").fetchone()[0] == pks
        state = conn.execute("SELECT rows FROM scope_state WHERE user_id = 'crash'").fetchone()
        assert state is not None and state[0] == pks
        return found
    finally:
        conn.close()


def check_all_or_nothing(found: dict[int, set[str]], acked: list[int]) -> None:
    for batch, ids in found.items():
        assert ids == {f"b{batch}-{i}" for i in range(BATCH)}, f"batch {batch} is partial"
    missing = [b for b in acked if b not in found]
    assert not missing, f"acknowledged batches lost: {missing}"


def test_killed_writer_leaves_a_consistent_store(store_path: Path) -> None:
    acked = run_and_kill(store_path, first_batch=0, acks_before_kill=4)
    assert len(acked) >= 4
    found = stored_batches(store_path)
    check_all_or_nothing(found, acked)
    # batches are written in order: what is stored is a prefix 0..n
    assert sorted(found) == list(range(len(found)))

    # a second writer continues on the same file and is killed again
    more = run_and_kill(store_path, first_batch=1000, acks_before_kill=3)
    found = stored_batches(store_path)
    check_all_or_nothing(found, acked + more)

    # the store opens normally and serves everything that was acknowledged
    with Memory(store_path, embedder=STATIC, extraction=NO_NOTES) as m:
        assert m.count(user_id="crash") == BATCH * len(found)
        last = max(acked)
        hits = m.search(f"batch {last} line 7 hotel", user_id="crash", limit=3, preset="lexical")
        assert hits and hits[0].sources == [f"b{last}-7"]
        m.add([{"id": "after", "content": "written after the crashes"}], user_id="crash")
        assert m.count(user_id="crash") == BATCH * len(found) + 1


def test_readers_run_safely_beside_a_writer(store_path: Path) -> None:
    user = "busy"
    stop = threading.Event()
    errors: list[BaseException] = []
    observed: dict[str, list[int]] = defaultdict(list)
    written = [0]

    with (
        Memory(store_path, embedder=STATIC, extraction=NO_NOTES) as m,
        Memory(store_path, embedder=STATIC, extraction=NO_NOTES) as other,
    ):
        m.add([{"id": "seed", "content": "seed message about lighthouses"}], user_id=user)
        m.add([{"content": "someone else's note about lighthouses"}], user_id="neighbour")

        def writer() -> None:
            try:
                batch = 0
                while not stop.is_set():
                    m.add(
                        [{"id": f"w{batch}-{i}", "content": f"lighthouse log {batch} entry {i}"}
                         for i in range(10)],
                        user_id=user,
                        session_id=f"s{batch % 4}",
                    )  # fmt: skip
                    batch += 1
                    written[0] = batch * 10 + 1
            except BaseException as exc:
                errors.append(exc)

        def reader(name: str, handle: Memory) -> None:
            try:
                while not stop.is_set():
                    observed[name].append(handle.count(user_id=user))
                    hits = handle.search("lighthouse log entry", user_id=user, limit=5)
                    assert hits and all(h.user_id == user for h in hits)
                    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
                    page = handle.list(user_id=user, limit=3)
                    assert page and all(i.user_id == user for i in page)
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=writer),
            threading.Thread(target=reader, args=("same-handle", m)),
            threading.Thread(target=reader, args=("other-handle", other)),
        ]
        for t in threads:
            t.start()
        time.sleep(2.0)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in threads)

        assert not errors, errors
        assert written[0] > 1, "the writer made no progress"
        for name, counts in observed.items():
            assert counts, name
            assert counts == sorted(counts), f"{name} saw the count go down"
            assert counts[-1] <= written[0]
        assert m.count(user_id=user) == written[0]
        assert other.count(user_id=user) == written[0]
        # both handles now see the last batch
        last = written[0] // 10 - 1
        for handle in (m, other):
            hits = handle.search(f"lighthouse log {last} entry 3", user_id=user, preset="lexical")
            assert f"w{last}-3" in {h.sources[0] for h in hits}
