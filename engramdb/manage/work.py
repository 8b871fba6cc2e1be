"""Deferred enrichment: the worker that does the store's work queue (store/queue.py).

``add`` stores, embeds and indexes its messages and writes one job, in one transaction; the
claims, consolidation and entity links come after, here: the jobs' messages are read back,
extracted together (one extraction per user and session, so one parse and one embedding call
for many messages), and each user's claims are consolidated in the transaction that deletes
the jobs. A crash loses nothing: an unfinished job is claimed again (at once when its worker's
process is gone, else when its lease runs out) and done once.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any

from engramdb.encode.facts.extractor import FactExtractor
from engramdb.encode.messages import EpisodeDraft
from engramdb.manage.consolidate import Consolidation
from engramdb.manage.guard.consensus import ConsensusPolicy
from engramdb.models import MemoryItem
from engramdb.store import MemoryStore
from engramdb.store.facts import FactSession
from engramdb.store.queue import Job

logger = logging.getLogger("engramdb.work")
_HOST = socket.gethostname().replace(":", "_")


@dataclass
class WorkStats:
    """What this process's worker has done (``stats()`` adds the queue's depth)."""

    jobs: int = 0
    messages: int = 0
    facts: int = 0
    failures: int = 0
    lost: int = 0  # jobs another worker took over before this one finished


class Enrichment:
    """Does the work queue's jobs, in batches; ``start`` runs it in a background thread."""

    def __init__(
        self,
        store: MemoryStore,
        extractor: Callable[[], FactExtractor],
        policy: Callable[[str], ConsensusPolicy | None] = lambda user: None,
        deepen: Callable[[list[MemoryItem]], dict[str, dict[str, Any]]] = lambda items: {},
        *,
        batch_messages: int = 256,
        lease: timedelta = timedelta(seconds=60),
        poll_s: float = 2.0,
    ) -> None:
        self.store = store
        self.extractor = extractor  # called per batch: the llm mode sets its model first
        self.policy = policy  # the guard's: who may close a fact of this user
        self.deepen = deepen  # the guard's screening owed by add (message id → metadata)
        self.batch_messages = batch_messages
        self.lease = lease
        self.poll_s = poll_s
        self.worker = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.stats = WorkStats()
        self._lock = threading.Lock()  # one batch at a time in this process
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- doing the work --------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim a batch of jobs and do it; the number of messages enriched (0: none free)."""
        with self._lock:
            jobs = self.store.claim_work(
                self.worker,
                datetime.now(UTC),
                lease=self.lease,
                messages=self.batch_messages,
                dead=_gone,
            )
            if not jobs:
                return 0
            return self._do(jobs)

    def drain(self) -> int:
        """Do jobs until none is free (jobs other live workers hold are left to them)."""
        total = 0
        while done := self.run_once():
            total += done
        return total

    def _do(self, jobs: list[Job]) -> int:
        items = self.store.get_many([pk for job in jobs for pk in job.episodes])
        done = 0
        for user, of_user in groupby(sorted(jobs, key=lambda j: (j.user_id, j.job)), _user):
            owned = list(of_user)
            try:
                done += self._do_user(user, owned, items, self.extractor())
            except Exception as exc:  # kept with its error, retried, then failed: this user's
                logger.exception("enrichment of %d jobs failed", len(owned))
                self.stats.failures += len(owned)
                self.store.work_failed(self.worker, owned, f"{type(exc).__name__}: {exc}")
        return done

    def _do_user(
        self, user: str, owned: list[Job], items: dict[int, MemoryItem], extractor: FactExtractor
    ) -> int:
        """One user's claimed jobs, in one transaction; the messages enriched (1 if lost)."""
        messages = [items[pk] for job in owned for pk in job.episodes if pk in items]
        remarks = self.deepen(messages)
        work = _extract(extractor, user, messages)
        work.guard = self.policy(user)
        if work.guard is not None:
            said = {m.sources[0]: m.metadata for m in messages if m.sources}
            work.guard.begin({**said, **remarks})
        write = functools.partial(_write, remarks, work)
        if not self.store.enrich(user, owned[0].agent_id, owned, self.worker, write):
            self.stats.lost += len(owned)
            return 1  # progress all the same: another worker has them
        self.stats.jobs += len(owned)
        self.stats.messages += len(messages)
        self.stats.facts += len(work.fact_pks)
        return max(len(messages), 1)

    # --- the background thread -------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            # the thread holds the worker weakly: a Memory dropped without close() is still
            # collected (and its connections closed), and its thread ends
            self._thread = threading.Thread(
                target=_loop,
                args=(weakref.ref(self), self._wake, self._stop, self.poll_s),
                name="engramdb-work",
                daemon=True,
            )
            self._thread.start()

    def notify(self) -> None:
        """New jobs were written: wake the worker."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    def __del__(self) -> None:
        self._stop.set()
        self._wake.set()


def _loop(
    worker: weakref.ref[Enrichment],
    wake: threading.Event,
    stop: threading.Event,
    poll_s: float,
) -> None:
    while not stop.is_set():
        work = worker()
        if work is None:
            return
        try:
            while not stop.is_set() and work.run_once():
                pass
        except Exception:  # the store went away (closed, unreachable): try again later
            logger.exception("the enrichment worker could not read the queue")
        del work
        wake.wait(poll_s)
        wake.clear()


def _write(
    remarks: dict[str, dict[str, Any]],
    work: Consolidation,
    session: FactSession,
    episodes: dict[str, int],
) -> None:
    """Inside the enrich transaction: the guard's late marks, then the claims."""
    for message_id, metadata in remarks.items():
        if message_id in episodes:
            session.remark(episodes[message_id], metadata)
    work.apply(session, episodes)


def _extract(extractor: FactExtractor, user: str, messages: list[MemoryItem]) -> Consolidation:
    """One extraction per session of the user's messages, merged into one consolidation."""
    merged = Consolidation(claims=[])
    expiry = {m.sources[0]: m.expires_at for m in messages if m.sources}
    for session, said in groupby(messages, key=lambda m: m.session_id):
        found = extractor.prepare([_draft(m) for m in said], user, session)
        for claim in found.claims:  # a fact expires with the message it came from
            claim.memory.expires_at = expiry.get(claim.draft.sources[0])
        merged.claims += found.claims
        merged.mentions.update(found.mentions)
    return merged


def _draft(item: MemoryItem) -> EpisodeDraft:
    assert item.event_time is not None  # every stored message has its time
    return EpisodeDraft(
        message_id=item.sources[0] if item.sources else item.id,
        content=item.text,
        role=item.role,
        speaker=item.speaker,
        event_time=item.event_time,
        time_ranges=[],  # the extractor finds the times it needs in the claims themselves
        metadata=item.metadata,
    )


def _user(job: Job) -> str:
    return job.user_id


def _gone(holder: str) -> bool:
    """Whether the worker ``holder`` (host:pid:token) was a process of this host that has
    ended (its jobs can be claimed at once, without waiting for the lease)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != _HOST or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
