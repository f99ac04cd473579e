"""What the button listeners hand their clicks to: a proposed fix under a check result, and
Approve / Reject / Cancel on a request. Every rule is enforced server-side, in
``bot.requests.machine``; each function returns the note for the clicker.
"""

from __future__ import annotations

import json
import logging

from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.requests import machine
from bot.runtime import Runtime
from bot.slack.commands import QUEUE_DOWN, STATE_DOWN
from bot.slack.posting import refresh_request_message
from bot.state.models import Check, Request
from bot.work import queues

log = logging.getLogger(__name__)


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
        queues.enqueue_propose(rt, environment=check.environment, kind=kind, args=args, requester=user, channel=channel,
                          thread_ts=message_ts, check_id=check_id)
    except RedisError:
        return f"Cannot create the request: {QUEUE_DOWN}"
    except SQLAlchemyError:
        return f"Cannot create the request: {STATE_DOWN}"
    return "Preparing the request in the thread…"


def on_decision(rt: Runtime, action: str, value: str, user: str) -> str | None:
    """Approve / Reject / Cancel on a request message. Returns a note for the clicker, or None."""
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
                outcome = machine.approve(s, request_id, user, allowed)
            elif action == "reject":
                outcome = machine.reject(s, request_id, user, allowed)
            else:
                outcome = machine.cancel(s, request_id, user)
    except SQLAlchemyError:
        log.exception("state database error")
        return f"Your click was not recorded: {STATE_DOWN}"
    except SlackApiError as exc:  # the approver group could not be read: refuse rather than guess
        return f"Your click was not recorded: Slack did not list the approver group ({exc.response.get('error')}). Try again."
    note: str | None = outcome.message
    if outcome.ready:
        try:
            queues.enqueue_execute(rt, request_id)
        except RedisError:
            note = ("Approved, but the job queue (Redis) is unreachable; the change will be queued as soon as it is back.")
    try:
        refresh_request_message(rt, request_id)
    except Exception:  # the decision is recorded; a stale message is fixed by the next update
        log.warning("could not update request message %s", request_id)
    return note
