"""What the Slack listeners hand their work to: authorise, record, enqueue, and say what happened.

Each function returns the short text for the person who acted. None touches a
target database: they read and write driftbot's state and the queue only, with
short timeouts, so Slack gets its answer within 3 seconds even when Redis or
the state database is down.
"""

from __future__ import annotations

import json
import logging

from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError

from bot import approvals, audit
from bot import queue as q
from bot.commands import HELP, Command, Usage, parse
from bot.engine import writers
from bot.errors import DriftbotError
from bot.runtime import Runtime
from bot.state.models import Check, Request

log = logging.getLogger(__name__)

QUEUE_DOWN = ("the job queue (Redis) is unreachable. Nothing was queued; try again in a minute, "
              "and tell whoever runs driftbot if it persists.")
STATE_DOWN = "driftbot's state database is unreachable. Nothing was recorded; try again in a minute."


def on_command(rt: Runtime, text: str, user: str, channel: str) -> str:
    cmd = parse(text)
    if isinstance(cmd, Usage):
        return cmd.message
    try:
        return _dispatch(rt, cmd, user, channel)
    except DriftbotError as exc:
        return str(exc)
    except RedisError:
        return f"Cannot do that now: {QUEUE_DOWN}"
    except SQLAlchemyError:
        log.exception("state database error")
        return f"Cannot do that now: {STATE_DOWN}"
    except Exception:  # the asker gets one line, the log gets the details
        log.exception("command failed")
        return "Something went wrong on driftbot's side; nothing was changed. The details are in its logs."


def _dispatch(rt: Runtime, cmd: Command, user: str, channel: str) -> str:
    settings = rt.settings
    if cmd.name == "help":
        return HELP
    if cmd.name == "envs":
        if not settings.environments:
            return "No environments are configured."
        return "\n".join(
            f"• *{n}* · {'protected' if e.protected else 'unprotected'} · {rt.approvals_required(e)} approvals"
            for n, e in sorted(settings.environments.items()))
    if cmd.name == "requests":
        return open_requests(rt)
    if cmd.name in ("audit", "digest"):  # served by bot/audit_slack.py (issue #5)
        from bot.audit_slack import audit_command, digest_command

        if cmd.name == "digest":
            return digest_command(rt, user=user, channel=channel)
        return audit_command(rt, environment=cmd.environment, days=int(cmd.args.get("days", 0)) or None,
                             user=user, channel=channel)
    env = settings.environment(cmd.environment or "")
    if cmd.name in ("status", "diff"):
        return request_check(rt, env.name, user, channel)
    kind = cmd.args["kind"]
    if kind == "add_enum_value":
        writers.check_identifier(cmd.args["enum"], "enum")
        writers.check_enum_value(cmd.args["value"])
        args = {"enum": cmd.args["enum"], "value": cmd.args["value"]}
    else:
        args = {"migration": writers.check_migration_name(cmd.args["migration"])}
    q.enqueue_propose(rt, environment=env.name, kind=kind, args=args, requester=user, channel=channel)
    return f"Preparing the request on *{env.name}*… it will be posted in this channel for approval."


def request_check(rt: Runtime, environment: str, user: str, channel: str) -> str:
    """Queue a check, or join the one already queued or running for this environment."""
    for _ in range(5):  # the active check may finish between our insert and our look at it: try again
        answer = _check_or_join(rt, environment, user, channel)
        if answer:
            return answer
    return f"A check of *{environment}* just finished; its result is being posted. Ask again for a new one."


