"""RQ job functions. Each takes identifiers, re-reads state, and is safe to run twice.

``check_job`` runs the drift check and posts it; ``propose_job`` turns a fix
into a request message; ``execute_job`` runs an approved request exactly once,
after recomputing its plan and refusing when anything changed.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from bot import approvals, audit, trends
from bot import queue as q
from bot.engine import sources, writers
from bot.engine.check import run_check
from bot.engine.result import CheckResult
from bot.errors import DatabaseUnreachable, DriftbotError, redact
from bot.plans import Plan, make_plan
from bot.runtime import Runtime, current
from bot.settings import EnvironmentSettings
from bot.slack import notify, views
from bot.state.models import AuditEvent, Check, Execution, Request

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _worker_name(rt: Runtime) -> str:
    from rq import get_current_job

    job = get_current_job()
    return getattr(job, "worker_name", None) or rt.name


# --- checks ---------------------------------------------------------------------------------------

def check_job(check_id: int) -> str:
    rt = current()
    for attempt in range(50):
        # The web process enqueues inside the transaction that records the check (so a refused
        # enqueue leaves no check behind); a fast worker may look before that transaction commits.
        with rt.sessions.begin() as s:
            check = s.get(Check, check_id, with_for_update=True)
            if check is not None:
                break
        time.sleep(0.1)
    with rt.sessions.begin() as s:
        check = s.get(Check, check_id, with_for_update=True)
        if check is None or check.status != "queued":
            return check.status if check else "missing"
        check.status, check.started_at, check.worker = "running", _now(), _worker_name(rt)
        env_name = check.environment
    env = rt.settings.environment(env_name)
    with q.heartbeat(rt, "check", check_id):
        result = run_check(rt.settings, env)
    with rt.sessions.begin() as s:
        moved = s.execute(
            update(Check).where(Check.id == check_id, Check.status == "running")
            .values(status="finished", state=result.state, fingerprint=result.fingerprint,
                    result=result.to_json(), error=result.error, finished_at=_now()).returning(Check.id)
        ).first()
        if moved is None:
            return "superseded"
        audit.record(s, event="check_finished", environment=env_name,
                     data={"check_id": check_id, "state": result.state, "fingerprint": result.fingerprint,
                           "error": result.error})
        check = s.get(Check, check_id)
        since = trends.drifted_since(s, env_name)
    post_check(rt, check, result, since)
    return result.state


def post_check(rt: Runtime, check: Check, result: CheckResult, since: datetime | None = None) -> None:
    """The result in every channel that asked; findings and the SQL snippet in its thread.
    *since*: when the environment's current out-of-sync spell began (shown in the headline)."""
    channels = [check.channel] + [w.get("channel") for w in check.watchers or []]
    first_ts = None
    for channel in dict.fromkeys(c for c in channels if c):
        text, blocks, notes = views.check_message(result, check.id, check.requested_by, since)
        ts = notify.post(rt.slack, channel, text, blocks)
        first_ts = first_ts or ts
        lines = views.finding_lines(result)
        if lines:
            notify.post(rt.slack, channel, lines, thread_ts=ts)
        if "summary" in notes:
            notify.snippet(rt.slack, channel, ts, f"drift-{result.environment}-summary.txt",
                           "\n".join(result.schema.summary) + "\n", f"Drift summary for {result.environment}")
        if "buttons" in notes:
            notify.post(rt.slack, channel, "More fixes than buttons: use `/drift resolve` or `/drift enum` for the rest.",
                        thread_ts=ts)
        if result.schema.sql:
            notify.snippet(rt.slack, channel, ts, f"drift-{result.environment}-catch-up.sql", result.schema.sql,
                           f"Catch-up SQL for {result.environment}",
                           comment="Catch-up migration: commit it as a new migration, then resolve it --applied.")
    with rt.sessions.begin() as s:
        s.execute(update(Check).where(Check.id == check.id).values(message_ts=first_ts))


