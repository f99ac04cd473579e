"""The audit trail: append-only events chained by hash.

``record`` appends in the caller's transaction, so a state change and its
audit event commit together or not at all: if the audit store cannot be
written, the change does not happen (fail closed).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.errors import DriftbotError
from bot.state.db import sessions
from bot.state.models import AuditEvent

GENESIS = "0" * 64
CHAIN_LOCK = 0x61756474  # "audt": appends are serialised so the chain has no forks


def event_hash(prev_hash: str, at: datetime, event: str, actor: str | None, environment: str | None,
               request_id: int | None, data: dict[str, Any]) -> str:
    body = json.dumps(
        {"at": at.astimezone(timezone.utc).isoformat(), "event": event, "actor": actor,
         "environment": environment, "request_id": request_id, "data": data},
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def record(session: Session, *, event: str, actor: str | None = None, environment: str | None = None,
           request_id: int | None = None, data: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event in the session's current transaction."""
    data = json.loads(json.dumps(data or {}, default=str))  # what JSONB will give back
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK})
    prev = session.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    prev = prev or GENESIS
    at = datetime.now(timezone.utc)
    row = AuditEvent(
        at=at, event=event, actor=actor, environment=environment, request_id=request_id, data=data,
        prev_hash=prev, hash=event_hash(prev, at, event, actor, environment, request_id, data),
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    first_broken: int | None = None
    reason: str | None = None


def verify(session: Session) -> ChainReport:
    """Walk the chain in id order; name the first event whose link or content does not match."""
    prev, count = GENESIS, 0
    for row in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        count += 1
        if row.prev_hash != prev:
            return ChainReport(False, count, row.id, "its prev_hash does not match the previous event")
        expected = event_hash(prev, row.at, row.event, row.actor, row.environment, row.request_id, row.data)
        if row.hash != expected:
            return ChainReport(False, count, row.id, "its content does not match its hash (edited)")
        prev = row.hash
    return ChainReport(True, count)


# --- reading the trail back: export and the Slack summary -----------------

EXPORT_FIELDS = ("id", "at", "event", "actor", "environment", "request_id", "data", "prev_hash", "hash")

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
        "prev_hash": row.prev_hash, "hash": row.hash,
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


def describe(row: AuditEvent) -> str:
    """One readable line: ``20 Nov 09:12 · <@U1> approved request #42 on prod``."""
    what = PHRASES.get(row.event, row.event.replace("_", " "))
    who = f"<@{row.actor}> " if row.actor else ""
    parts = [f"{row.at.astimezone(timezone.utc):%d %b %H:%M} · {who}{what}"]
    if row.request_id is not None:
        parts.append(f"request #{row.request_id}")
    if row.environment:
        parts.append(f"on {row.environment}")
    line = " ".join(parts)
    detail = row.data.get("outcome") or row.data.get("state") or row.data.get("error")
    if detail:
        line += f" ({str(detail)[:80]})"
    return line


def summary(rows: list[AuditEvent], *, environment: str | None = None, days: int | None = None,
            limit: int = 15) -> str:
    """The readable part of ``/drift audit``: counts first, then the latest events."""
    scope = f" for {environment}" if environment else ""
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


def verify_text(report: ChainReport) -> str:
    if report.ok:
        return f"Audit chain OK: {report.events} events verified."
    return f"Audit chain BROKEN at event #{report.first_broken}: {report.reason}."


def record_start(engine, settings, process: str) -> None:
    """At a process's start (after the schema upgrade): audit the configuration if it changed."""
    with sessions(engine).begin() as session:
        config_seen(session, settings, process)


def config_seen(session: Session, settings, process: str) -> AuditEvent | None:
    """Record the configuration a process starts with, when it differs from the last one recorded.

    Secrets never enter the event: URLs are reduced to user@host/db, tokens to "set".
    """
    view = settings.public_view()
    fingerprint = hashlib.sha256(json.dumps(view, sort_keys=True, default=str).encode()).hexdigest()
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK})  # two processes starting at once
    last = session.execute(
        select(AuditEvent).where(AuditEvent.event == "config_changed").order_by(AuditEvent.id.desc()).limit(1)
    ).scalar()
    if last is not None and last.data.get("fingerprint") == fingerprint:
        return None
    before = last.data.get("config", {}) if last is not None else {}
    changed = sorted(_changed_paths(before, view)) if last is not None else []
    return record(session, event="config_changed", actor=process,
                  data={"fingerprint": fingerprint, "changed": changed, "config": view,
                        "previous": last.data.get("fingerprint") if last is not None else None})


def _changed_paths(before: Any, after: Any, path: str = "") -> set[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out: set[str] = set()
        for key in set(before) | set(after):
            out |= _changed_paths(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))
        return out
    return set() if before == after else {path}
