"""The audit trail: append-only events chained by hash.

``record`` appends in the caller's transaction, so a state change and its
audit event commit together or not at all: if the audit store cannot be
written, the change does not happen (fail closed).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

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
