"""The request state machine and the two-person rule, enforced in the database.

Every transition is a compare-and-set ``UPDATE ... WHERE status = <expected>``
in the caller's transaction, together with its audit event: a duplicate click,
a duplicate delivery from Slack or a second worker finds the status already
moved and does nothing.

    requested -> approved -> executing -> succeeded | failed
    requested -> rejected | cancelled | expired
    approved  -> requested   (the plan changed: approvals reset; or execution refused)

Approvals count only when they are for the request's current plan hash (the one
on the clicked button), from distinct configured approvers, never from the
requester; each delivered click counts at most once. The number needed is the
stricter of the request's and the one configured now, at the click and again at
execution.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from driftbot import audit
from driftbot.requests.plans import Plan
from driftbot.state.models import Approval, Click, Execution, Request

OPEN = ("requested", "approved")  # waiting for approvals, or approved and waiting to run
ACTIVE = OPEN + ("executing",)  # not closed yet: one such request per plan


@dataclass(frozen=True)
class Outcome:
    """What a click did. ``ok`` False means refused; ``message`` says why, for the clicker only."""

    ok: bool
    status: str
    message: str
    approvals: tuple[str, ...] = ()
    ready: bool = False  # this click completed the approvals: enqueue the execution


@dataclass(frozen=True)
class Shortfall:
    """Approvals no longer suffice at execution: who still counts, and how many are needed now."""

    counted: tuple[str, ...]
    required: int
    lost: tuple[str, ...]  # approvers of this plan who no longer count

    def say(self) -> str:
        gone = (" (" + ", ".join(f"<@{u}>" for u in self.lost) + " no longer "
                + ("counts" if len(self.lost) == 1 else "count") + ")") if self.lost else ""
        missing = self.required - len(self.counted)
        return (f"approvals no longer suffice: {len(self.counted)} of {self.required} now required{gone}; "
                f"needs {missing} more approval{'s' if missing != 1 else ''} of this plan")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def create_request(session: Session, plan: Plan, *, requester: str, approvals_required: int, ttl_hours: float,
                   channel: str | None = None, thread_ts: str | None = None, check_id: int | None = None,
                   team_id: str | None = None, approvers: list[str] | None = None) -> Request:
    req = Request(
        environment=plan.environment, kind=plan.kind, args=plan.arguments, sql=plan.sql, fingerprint=plan.fingerprint,
        plan_hash=plan.hash, status="requested", requester=requester, approvals_required=approvals_required,
        check_id=check_id, channel=channel, thread_ts=thread_ts, expires_at=_now() + timedelta(hours=ttl_hours),
        team_id=team_id, approvers=approvers,
    )
    session.add(req)
    session.flush()
    audit.record(session, event="request_created", actor=requester, environment=plan.environment, request_id=req.id,
                 data={"kind": plan.kind, "args": plan.arguments, "sql": plan.sql, "plan_hash": plan.hash,
                       "fingerprint": plan.fingerprint, "approvals_required": approvals_required})
    return req


def open_request_for(session: Session, plan_hash: str) -> Request | None:
    """The open request for exactly this plan, if any; serialised per plan so two proposals make one request."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:h))"), {"h": plan_hash})
    return session.execute(
        select(Request).where(Request.plan_hash == plan_hash, Request.status.in_(ACTIVE))
    ).scalars().first()


def first_delivery(session: Session, trigger_id: str, action_ts: str, request_id: int | None) -> bool:
    """Record one delivered click; False when this very click (a re-delivery, a replay) was seen before."""
    done = session.execute(
        insert(Click).values(trigger_id=trigger_id, action_ts=action_ts, request_id=request_id)
        .on_conflict_do_nothing(constraint="uq_clicks_once").returning(Click.id)
    ).first()
    return done is not None


def _cas(session: Session, request_id: int, expected: tuple[str, ...], new: str, **values) -> bool:
    """Move the request from one of *expected* to *new*; False when another path moved it first."""
    done = session.execute(
        update(Request).where(Request.id == request_id, Request.status.in_(expected))
        .values(status=new, **values).returning(Request.id)
    ).first()
    return done is not None


