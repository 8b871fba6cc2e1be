"""Deferred enrichment: ``add`` returns once its messages are stored, embedded and indexed; the
claims, consolidation and links come from the store's work queue, exactly once, even across a
kill -9; several workers share one queue."""

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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import STATIC

from engramdb import Memory, MemoryItem
from engramdb.manage.work import Enrichment
from engramdb.store.queue import MAX_ATTEMPTS

LINES = [
    ("2023-01-05T10:00:00Z", "I live in Lisbon with my sister Ann."),
    ("2023-02-11T10:00:00Z", "I started working as a nurse at St. Mary's hospital."),
    ("2023-06-20T10:00:00Z", "We moved to Porto last week, the new flat is great."),
    ("2023-09-02T10:00:00Z", "I quit the hospital job, too many night shifts."),
    ("2023-11-15T10:00:00Z", "My sister Ann adopted a cat called Miso."),
]


def _tell(mem: Memory, user: str, *, wait: bool = False) -> None:
    for number, (stamp, text) in enumerate(LINES):
        mem.ingest(
            [{"id": f"m{number}", "speaker": "Mia", "role": "user", "content": text}],
            user_id=user,
            session_id=f"s{number // 2}",
            timestamp=stamp,
            wait=wait,
        )


def _facts(mem: Memory, user: str) -> list[tuple[str, str | None, str | None]]:
    """Every fact of a user: text, valid_from, valid_to (what consolidation decided)."""
    items = mem.list(user_id=user, kind="fact", limit=1000)
    out = [(i.text, str(i.valid_from), str(i.valid_to)) for i in items]
    return sorted(out)


def test_add_returns_before_the_claims_and_flush_draws_them(store_target: str) -> None:
    with Memory(store_target, embedder=STATIC, enrichment={"worker": False}) as mem:
        result = mem.ingest(
            [{"id": "a", "speaker": "Mia", "content": "I live in Lisbon now."}],
            user_id="mia",
            timestamp="2023-01-05T10:00:00Z",
        )
        assert result.pending == 1 and result.facts == [] and result.decisions == []
        assert mem.pending() == {"jobs": 1, "messages": 1, "failed": 0}
        hits = mem.search("where does Mia live?", user_id="mia")
        assert [h.text for h in hits] == ["I live in Lisbon now."]  # searchable at once
        assert mem.list(user_id="mia", kind="fact") == []
        assert mem.flush() == 1
        assert mem.pending()["jobs"] == 0
        assert any("Lisbon" in f[0] for f in _facts(mem, "mia"))
        assert mem.stats()["worker"]["jobs"] == 1


def test_deferred_and_inline_enrichment_decide_the_same(store_target: str, tmp_path: Path) -> None:
    """The queue batches many messages into one extraction; consolidation must come out as
    it does when every add enriches its own messages."""
    with Memory(store_target, embedder=STATIC, enrichment={"worker": False}) as mem:
        _tell(mem, "deferred")
        mem.flush()
        _tell(mem, "inline", wait=True)
        deferred, inline = _facts(mem, "deferred"), _facts(mem, "inline")
    assert deferred == inline
    assert any(valid_to != "None" for _, _, valid_to in deferred)  # something was superseded


