"""Intake of ``/drift audit [ENV] [--days N]``, ``/drift audit verify [N:HASH]`` and ``/drift digest``.

The listener only enqueues (Slack wants its answer within 3 seconds); the
worker (``driftbot.work.reports``) reads the trail and posts a readable summary with
the full export as a CSV snippet in its thread. ``/drift digest`` starts a
digest now, posted in the channel where it was asked.
"""

from __future__ import annotations

from driftbot.digest.jobs import start_digest
from driftbot.runtime import Runtime
from driftbot.state import keys
from driftbot.work import queues

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


DIGEST_EVERY_S = 300  # one digest on demand per channel (or DM) in this many seconds


def digest_command(rt: Runtime, *, user: str, channel: str, environments: list[str]) -> str:
    """Start a digest now of *environments* (those the gate lets it show here), posted in the asking
    channel; at most one per channel every ``DIGEST_EVERY_S`` seconds, as each checks every one of them."""
    if not rt.settings.environments:
        return "No environments are configured, so there is nothing to digest."
    if not environments:
        return ("No environment is talked about here: `/drift digest` shows the environments whose channel it is "
                "asked in, or, in a DM with driftbot, those you approve or view.")
    if not rt.redis.set(keys.digest_asked(rt.settings.queue_prefix, channel), user, nx=True, ex=DIGEST_EVERY_S):
        return (f"A digest was asked for here less than {DIGEST_EVERY_S // 60} minutes ago; it is posted (or on its "
                "way) above. Ask again later.")
    start_digest(rt, kind="manual", requested_by=user, channel=channel, environments=environments)
    n = len(environments)
    return f"Checking {n} environment{'s' if n != 1 else ''}… the digest will be posted in this channel."
