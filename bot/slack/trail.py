"""The audit trail as Slack text (``/drift audit``): a readable line an event, counts first. Reading the
trail and exporting it stay in ``driftbot.audit``; this is only how Slack shows it."""

from __future__ import annotations

from datetime import timezone

from driftbot.audit import PHRASES, AuditEvent
from driftbot.slack.mrkdwn import escape


def describe(row: AuditEvent) -> str:
    """One readable line: ``20 Nov 09:12 · <@U1> approved request #42 on prod``."""
    what = PHRASES.get(row.event, row.event.replace("_", " "))
    who = (f"<@{row.actor}> " if row.actor[:1] in ("U", "W") and row.actor.isalnum() else f"{escape(row.actor)} ") if row.actor else ""
    parts = [f"{row.at.astimezone(timezone.utc):%d %b %H:%M} · {who}{what}"]
    if row.request_id is not None:
        parts.append(f"request #{row.request_id}")
    if row.environment:
        parts.append(f"on {escape(row.environment)}")
    line = " ".join(parts)
    detail = row.data.get("outcome") or row.data.get("state") or row.data.get("error")
    if detail:
        line += f" ({escape(str(detail)[:80])})"
    return line


def summary(rows: list[AuditEvent], *, environment: str | None = None, days: int | None = None,
            limit: int = 15) -> str:
    """The readable part of ``/drift audit``: counts first, then the latest events."""
    scope = f" for {escape(environment)}" if environment else ""
    span = f" in the last {days} days" if days else ""
    if not rows:
        return f"No audit events{scope}{span}."
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.event] = counts.get(r.event, 0) + 1
    tally = ", ".join(f"{n} {PHRASES.get(e, e.replace('_', ' '))}" for e, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    lines = [f"*Audit trail{scope}{span}*: {len(rows)} events ({tally})"]
    shown = rows[-limit:]
    if len(rows) > len(shown):
        lines.append(f"Latest {len(shown)} (the full export is in the CSV snippet):")
    lines.extend("• " + describe(r) for r in shown)
    return "\n".join(lines)
