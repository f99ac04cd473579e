"""Deciding one Approve / Reject / Cancel click on a request's message: the domain's side of a click.

Every rule is enforced here, server-side (``driftbot.requests.machine``, ``driftbot.requests.rules``). ``decide``
returns a ``Decision``: the note for the clicker, and whether the request is now ready to run and its
message needs re-rendering. It never posts or enqueues: the worker's job (``driftbot.work.clicks``) does.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from driftbot import audit
from driftbot.errors import DriftbotError, GroupsDeferred
from driftbot.requests import machine, rules
from driftbot.runtime import Runtime
from driftbot.state.models import Request
from driftbot.state.outages import OUTAGES, outage_note

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Decision:
    """What a click came to: the note for the clicker; *ready*: approved enough to run now;
    *refresh*: the request's message must be re-rendered (*request_id*)."""

    note: str | None
    request_id: int | None = None
    ready: bool = False
    refresh: bool = False
    error: DriftbotError | None = None  # said after *note*, as the output formats an error

    def text(self, error_text) -> str | None:
        """The note for the clicker, *error_text* formatting the error (``driftbot.slack.mrkdwn.error``)."""
        return (self.note or "") + error_text(self.error) if self.error is not None else self.note


def parse_button_value(value: str) -> tuple[int, str | None] | None:
    """``ID:PLAN_HASH`` -> (id, hash); a bare id (a message posted before buttons named their plan)
    -> (id, None); anything else -> None."""
    rid, _, plan_hash = (value or "").partition(":")
    if not rid.isascii() or not rid.isdigit() or len(rid) > 18:
        return None
    if plan_hash and not (len(plan_hash) == 64 and all(c in "0123456789abcdef" for c in plan_hash)):
        return None
    return int(rid), plan_hash or None


def refuse(rt: Runtime, click: Click, request_id: int | None, environment: str | None, reason: str) -> str:
    """A click that does not count: said to the clicker, and kept in the audit trail."""
    try:
        with rt.sessions.begin() as s:
            audit.record(s, event="click_refused", actor=click.user, environment=environment, request_id=request_id,
                         data={"action": click.action, "reason": reason, "team": click.team, "channel": click.channel,
                               "message_ts": click.message_ts, "button": click.value[:100]})
    except SQLAlchemyError:
        log.exception("could not record a refused click")
    return reason


def decide(rt: Runtime, click: Click) -> Decision:
    """Approve / Reject / Cancel on a request message, on a worker. GroupsDeferred when Slack said wait
    for the approver group's members (the job puts the click off)."""
    parsed = parse_button_value(click.value)
    if parsed is None or (click.action == "approve" and parsed[1] is None):
        return Decision(refuse(rt, click, None, None, "That button is not valid; use the buttons on the request's message."))
    request_id, plan_hash = parsed
    if not click.trigger_id or not click.action_ts:
        return Decision(refuse(rt, click, request_id, None, "That click did not say when it was made; it was not counted."))
    try:
        with rt.sessions() as s:
            req = s.get(Request, request_id)
            if req is None:
                return Decision("That request does not exist.")
            env = rt.settings.environment(req.environment)
            where = (req.team_id, req.channel, req.message_ts)
            at_request = req.approvers
        problem = rules.click_problem(team=click.team, channel=click.channel, message_ts=click.message_ts,
                                      request_team=where[0], request_channel=where[1], request_message_ts=where[2],
                                      env_channels=rt.settings.channels_of(env))
        if problem:
            return Decision(refuse(rt, click, request_id, env.name, problem))
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
    except OUTAGES as exc:
        return Decision(outage_note(exc, "Your click was not recorded"))
    except GroupsDeferred:  # Slack said wait: the click is decided later (driftbot.work.clicks)
        raise
    except SlackApiError as exc:  # the approver group could not be read: refuse rather than guess
        return Decision(f"Your click was not recorded: Slack did not list the approver group "
                        f"({exc.response.get('error')}). Try again.")
    except DriftbotError as exc:
        return Decision("Your click was not recorded: ", error=exc)
    if outcome is None:
        return Decision(refuse(rt, click, request_id, env.name, "That click was already received; it counts once."))
    if not outcome.ok and plan_hash and outcome.message.startswith("That button was for plan"):
        refuse(rt, click, request_id, env.name, outcome.message)
    return Decision(outcome.message, request_id=request_id, ready=outcome.ready, refresh=True)
