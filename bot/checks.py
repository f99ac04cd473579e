"""A check's life in the state database: claimed by a worker, finished or lost, and kept as
history for trends (asking for one records and enqueues it: ``driftbot.work.checking``).

Every finished check is a row of ``checks``. ``drifted_since(session, "prod")`` is what
``/drift status prod`` shows as "drifted since 20 Nov"; the digest reads the same history.
Nothing here talks to Slack or a target database.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from driftbot import audit
from driftbot.engine.result import CheckResult
from driftbot.runtime import Runtime
from driftbot.state.models import Check

ACTIVE = ("queued", "running")
# Enough history to find the start of any realistic streak without reading the whole table.
HISTORY_LIMIT = 1000


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- run by a worker --------------------------------------------------------------------------------

def claim(rt: Runtime, check_id: int, worker: str) -> tuple[str | None, str]:
    """queued -> running for this worker: ``(environment, "running")``, or ``(None, status)`` when
    the check is not this job's to run (already taken, finished, or missing)."""
    for _ in range(50):
        # The web process enqueues inside the transaction that records the check (so a refused
        # enqueue leaves no check behind); a fast worker may look before that transaction commits.
        with rt.sessions.begin() as s:
            if s.get(Check, check_id, with_for_update=True) is not None:
                break
        time.sleep(0.1)
    with rt.sessions.begin() as s:
        check = s.get(Check, check_id, with_for_update=True)
        if check is None or check.status != "queued":
            return None, check.status if check else "missing"
        check.status, check.started_at, check.worker = "running", _now(), worker
        return check.environment, "running"


def finish(rt: Runtime, check_id: int, result: CheckResult) -> tuple[Check, datetime | None] | None:
    """running -> finished with its result and audit event: (the row, drifted since), or None when it
    was no longer running (the sweeper reported it lost meanwhile)."""
    with rt.sessions.begin() as s:
        moved = s.execute(
            update(Check).where(Check.id == check_id, Check.status == "running")
            .values(status="finished", state=result.state, fingerprint=result.fingerprint,
                    result=result.to_record(), error=result.error, finished_at=_now()).returning(Check.id)
        ).first()
        if moved is None:
            return None
        audit.record(s, event="check_finished", environment=result.environment,
                     data={"check_id": check_id, "state": result.state, "fingerprint": result.fingerprint,
                           "error": result.error})
        return s.get(Check, check_id), drifted_since(s, result.environment)


def mark_lost(rt: Runtime, check_id: int) -> Any:
    """A queued or running check whose worker died: ``lost``, with its audit event. The row's
    environment and channel (for the notice), or None when it had moved on."""
    with rt.sessions.begin() as s:
        row = s.execute(
            update(Check).where(Check.id == check_id, Check.status.in_(ACTIVE))
            .values(status="lost", finished_at=_now(), error="the worker running it stopped")
            .returning(Check.environment, Check.channel, Check.worker)
        ).first()
        if row is None:
            return None
        audit.record(s, event="check_finished", environment=row.environment,
                     data={"check_id": check_id, "state": "lost", "worker": row.worker})
    return row


# --- posted ---------------------------------------------------------------------------------------

def mark_unposted(rt: Runtime, check_id: int) -> None:
    """Slack would not take the result: the sweeper has it posted again (``driftbot.work.sweeper``)."""
    with rt.sessions.begin() as s:
        s.execute(update(Check).where(Check.id == check_id)
                  .values(post_state="failed", post_attempts=Check.post_attempts + 1))


def claim_unposted(rt: Runtime, check_id: int) -> bool:
    """failed -> queued, once: one repost job per refused result."""
    with rt.sessions.begin() as s:
        return s.execute(update(Check).where(Check.id == check_id, Check.post_state == "failed")
                         .values(post_state="queued").returning(Check.id)).first() is not None


def unposted_check(rt: Runtime, check_id: int) -> Check | None:
    with rt.sessions() as s:
        return s.execute(select(Check).where(Check.id == check_id, Check.post_state.is_not(None))).scalar()


def give_up_post(rt: Runtime, check_id: int) -> None:
    with rt.sessions.begin() as s:
        s.execute(update(Check).where(Check.id == check_id).values(post_state="lost"))