def _locked(session: Session, request_id: int) -> Request | None:
    # Serialises clicks on one request so counting and the transition see each other's approvals.
    return session.execute(
        select(Request).where(Request.id == request_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()


def counted_approvers(session: Session, req: Request, allowed: frozenset[str]) -> tuple[str, ...]:
    """Distinct approvers of the current plan who count: configured, and not the requester."""
    rows = session.execute(
        select(Approval.approver).where(Approval.request_id == req.id, Approval.plan_hash == req.plan_hash)
        .order_by(Approval.at, Approval.id)
    ).scalars()
    seen: list[str] = []
    for who in rows:
        if who in allowed and who != req.requester and who not in seen:
            seen.append(who)
    return tuple(seen)


def _expire_if_due(session: Session, req: Request, now: datetime) -> bool:
    if req.status == "requested" and req.expires_at <= now:
        if _cas(session, req.id, ("requested",), "expired", decided_at=now):
            audit.record(session, event="expired", environment=req.environment, request_id=req.id,
                         data={"plan_hash": req.plan_hash, "expires_at": req.expires_at})
            req.status = "expired"
        return True
    return False


def _current(session: Session, request_id: int, now: datetime, expired: str) -> Request | Outcome:
    """The request, locked and expired if due; or the Outcome that ends the click there."""
    req = _locked(session, request_id)
    if req is None:
        return Outcome(False, "missing", "That request does not exist.")
    if _expire_if_due(session, req, now):
        return Outcome(False, "expired", f"Request #{req.id} {expired}")
    return req


def approve(session: Session, request_id: int, user: str, allowed: frozenset[str], now: datetime | None = None, *,
            plan_hash: str | None = None, required: int = 0) -> Outcome:
    """One Approve click by *user* on the button of *plan_hash*. Server-side: every rule is checked
    here, whatever path called it. *required*: approvals configured now (the stricter one counts)."""
    now = now or _now()
    req = _current(session, request_id, now, "expired; start a new one.")
    if isinstance(req, Outcome):
        return req
    if plan_hash is not None and plan_hash != req.plan_hash:
        return Outcome(False, req.status, f"That button was for plan `{plan_hash[:8]}…`; request #{req.id}'s plan is "
                       f"now `{req.plan_hash[:8]}…` (approvals reset). Read the updated request and approve that.")
    needed = max(req.approvals_required, required)
    if req.status != "requested":
        return Outcome(False, req.status, f"Request #{req.id} is already {req.status}.",
                       counted_approvers(session, req, allowed))
    if user == req.requester:
        return Outcome(False, req.status, "You asked for this change, so your approval does not count: "
                       "two other approvers must approve it.", counted_approvers(session, req, allowed))
    if user not in allowed:
        return Outcome(False, req.status, f"You are not an approver for {req.environment}.",
                       counted_approvers(session, req, allowed))
    inserted = session.execute(
        insert(Approval).values(request_id=req.id, approver=user, plan_hash=req.plan_hash)
        .on_conflict_do_nothing(constraint="uq_approvals_once").returning(Approval.id)
    ).first()
    who = counted_approvers(session, req, allowed)
    if needed > req.approvals_required:  # the configuration got stricter since the request: it binds now
        session.execute(update(Request).where(Request.id == req.id).values(approvals_required=needed))
        req.approvals_required = needed
    if inserted is not None:
        audit.record(session, event="approval_counted", actor=user, environment=req.environment, request_id=req.id,
                     data={"plan_hash": req.plan_hash, "count": len(who), "required": needed})
    elif len(who) < needed:
        return Outcome(True, req.status, "You already approved this plan; it counts once.", who)
    # A repeated click on a fully approved plan (after a run that could not verify it) retries it.
    if len(who) >= needed and _cas(session, req.id, ("requested",), "approved", decided_at=now, note=None):
        audit.record(session, event="approved", actor=user, environment=req.environment, request_id=req.id,
                     data={"plan_hash": req.plan_hash, "approvers": list(who), "sql": req.sql})
        req.status = "approved"
        return Outcome(True, "approved", "Approved; the change is queued.", who, ready=True)
    return Outcome(True, req.status, f"Approval counted ({len(who)} of {needed}).", who)


def reject(session: Session, request_id: int, user: str, allowed: frozenset[str], now: datetime | None = None) -> Outcome:
    """Reject by an approver closes the request; the requester's own Reject cancels it."""
    now = now or _now()
    req = _current(session, request_id, now, "expired.")
    if isinstance(req, Outcome):
        return req
    if user == req.requester:
        return cancel(session, request_id, user, now)
    if user not in allowed:
        return Outcome(False, req.status, f"You are not an approver for {req.environment}.")
    return _close(session, req, user, now, event="rejected")


def cancel(session: Session, request_id: int, user: str, now: datetime | None = None) -> Outcome:
    """The requester withdraws their request."""
    now = now or _now()
    req = _locked(session, request_id)
    if req is None:
        return Outcome(False, "missing", "That request does not exist.")
    if user != req.requester:
        return Outcome(False, req.status, "Only the requester can cancel a request; approvers can reject it.")
    return _close(session, req, user, now, event="cancelled")


def _close(session: Session, req: Request, user: str, now: datetime, *, event: str) -> Outcome:
    """requested -> rejected | cancelled by *user*; the audit event is named as the new status."""
    if not _cas(session, req.id, OPEN[:1], event, decided_at=now, decided_by=user):
        return Outcome(False, req.status, f"Request #{req.id} is already {req.status}.")
    audit.record(session, event=event, actor=user, environment=req.environment, request_id=req.id,
                 data={"plan_hash": req.plan_hash})
    req.status = event
    return Outcome(True, event, f"Request #{req.id} {event}.")


def expire_due(session: Session, now: datetime | None = None) -> list[Request]:
    """Expire every open request past its time; returns them (for their messages)."""
    now = now or _now()
    due = session.execute(
        select(Request).where(Request.status == "requested", Request.expires_at <= now).with_for_update(skip_locked=True)
    ).scalars().all()
    return [r for r in due if _expire_if_due(session, r, now) and r.status == "expired"]


def reset_plan(session: Session, request_id: int, plan: Plan, reason: str) -> bool:
    """The plan changed before execution: bind the request to the new plan; earlier approvals stop counting."""
    req = _locked(session, request_id)
    if req is None or req.status not in OPEN:
        return False
    old = req.plan_hash
    if not _cas(session, req.id, OPEN, "requested", plan_hash=plan.hash, sql=plan.sql, fingerprint=plan.fingerprint,
                decided_at=None):
        return False
    audit.record(session, event="plan_changed", environment=req.environment, request_id=req.id,
                 data={"old_plan_hash": old, "plan_hash": plan.hash, "sql": plan.sql, "reason": reason})
    session.refresh(req)
    return True


def begin_execution(session: Session, request_id: int, plan_hash: str, allowed: frozenset[str], *,
                    worker: str | None = None, job_id: str | None = None, required: int = 0) -> Execution | Shortfall | None:
    """approved -> executing, only for the approved plan and only with enough distinct approvers
    (*allowed* and *required*: the stricter of the request's policy and the one configured now).

    Returns the new ``Execution``; a ``Shortfall`` when the approvals no longer suffice (the request
    goes back to waiting for approvals); ``None`` when another worker won or the plan moved.
    """
    req = _locked(session, request_id)
    if req is None or req.status != "approved" or req.plan_hash != plan_hash:
        return None
    who = counted_approvers(session, req, allowed)
    needed = max(req.approvals_required, required)
    if len(who) < needed:
        # The policy changed since: ask again, saying what is needed, instead of leaving it approved forever.
        lost = tuple(u for u in dict.fromkeys(approvers_of(session, req.id, req.plan_hash))
                     if u not in who and u != req.requester)
        short = Shortfall(who, needed, lost)
        session.execute(update(Request).where(Request.id == req.id).values(approvals_required=needed))
        refuse_execution(session, req.id, short.say(), data={"counted": list(who), "required": needed,
                                                             "no_longer_count": list(lost)})
        return short
    if not _cas(session, req.id, ("approved",), "executing"):
        return None
    ex = Execution(request_id=req.id, plan_hash=plan_hash, worker=worker, job_id=job_id, statements=[])
    session.add(ex)
    session.flush()
    audit.record(session, event="execution_started", actor=worker, environment=req.environment, request_id=req.id,
                 data={"plan_hash": plan_hash, "approvers": list(who), "sql": req.sql})
    return ex


def refuse_execution(session: Session, request_id: int, reason: str, *, note: str | None = None,
                     data: dict | None = None) -> bool:
    """approved -> requested without running: the plan could not be verified, or its approvals no
    longer suffice. Approvals of the same plan still count, so the next Approve click retries."""
    req = session.get(Request, request_id)
    if req is None or not _cas(session, request_id, ("approved",), "requested", note=note or reason):
        return False
    audit.record(session, event="execution_refused", environment=req.environment, request_id=request_id,
                 data={"reason": reason, **(data or {})})
    return True


def finish_execution(session: Session, request_id: int, *, ok: bool, statements: Iterable[str], message: str,
                     duration_ms: float | None, outcome: str | None = None) -> bool:
    """executing -> succeeded | failed, with what ran, in one transaction with its audit event."""
    status = "succeeded" if ok else "failed"
    if not _cas(session, request_id, ("executing",), status, decided_at=_now()):
        return False
    ran = list(statements)
    session.execute(
        update(Execution).where(Execution.request_id == request_id)
        .values(outcome=outcome or status, statements=ran, message=message, duration_ms=duration_ms, finished_at=func.now())
    )
    req = session.get(Request, request_id)
    session.refresh(req)
    audit.record(session, event="execution_finished", environment=req.environment, request_id=request_id,
                 data={"outcome": outcome or status, "statements": ran, "message": message, "duration_ms": duration_ms})
    return True


def correct_interrupted(session: Session, request_id: int, *, ok: bool, statements: Iterable[str], message: str,
                        duration_ms: float | None) -> bool:
    """A writer that was declared interrupted finished after all: its outcome replaces "interrupted",
    with an audit event that says it corrects it. False when the execution was not closed as interrupted."""
    fixed = session.execute(
        update(Execution).where(Execution.request_id == request_id, Execution.outcome == "interrupted")
        .values(outcome="succeeded" if ok else "failed", statements=list(statements), message=message,
                duration_ms=duration_ms, finished_at=func.now()).returning(Execution.id)
    ).first()
    if fixed is None:
        return False
    if ok:
        _cas(session, request_id, ("failed",), "succeeded", decided_at=_now())
    req = session.get(Request, request_id)
    session.refresh(req)
    audit.record(session, event="execution_finished", environment=req.environment, request_id=request_id,
                 data={"outcome": "succeeded" if ok else "failed", "corrects": "interrupted",
                       "statements": list(statements), "message": message, "duration_ms": duration_ms})
    return True


def approvers_of(session: Session, request_id: int, plan_hash: str) -> list[str]:
    return list(session.execute(
        select(Approval.approver).where(Approval.request_id == request_id, Approval.plan_hash == plan_hash)
        .order_by(Approval.at, Approval.id)
    ).scalars())
