"""Intake of ``/drift compare FROM TO``.

The listener only enqueues (Slack wants its answer within 3 seconds); the worker
(``driftbot.work.reports``) compares the two environments and posts the result, with the SQL that would turn
FROM's schema into TO's as a snippet in its thread: for review only, never run.
"""

from __future__ import annotations

from driftbot.runtime import Runtime
from driftbot.work.reports import ask_compare


def compare_command(rt: Runtime, *, from_env: str, to_env: str, user: str, channel: str) -> str:
    """Enqueue the comparison; the text answers the asker at once."""
    a, b = rt.settings.environment(from_env), rt.settings.environment(to_env)  # unknown names answered now
    if a.name == b.name:
        return f"{a.name} and {b.name} are the same environment: equal."
    ask_compare(rt, a.name, b.name, user, channel)
    return f"Comparing *{a.name}* with *{b.name}*… the result will be posted in this channel."
