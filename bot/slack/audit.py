"""``/drift audit [ENV] [--days N]``, ``/drift audit verify [N:HASH]`` and ``/drift digest`` on the Slack side.

The listener only enqueues (Slack wants its answer within 3 seconds); the
worker reads the trail and posts a readable summary with the full export as a
CSV snippet in its thread. ``/drift digest`` starts a digest now, posted in the
channel where it was asked.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot import audit
from bot.digest.jobs import start_digest
from bot.runtime import Runtime
from bot.errors import DriftbotError
from bot.slack import notify
from bot.slack.mrkdwn import checkpoint_line, error, escape
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


def post_audit(rt: Runtime, environment: str | None, days: int, user: str, channel: str,
               now: datetime | None = None) -> int:
    """Post the summary and the CSV snippet; the export itself is an audit event (who read what)."""
    since = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    with rt.sessions.begin() as s:
        rows = audit.events(s, since=since, environment=environment)
        audit.record(s, event="audit_exported", actor=user, environment=environment,
                     data={"days": days, "events": len(rows), "channel": channel})
    ts = notify.post(rt.slack, channel, audit.summary(rows, environment=environment, days=days))
    if rows:
        name = f"driftbot-audit-{environment or 'all'}-{since:%Y%m%d}.csv"
        notify.snippet(rt.slack, channel, ts, name, audit.to_csv(rows), f"Audit trail, last {days} days",
                       comment=f"The full export: {len(rows)} events. `driftbot audit verify` checks the chain.")
    return len(rows)


def verify_command(rt: Runtime, *, checkpoint: str | None, user: str, channel: str) -> str:
    """Enqueue the chain's verification (it reads the whole trail: a worker's job)."""
    queues.enqueue_audit_verify(rt, checkpoint, user, channel)
    against = f" against checkpoint {checkpoint.split(':')[0]}" if checkpoint else ""
    return f"Verifying the audit trail{against}… the result will be posted in this channel."


def post_verify(rt: Runtime, checkpoint: str | None, user: str, channel: str) -> bool:
    """`driftbot audit verify [--checkpoint N:HASH]`, posted: OK with the newest checkpoint, or what is missing
    or changed. True when the chain verified."""
    with rt.sessions() as s:
        try:
            report = audit.verify(s, checkpoint=checkpoint)
        except DriftbotError as exc:  # no key to verify a keyed trail with: said, never guessed
            notify.post(rt.slack, channel, f":warning: Audit chain not verified: {error(exc)}")
            return False
        mark = audit.checkpoint(s)
    icon = ":white_check_mark:" if report.ok else ":rotating_light:"
    text = f"{icon} {escape(audit.verify_text(report))}\n<@{user}> asked."
    if report.ok:
        text += f" {checkpoint_line(mark)}: keep it to check against later."
    notify.post(rt.slack, channel, text)
    return report.ok


def digest_command(rt: Runtime, *, user: str, channel: str) -> str:
    """Start a digest now, posted in the asking channel."""
    n = len(rt.settings.environments)
    if not n:
        return "No environments are configured, so there is nothing to digest."
    start_digest(rt, kind="manual", requested_by=user, channel=channel)
    return f"Checking {n} environment{'s' if n != 1 else ''}… the digest will be posted in this channel."
