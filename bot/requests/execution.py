"""Executing an approved request, at most once: the plan is recomputed from a fresh check and
refused when anything changed; the writers run on the admin URL; every transition goes through
``driftbot.requests.machine``. Returns what happened (``Ran``); the worker's job (``driftbot.work.execute``)
keeps its heartbeat and fence and says the outcome in the request's thread."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from driftbot import audit, checks
from driftbot.engine import actions, sources, writers
from driftbot.errors import DriftbotError, GroupsDeferred, redact
from driftbot.requests import machine, reconcile, rules
from driftbot.requests.plans import Plan, current_plan, what_changed
from driftbot.runtime import Runtime
from driftbot.settings import EnvironmentSettings
from driftbot.state.models import Check, Request

# (runtime, environment, kind, args, what the approved plan's check saw) -> (plan, what this check saw)
Planner = Callable[[Runtime, str, str, dict, "dict | None"], "tuple[Plan, dict | None]"]
Writer = Callable[[Runtime, EnvironmentSettings, Plan], writers.WriteResult]


@dataclass(frozen=True)
class Ran:
    """What one execution attempt came to. *status*: ``succeeded``, ``failed``, ``unverified``,
    ``plan_changed``, ``audit_failed``, ``refused``, ``skipped``, ``deferred``, ``missing`` or the
    request's status when it was not approved; ``interrupted`` / ``reconciled`` from ``interrupted``.
    *say*: whether the request's thread hears of it; *refresh*: whether its message is re-rendered."""

    status: str
    request: Request | None = None
    say: bool = False
    refresh: bool = False
    reason: str = ""  # why it did not run, or the writer's message
    statements: tuple[str, ...] = ()
    plan_hash: str | None = None
    mark: str | None = None  # the audit checkpoint N:HASH of the outcome's event
    corrected: bool = False  # it had been declared interrupted while it ran (its fence lost with its session)


def recompute(rt: Runtime, environment: str, kind: str, args: dict, before: dict | None) -> tuple[Plan, dict | None]:
    """The default planner: the plan from a fresh check (read-only URL)."""
    return current_plan(rt.settings, environment, kind, args, before)


def run_writer(rt: Runtime, env: EnvironmentSettings, plan: Plan) -> writers.WriteResult:
    """The one call that changes a target database: the admin URL, the engine's writers."""
    if not env.admin_url:
        raise DriftbotError(f"Environment {env.name} has no admin_url; approved changes use the admin role only.")
    s = rt.settings
    limits = writers.Limits(s.write_lock_timeout_ms, s.write_statement_timeout_ms, s.connect_timeout_s)
    return actions.get(plan.kind).write(env.admin_url, plan.arguments, limits,
                                        lambda: sources.load(env, Path(s.cache_dir), fetch=False))


def load(rt: Runtime, request_id: int) -> tuple[Request | None, dict | None]:
    """The request and what the check its plan came from saw."""
    with rt.sessions() as s:
        req = s.get(Request, request_id)
        before = s.get(Check, req.check_id).result if req is not None and req.check_id else None
    return req, before


def execute(rt: Runtime, request_id: int, *, planner: Planner | None = None, writer: Writer | None = None,
            worker: str | None = None) -> Ran:
    """Run one approved request, at most once."""
    planner = planner or recompute
    writer = writer or run_writer
    req, before = load(rt, request_id)
    if req is None or req.status != "approved":
        return Ran(req.status if req else "missing", req)
    env = rt.settings.environment(req.environment)
    try:
        plan, seen = planner(rt, req.environment, req.kind, dict(req.args), before)
    except DriftbotError as exc:
        with rt.sessions.begin() as s:
            # Approvals of this plan still count; the next Approve click retries.
            machine.refuse_execution(s, request_id, str(exc), note=f"not run: {exc}")
        return Ran("unverified", req, say=True, refresh=True, reason=str(exc))
    if plan.hash != req.plan_hash:
        why = "the SQL changed" if plan.sql != req.sql else what_changed(before, seen)
        with rt.sessions.begin() as s:
            changed = machine.reset_plan(s, request_id, plan, why)
            if changed and seen is not None:  # the new plan's check is the next comparison's baseline
                check = checks.keep(s, req.environment, seen, plan.fingerprint)
                s.execute(update(Request).where(Request.id == request_id).values(check_id=check.id))
        return Ran("plan_changed", req, say=changed, refresh=changed, reason=why, plan_hash=plan.hash)
    # The stricter of the request's policy and the one configured now (a restart may have raised it).
    try:
        allowed = rt.request_approvers(env, req.approvers)
    except GroupsDeferred:  # Slack said wait: still approved, so the sweeper queues it again; never slept on
        return Ran("deferred", req)
    try:
        with rt.sessions.begin() as s:
            started = machine.begin_execution(s, request_id, plan.hash, allowed, worker=worker or rt.name,
                                              required=rules.approvals_required(env))
    except SQLAlchemyError as exc:
        return Ran("audit_failed", req, say=True, reason=redact(str(exc).splitlines()[0])[:200])
    if isinstance(started, machine.Shortfall):
        return Ran("refused", req, say=True, refresh=True, reason=started.say())
    if started is None:
        return Ran("skipped", req, refresh=True)
    t0 = time.perf_counter()
    try:
        done = writer(rt, env, plan)
        ok, statements, message = True, list(done.statements), done.message
    except DriftbotError as exc:
        ok, statements, message = False, [], str(exc)
    took = (time.perf_counter() - t0) * 1000
    with rt.sessions.begin() as s:
        recorded = machine.finish_execution(s, request_id, ok=ok, statements=statements, message=message,
                                            duration_ms=took)
        corrected = not recorded and machine.correct_interrupted(s, request_id, ok=ok, statements=statements,
                                                                 message=message, duration_ms=took)
        mark = audit.checkpoint(s)  # under the chain's lock: the outcome's own event
    return Ran("succeeded" if ok else "failed", req, say=True, refresh=True, reason=message,
               statements=tuple(statements), mark=mark, corrected=bool(corrected))


def interrupted(rt: Runtime, request_id: int) -> Ran | None:
    """An execution whose outcome was never recorded (its worker died, or the state database went away):
    reconciled from the target. Recorded as ran (``reconciled``) when the change is there; else closed as
    ``interrupted``, never re-run automatically. None when there was nothing to record."""
    with rt.sessions() as s:
        req = s.get(Request, request_id)
    if req is None:
        return None
    env = rt.settings.environment(req.environment)
    if reconcile.took_effect(env, req.kind, dict(req.args), rt.settings.connect_timeout_s):
        msg = ("The change is in the database: it committed, but its outcome was not recorded at the time "
               "(reconciled from the target).")
        with rt.sessions.begin() as s:
            if not machine.finish_execution(s, request_id, ok=True, statements=[req.sql], message=msg,
                                            duration_ms=None, outcome="succeeded"):
                return None
            mark = audit.checkpoint(s)
        return Ran("reconciled", req, say=True, refresh=True, reason=msg, statements=(req.sql,), mark=mark)
    msg = ("The worker stopped during the execution. The change runs in one transaction, so PostgreSQL either "
           "committed all of it or none; run `/drift status` to see which. It will not be run again automatically.")
    with rt.sessions.begin() as s:
        if not machine.finish_execution(s, request_id, ok=False, statements=[], message=msg, duration_ms=None,
                                        outcome="interrupted"):
            return None
        mark = audit.checkpoint(s)
        req = s.get(Request, request_id)
    return Ran("interrupted", req, say=True, refresh=True, reason=msg, mark=mark)
