"""What a request's thread hears of an execution attempt (``driftbot.requests.execution.Ran``): text only."""

from __future__ import annotations

from driftbot.requests.execution import Ran
from driftbot.slack.mrkdwn import block, checkpoint_line, escape


def execution_note(ran: Ran) -> str | None:
    """The note for the request's thread, or None when the attempt is not said there."""
    if not ran.say or ran.request is None:
        return None
    rid, req = ran.request.id, ran.request
    if ran.status == "unverified":
        return (f"Request #{rid} did not run: the plan could not be verified ({escape(ran.reason)}). Nothing was changed. "
                "Any approver can click Approve again to retry.")
    if ran.status == "plan_changed":
        return (f"Plan changed since approval ({escape(ran.reason)}): approvals reset. Nothing was run; "
                f"request #{rid} needs {req.approvals_required} new approvals of the new plan `{ran.plan_hash[:8]}…`.")
    if ran.status == "audit_failed":
        return (f"Request #{rid} was not executed: the audit trail could not be written "
                f"({escape(ran.reason)}). Nothing ran.")
    if ran.status == "refused":
        return f":warning: Request #{rid} did not run: {ran.reason}. Nothing was changed."
    if ran.status == "reconciled":
        return (f":white_check_mark: Correction: request #{rid} on *{escape(req.environment)}* "
                f"ran after all.\n{block(req.sql)}\n{ran.reason}\n{checkpoint_line(ran.mark)}")
    if ran.status == "interrupted":
        return f":warning: Request #{rid}: {ran.reason}\n{checkpoint_line(ran.mark)}"
    verdict = ":white_check_mark: Done" if ran.status == "succeeded" else ":x: Failed"
    if ran.corrected:  # declared interrupted while it ran (its fence lost with its session): the truth, said
        verdict = f"Correction: the note that it was interrupted was wrong. {verdict}"
    statements = "\n".join(ran.statements)
    return (f"{verdict}: request #{rid} on *{escape(req.environment)}*. {escape(ran.reason)}"
            + (f"\n{block(statements)}" if statements else "") + f"\n{checkpoint_line(ran.mark)}")
