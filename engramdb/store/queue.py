"""The work queue: the enrichment (claims, consolidation, entity links) an ``add``'s messages
are still owed. A job is written in the add's transaction and deleted in the one that writes
its enrichment, so after a crash the work is either done or still owed: done exactly once.

Workers claim jobs with a lease: a job whose lease ran out, or whose worker was a process of
this host that is gone, is claimed again; finishing deletes it only if the worker still holds
it. On PostgreSQL claims skip each other's rows (``FOR UPDATE SKIP LOCKED``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from engramdb.store.dialect import Dialect, Tx, chunks, marks
from engramdb.store.documents import Documents
from engramdb.store.facts import Enricher, FactSession
from engramdb.store.reads import mine
from engramdb.store.rows import bump_scope

# a job that failed this many times is left in the queue, counted as failed, not retried
MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Job:
    job: int
    user_id: str
    agent_id: str | None
    episodes: list[int]  # pks of the messages the add stored
    attempts: int


def enqueue(
    tx: Tx, d: Dialect, user_id: str, agent_id: str | None, pks: list[int], now: datetime
) -> None:
    """Inside an add's transaction: the stored messages are owed their enrichment."""
    if pks:
        tx.run(
            "INSERT INTO work_queue (user_id, agent_id, episodes, size, enqueued_at, attempts)"
            " VALUES (?, ?, ?, ?, ?, 0)",
            (user_id, agent_id, json.dumps(pks), len(pks), d.time(now)),
        )


class _LostLease(Exception):
    """The worker no longer holds a job it was finishing."""


class WorkQueue:  # the engine's side of the queue (the worker is manage/work.py)
    d: Dialect

    def claim_work(
        self,
        worker: str,
        now: datetime,
        *,
        lease: timedelta,
        messages: int,
        dead: Callable[[str], bool],
    ) -> list[Job]:
        """Claim the oldest free jobs, up to about ``messages`` messages in all. Free: never
        claimed, lease run out, or claimed by a worker that ``dead`` says is gone."""
        host = worker.split(":", 1)[0]
        with self.d.write("claiming work", None) as tx:
            expiry = self.d.time(now - lease)
            rows = tx.all(
                "SELECT job, user_id, agent_id, episodes, attempts, claimed_by, claimed_at < ?"
                " FROM work_queue WHERE attempts < ?"
                " AND (claimed_by IS NULL OR claimed_at < ? OR claimed_by LIKE ?)"
                f" ORDER BY job LIMIT ?{self.d.skip_locked}",
                (expiry, MAX_ATTEMPTS, expiry, f"{host}:%", max(1, messages)),
            )
            jobs: list[Job] = []
            total = 0
            for job, user, agent, episodes, attempts, holder, expired in rows:
                if holder is not None and not expired and not dead(holder):
                    continue  # a live worker of this host holds it
                pks = [int(p) for p in json.loads(episodes)]
                if jobs and total + len(pks) > messages:
                    break
                jobs.append(Job(int(job), user, agent, pks, int(attempts) + 1))
                total += len(pks)
            if jobs:
                ids = [j.job for j in jobs]
                tx.run(
                    "UPDATE work_queue SET claimed_by = ?, claimed_at = ?, attempts = attempts + 1"
                    f" WHERE job IN ({marks(len(ids))})",
                    (worker, self.d.time(now), *ids),
                )
        return jobs

    def enrich(
        self, user_id: str, agent_id: str | None, jobs: list[Job], worker: str, work: Enricher
    ) -> bool:
        """Write the enrichment of claimed jobs of one user (``work`` gets the fact session and
        the jobs' messages, id → pk) in the transaction that deletes the jobs. False, and
        nothing written, if the worker no longer holds every job."""
        pks, ids = [pk for job in jobs for pk in job.episodes], [j.job for j in jobs]
        episodes: dict[str, int] = {}
        now = datetime.now(UTC)
        try:
            with self.d.write("enrich", user_id) as tx:
                gone = tx.run(
                    f"DELETE FROM work_queue WHERE claimed_by = ? AND job IN ({marks(len(ids))})",
                    (worker, *ids),
                )
                if gone != len(ids):
                    raise _LostLease  # rolls the transaction back
                for chunk in chunks(pks):
                    for pk, sources in tx.all(
                        "SELECT pk, sources FROM memories WHERE user_id = ?"
                        f" AND pk IN ({marks(len(chunk))})",
                        (user_id, *chunk),
                    ):  # a message deleted since is owed nothing
                        if first := self.d.decode("json", sources):
                            episodes[first[0]] = int(pk)
                docs = Documents(self.d, tx, user_id)
                session = FactSession(self.d, tx, docs, agent_id, now)
                work(session, episodes)
                docs.flush()
                if session.max_vec_id:
                    top, added = session.max_vec_id, session.inserted
                    bump_scope(tx, self.d, user_id, max_vec_id=top, added=added)
        except _LostLease:
            return False
        return True

    def work_failed(self, worker: str, jobs: list[Job], error: str) -> None:
        """A job whose enrichment raised: free it for another attempt, with the error kept."""
        ids = [j.job for j in jobs]
        with self.d.write("recording failed work", None) as tx:
            tx.run(
                "UPDATE work_queue SET claimed_by = NULL, claimed_at = NULL, error = ?"
                f" WHERE claimed_by = ? AND job IN ({marks(len(ids))})",
                (error[:1000], worker, *ids),
            )

    def work_depth(self, user_id: str | None = None) -> dict[str, int]:
        """Jobs and messages still owed enrichment, and jobs that failed every attempt."""
        scope, args = mine(user_id)
        with self.d.read("reading the work queue") as tx:
            rows = tx.all(
                f"SELECT attempts < ?, count(*), sum(size) FROM work_queue WHERE 1 = 1{scope}"
                " GROUP BY 1",
                (MAX_ATTEMPTS, *args),
            )
        counts = {bool(r[0]): (int(r[1]), int(r[2] or 0)) for r in rows}
        jobs, messages = counts.get(True, (0, 0))
        return {"jobs": jobs, "messages": messages, "failed": counts.get(False, (0, 0))[0]}