def mark_check_lost(rt: Runtime, check_id: int) -> bool:
    with rt.sessions.begin() as s:
        row = s.execute(
            update(Check).where(Check.id == check_id, Check.status.in_(("queued", "running")))
            .values(status="lost", finished_at=_now(), error="the worker running it stopped")
            .returning(Check.environment, Check.channel, Check.worker)
        ).first()
        if row is None:
            return False
        audit.record(s, event="check_finished", environment=row.environment,
                     data={"check_id": check_id, "state": "lost", "worker": row.worker})
    if row.channel:
        notify.post(rt.slack, row.channel,
                    f":warning: The check of *{row.environment}* was interrupted: its worker stopped before it finished. "
                    f"Nothing was changed. Run `/drift status {row.environment}` again.")
    return True


# --- requests -------------------------------------------------------------------------------------

def _checksum(rt: Runtime, env: EnvironmentSettings, kind: str, args: dict[str, Any]) -> str | None:
    if kind != "resolve_applied":
        return None
    migrations = sources.load(env, Path(rt.settings.cache_dir), fetch=False)
    local = migrations.by_name().get(args.get("migration", ""))
    return local.checksum if local else None


def fresh_check(rt: Runtime, environment: str, before: dict[str, Any] | None = None) -> CheckResult:
    """A new check of *environment* that can verify a plan: refused when it could not see what *before* saw."""
    result = run_check(rt.settings, rt.settings.environment(environment))
    if result.state == "error":
        raise DatabaseUnreachable(f"Could not check {environment}: {result.error}")
    if before and before.get("schema", {}).get("checked") and not result.schema.checked:
        raise DriftbotError(f"schema drift could not be checked now ({result.schema.reason})")
    return result


def current_plan(rt: Runtime, environment: str, kind: str, args: dict[str, Any],
                 before: dict[str, Any] | None = None) -> tuple[Plan, dict[str, Any]]:
    """Recompute the plan from a fresh check of the environment (read-only URL)."""
    result = fresh_check(rt, environment, before)
    env = rt.settings.environment(environment)
    return make_plan(environment, kind, args, result.fingerprint, _checksum(rt, env, kind, args)), result.to_json()


