"""``/drift compare FROM TO`` on the Slack side.

The listener only enqueues (Slack wants its answer within 3 seconds); the worker
compares the two environments and posts the result, with the SQL that would turn
FROM's schema into TO's as a snippet in its thread: for review only, never run.
"""

from __future__ import annotations

from bot import audit
from bot.engine.compare import compare
from bot.runtime import Runtime
from bot.slack import notify, views
from bot.work import queues


def compare_command(rt: Runtime, *, from_env: str, to_env: str, user: str, channel: str) -> str:
    """Enqueue the comparison; the text answers the asker at once."""
    a, b = rt.settings.environment(from_env), rt.settings.environment(to_env)  # unknown names answered now
    if a.name == b.name:
        return f"{a.name} and {b.name} are the same environment: equal."
    with rt.sessions.begin() as s:
        audit.record(s, event="compare_requested", actor=user, environment=b.name,
                     data={"from": a.name, "to": b.name, "channel": channel})
        # Enqueued inside the transaction: if Redis refuses, the audit event is rolled back with it.
        queues.enqueue_compare(rt, a.name, b.name, user, channel)
    return f"Comparing *{a.name}* with *{b.name}*… the result will be posted in this channel."


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
