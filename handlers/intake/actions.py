"""Intake of the button listeners' clicks: a proposed fix or "Open pull request" under a check result,
and Approve / Reject / Cancel on a request. Each function returns the note for the clicker.

A decision click is only acknowledged and queued here (``receive_decision``): deciding may need
Slack (a user group's members, the message update), and a slow Slack must never hold a listener.
A worker decides it (``driftbot.work.clicks``, every rule in ``driftbot.requests``) and tells the clicker.
"""

from __future__ import annotations

import json
import logging

from driftbot.engine.result import CheckResult
from driftbot.errors import DriftbotError
from driftbot.requests import rules
from driftbot.requests.clicks import Click
from driftbot.runtime import Runtime
from driftbot.slack import mrkdwn
from driftbot.state.models import Check
from driftbot.state.outages import OUTAGES, outage_note
from driftbot.work import queues

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
        findings = CheckResult.from_json(check.result).findings
        if not 0 <= index < len(findings):
            return "That fix is not in the check result any more; run `/drift status` again."
        action = findings[index].action
        args = {k: v for k, v in action.arguments.items() if k in ("migration", "enum", "value")}
        queues.enqueue_propose(rt, environment=check.environment, kind=action.kind, args=args, requester=user, channel=channel,
                               thread_ts=message_ts, check_id=check.id, team_id=team)
    except (_StaleButton, DriftbotError) as exc:
        return mrkdwn.error(exc)
    except OUTAGES as exc:
        return outage_note(exc, "Cannot create the request")
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
    except OUTAGES as exc:
        return outage_note(exc, "Cannot open the pull request")
    return "Opening the pull request… its link will be posted in the thread."


def receive_decision(rt: Runtime, click: Click) -> str | None:
    """The web side of Approve / Reject / Cancel: queue the click for a worker. A note only when it
    could not be queued (the clicker hears the decision from the worker)."""
    try:
        queues.enqueue_decision(rt, click.to_job())
    except OUTAGES as exc:
        return outage_note(exc, "Your click was not recorded")
    return None