def _check_or_join(rt: Runtime, environment: str, user: str, channel: str) -> str | None:
    with rt.sessions.begin() as s:
        new_id = s.execute(
            insert(Check).values(environment=environment, status="queued", requested_by=user, channel=channel, watchers=[])
            # The index predicate as literal SQL: PostgreSQL cannot match a partial index against bound
            # parameters once psycopg prepares the statement (after 5 runs).
            .on_conflict_do_nothing(index_elements=["environment"], index_where=text("status IN ('queued', 'running')"))
            .returning(Check.id)
        ).scalar()
        if new_id is None:
            active = s.execute(select(Check).where(Check.environment == environment,
                                                   Check.status.in_(("queued", "running"))).with_for_update()).scalar()
            if active is None:
                return None
            if channel != active.channel and all(w.get("channel") != channel for w in active.watchers):
                active.watchers = [*active.watchers, {"user": user, "channel": channel}]
            audit.record(s, event="check_requested", actor=user, environment=environment,
                         data={"check_id": active.id, "joined": True})
            return (f"A check of *{environment}* is already running (asked by <@{active.requested_by}>); "
                    "its result will be posted in this channel too.")
        audit.record(s, event="check_requested", actor=user, environment=environment, data={"check_id": new_id})
        s.execute(Check.__table__.update().where(Check.id == new_id).values(job_id=q.job_id(rt, "check", new_id)))
        # Enqueued inside the transaction: if Redis refuses, the check row is rolled back with it.
        q.enqueue_check(rt, new_id)
    return f"Checking *{environment}*… results will be posted in this channel."


def open_requests(rt: Runtime) -> str:
    with rt.sessions() as s:
        rows = s.execute(select(Request).where(Request.status.in_(approvals.OPEN + ("executing",)))
                         .order_by(Request.id)).scalars().all()
    if not rows:
        return "No open requests."
    return "\n".join(
        f"• Request #{r.id} on *{r.environment}*: `{r.kind}` "
        + " ".join(f"{k}=`{v}`" for k, v in sorted(r.args.items()))
        + f" by <@{r.requester}> · {r.status} · expires <!date^{int(r.expires_at.timestamp())}^{{date_short_pretty}} {{time}}|soon>"
        for r in rows)


def on_propose(rt: Runtime, value: str, user: str, channel: str, message_ts: str | None) -> str:
    """A fix button under a check result: the request is built on the worker from the stored check."""
    try:
        ref = json.loads(value)
        check_id, index = int(ref["check"]), int(ref["finding"])
    except (ValueError, KeyError, TypeError):
        return "That button is not valid any more; run `/drift status` again."
    try:
        with rt.sessions() as s:
            check = s.get(Check, check_id)
        if check is None or not check.result:
            return "That check result is gone; run `/drift status` again."
        findings = check.result.get("findings", [])
        if not 0 <= index < len(findings):
            return "That fix is not in the check result any more; run `/drift status` again."
        action = dict(findings[index]["action"])
        kind = action.pop("kind")
        args = {k: v for k, v in action.items() if k in ("migration", "enum", "value")}
        q.enqueue_propose(rt, environment=check.environment, kind=kind, args=args, requester=user, channel=channel,
                          thread_ts=message_ts, check_id=check_id)
    except RedisError:
        return f"Cannot create the request: {QUEUE_DOWN}"
    except SQLAlchemyError:
        return f"Cannot create the request: {STATE_DOWN}"
    return "Preparing the request in the thread…"


def on_decision(rt: Runtime, action: str, value: str, user: str) -> str | None:
    """Approve / Reject / Cancel on a request message. Returns a note for the clicker, or None."""
    from bot.jobs import refresh_request_message

    try:
        request_id = int(value)
    except ValueError:
        return "That button is not valid."
    try:
        with rt.sessions() as s:
            req = s.get(Request, request_id)
            if req is None:
                return "That request does not exist."
            env = rt.settings.environment(req.environment)
        allowed = rt.approvers(env)
        with rt.sessions.begin() as s:
            if action == "approve":
                outcome = approvals.approve(s, request_id, user, allowed)
            elif action == "reject":
                outcome = approvals.reject(s, request_id, user, allowed)
            else:
                outcome = approvals.cancel(s, request_id, user)
    except SQLAlchemyError:
        log.exception("state database error")
        return f"Your click was not recorded: {STATE_DOWN}"
    except SlackApiError as exc:  # the approver group could not be read: refuse rather than guess
        return f"Your click was not recorded: Slack did not list the approver group ({exc.response.get('error')}). Try again."
    note: str | None = outcome.message
    if outcome.ready:
        try:
            q.enqueue_execute(rt, request_id)
        except RedisError:
            note = ("Approved, but the job queue (Redis) is unreachable; the change will be queued as soon as it is back.")
    try:
        refresh_request_message(rt, request_id)
    except Exception:  # the decision is recorded; a stale message is fixed by the next update
        log.warning("could not update request message %s", request_id)
    return note
