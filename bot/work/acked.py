"""Acknowledged work survives Redis: the ledger of jobs someone was told are on their way.

Checks and approved executions already live in the state database; everything else a person is told
is coming (a request being prepared, a decision click, an audit export or verification, a comparison,
a pull request) is recorded here before it is queued and before the asker hears "Preparing…". Redis may
lose the job (restarted without persistence); this row stays. A job claims its row when it starts
(``queued`` -> ``running``, once), so a job queued twice runs once; the sweeper queues a row whose job
Redis no longer knows again, once, and after that tells the asker, once (``told``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from driftbot.runtime import Runtime
from driftbot.state.models import AckedWork


def record(rt: Runtime, *, job: str, queue: str, kwargs: dict[str, Any], asker: str | None, channel: str | None,
           what: str) -> int:
    """The row of a job about to be queued (committed first: a job never exists without its row)."""
    with rt.sessions.begin() as s:
        row = AckedWork(job=job, queue=queue, kwargs=kwargs, asker=asker, channel=channel, what=what)
        s.add(row)
        s.flush()
        return row.id


def drop(rt: Runtime, work_id: int) -> None:
    """The job could not be queued and the asker was told so: nothing is owed."""
    with rt.sessions.begin() as s:
        s.execute(delete(AckedWork).where(AckedWork.id == work_id, AckedWork.status == "queued"))


def claim(rt: Runtime, work_id: int) -> bool:
    """queued -> running, once: False when another copy of the job ran (or runs) it."""
    with rt.sessions.begin() as s:
        return s.execute(update(AckedWork).where(AckedWork.id == work_id, AckedWork.status == "queued")
                         .values(status="running").returning(AckedWork.id)).first() is not None


def finish(rt: Runtime, work_id: int, status: str) -> None:
    with rt.sessions.begin() as s:
        s.execute(update(AckedWork).where(AckedWork.id == work_id).values(status=status, finished_at=func.now()))


def waiting(rt: Runtime, before: datetime) -> list[AckedWork]:
    """Rows still queued since before *before* (their job may be lost)."""
    with rt.sessions() as s:
        return list(s.execute(select(AckedWork).where(AckedWork.status == "queued", AckedWork.created_at < before)
                              .order_by(AckedWork.id)).scalars())


def retry(rt: Runtime, work_id: int) -> bool:
    """Count a new queueing of a lost job: True the first time only."""
    with rt.sessions.begin() as s:
        return s.execute(update(AckedWork).where(AckedWork.id == work_id, AckedWork.status == "queued",
                                                 AckedWork.attempts == 0)
                         .values(attempts=1).returning(AckedWork.id)).first() is not None


def give_up(rt: Runtime, work_id: int) -> AckedWork | None:
    """queued -> told, once: the row to tell its asker about, or None when someone else did."""
    with rt.sessions.begin() as s:
        return s.execute(update(AckedWork).where(AckedWork.id == work_id, AckedWork.status == "queued")
                         .values(status="told", finished_at=func.now()).returning(AckedWork)).scalar()
