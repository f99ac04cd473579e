"""Asking for a check: record it in the state database (or join the one already queued or running for
the environment) and enqueue it, in one transaction: if Redis refuses, nothing is recorded."""

from __future__ import annotations

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert

from driftbot import audit
from driftbot.checks import ACTIVE
from driftbot.runtime import Runtime
from driftbot.state.models import Check
from driftbot.work import queues


# --- asked for --------------------------------------------------------------------------------------

def request_check(rt: Runtime, environment: str, user: str, channel: str | None) -> str:
    """Queue a check, or join the one already queued or running for this environment; the asker's answer."""
    for _ in range(5):  # the active check may finish between our insert and our look at it: try again
        answer = _check_or_join(rt, environment, user, channel)
        if answer:
            return answer
    return f"A check of *{environment}* just finished; its result is being posted. Ask again for a new one."


def _check_or_join(rt: Runtime, environment: str, user: str, channel: str | None) -> str | None:
    with rt.sessions.begin() as s:
        new_id = s.execute(
            insert(Check).values(environment=environment, status="queued", requested_by=user, channel=channel, watchers=[])
            # The index predicate as literal SQL: PostgreSQL cannot match a partial index against bound
            # parameters once psycopg prepares the statement (after 5 runs).
            .on_conflict_do_nothing(index_elements=["environment"], index_where=text("status IN ('queued', 'running')"))
            .returning(Check.id)
        ).scalar()
        if new_id is None:
            active = s.execute(select(Check).where(Check.environment == environment, Check.status.in_(ACTIVE))).scalar()
            if active is None:
                return None
            if channel != active.channel and all(w.get("channel") != channel for w in active.watchers):
                # Only a new channel changes the row: only then its lock (a join from a channel already
                # told takes none, so 50 joins a second never queue behind each other or the worker).
                active = s.execute(select(Check).where(Check.id == active.id, Check.status.in_(ACTIVE))
                                   .with_for_update().execution_options(populate_existing=True)).scalar()
                if active is None:
                    return None
                if all(w.get("channel") != channel for w in active.watchers):
                    active.watchers = [*active.watchers, {"user": user, "channel": channel}]
            audit.record(s, event="check_requested", actor=user, environment=environment,
                         data={"check_id": active.id, "joined": True})
            return (f"A check of *{environment}* is already running (asked by <@{active.requested_by}>); "
                    "its result will be posted in this channel too.")
        audit.record(s, event="check_requested", actor=user, environment=environment, data={"check_id": new_id})
        s.execute(update(Check).where(Check.id == new_id).values(job_id=queues.job_id(rt, "check", new_id)))
        # Enqueued inside the transaction: if Redis refuses, the check row is rolled back with it.
        queues.enqueue_check(rt, new_id)
    return f"Checking *{environment}*… results will be posted in this channel."
