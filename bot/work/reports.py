"""Reports asked for from Slack, run on a worker: the audit summary and export (``/drift audit``), the
chain's verification (``/drift audit verify``) and the comparison of two environments (``/drift compare``).
Each reads from the domain (``driftbot.audit``, the engine) and hands the outcome to output (``driftbot.slack``);
``ask_compare`` records the comparison asked for and enqueues it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from driftbot import audit
from driftbot.engine.compare import compare
from driftbot.errors import DriftbotError
from driftbot.runtime import Runtime
from driftbot.slack import notify, trail, views
from driftbot.slack.mrkdwn import checkpoint_line, error, escape
from driftbot.work import queues


def post_audit(rt: Runtime, environment: str | None, days: int, user: str, channel: str,
               now: datetime | None = None) -> int:
    """Post the summary and the CSV snippet; the export itself is an audit event (who read what)."""
    since = (now or datetime.now(timezone.utc)) - timedelta(days=days)
    with rt.sessions.begin() as s:
        rows = audit.events(s, since=since, environment=environment)
        audit.record(s, event="audit_exported", actor=user, environment=environment,
                     data={"days": days, "events": len(rows), "channel": channel})
    ts = notify.post(rt.slack, channel, trail.summary(rows, environment=environment, days=days))
    if rows:
        name = f"driftbot-audit-{environment or 'all'}-{since:%Y%m%d}.csv"
        notify.snippet(rt.slack, channel, ts, name, audit.to_csv(rows), f"Audit trail, last {days} days",
                       comment=f"The full export: {len(rows)} events. `driftbot audit verify` checks the chain.")
    return len(rows)


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


def ask_compare(rt: Runtime, from_env: str, to_env: str, user: str, channel: str) -> None:
    """Record the comparison asked for and enqueue it (``/drift compare``)."""
    with rt.sessions.begin() as s:
        audit.record(s, event="compare_requested", actor=user, environment=to_env,
                     data={"from": from_env, "to": to_env, "channel": channel})
        # Enqueued inside the transaction: if Redis refuses, the audit event is rolled back with it.
        queues.enqueue_compare(rt, from_env, to_env, user, channel)


def post_compare(rt: Runtime, from_env: str, to_env: str, user: str, channel: str) -> str:
    """Compare on the worker and post: the message, then the SQL snippet in its thread."""
    result = compare(rt.settings, from_env, to_env)
    text, blocks, long = views.compare_message(result, user)
    ts = notify.post(rt.slack, channel, text, blocks)
    name = f"compare-{from_env}-{to_env}"
    if long:
        notify.snippet(rt.slack, channel, ts, f"{name}-summary.txt", "\n".join(result.schema.summary) + "\n",
                       f"{to_env} relative to {from_env}")
    if result.schema is not None and result.schema.sql:
        notify.snippet(rt.slack, channel, ts, f"{name}.sql", result.schema.sql, f"{from_env} → {to_env}",
                       comment=f"The SQL that would turn {from_env}'s schema into {to_env}'s. For review only: "
                               "driftbot never runs it, and it is not a migration to deploy as it is.")
    return result.state
