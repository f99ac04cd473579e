"""What the button listeners hand their clicks to: a proposed fix under a check result, and
Approve / Reject / Cancel on a request. Every rule is enforced server-side, in
``bot.requests.machine`` and ``bot.requests.rules``; each function returns the note for the clicker.

A decision click is only acknowledged and queued by the web process (``receive_decision``):
deciding may need Slack (a user group's members, the message update), and a slow Slack must
never hold a listener. A worker decides it (``decide``) and tells the clicker.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot import audit
from bot.errors import DriftbotError
from bot.requests import machine, rules
from bot.runtime import Runtime
from bot.slack import mrkdwn, notify
from bot.slack.client import GroupsDeferred
from bot.slack.commands import QUEUE_DOWN, STATE_DOWN
from bot.slack.posting import refresh_request_message
from bot.slack.views import parse_button_value
from bot.state.models import Check, Request
from bot.work import queues

log = logging.getLogger(__name__)
BIGINT_MAX = 2**63 - 1  # ids are PostgreSQL bigints: a larger one is a bad button, not a database outage


def _id(value: object) -> int:
    """A positive bigint id from a button's value, or ValueError."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= BIGINT_MAX:
        raise ValueError(f"not an id: {text[:20]!r}")
    return int(text)



class _StaleButton(Exception):
    """A fix button that can no longer act; its message is the reply."""


