"""The worker's side of an approved request: its heartbeat and fence while it runs (``driftbot.requests.execution``
decides and runs it), then the outcome said in the request's thread and its message re-rendered."""

from __future__ import annotations

from driftbot.metrics import instruments
from driftbot.requests import execution
from driftbot.requests.execution import Planner, Ran, Writer
from driftbot.runtime import Runtime
from driftbot.slack import posting
from driftbot.slack.outcomes import execution_note
from driftbot.work.fence import held
from driftbot.work.heartbeat import heartbeat


def tell(rt: Runtime, ran: Ran) -> None:
    """Say the outcome in the request's thread and re-render its message, as the attempt asks."""
    note = execution_note(ran)
    if note is not None:
        posting.in_thread(rt, ran.request, note)
    if ran.refresh and ran.request is not None:
        posting.refresh_request_message(rt, ran.request.id)


def _count(ran: Ran) -> None:
    # A status that is the request's own says it was not approved (already run, rejected, ...): nothing ran.
    if ran.request is not None and ran.status != ran.request.status:
        instruments.executed(ran.request.environment, ran.status)


def execute_request(rt: Runtime, request_id: int, *, planner: Planner | None = None, writer: Writer | None = None,
                    worker: str | None = None, notify_slack: bool = True) -> str:
    """Run one approved request, at most once. Returns what happened (for logs and tests)."""
    # The fence, not the heartbeat, tells the sweeper this writer is alive (driftbot.work.fence).
    with heartbeat(rt, "execute", request_id), held(rt, request_id):
        ran = execution.execute(rt, request_id, planner=planner, writer=writer, worker=worker)
    _count(ran)
    if notify_slack:
        tell(rt, ran)
    return ran.status


def mark_interrupted(rt: Runtime, request_id: int) -> bool:
    """An execution whose outcome was never recorded: reconciled from the target and said in its thread
    (``driftbot.requests.execution.interrupted``). True when something was recorded."""
    ran = execution.interrupted(rt, request_id)
    if ran is None:
        return False
    _count(ran)
    tell(rt, ran)
    return True