def what_changed(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """Which parts of the check differ, in words, for the thread."""
    if not before or not after:
        return "the database or the migrations changed since it was computed"
    parts = {"history": "the migration history", "schema": "the schema", "findings": "the findings",
             "state": "the state", "source": "the migrations source"}
    changed = [words for key, words in parts.items() if before.get(key) != after.get(key)]
    return (", ".join(changed) or "the check result") + " changed since it was computed"


def propose_job(*, environment: str, kind: str, args: dict[str, Any], requester: str, channel: str,
                thread_ts: str | None = None, check_id: int | None = None) -> int | None:
    rt = current()
    env = rt.settings.environment(environment)
    try:
        if check_id is not None:
            with rt.sessions() as s:
                check = s.get(Check, check_id)
                fingerprint = check.fingerprint if check else None
            if not fingerprint:
                raise DriftbotError("That check result is gone; run `/drift status` again.")
            plan = make_plan(environment, kind, args, fingerprint, _checksum(rt, env, kind, args))
        else:
            plan, seen = current_plan(rt, environment, kind, args)
            with rt.sessions.begin() as s:  # kept so a later plan change can say what changed
                check = Check(environment=environment, status="finished", requested_by=requester, channel=channel,
                              watchers=[], state=seen["state"], fingerprint=plan.fingerprint, result=seen,
                              started_at=_now(), finished_at=_now())
                s.add(check)
                s.flush()
                check_id = check.id
        with rt.sessions.begin() as s:
            existing = approvals.open_request_for(s, plan.hash)
            if existing is None:
                req = approvals.create_request(s, plan, requester=requester, approvals_required=rt.approvals_required(env),
                                               ttl_hours=rt.settings.request_ttl_hours, channel=channel,
                                               thread_ts=thread_ts, check_id=check_id)
                rid = req.id
        if existing is not None:  # a double click, or Slack delivering the same click twice
            notify.ephemeral(rt.slack, channel, requester,
                             f"Request #{existing.id} for this exact change is already open ({existing.status}).")
            return existing.id
    except DriftbotError as exc:
        notify.ephemeral(rt.slack, channel, requester, f"No request was created: {exc}")
        return None
    text, blocks = views.request_message(req, [], groups=rt.settings.approvers_for(env))
    ts = notify.post(rt.slack, channel, text, blocks, thread_ts=thread_ts)
    with rt.sessions.begin() as s:
        s.execute(update(Request).where(Request.id == rid).values(message_ts=ts, thread_ts=thread_ts or ts))
    if len(plan.sql) > views.SECTION_LIMIT - 200:
        notify.snippet(rt.slack, channel, thread_ts or ts, f"request-{rid}.sql", plan.sql, f"Request #{rid}")
    return rid


def propose_failed(job, connection, exc_type, exc_value, tb) -> None:
    """RQ's failure callback for a propose job (an error, or its worker died): the requester is told."""
    kw = job.kwargs or {}
    try:
        rt = current()
        notify.ephemeral(rt.slack, kw.get("channel"), kw.get("requester"),
                         f"Your request on {kw.get('environment')} could not be prepared "
                         f"({'its worker stopped' if exc_type and exc_type.__name__ == 'AbandonedJobError' else 'an error on driftbot’s side'}). "
                         "Nothing was created; try again.")
    except Exception:  # reporting must never raise inside RQ's failure handling
        log.warning("could not report failed propose job %s", job.id)


def refresh_request_message(rt: Runtime, request_id: int) -> None:
    """Re-render the request message from the database (buttons, who approved, what ran)."""
    with rt.sessions() as s:
        req = s.get(Request, request_id)
        if req is None or not req.message_ts or not req.channel:
            return
        env = rt.settings.environment(req.environment)
        who = approvals.approvers_of(s, req.id, req.plan_hash)
        who = [u for u in who if u != req.requester]
        ex = s.execute(select(Execution).where(Execution.request_id == req.id)).scalar_one_or_none()
        audit_id = s.execute(select(AuditEvent.id).where(AuditEvent.request_id == req.id)
                             .order_by(AuditEvent.id.desc()).limit(1)).scalar()
    text, blocks = views.request_message(req, who, ex, groups=rt.settings.approvers_for(env), audit_id=audit_id)
    notify.update(rt.slack, req.channel, req.message_ts, text, blocks)


def _thread(rt: Runtime, req: Request, text: str) -> None:
    if req.channel:
        notify.post(rt.slack, req.channel, text, thread_ts=req.thread_ts or req.message_ts)


# --- execution ------------------------------------------------------------------------------------

# (runtime, environment, kind, args, what the approved plan's check saw) -> (plan, what this check saw)
Planner = Callable[[Runtime, str, str, dict, "dict | None"], "tuple[Plan, dict | None]"]
Writer = Callable[[Runtime, EnvironmentSettings, Plan], writers.WriteResult]


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
    return writers.add_enum_value(env.admin_url, a["enum"], a["value"], limits)


def execute_job(request_id: int) -> str:
    rt = current()
    return execute_request(rt, request_id, worker=_worker_name(rt))


def execute_request(rt: Runtime, request_id: int, *, planner: Planner | None = None, writer: Writer | None = None,
                    worker: str | None = None, notify_slack: bool = True) -> str:
    """Run one approved request, at most once. Returns what happened (for logs and tests)."""
    planner = planner or current_plan
    writer = writer or run_writer
    say = (lambda req, text: _thread(rt, req, text)) if notify_slack else (lambda req, text: None)
    refresh = (lambda: refresh_request_message(rt, request_id)) if notify_slack else (lambda: None)
    with rt.sessions() as s:
        req = s.get(Request, request_id)
        before = s.get(Check, req.check_id).result if req is not None and req.check_id else None
    if req is None or req.status != "approved":
        return req.status if req else "missing"
    env = rt.settings.environment(req.environment)
    with q.heartbeat(rt, "execute", request_id):
        try:
            plan, seen = planner(rt, req.environment, req.kind, dict(req.args), before)
        except DriftbotError as exc:
            with rt.sessions.begin() as s:
                # Approvals of this plan still count; the next Approve click retries.
                approvals._cas(s, request_id, ("approved",), "requested", note=f"not run: {exc}")
                audit.record(s, event="execution_refused", environment=req.environment, request_id=request_id,
                             data={"reason": str(exc)})
            say(req, f"Request #{request_id} did not run: the plan could not be verified ({exc}). Nothing was changed. "
                     "Any approver can click Approve again to retry.")
            refresh()
            return "unverified"
        if plan.hash != req.plan_hash:
            why = "the SQL changed" if plan.sql != req.sql else what_changed(before, seen)
            with rt.sessions.begin() as s:
                changed = approvals.reset_plan(s, request_id, plan, why)
                if changed and seen is not None:  # the new plan's check is the next comparison's baseline
                    check = Check(environment=req.environment, status="finished", watchers=[], state=seen.get("state"),
                                  fingerprint=plan.fingerprint, result=seen, started_at=_now(), finished_at=_now())
                    s.add(check)
                    s.flush()
                    s.execute(update(Request).where(Request.id == request_id).values(check_id=check.id))
            if changed:
                say(req, f"Plan changed since approval ({why}): approvals reset. Nothing was run; "
                         f"request #{request_id} needs {req.approvals_required} new approvals of the new plan `{plan.hash[:8]}…`.")
                refresh()
            return "plan_changed"
        allowed = rt.approvers(env)
        try:
            with rt.sessions.begin() as s:
                started = approvals.begin_execution(s, request_id, plan.hash, allowed, worker=worker or rt.name)
                if started is None and s.get(Request, request_id).status == "approved":
                    # The approvals no longer suffice (approver list changed): ask again instead of waiting forever.
                    approvals._cas(s, request_id, ("approved",), "requested", note="approvals no longer suffice")
                    audit.record(s, event="execution_refused", environment=req.environment, request_id=request_id,
                                 data={"reason": "approvals no longer suffice"})
        except SQLAlchemyError as exc:
            say(req, f"Request #{request_id} was not executed: the audit trail could not be written "
                     f"({redact(str(exc).splitlines()[0])[:200]}). Nothing ran.")
            return "audit_failed"
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
            approvals.finish_execution(s, request_id, ok=ok, statements=statements, message=message, duration_ms=took)
    verdict = ":white_check_mark: Done" if ok else ":x: Failed"
    ran = "\n".join(statements)
    say(req, f"{verdict}: request #{request_id} on *{req.environment}*. {message}" + (f"\n```\n{ran}\n```" if ran else ""))
    refresh()
    return "succeeded" if ok else "failed"


def mark_interrupted(rt: Runtime, request_id: int) -> bool:
    """An execution whose worker died: closed as failed, never re-run automatically."""
    msg = ("The worker stopped during the execution. The change runs in one transaction, so PostgreSQL either "
           "committed all of it or none; run `/drift status` to see which. It will not be run again automatically.")
    with rt.sessions.begin() as s:
        if not approvals.finish_execution(s, request_id, ok=False, statements=[], message=msg, duration_ms=None,
                                          outcome="interrupted"):
            return False
        req = s.get(Request, request_id)
    _thread(rt, req, f":warning: Request #{request_id}: {msg}")
    refresh_request_message(rt, request_id)
    return True
