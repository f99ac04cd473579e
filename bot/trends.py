"""Check history kept for trends: every finished check is a row of ``checks``;
this module records digest checks there and answers "since when?".

``drifted_since(session, "prod")`` is what ``/drift status prod`` shows as
"drifted since 20 Nov"; the digest uses the same history.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import audit
from bot.digest import streak_since
from bot.engine.result import CheckResult
from bot.state.models import Check

# Enough history to find the start of any realistic streak without reading the whole table.
HISTORY_LIMIT = 1000


def record_check(session: Session, result: CheckResult, *, requested_by: str, started_at: datetime,
                 job_id: str | None = None, worker: str | None = None) -> Check:
    """A finished check and its audit event, in the caller's transaction."""
    row = Check(
        environment=result.environment, status="finished", requested_by=requested_by, watchers=[], job_id=job_id,
        worker=worker, state=result.state, fingerprint=result.fingerprint, result=result.to_json(), error=result.error,
        started_at=started_at, finished_at=datetime.now(timezone.utc),
    )
    session.add(row)
    session.flush()
    audit.record(session, event="check_finished", actor=requested_by, environment=result.environment,
                 data={"check_id": row.id, "state": result.state, "fingerprint": result.fingerprint, "error": result.error})
    return row


def history(session: Session, environment: str, limit: int = HISTORY_LIMIT) -> list[tuple[str, datetime]]:
    """``(state, finished_at)`` of the environment's finished checks, newest first."""
    rows = session.execute(
        select(Check.state, Check.finished_at)
        .where(Check.environment == environment, Check.status == "finished", Check.state.is_not(None),
               Check.finished_at.is_not(None))
        .order_by(Check.finished_at.desc()).limit(limit)
    ).all()
    return [(state, at) for state, at in rows]


def drifted_since(session: Session, environment: str) -> datetime | None:
    """When the environment's current out-of-sync spell began (the first such check), or None when in sync."""
    return streak_since(history(session, environment))


def unreachable_since(session: Session, environment: str) -> datetime | None:
    """When every check since began to fail to reach the environment, or None."""
    return streak_since(history(session, environment), unreachable=True)


def latest_since(session: Session, environments: list[str], since: datetime) -> dict[str, Check]:
    """Each environment's newest finished check at or after *since*."""
    rows = session.execute(
        select(Check).distinct(Check.environment)  # PostgreSQL's DISTINCT ON: one row, the newest, each
        .where(Check.environment.in_(environments), Check.status == "finished", Check.finished_at >= since)
        .order_by(Check.environment, Check.finished_at.desc())
    ).scalars()
    return {row.environment: row for row in rows}
