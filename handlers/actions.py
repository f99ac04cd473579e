"""Buttons: a proposed fix under a check result, and Approve / Reject / Cancel on a request.

``ack()`` first; the decision is then recorded by ``bot.slack.actions`` (which enforces
every rule server-side) and the clicker hears back ephemerally.
"""

from __future__ import annotations

import re

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.slack.actions import on_decision, on_propose
from bot.slack import notify

PROPOSE = re.compile(r"^propose_fix_\d+$")
DECISIONS = ("approve", "reject", "cancel")


def _where(body: dict) -> tuple[str, str, str | None]:
    channel = (body.get("channel") or body.get("container") or {}).get("id") or body["container"].get("channel_id")
    message_ts = (body.get("message") or {}).get("ts") or body.get("container", {}).get("message_ts")
    return body["user"]["id"], channel, message_ts


def propose(ack: Ack, body: dict, action: dict, context: BoltContext, client: WebClient) -> None:
    ack()
    user, channel, ts = _where(body)
    note = on_propose(context["driftbot"], action.get("value", ""), user, channel, ts)
    notify.ephemeral(client, channel, user, note)


def decide(ack: Ack, body: dict, action: dict, context: BoltContext, client: WebClient) -> None:
    ack()
    user, channel, _ = _where(body)
    note = on_decision(context["driftbot"], action["action_id"], action.get("value", ""), user)
    if note:
        notify.ephemeral(client, channel, user, note)


def register(app: App) -> None:
    app.action(PROPOSE)(propose)
    for action_id in DECISIONS:
        app.action(action_id)(decide)
