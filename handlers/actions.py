"""Buttons: a proposed fix or "Open pull request" under a check result, and Approve / Reject / Cancel
on a request.

``ack()`` first. A fix click is recorded at once; a decision click is queued for a worker
(``driftbot.work.clicks``: every rule enforced in ``driftbot.requests``, server-side), which tells the clicker.
Whatever Slack call a listener still makes uses the web's impatient client (short timeout).
"""

from __future__ import annotations

import re

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from driftbot.ops import tracing
from driftbot.requests.clicks import Click
from driftbot.slack import notify
from driftbot.handlers.intake.actions import on_open_pull_request, on_propose, receive_decision

PROPOSE = re.compile(r"^propose_fix_\d+$")
OPEN_PULL_REQUEST = re.compile(r"^open_pull_request_\d+$")
DECISIONS = ("approve", "reject", "cancel")


def _one(*values: str | None) -> str | None:
    """The value Slack gave in every place it gave one; None when two places disagree."""
    given = {v for v in values if v}
    return given.pop() if len(given) == 1 else None


def _where(body: dict) -> tuple[str, str | None, str | None, str | None]:
    """(user, team, channel, message ts) of a click, each as every part of the payload says it."""
    container = body.get("container") or {}
    channel = _one((body.get("channel") or {}).get("id"), container.get("channel_id"))
    message_ts = _one((body.get("message") or {}).get("ts"), container.get("message_ts"))
    team = _one((body.get("team") or {}).get("id"))
    return body["user"]["id"], team, channel, message_ts


def propose(ack: Ack, body: dict, action: dict, context: BoltContext, client: WebClient) -> None:
    ack()
    user, team, channel, ts = _where(body)
    with tracing.span("click propose_fix", action=action.get("action_id")):  # the request it queues: this trace
        note = on_propose(context["driftbot"], action.get("value", ""), user, channel, ts, team)
        if channel:
            notify.ephemeral(client, channel, user, note)


def open_pull_request(ack: Ack, body: dict, action: dict, context: BoltContext, client: WebClient) -> None:
    ack()
    user, _team, channel, ts = _where(body)
    with tracing.span("click open_pull_request", action=action.get("action_id")):
        note = on_open_pull_request(context["driftbot"], action.get("value", ""), user, channel, ts)
        if channel:
            notify.ephemeral(client, channel, user, note)


def decide(ack: Ack, body: dict, action: dict, context: BoltContext, client: WebClient) -> None:
    ack()
    user, team, channel, ts = _where(body)
    click = Click(action=action["action_id"], value=str(action.get("value", "")), user=user, team=team,
                  channel=channel, message_ts=ts, trigger_id=body.get("trigger_id"), action_ts=action.get("action_ts"))
    with tracing.span(f"click {click.action}", action=click.action):  # the decision job continues this trace
        note = receive_decision(context["driftbot"], click)
        if note and channel:
            notify.ephemeral(client, channel, user, note)


def register(app: App) -> None:
    app.action(PROPOSE)(propose)
    app.action(OPEN_PULL_REQUEST)(open_pull_request)
    for action_id in DECISIONS:
        app.action(action_id)(decide)