def test_the_background_worker_does_the_queue(store_target: str) -> None:
    with Memory(store_target, embedder=STATIC, enrichment={"poll_s": 0.05}) as mem:
        _tell(mem, "mia")
        deadline = time.monotonic() + 30
        while mem.pending()["jobs"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mem.pending()["jobs"] == 0
        assert _facts(mem, "mia")


def test_close_does_the_work_still_owed(store_target: str) -> None:
    with Memory(store_target, embedder=STATIC, enrichment={"worker": False}) as mem:
        _tell(mem, "mia")
    with Memory(store_target, embedder=STATIC, enrichment={"worker": False}) as mem:
        assert mem.pending()["jobs"] == 0
        assert _facts(mem, "mia")


def test_a_worker_that_lost_its_lease_writes_nothing(store_target: str) -> None:
    with Memory(store_target, embedder=STATIC, enrichment={"worker": False}) as mem:
        _tell(mem, "mia")
        slow = Enrichment(mem.store, lambda: mem._extractor, lease=timedelta(seconds=60))
        jobs = mem.store.claim_work(
            slow.worker, datetime.now(UTC), lease=timedelta(0), messages=100, dead=lambda _: False
        )
        assert len(jobs) == len(LINES)
        # another worker, on another host, takes the jobs over once the lease has run out
        other = Enrichment(mem.store, lambda: mem._extractor, lease=timedelta(0))
        other.worker = "elsewhere:1:x"
        assert other.drain() == len(LINES)
        reference = _facts(mem, "mia")
        assert not mem.store.enrich("mia", None, jobs, slow.worker, lambda s, e: None)
        assert _facts(mem, "mia") == reference  # nothing written twice
        assert mem.pending()["jobs"] == 0


def test_a_failing_job_is_retried_then_counted_failed(store_target: str) -> None:
    with Memory(store_target, embedder=STATIC, enrichment={"worker": False}) as mem:
        mem.add("I live in Lisbon.", user_id="mia")

        def broken() -> object:
            raise RuntimeError("the parser is gone")

        work = Enrichment(mem.store, broken)  # type: ignore[arg-type]
        for _ in range(MAX_ATTEMPTS):
            assert work.run_once() == 0
        assert mem.pending() == {"jobs": 0, "messages": 0, "failed": 1}
        assert work.stats.failures == MAX_ATTEMPTS
        assert mem.search("Lisbon", user_id="mia")  # the message itself is kept


def test_one_users_failing_job_does_not_fail_the_others_in_its_batch(store_target: str) -> None:
    with Memory(store_target, embedder=STATIC, enrichment={"worker": False}) as mem:
        mem.add("I live in Lisbon.", user_id="bad", timestamp="2023-01-01T10:00:00Z")
        mem.add("I live in Oslo.", user_id="good", timestamp="2023-01-01T10:00:00Z")

        def deepen(items: list[MemoryItem]) -> dict[str, dict[str, object]]:
            if any(i.user_id == "bad" for i in items):
                raise RuntimeError("this user's messages break the screening")
            return {}

        work = Enrichment(mem.store, lambda: mem._extractor, deepen=deepen)  # type: ignore[arg-type]
        assert work.run_once() == 1  # one batch: bad's job failed, good's was done
        assert mem.list(user_id="good", kind="fact") and not mem.list(user_id="bad", kind="fact")
        assert mem.pending()["jobs"] == 1 and work.stats.failures == 1


def test_deleting_a_user_deletes_the_work_it_was_owed(store_target: str) -> None:
    with Memory(store_target, embedder=STATIC, enrichment={"worker": False}) as mem:
        _tell(mem, "mia")
        mem.add("I live in Oslo.", user_id="bob")
        counts = mem.delete_all(user_id="mia")
        assert counts["work_queue"] == len(LINES)
        assert mem.pending()["jobs"] == 1  # bob's
        mem.flush()
        assert mem.list(user_id="mia") == []


def test_two_workers_share_the_queue_and_do_each_job_once(store_target: str) -> None:
    """Two Memory objects (on PostgreSQL: FOR UPDATE SKIP LOCKED) drain one queue together."""
    options = {"embedder": STATIC, "enrichment": {"worker": False, "batch_messages": 1}}
    with Memory(store_target, **options) as first, Memory(store_target, **options) as second:
        _tell(first, "mia")
        done: list[int] = []
        threads = [
            threading.Thread(target=lambda m=m: done.append(m.flush())) for m in (first, second)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(done) == len(LINES)
        assert first._work.stats.jobs + second._work.stats.jobs == len(LINES)
        deferred = _facts(first, "mia")
        _tell(first, "inline", wait=True)
        assert deferred == _facts(first, "inline")


# --- kill -9 ----------------------------------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import sys
    from engramdb import Memory, MemoryItem
    path, first = sys.argv[1], int(sys.argv[2])
    m = Memory(path, embedder={"provider": "static"}, enrichment={"poll_s": 0.01})
    batch = first
    def town(n):  # a name of its own for every message: "Villebca" for 120
        return "Ville" + "".join(chr(97 + int(d)) for d in str(n))
    while True:
        messages = [
            {"id": f"b{batch}-{i}", "speaker": "Mia",
             "content": f"I moved to {town(batch * 5 + i)}."}
            for i in range(5)
        ]
        m.add(messages, user_id="crash", session_id=f"s{batch % 3}",
              timestamp=f"2023-01-01T00:{batch // 60 % 60:02d}:{batch % 60:02d}Z")
        print(f"ACK {batch}", flush=True)
        batch += 1
    """
)


def _run_and_kill(target: str, first: int, acks: int) -> list[int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, target, str(first)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    acked: list[int] = []
    buffer = b""
    deadline = time.monotonic() + 90
    assert proc.stdout is not None and proc.stderr is not None
    while len(acked) < acks:
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the writer acknowledged too few batches in time")
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                pytest.fail(f"writer exited early: {proc.stderr.read().decode()[-2000:]}")
            continue
        buffer += os.read(proc.stdout.fileno(), 65536)
        *lines, buffer = buffer.split(b"\n")
        acked += [int(line.split()[1]) for line in lines if line.startswith(b"ACK")]
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate()
    acked += [
        int(line.split()[1]) for line in (buffer + rest).split(b"\n") if line.startswith(b"ACK")
    ]
    return acked


def test_kill_9_loses_no_message_and_no_enrichment(store_target: str) -> None:
    acked = _run_and_kill(store_target, 0, 8)
    acked += _run_and_kill(store_target, 1000, 5)
    with Memory(store_target, embedder=STATIC, enrichment={"worker": False}) as mem:
        mem.flush(timeout=30)
        assert mem.pending()["jobs"] == 0
        stored = mem.list(user_id="crash", kind="episode", limit=10_000)
        ids = {i.sources[0] for i in stored}
        assert {f"b{b}-{i}" for b in acked for i in range(5)} <= ids
        facts = mem.list(user_id="crash", kind="fact", limit=10_000)
        # every message names a town of its own: its claim drawn once (one ADD), never twice
        # (a second consolidation of the same claim would be a NOOP on the same fact)
        towns = [f for f in facts if f.attribute == "home"]
        assert sorted(s for f in towns for s in f.sources) == sorted(ids)
        for fact in towns:
            events = [e.event for e in mem.history(fact.id)]
            assert events.count("ADD") == 1 and "NOOP" not in events, (fact.text, events)


def test_the_cli_shows_the_queue_and_flushes_it_on_request(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from engramdb.cli.main import app

    store = tmp_path / "cli.db"
    with Memory(store, embedder=STATIC, enrichment={"worker": False, "drain_on_close": False}) as m:
        _tell(m, "mia")  # owed, and left owed: this handle neither works nor drains
    config = tmp_path / "c.yaml"
    config.write_text(f"store: {store}\nembedder:\n  provider: static\n")
    shown = CliRunner().invoke(app, ["stats", "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["queue"] == {
        "jobs": len(LINES),
        "messages": len(LINES),
        "failed": 0,
    }
    flushed = CliRunner().invoke(app, ["stats", "--flush", "--config", str(config)])
    assert json.loads(flushed.stdout)["queue"]["jobs"] == 0