# --- kept -------------------------------------------------------------------------------------------

def keep(session: Session, environment: str, seen: dict[str, Any], fingerprint: str | None, *,
         requested_by: str | None = None, channel: str | None = None, started_at: datetime | None = None,
         job_id: str | None = None, worker: str | None = None) -> Check:
    """A finished check's row from what it saw (``CheckResult.to_record()``), in the caller's transaction."""
    now = _now()
    row = Check(environment=environment, status="finished", requested_by=requested_by, channel=channel, watchers=[],
                job_id=job_id, worker=worker, state=seen.get("state"), fingerprint=fingerprint, result=seen,
                error=seen.get("error"), started_at=started_at or now, finished_at=now)
    session.add(row)
    session.flush()
    return row


def record_check(session: Session, result: CheckResult, *, requested_by: str, started_at: datetime,
                 job_id: str | None = None, worker: str | None = None) -> Check:
    """A finished check and its audit event, in the caller's transaction."""
    row = keep(session, result.environment, result.to_record(), result.fingerprint, requested_by=requested_by,
               started_at=started_at, job_id=job_id, worker=worker)
    audit.record(session, event="check_finished", actor=requested_by, environment=result.environment,
                 data={"check_id": row.id, "state": result.state, "fingerprint": result.fingerprint, "error": result.error})
    return row


# --- trends -----------------------------------------------------------------------------------------

def history(session: Session, environment: str, limit: int = HISTORY_LIMIT) -> list[tuple[str, datetime]]:
    """``(state, finished_at)`` of the environment's finished checks, newest first."""
    rows = session.execute(
        select(Check.state, Check.finished_at)
        .where(Check.environment == environment, Check.status == "finished", Check.state.is_not(None),
               Check.finished_at.is_not(None))
        .order_by(Check.finished_at.desc()).limit(limit)
    ).all()
    return [(state, at) for state, at in rows]


def streak_since(history: list[tuple[str, datetime]], *, unreachable: bool = False) -> datetime | None:
    """From checks newest first: since when the environment is out of sync (checks that could not
    reach it neither start nor end that), or with *unreachable*, since when every check failed to."""
    since = None
    for state, at in history:
        if unreachable:
            if state != "error":
                break
            since = at
            continue
        if state == "error":
            continue
        if state == "in_sync":
            break
        since = at
    return since


def drifted_since(session: Session, environment: str) -> datetime | None:
    """When the environment's current out-of-sync spell began (the first such check), or None when in sync."""
    return streak_since(history(session, environment))


def drifted_since_each(session: Session, environments: list[str]) -> dict[str, datetime]:
    """``drifted_since`` of every out-of-sync environment of *environments*, in one query (a scrape of
    /metrics, hundreds of environments): the oldest out-of-sync check after the newest in-sync one,
    checks that could not tell (error) neither starting nor ending the spell, as ``streak_since`` walks it."""
    finished = (Check.status == "finished") & Check.state.is_not(None) & Check.finished_at.is_not(None)
    last_in_sync = (select(Check.environment, func.max(Check.finished_at).label("at"))
                    .where(finished, Check.state == "in_sync", Check.environment.in_(environments))
                    .group_by(Check.environment).subquery())
    rows = session.execute(
        select(Check.environment, func.min(Check.finished_at))
        .outerjoin(last_in_sync, last_in_sync.c.environment == Check.environment)
        .where(finished, Check.state.not_in(("in_sync", "error")), Check.environment.in_(environments),
               (last_in_sync.c.at.is_(None)) | (Check.finished_at > last_in_sync.c.at))
        .group_by(Check.environment)
    ).all()
    return {env: at for env, at in rows}


def latest_since(session: Session, environments: list[str], since: datetime) -> dict[str, Check]:
    """Each environment's newest finished check at or after *since*."""
    rows = session.execute(
        select(Check).distinct(Check.environment)  # PostgreSQL's DISTINCT ON: one row, the newest, each
        .where(Check.environment.in_(environments), Check.status == "finished", Check.finished_at >= since)
        .order_by(Check.environment, Check.finished_at.desc())
    ).scalars()
    return {row.environment: row for row in rows}
