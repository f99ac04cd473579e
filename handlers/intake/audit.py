"""Intake of ``/drift audit [ENV] [--days N]``, ``/drift audit verify [N:HASH]`` and ``/drift digest``.

The listener only enqueues (Slack wants its answer within 3 seconds); the
worker (``bot.work.reports``) reads the trail and posts a readable summary with
the full export as a CSV snippet in its thread. ``/drift digest`` starts a
digest now, posted in the channel where it was asked.
"""

from __future__ import annotations

from bot.digest.jobs import start_digest
from bot.runtime import Runtime
from bot.work import queues

DEFAULT_DAYS = 7


def audit_command(rt: Runtime, *, environment: str | None, days: int | None, user: str, channel: str) -> str:
    """Enqueue the audit summary; the text answers the asker at once."""
    if environment is not None:
        rt.settings.environment(environment)  # an unknown name is answered now, with the known ones
    days = days or DEFAULT_DAYS
    queues.enqueue_audit(rt, environment, days, user, channel)
    scope = f" of *{environment}*" if environment else ""
    return f"Gathering the audit trail{scope} for the last {days} days… it will be posted in this channel."


def verify_command(rt: Runtime, *, checkpoint: str | None, user: str, channel: str) -> str:
    """Enqueue the chain's verification (it reads the whole trail: a worker's job)."""
    queues.enqueue_audit_verify(rt, checkpoint, user, channel)
    against = f" against checkpoint {checkpoint.split(':')[0]}" if checkpoint else ""
    return f"Verifying the audit trail{against}… the result will be posted in this channel."


def digest_command(rt: Runtime, *, user: str, channel: str) -> str:
    """Start a digest now, posted in the asking channel."""
    n = len(rt.settings.environments)
    if not n:
        return "No environments are configured, so there is nothing to digest."
    start_digest(rt, kind="manual", requested_by=user, channel=channel)
    return f"Checking {n} environment{'s' if n != 1 else ''}… the digest will be posted in this channel."
