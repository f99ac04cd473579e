"""Executing an approved request, at most once: the plan is recomputed from a fresh check and
refused when anything changed; the writers run on the admin URL; every transition goes through
``bot.requests.machine``; the outcome is said in the request's thread."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from bot import audit, checks
from bot.engine import sources, writers
from bot.errors import DriftbotError, redact
from bot.requests import machine, reconcile, rules
from bot.requests.plans import Plan, current_plan, what_changed
from bot.runtime import Runtime
from bot.settings import EnvironmentSettings
from bot.slack import posting
from bot.slack.client import GroupsDeferred
from bot.slack.mrkdwn import block, checkpoint_line, escape
from bot.state.models import Check, Request
from bot.work.fence import held
from bot.work.queues import heartbeat

# (runtime, environment, kind, args, what the approved plan's check saw) -> (plan, what this check saw)
Planner = Callable[[Runtime, str, str, dict, "dict | None"], "tuple[Plan, dict | None]"]
Writer = Callable[[Runtime, EnvironmentSettings, Plan], writers.WriteResult]


def recompute(rt: Runtime, environment: str, kind: str, args: dict, before: dict | None) -> tuple[Plan, dict | None]:
    """The default planner: the plan from a fresh check (read-only URL)."""
    return current_plan(rt.settings, environment, kind, args, before)


def run_writer(rt: Runtime, env: EnvironmentSettings, plan: Plan) -> writers.WriteResult:
    """The one call that changes a target database: the admin URL, the engine's writers."""
    if not env.admin_url:
        raise DriftbotError(f"Environment {env.name} has no admin_url; approved changes use the admin role only.")
    s = rt.settings
    limits = writers.Limits(s.write_lock_timeout_ms, s.write_statement_timeout_ms, s.connect_timeout_s)
    a = plan.arguments
    if plan.kind == "resolve_applied":
        migrations = sources.load(env, Path(s.cache_dir), fetch=False)
        return writers.resolve_applied(env.admin_url, migrations, a["migration"], limits)
    if plan.kind == "resolve_rolled_back":
        return writers.resolve_rolled_back(env.admin_url, a["migration"], limits)
    return writers.add_enum_value(env.admin_url, a["enum"], a["value"], limits, before=a.get("before"))