def _button_check(rt: Runtime, value: str) -> tuple[Check, int]:
    """The finished check a fix button under a check result was under, and the index of the finding it
    fixes; _StaleButton when the button's value is malformed or the check's result is gone."""
    try:
        ref = json.loads(value)
        check_id, index = _id(ref["check"]), int(ref["finding"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _StaleButton("That button is not valid any more; run `/drift status` again.") from exc
    with rt.sessions() as s:
        check = s.get(Check, check_id)
    if check is None or not check.result:
        raise _StaleButton("That check result is gone; run `/drift status` again.")
    return check, index


@dataclass(frozen=True)
class Click:
    """What Slack said about one click on a request's button, as the listener read it."""

    action: str  # approve | reject | cancel
    value: str
    user: str
    team: str | None
    channel: str | None
    message_ts: str | None
    trigger_id: str | None
    action_ts: str | None

    def to_job(self) -> dict:
        return asdict(self)


def on_propose(rt: Runtime, value: str, user: str, channel: str, message_ts: str | None, team: str | None = None) -> str:
    """A fix button under a check result: the request is built on the worker from the stored check."""
    try:
        check, index = _button_check(rt, value)
        env = rt.settings.environment(check.environment)
        problem = rules.place_problem(env=env.name, env_channels=rt.settings.channels_of(env), channel=channel,
                                      reader=False, dm_ok=False)
        if problem is None and check.message_ts and message_ts != check.message_ts and channel == check.channel:
            problem = "That button is not on this check's result; use the buttons under the result itself."
        if problem:
            return problem
        findings = check.result.get("findings", [])
        if not 0 <= index < len(findings):
            return "That fix is not in the check result any more; run `/drift status` again."
        action = dict(findings[index]["action"])
        kind = action.pop("kind")
        args = {k: v for k, v in action.items() if k in ("migration", "enum", "value")}
        queues.enqueue_propose(rt, environment=check.environment, kind=kind, args=args, requester=user, channel=channel,
                               thread_ts=message_ts, check_id=check.id, team_id=team)
    except (_StaleButton, DriftbotError) as exc:
        return mrkdwn.error(exc)
    except RedisError:
        return f"Cannot create the request: {QUEUE_DOWN}"
    except SQLAlchemyError:
        return f"Cannot create the request: {STATE_DOWN}"
    return "Preparing the request in the thread…"


def on_open_pull_request(rt: Runtime, value: str, user: str, channel: str, message_ts: str | None) -> str:
    """"Open pull request" under a check result: any configured approver of the environment may press it
    (the pull request is itself the review). The worker checks that, as the web never waits for Slack's
    user groups, then opens it and posts the link in the thread."""
    try:
        check, index = _button_check(rt, value)
        env = rt.settings.environments.get(check.environment)
        if env is None or env.pull_requests is None:
            return f"Pull requests are not set up for *{check.environment}* (pull_requests = \"github\")."
        problem = rules.place_problem(env=env.name, env_channels=rt.settings.channels_of(env), channel=channel,
                                      reader=False, dm_ok=False)
        if problem:
            return problem
        queues.enqueue_pull_request(rt, check_id=check.id, finding=index, user=user, channel=channel,
                                    thread_ts=message_ts)
    except _StaleButton as exc:
        return str(exc)
    except RedisError:
        return f"Cannot open the pull request: {QUEUE_DOWN}"
    except SQLAlchemyError:
        return f"Cannot open the pull request: {STATE_DOWN}"
    return "Opening the pull request… its link will be posted in the thread."


def receive_decision(rt: Runtime, click: Click) -> str | None:
    """The web side of Approve / Reject / Cancel: queue the click for a worker. A note only when it
    could not be queued (the clicker hears the decision from the worker)."""
    try:
        queues.enqueue_decision(rt, click.to_job())
    except RedisError:
        return f"Your click was not recorded: {QUEUE_DOWN}"
    return None


def _refuse(rt: Runtime, click: Click, request_id: int | None, environment: str | None, reason: str) -> str:
    """A click that does not count: said to the clicker, and kept in the audit trail."""
    try:
        with rt.sessions.begin() as s:
            audit.record(s, event="click_refused", actor=click.user, environment=environment, request_id=request_id,
                         data={"action": click.action, "reason": reason, "team": click.team, "channel": click.channel,
                               "message_ts": click.message_ts, "button": click.value[:100]})
    except SQLAlchemyError:
        log.exception("could not record a refused click")
    return reason


def decide(rt: Runtime, click: Click) -> str | None:
    """Approve / Reject / Cancel on a request message, on a worker. Returns the note for the clicker."""
    parsed = parse_button_value(click.value)
    if parsed is None or (click.action == "approve" and parsed[1] is None):
        return _refuse(rt, click, None, None, "That button is not valid; use the buttons on the request's message.")
    request_id, plan_hash = parsed
    if not click.trigger_id or not click.action_ts:
        return _refuse(rt, click, request_id, None, "That click did not say when it was made; it was not counted.")
    try:
        with rt.sessions() as s:
            req = s.get(Request, request_id)
            if req is None:
                return "That request does not exist."
            env = rt.settings.environment(req.environment)
            where = (req.team_id, req.channel, req.message_ts)
            at_request = req.approvers
        problem = rules.click_problem(team=click.team, channel=click.channel, message_ts=click.message_ts,
                                      request_team=where[0], request_channel=where[1], request_message_ts=where[2],
                                      env_channels=rt.settings.channels_of(env))
        if problem:
            return _refuse(rt, click, request_id, env.name, problem)
        allowed = rt.request_approvers(env, at_request)
        with rt.sessions.begin() as s:
            if not machine.first_delivery(s, click.trigger_id, click.action_ts, request_id):
                outcome = None
            elif click.action == "approve":
                outcome = machine.approve(s, request_id, click.user, allowed, plan_hash=plan_hash,
                                          required=rules.approvals_required(env))
            elif click.action == "reject":
                outcome = machine.reject(s, request_id, click.user, allowed)
            else:
                outcome = machine.cancel(s, request_id, click.user)
    except SQLAlchemyError:
        log.exception("state database error")
        return f"Your click was not recorded: {STATE_DOWN}"
    except GroupsDeferred:  # Slack said wait: the click is decided later (decide_and_tell)
        raise
    except SlackApiError as exc:  # the approver group could not be read: refuse rather than guess
        return f"Your click was not recorded: Slack did not list the approver group ({exc.response.get('error')}). Try again."
    except DriftbotError as exc:
        return f"Your click was not recorded: {mrkdwn.error(exc)}"
    if outcome is None:
        return _refuse(rt, click, request_id, env.name, "That click was already received; it counts once.")
    note: str | None = outcome.message
    if not outcome.ok and plan_hash and outcome.message.startswith("That button was for plan"):
        _refuse(rt, click, request_id, env.name, outcome.message)
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


def decide_and_tell(rt: Runtime, click: Click) -> str | None:
    """The worker's job for one click: decide it and tell the clicker (ephemeral, in its channel)."""
    try:
        note = decide(rt, click)
    except GroupsDeferred as exc:  # never slept on here: the click waits in the queue, not in this worker
        queues.enqueue_decision(rt, click.to_job(), delay=exc.retry_after)
        note = (f"Slack is rate-limiting driftbot's reading of the approver group; your click is kept and "
                f"will be decided in about {exc.retry_after:.0f} s.")
    if note and click.channel:
        notify.ephemeral(rt.slack, click.channel, click.user, note)
    return note
