"""The worker's side of an Approve / Reject / Cancel click: decide it (``driftbot.requests.clicks``), queue
the execution an approval made ready, re-render the request's message, tell the clicker."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from driftbot.errors import GroupsDeferred
from driftbot.requests.clicks import Click, decide as decide_click
from driftbot.runtime import Runtime
from driftbot.slack import mrkdwn, notify
from driftbot.slack.posting import refresh_request_message
from driftbot.work import queues

log = logging.getLogger(__name__)


def decide(rt: Runtime, click: Click) -> str | None:
    """Decide one click and act on the decision. Returns the note for the clicker."""
    decision = decide_click(rt, click)
    note = decision.text(mrkdwn.error)
    if decision.ready:
        try:
            queues.enqueue_execute(rt, decision.request_id)
        except RedisError:
            note = ("Approved, but the job queue (Redis) is unreachable; the change will be queued as soon as it is back.")
    if decision.refresh:
        try:
            refresh_request_message(rt, decision.request_id)
        except Exception:  # the decision is recorded; a stale message is fixed by the next update
            log.warning("could not update request message %s", decision.request_id)
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
