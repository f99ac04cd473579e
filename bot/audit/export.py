"""Reading the audit trail back: events in chain order, the export (CSV, JSON) and ``--since``. How Slack
shows it (``/drift audit``) is ``driftbot.slack.trail``."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from driftbot.audit.chain import KEY_STARTED
from driftbot.errors import DriftbotError
from driftbot.state.models import AuditEvent


EXPORT_FIELDS = ("id", "at", "event", "actor", "environment", "request_id", "data", "prev_hash", "hash", "key_id")

# Plain words for every event driftbot records (tests/test_audit.py holds the two lists together).
PHRASES = {
    "check_requested": "asked for a check",
    "check_finished": "check finished",
    "compare_requested": "asked for a comparison",
    "request_created": "requested a change",
    "approval_counted": "gave an approval",
    "click_refused": "click refused (wrong place, message or plan, or seen before)",
    "approved": "approved",
    "rejected": "rejected",
    "cancelled": "cancelled",
    "expired": "request expired",
    "plan_changed": "plan changed (approvals reset)",
    "execution_refused": "execution refused",
    "execution_started": "execution started",
    "execution_finished": "execution finished",
    "config_changed": "configuration changed at start-up",
    "process_started": "process started",
    KEY_STARTED: "started keying the audit trail",
    "digest_started": "digest started",
    "digest_posted": "digest posted",
    "audit_exported": "exported the audit trail",
    "pull_request_opened": "opened a pull request",
    "pull_request_merged": "pull request merged",
}


def events(session: Session, *, since: datetime | None = None, environment: str | None = None) -> list[AuditEvent]:
    """Events in chain order, optionally from *since* on and for one environment."""
    query = select(AuditEvent).order_by(AuditEvent.id)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if environment is not None:
        query = query.where(AuditEvent.environment == environment)
    return list(session.execute(query).scalars())


def export_row(row: AuditEvent) -> dict[str, Any]:
    return {
        "id": row.id, "at": row.at.astimezone(timezone.utc).isoformat(), "event": row.event, "actor": row.actor,
        "environment": row.environment, "request_id": row.request_id, "data": row.data,
        "prev_hash": row.prev_hash, "hash": row.hash, "key_id": row.key_id,
    }


def to_json(rows: list[AuditEvent]) -> str:
    return json.dumps([export_row(r) for r in rows], indent=2, default=str) + "\n"


def to_csv(rows: list[AuditEvent]) -> str:
    """One line per event; ``data`` as compact JSON so the export stays one flat table."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        line = export_row(r)
        line["data"] = json.dumps(line["data"], sort_keys=True, separators=(",", ":"))
        writer.writerow(line)
    return out.getvalue()


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2025-11-20``, an ISO date-time, or ``7d`` (days back from *now*), as an aware UTC datetime."""
    value = text.strip()
    if value[:-1].isdigit() and value.endswith("d"):
        return (now or datetime.now(timezone.utc)) - timedelta(days=int(value[:-1]))
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        at = datetime.fromisoformat(value)
    except ValueError:
        raise DriftbotError(f"--since {value!r} is not a date: use YYYY-MM-DD, an ISO date-time, or 7d.") from None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)