def execute_request(rt: Runtime, request_id: int, *, planner: Planner | None = None, writer: Writer | None = None,
                    worker: str | None = None, notify_slack: bool = True) -> str:
    """Run one approved request, at most once. Returns what happened (for logs and tests)."""
    planner = planner or recompute
    writer = writer or run_writer
    say = (lambda req, text: posting.in_thread(rt, req, text)) if notify_slack else (lambda req, text: None)
    refresh = (lambda: posting.refresh_request_message(rt, request_id)) if notify_slack else (lambda: None)
    with rt.sessions() as s:
        req = s.get(Request, request_id)
        before = s.get(Check, req.check_id).result if req is not None and req.check_id else None
    if req is None or req.status != "approved":
        return req.status if req else "missing"
    env = rt.settings.environment(req.environment)
    # The fence, not the heartbeat, tells the sweeper this writer is alive (bot.work.fence).
    with heartbeat(rt, "execute", request_id), held(rt, request_id):
        try:
            plan, seen = planner(rt, req.environment, req.kind, dict(req.args), before)
        except DriftbotError as exc:
            with rt.sessions.begin() as s:
                # Approvals of this plan still count; the next Approve click retries.
                machine.refuse_execution(s, request_id, str(exc), note=f"not run: {exc}")
            say(req, f"Request #{request_id} did not run: the plan could not be verified ({escape(exc)}). Nothing was changed. "
                     "Any approver can click Approve again to retry.")
            refresh()
            return "unverified"
        if plan.hash != req.plan_hash:
            why = "the SQL changed" if plan.sql != req.sql else what_changed(before, seen)
            with rt.sessions.begin() as s:
                changed = machine.reset_plan(s, request_id, plan, why)
                if changed and seen is not None:  # the new plan's check is the next comparison's baseline
                    check = checks.keep(s, req.environment, seen, plan.fingerprint)
                    s.execute(update(Request).where(Request.id == request_id).values(check_id=check.id))
            if changed:
                say(req, f"Plan changed since approval ({escape(why)}): approvals reset. Nothing was run; "
                         f"request #{request_id} needs {req.approvals_required} new approvals of the new plan `{plan.hash[:8]}…`.")
                refresh()
            return "plan_changed"
        # The stricter of the request's policy and the one configured now (a restart may have raised it).
        try:
            allowed = rt.request_approvers(env, req.approvers)
        except GroupsDeferred:  # Slack said wait: still approved, so the sweeper queues it again; never slept on
            return "deferred"
        try:
            with rt.sessions.begin() as s:
                started = machine.begin_execution(s, request_id, plan.hash, allowed, worker=worker or rt.name,
                                                  required=rules.approvals_required(env))
        except SQLAlchemyError as exc:
            say(req, f"Request #{request_id} was not executed: the audit trail could not be written "
                     f"({escape(redact(str(exc).splitlines()[0])[:200])}). Nothing ran.")
            return "audit_failed"
        if isinstance(started, machine.Shortfall):
            say(req, f":warning: Request #{request_id} did not run: {started.say()}. Nothing was changed.")
            refresh()
            return "refused"
        if started is None:
            refresh()
            return "skipped"
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
    verdict = ":white_check_mark: Done" if ok else ":x: Failed"
    if corrected:  # declared interrupted while it ran (its fence lost with its session): the truth, said
        verdict = f"Correction: the note that it was interrupted was wrong. {verdict}"
    ran = "\n".join(statements)
    say(req, f"{verdict}: request #{request_id} on *{escape(req.environment)}*. {escape(message)}"
             + (f"\n{block(ran)}" if ran else "") + f"\n{checkpoint_line(mark)}")
    refresh()
    return "succeeded" if ok else "failed"


def mark_interrupted(rt: Runtime, request_id: int) -> bool:
    """An execution whose outcome was never recorded (its worker died, or the state database went away):
    reconciled from the target. Recorded as ran when the change is there; else closed as interrupted,
    never re-run automatically."""
    with rt.sessions() as s:
        req = s.get(Request, request_id)
    if req is None:
        return False
    env = rt.settings.environment(req.environment)
    if reconcile.took_effect(env, req.kind, dict(req.args), rt.settings.connect_timeout_s):
        msg = ("The change is in the database: it committed, but its outcome was not recorded at the time "
               "(reconciled from the target).")
        with rt.sessions.begin() as s:
            if not machine.finish_execution(s, request_id, ok=True, statements=[req.sql], message=msg,
                                            duration_ms=None, outcome="succeeded"):
                return False
            mark = audit.checkpoint(s)
        posting.in_thread(rt, req, f":white_check_mark: Correction: request #{request_id} on *{escape(req.environment)}* "
                                   f"ran after all.\n{block(req.sql)}\n{msg}\n{checkpoint_line(mark)}")
        posting.refresh_request_message(rt, request_id)
        return True
    msg = ("The worker stopped during the execution. The change runs in one transaction, so PostgreSQL either "
           "committed all of it or none; run `/drift status` to see which. It will not be run again automatically.")
    with rt.sessions.begin() as s:
        if not machine.finish_execution(s, request_id, ok=False, statements=[], message=msg, duration_ms=None,
                                        outcome="interrupted"):
            return False
        mark = audit.checkpoint(s)
        req = s.get(Request, request_id)
    posting.in_thread(rt, req, f":warning: Request #{request_id}: {msg}\n{checkpoint_line(mark)}")
    posting.refresh_request_message(rt, request_id)
    return True
