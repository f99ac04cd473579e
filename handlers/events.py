"""Events: the App Home tab. ``app_home_opened`` publishes the person's board (``driftbot.digest.board``) with
``views.publish``; its "Check now" buttons queue a check of an environment that person may see.

Everything is read from the state database and the shared copy of user-group members: the web never
waits for Slack, and the impatient client publishes.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone

from slack_bolt import Ack, App, BoltContext

from driftbot.digest import board
from driftbot.slack import notify
from driftbot.work.checking import request_check

log = logging.getLogger(__name__)
CHECK_NOW = re.compile(rf"^{board.CHECK_NOW}_\d+$")


def publish_home(rt, user: str) -> None:
    """Compose *user*'s board and publish it as their Home tab; a refusal is logged, never raised."""
    with rt.sessions() as s:
        view = board.render(board.compose(rt.settings, s, user, rt.group_members, datetime.now(timezone.utc)))
    try:
        notify.publish_home(rt.slack, user, view)
    except Exception as exc:  # the tab keeps its last view; the next opening tries again
        log.warning("Home tab of %s not published: Slack said %s", user, notify.error_code(exc))


def home_opened(event: dict, context: BoltContext) -> None:
    if event.get("tab", "home") != "home" or not event.get("user"):
        return
    publish_home(context["driftbot"], event["user"])


def check_now(ack: Ack, body: dict, action: dict, context: BoltContext) -> None:
    ack()
    rt = context["driftbot"]
    user, environment = body["user"]["id"], str(action.get("value", ""))
    if environment not in board.visible_environments(rt.settings, user, rt.group_members):
        log.info("home check of %r refused for %s: not an environment they may see", environment, user)
        return
    env = rt.settings.environment(environment)
    channels = rt.settings.channels_of(env)
    # The result goes where the environment's results go; one tied to no channel answers in the DM.
    request_check(rt, environment, user, channels[0] if channels else user)
    publish_home(rt, user)


def register(app: App) -> None:
    app.event("app_home_opened")(home_opened)
    app.action(CHECK_NOW)(check_now)
